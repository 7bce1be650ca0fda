import Foundation
import LiaisonCodec
import Synchronization
import Testing
import ZeroMQ
import LiaisonRuntime

/// The Swift client's Lazy Pirate, against a stand-in service the test controls.
@Suite struct RequestClientTests {
    /// A service that loses the first request (as one that crashed before answering) and answers
    /// the next: the client must resend the very same request on a new connection.
    @Test func aLostRequestIsSentAgainUnchangedOnANewConnection() async throws {
        let dir = try TempDir()
        let endpoint = "ipc://\(dir.path)/requests"
        let ctx = try Context()
        defer { ctx.terminate() }
        let bound = Atomic<Bool>(false)
        let clientDone = Atomic<Bool>(false)

        // Records what it received: the routing id (one per connection) and the request. It serves
        // until the client has its answer (closing right after the reply could drop it: linger 0).
        async let served: [([UInt8], Liaison_V1_Request)] = Threads.run(name: "stand-in") {
            let router = try Socket(context: ctx, type: .router, role: "stand-in", linger: 0)
            defer { router.close() }
            try router.bind(endpoint)
            bound.store(true, ordering: .releasing)
            var seen: [([UInt8], Liaison_V1_Request)] = []
            let deadline = Date().addingTimeInterval(10)
            while !clientDone.load(ordering: .acquiring) && Date() < deadline {
                guard try router.waitReadable(timeout: 20), let frames = try router.receiveMultipart(dontWait: true) else { continue }
                let incoming = Framing.parseRequest(frames: frames)
                guard case .success(let request) = incoming.request else { continue }
                seen.append((incoming.envelope.first ?? [], request))
                if seen.count >= 2 {
                    var reply = Liaison_V1_Reply()
                    reply.requestID = request.requestID
                    reply.feedbackAccepted.caseNumber = "L1-0000001"
                    _ = try router.send(multipart: Framing.replyFrames(envelope: incoming.envelope, reply: reply))
                }
            }
            return seen
        }
        #expect(await eventually { bound.load(ordering: .acquiring) })

        var f = Liaison_V1_SubmitFeedback()
        f.submissionID = "desk3-20261129-0042"
        f.kind = .complaint
        f.channel = .hotline
        f.text = "The officer at the desk refused to take my report"
        let feedback = f
        let outcome: Result<Liaison_V1_Reply, Error> = await {
            do {
                return .success(try await Threads.run(name: "client") {
                    let client = RequestClient(context: ctx, endpoint: endpoint, timeoutMs: 300, attempts: 3)
                    defer { client.reset() }
                    return try client.call(.submitFeedback(feedback))
                })
            } catch { return .failure(error) }
        }()
        clientDone.store(true, ordering: .releasing)
        #expect(try outcome.get().feedbackAccepted.caseNumber == "L1-0000001")

        let seen = try await served
        try #require(seen.count == 2)
        #expect(seen[0].1 == seen[1].1, "the retry is the same request: same request id, same submission_id")
        #expect(seen[1].1.submitFeedback.submissionID == "desk3-20261129-0042")
        #expect(!seen[0].1.requestID.isEmpty)
        #expect(seen[0].0 != seen[1].0, "the retry comes on a new connection (a new socket)")
    }

    /// Nobody answers: the client gives up after its attempts with an error that names the endpoint.
    @Test func noServiceIsAnErrorAfterTheAttempts() async throws {
        let dir = try TempDir()
        let endpoint = "ipc://\(dir.path)/nobody"
        let ctx = try Context()
        defer { ctx.terminate() }
        let started = Date()
        let outcome: Result<Liaison_V1_Reply, ClientError> = try await Threads.run(name: "client") {
            let client = RequestClient(context: ctx, endpoint: endpoint, timeoutMs: 100, attempts: 2)
            defer { client.reset() }
            do { return .success(try client.call(.getStatus(.init()))) } catch let e as ClientError { return .failure(e) }
        }
        guard case .failure(let error) = outcome else {
            Issue.record("a reply came from nowhere")
            return
        }
        #expect(error.attempts == 2)
        #expect(error.description.contains(endpoint))
        #expect(Date().timeIntervalSince(started) < 10)
    }
}
