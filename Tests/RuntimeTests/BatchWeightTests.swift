import Foundation
import LiaisonCodec
import Logging
import Synchronization
import Testing
import ZeroMQ
@testable import LiaisonRuntime

/// A request carrying many submissions (`submit_batch`) weighs them all: the request loop bounds
/// each group commit by weight, not by requests, so a queue of desks' batches makes transactions of
/// about `maxBatch` submissions, not `maxBatch` requests of a hundred each.
@Suite struct BatchWeightTests {
    /// While the handler is held up, the stand-in keeps one batch's weight of desks' batches, not
    /// one batch's count of requests, and turns the rest away; once the handler is back, what it
    /// kept is one call of about `maxBatch` submissions. Then batches sent back to back are handled
    /// in calls no heavier than `maxBatch` and one more request.
    @Test func batchesAreKeptAndHandledByTheirSubmissions() async throws {
        let dir = try TempDir()
        let handler = StallGuardTests.GatedHandler()
        let log = try EventLog(store: Store(path: dir.file("log.sqlite")), stream: "svc-1")
        let served = Topology.Instance(stream: "svc-1", requests: "ipc://\(dir.path)/req", events: "ipc://\(dir.path)/pub")
        let config = ServiceConfig(service: "intake", topology: .init(services: [:]), instance: served, index: 0, databasePath: "")
        var options = RequestLoopOptions()
        options.maxBatch = 100
        options.maxShed = 0          // no shedding: what the second half measures is the batch's bound alone
        options.standInAfterMs = 50
        options.standInKeepsMs = 60_000
        let loop = RequestLoop(config: config, log: log, handler: handler, options: options, logger: Logger(label: "weight")) { .init() }

        let ctx = try Context()
        let stop = StopFlag()
        let run = Threads.start(name: "loop") { try loop.run(context: ctx, stop: stop) }
        let desk = try Socket(context: ctx, type: .dealer, role: "desk", linger: 0)
        defer {
            handler.gate.store(true, ordering: .releasing)
            stop.set()
            desk.close()
        }
        try desk.connect(served.requests)
        func send(_ id: String, submissions: Int) throws {
            var req = Liaison_V1_Request()
            req.requestID = id
            if submissions == 0 {
                req.getCase.caseNumber = "C-1"
            } else {
                req.submitBatch.submissions = (0..<submissions).map { k in
                    var s = Liaison_V1_SubmitFeedback()
                    s.submissionID = "\(id)-\(k)"
                    return s
                }
            }
            #expect(try desk.send(multipart: Framing.requestFrames(req)))
        }
        var replies: [String: Liaison_V1_Reply] = [:]
        func drain() throws {
            while let frames = try desk.receiveMultipart(dontWait: true) {
                let reply = try Framing.decodeReply(frames: frames)
                #expect(replies[reply.requestID] == nil, "\(reply.requestID) answered twice")
                replies[reply.requestID] = reply
            }
        }

        // One request held in the handler; twenty batches of thirty behind it.
        try send("first", submissions: 0)
        try await #require(eventually(20) { handler.weights.withLock { $0.count } == 1 })
        for b in 0..<20 { try send("batch-\(b)", submissions: 30) }
        // The stand-in keeps batches while they weigh under 100 with the one in flight (1 + 30 + 30
        // + 30, then a fourth): 4 kept, 16 turned away at once. Counted by requests it kept all 20.
        let turnedAway = try await eventually(20) { try drain(); return replies.count >= 16 }
        #expect(turnedAway && replies.count == 16 && replies.values.allSatisfy { $0.error.code == .unavailable }, "\(replies.count) answered while held")
        #expect(handler.weights.withLock { $0.count } == 1, "nothing else handled while held up")
        handler.gate.store(true, ordering: .releasing)
        #expect(try await eventually(20) { try drain(); return replies.count == 21 })
        #expect(handler.weights.withLock { $0 } == [1, 120], "the kept four in one call: \(handler.weights.withLock { $0 })")

        // Back to back, with the handler free: whatever waits is read while the call weighs under
        // 100, so no call holds more than 99 + 30. (On a loaded machine a call can outlast the
        // stand-in's 50 ms, which then turns batches away: they are not handled, and not counted.)
        for b in 0..<20 { try send("again-\(b)", submissions: 30) }
        #expect(try await eventually(20) { try drain(); return replies.count == 41 })
        let again = handler.weights.withLock { Array($0.dropFirst(2)) }
        let turnedAwayAgain = replies.filter { $0.key.hasPrefix("again-") && $0.value.error.code == .unavailable }.count
        #expect(turnedAwayAgain < 20 && again.reduce(0, +) == 30 * (20 - turnedAwayAgain), "\(again), \(turnedAwayAgain) turned away")
        #expect(again.allSatisfy { $0 <= 129 }, "\(again)")
        stop.set()
        try await run.value
    }
}
