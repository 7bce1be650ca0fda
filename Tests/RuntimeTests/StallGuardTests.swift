import Foundation
import LiaisonCodec
import Logging
import Synchronization
import Testing
import ZeroMQ
@testable import LiaisonRuntime

/// A request loop whose handler is held up (as a commit is by a stalled disk) keeps its socket
/// read: up to a batch kept for when it is back, shared between callers, the rest answered at once.
@Suite struct StallGuardTests {
    /// A handler that holds up its first call until the test opens the gate, as a commit waiting for
    /// a stalled disk does, and answers every request with an empty case list. It records each
    /// call's request ids, and its weight: the submissions of a `submit_batch`, 1 for any other.
    final class GatedHandler: RequestHandling {
        let gate = Atomic(false)
        let calls = Mutex<[[String]]>([])
        let weights = Mutex<[Int]>([])
        func handle(_ requests: [Liaison_V1_Request]) -> [Liaison_V1_Reply] {
            calls.withLock { $0.append(requests.map(\.requestID)) }
            weights.withLock { $0.append(requests.reduce(0) { $0 + max(1, $1.submitBatch.submissions.count) }) }
            while !gate.load(ordering: .acquiring) { usleep(1_000) }
            return requests.map { req in
                var reply = Liaison_V1_Reply()
                reply.requestID = req.requestID
                reply.caseList = .init()
                return reply
            }
        }
    }

    private func request(_ id: String) throws -> [[UInt8]] {
        var req = Liaison_V1_Request()
        req.requestID = id
        req.getCase.caseNumber = "C-1"
        return try Framing.requestFrames(req)
    }

    private func isCaseList(_ reply: Liaison_V1_Reply) -> Bool {
        if case .caseList? = reply.result { return true }
        return false
    }

    /// Every reply waiting on `socket` now, by request id.
    private func drain(_ socket: Socket, into replies: inout [String: Liaison_V1_Reply]) throws {
        while let frames = try socket.receiveMultipart(dontWait: true) {
            let reply = try Framing.decodeReply(frames: frames)
            #expect(replies[reply.requestID] == nil, "request \(reply.requestID) answered twice")
            replies[reply.requestID] = reply
        }
    }

    /// A request loop of stream `svc-1` in `dir` around `handler`, stood in for after 50 ms.
    private func loop(in dir: TempDir, handler: GatedHandler, maxBatch: Int = 512, keepsMs: Int = 60_000) throws -> (loop: RequestLoop, served: Topology.Instance) {
        let log = try EventLog(store: Store(path: dir.file("log.sqlite")), stream: "svc-1")
        let served = Topology.Instance(stream: "svc-1", requests: "ipc://\(dir.path)/req", events: "ipc://\(dir.path)/pub")
        let config = ServiceConfig(service: "intake", topology: .init(services: [:]), instance: served, index: 0, databasePath: "")
        var options = RequestLoopOptions()
        options.maxBatch = maxBatch
        options.standInAfterMs = 50
        options.standInKeepsMs = keepsMs
        return (RequestLoop(config: config, log: log, handler: handler, options: options, logger: Logger(label: "stall")) { .init() }, served)
    }

    @Test func aHeldUpHandlerLeavesOneBatchKeptAndTheRestAnsweredAtOnce() async throws {
        let dir = try TempDir()
        let handler = GatedHandler()
        let (loop, served) = try loop(in: dir, handler: handler, maxBatch: 8)

        let ctx = try Context()
        let stop = StopFlag()
        let run = Threads.start(name: "loop") { try loop.run(context: ctx, stop: stop) }
        let flood = try Socket(context: ctx, type: .dealer, role: "flood", linger: 0)
        let desk = try Socket(context: ctx, type: .dealer, role: "desk", linger: 0)
        defer {
            handler.gate.store(true, ordering: .releasing)
            stop.set()
            flood.close()
            desk.close()
        }
        try flood.connect(served.requests)
        try desk.connect(served.requests)

        // The first request holds the handler up.
        try flood.send(multipart: request("f-0"))
        try await #require(eventually(20) { handler.calls.withLock { !$0.isEmpty } })
        let sent = 1
        // What waits behind it, while it is held up: 40 more from the flood, one from a desk, and a
        // malformed frame.
        for i in sent..<(sent + 40) { try flood.send(multipart: request("f-\(i)")) }
        try desk.send(multipart: request("d-0"))
        try flood.send(multipart: [[], [0xff, 0xff, 0xff]])
        // An operator asks for the status, and a consumer for a replay, on connections of their own.
        let operatorSocket = try Socket(context: ctx, type: .dealer, role: "operator", linger: 0)
        defer { operatorSocket.close() }
        try operatorSocket.connect(served.requests)
        var status = Liaison_V1_Request()
        status.requestID = "status"
        status.getStatus = .init()
        try operatorSocket.send(multipart: Framing.requestFrames(status))
        var replay = Liaison_V1_Request()
        replay.requestID = "replay"
        replay.replay.afterSeq = 0
        try operatorSocket.send(multipart: Framing.requestFrames(replay))

        // Answered at once, while the handler is still held up: the flood past its share of a batch
        // `unavailable` with a retry hint, and the malformed frame its error. A batch is 8; the
        // flood has one request in flight, so at most 7 more are kept (3 once the desk's request
        // is read among them: two callers share a batch 4 and 4); the desk's one is always kept.
        var floodReplies: [String: Liaison_V1_Reply] = [:]
        var deskReplies: [String: Liaison_V1_Reply] = [:]
        let answeredWhileHeld = try await eventually(20) {
            try drain(flood, into: &floodReplies)
            return floodReplies.count >= 40 - 7 + 1
        }
        #expect(answeredWhileHeld, "\(floodReplies.count) of the flood's answered while the handler was held up")
        #expect(handler.calls.withLock { $0.count } == 1, "nothing else handled while held up")
        #expect(floodReplies[""]?.error.code == .invalidArgument, "the malformed frame is answered with its error")
        try drain(desk, into: &deskReplies)
        #expect(deskReplies.isEmpty, "the desk's request is kept for the next batch, not turned away")
        // The status is answered at once, from what needs no disk, saying how long the thread has
        // waited; the replay is turned away at once (the consumer tries again), never kept.
        var operatorReplies: [String: Liaison_V1_Reply] = [:]
        #expect(try await eventually(20) { try drain(operatorSocket, into: &operatorReplies); return operatorReplies.count == 2 })
        let held = try #require(operatorReplies["status"]).serviceStatus
        #expect(held.stream == "svc-1" && held.pid == UInt32(getpid()) && held.requestThreadHeldMs >= 50, "\(held)")
        #expect(held.databaseBytes == 0 && held.consumers.isEmpty, "nothing read from the disk")
        #expect(operatorReplies["replay"]?.error.code == .unavailable, "\(String(describing: operatorReplies["replay"]))")
        #expect(handler.calls.withLock { $0.count } == 1, "still held up")

        // Once the handler is back: the batch in flight and the kept requests are answered, each once.
        handler.gate.store(true, ordering: .releasing)
        let all = try await eventually(20) {
            try drain(flood, into: &floodReplies)
            try drain(desk, into: &deskReplies)
            return floodReplies.count == sent + 40 + 1 && deskReplies.count == 1
        }
        #expect(all, "flood \(floodReplies.count) of \(sent + 41), desk \(deskReplies.count) of 1")
        #expect(deskReplies["d-0"].map(isCaseList) == true, "the desk's kept request is handled")
        let turnedAway = Set(floodReplies.filter { $0.value.error.code == .unavailable }.keys)
        #expect(floodReplies.values.filter { $0.error.code == .unavailable }.allSatisfy { $0.error.retryAfterMs > 0 && $0.error.message.contains("waiting") })
        let handled = handler.calls.withLock { $0.dropFirst().flatMap { $0 } }
        let keptFromTheFlood = handled.filter { $0.hasPrefix("f-") }
        #expect(handled.count == Set(handled).count && handled.contains("d-0"), "the kept requests, each handled once: \(handled)")
        #expect((3...7).contains(keptFromTheFlood.count), "the flood's share of one batch kept: \(keptFromTheFlood)")
        #expect(turnedAway.isDisjoint(with: keptFromTheFlood) && turnedAway.count + keptFromTheFlood.count == 40,
                "each of the flood's 40 either kept or turned away")
        #expect(loop.stats.shed.load(ordering: .relaxed) == UInt64(turnedAway.count + 1), "the flood's and the replay counted as shed")
        #expect(floodReplies["f-0"].map(isCaseList) == true, "the request in flight is answered")

        stop.set()
        try await run.value
    }

    @Test func theWaitBeforeStandingInIsAnOptionNamedInItsError() throws {
        #expect(try ServiceOptions.parse([]).loopOptions.standInAfterMs == 200)
        #expect(try ServiceOptions.parse(["--stand-in-after-ms", "0"]).loopOptions.standInAfterMs == 0)
        #expect(try ServiceOptions.parse(["--stand-in-after-ms", "1500"]).loopOptions.standInAfterMs == 1_500)
        for bad in ["-1", "600001"] {
            do {
                _ = try ServiceOptions.parse(["--stand-in-after-ms=\(bad)"])
                Issue.record("--stand-in-after-ms \(bad) was taken")
            } catch {
                let message = ServiceOptions.message(for: error)
                #expect(message.contains("--stand-in-after-ms") && message.contains(bad), "\(message)")
            }
        }
    }

    /// A request kept longer than its time is told to come back too, while the handler is still
    /// held up: its client hears a retry hint before its own timeout, and it is not handled later.
    @Test func aRequestKeptPastItsTimeIsToldToComeBack() async throws {
        let dir = try TempDir()
        let handler = GatedHandler()
        let (loop, served) = try loop(in: dir, handler: handler, keepsMs: 300)
        let ctx = try Context()
        let stop = StopFlag()
        let run = Threads.start(name: "loop") { try loop.run(context: ctx, stop: stop) }
        let first = try Socket(context: ctx, type: .dealer, role: "first", linger: 0)
        let desk = try Socket(context: ctx, type: .dealer, role: "desk", linger: 0)
        defer {
            handler.gate.store(true, ordering: .releasing)
            stop.set()
            first.close()
            desk.close()
        }
        try first.connect(served.requests)
        try desk.connect(served.requests)
        try first.send(multipart: request("f-0"))
        try await #require(eventually(20) { handler.calls.withLock { !$0.isEmpty } })
        let sentAt = Date()
        try desk.send(multipart: request("d-0"))
        var deskReplies: [String: Liaison_V1_Reply] = [:]
        #expect(try await eventually(20) { try drain(desk, into: &deskReplies); return !deskReplies.isEmpty })
        let waited = Date().timeIntervalSince(sentAt)
        #expect(deskReplies["d-0"]?.error.code == .unavailable && deskReplies["d-0"]?.error.message.contains("waiting") == true,
                "\(String(describing: deskReplies["d-0"]))")
        #expect(waited >= 0.3, "kept for its time first: answered after \(waited) s")
        #expect(handler.calls.withLock { $0.count } == 1, "still held up")

        handler.gate.store(true, ordering: .releasing)
        var firstReplies: [String: Liaison_V1_Reply] = [:]
        #expect(try await eventually(20) { try drain(first, into: &firstReplies); return firstReplies["f-0"].map(isCaseList) == true })
        #expect(!handler.calls.withLock { $0.flatMap { $0 } }.contains("d-0"), "a request told to come back is not handled as well")
        #expect(loop.stats.shed.load(ordering: .relaxed) == 1)
        stop.set()
        try await run.value
    }

    /// A handler that is quick never lends its socket for long: nothing is read by the stand-in and
    /// nothing turned away, whatever the load of one batch.
    @Test func aQuickHandlerIsNeverStoodInFor() async throws {
        let dir = try TempDir()
        let handler = GatedHandler()
        handler.gate.store(true, ordering: .releasing)
        let (loop, served) = try loop(in: dir, handler: handler)
        let ctx = try Context()
        let stop = StopFlag()
        let run = Threads.start(name: "loop") { try loop.run(context: ctx, stop: stop) }
        let client = try Socket(context: ctx, type: .dealer, role: "client", linger: 0)
        defer { stop.set(); client.close() }
        try client.connect(served.requests)
        for i in 0..<300 { try client.send(multipart: request("q-\(i)")) }
        var replies: [String: Liaison_V1_Reply] = [:]
        #expect(try await eventually(20) { try drain(client, into: &replies); return replies.count == 300 })
        #expect(replies.values.allSatisfy(isCaseList))
        #expect(loop.stats.shed.load(ordering: .relaxed) == 0)
        stop.set()
        try await run.value
    }
}
