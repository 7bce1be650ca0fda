import Foundation
import GRDB
import LiaisonCodec
import Logging
import Synchronization
import Testing
import ZeroMQ
@testable import LiaisonRuntime

/// A consumer against a real upstream request loop (for replay) and a live feed the test controls,
/// so it can skip sequence numbers on purpose.
@Suite struct ConsumerTests {
    /// An upstream stream `up-1` in `dir`: its own log, served (replay, its events socket
    /// `events.pub`) by a real request loop, to run on a thread of the test's.
    static func upstream(in dir: TempDir, events: String = "up.pub") throws -> (log: EventLog, served: Topology.Instance, loop: RequestLoop) {
        let log = try EventLog(store: Store(path: dir.file("up.sqlite")), stream: "up-1")
        let served = Topology.Instance(stream: "up-1", requests: "ipc://\(dir.path)/up.req", events: "ipc://\(dir.path)/\(events)")
        let config = ServiceConfig(service: "intake", topology: .init(services: [:]), instance: served, index: 0, databasePath: "")
        struct NoHandler: RequestHandling { func handle(_ r: [Liaison_V1_Request]) -> [Liaison_V1_Reply] { r.map { _ in .failure(.notFound("", "")) } } }
        return (log, served, RequestLoop(config: config, log: log, handler: NoHandler(), logger: Logger(label: "up")) { .init() })
    }

    @Test func catchesUpFillsGapsAndAppliesEachEventOnce() async throws {
        let dir = try TempDir()
        let logger = Logger(label: "test")
        // Upstream: its own log, served by a real RequestLoop.
        let (upLog, served, upLoop) = try Self.upstream(in: dir, events: "up-real.pub")
        // Two events exist before the consumer starts: it must catch up from 1.
        func append(_ n: Int) throws {
            try upLog.write { _, out in for _ in 0..<n { try out.append(topic: "feedback.received", at: Date()) { _ in } } }
        }
        try append(2)

        // Consumer: live feed from the test's own PUB; replay from the real loop.
        let feed = Topology.Instance(stream: "up-1", requests: served.requests, events: "ipc://\(dir.path)/feed.pub")
        let store = try Store(path: dir.file("down.sqlite")) { m in
            m.registerMigration("seen") { db in try db.execute(sql: "CREATE TABLE seen (seq INTEGER NOT NULL)") }
        }
        let downLog = try EventLog(store: store, stream: "down-1")
        let consumer = try Consumer(upstream: feed, topicPrefixes: ["feedback."], log: downLog, logger: logger) { db, _, e in
            try db.execute(sql: "INSERT INTO seen (seq) VALUES (?)", arguments: [Int64(e.seq)])
        }
        func seen() throws -> [Int64] { try store.pool.read { try Int64.fetchAll($0, sql: "SELECT seq FROM seen ORDER BY rowid") } }

        let ctx = try Context()
        let stop = StopFlag()
        let pub = try Socket(context: ctx, type: .pub, role: "feed")
        try pub.bind(feed.events)
        let upRun = Threads.start(name: "up") { try upLoop.run(context: ctx, stop: stop) }
        let downRun = Threads.start(name: "down") { try consumer.run(context: ctx, stop: stop) }
        defer { stop.set() }

        #expect(try await eventually { try seen() == [1, 2] }, "catch-up from 1 by replay")

        // Events 3...5 are stored upstream; the live feed skips 3. Only a replay can bring it.
        try append(3)
        let events = try upLog.replay(after: 0, limit: 100, prefixes: []).events
        let ok = try await eventually {
            for e in events where e.seq == 4 || e.seq == 5 { try pub.send(multipart: Framing.eventFrames(e)) }
            return try seen() == [1, 2, 3, 4, 5]
        }
        #expect(ok, "a skipped sequence number triggers a replay")

        // Event 6 is never sent live: a heartbeat with head 6 is enough to fetch it.
        try append(1)
        let ok2 = try await eventually {
            var hb = Liaison_V1_Event()
            hb.stream = "up-1"; hb.seq = 6; hb.topic = Topic.heartbeat; hb.heartbeat.headSeq = 6
            try pub.send(multipart: Framing.eventFrames(hb))
            return try seen() == [1, 2, 3, 4, 5, 6]
        }
        #expect(ok2, "a heartbeat beyond the cursor triggers a replay")
        // The in-memory position follows the commit that the rows above came from, and the feed was
        // heard moments ago.
        #expect(await eventually { consumer.position.appliedSeq == 6 })
        #expect(consumer.position.silentMs < 5_000)
        #expect(try Consumer.loadCursor(store: store, stream: "up-1") == 6)

        stop.set()
        pub.close()
        try await upRun.value
        try await downRun.value
        ctx.terminate()
    }

    /// A consumer says once that it hears nothing from its upstream, past the limit, and once that
    /// it hears it again; not on every quiet poll, and not before the limit.
    @Test func silenceIsSaidOnceAtTheLimitAndOnceWhenItEnds() {
        let start = SuspendingClock.now
        var s = UpstreamSilence(limit: 10, now: start)
        #expect(s.nothing(at: start + .seconds(9.9)) == nil)
        #expect(s.heard(at: start + .seconds(9.75)) == nil, "a silence never said ends without a word")
        #expect(s.nothing(at: start + .seconds(19.5)) == nil, "counted from the last thing heard")
        #expect(s.nothing(at: start + .seconds(20)) == 10.25)
        #expect(s.nothing(at: start + .seconds(25)) == nil, "said once")
        #expect(s.silent(at: start + .seconds(31)) == 21.25)
        #expect(s.heard(at: start + .seconds(31)) == 21.25)
        #expect(s.silent(at: start + .seconds(31.5)) == 0.5)
        #expect(s.nothing(at: start + .seconds(41.5)) == 10.5, "a new silence is said again")
    }

    /// A consumer that cannot apply an event (a bug, a poison event) keeps its place, tries again,
    /// and says in its position how long it has been failing and why, for `liaison streams`; once
    /// the event applies, the failure is over and the events after it follow, each once.
    @Test func aConsumerThatCannotApplyAnEventSaysSinceWhenAndWhy() async throws {
        let dir = try TempDir()
        let (upLog, served, upLoop) = try Self.upstream(in: dir)
        try upLog.write { _, out in for _ in 0..<3 { try out.append(topic: "feedback.received", at: Date()) { _ in } } }

        struct Poison: Error, CustomStringConvertible { var description: String { "event 2 does not fit" } }
        let poisoned = Mutex(true)
        let applied = Mutex<[UInt64]>([])
        let downLog = try EventLog(store: Store(path: dir.file("down.sqlite")), stream: "down-1")
        let consumer = try Consumer(upstream: served, topicPrefixes: [], log: downLog, logger: Logger(label: "down")) { _, _, e in
            if e.seq == 2 && poisoned.withLock({ $0 }) { throw Poison() }
            applied.withLock { $0.append(e.seq) }
        }
        #expect(consumer.position.failingMs == 0 && consumer.position.lastFailure.isEmpty)

        let ctx = try Context()
        let stop = StopFlag()
        let upRun = Threads.start(name: "up") { try upLoop.run(context: ctx, stop: stop) }
        let downRun = Threads.start(name: "down") { try consumer.run(context: ctx, stop: stop) }
        defer { stop.set() }
        // Events 1 to 3 come in one replay batch, applied in one transaction: the failure of 2
        // rolls back 1 too, and the cursor stays at 0.
        #expect(await eventually { consumer.position.failingMs >= 300 }, "\(consumer.position)")
        let failing = consumer.position
        #expect(failing.lastFailure == "event 2 does not fit", "\(failing)")
        #expect(failing.appliedSeq == 0)
        #expect(try Consumer.loadCursor(store: downLog.store, stream: "up-1") == 0)

        poisoned.withLock { $0 = false }
        #expect(await eventually { consumer.position.appliedSeq == 3 }, "\(consumer.position)")
        #expect(consumer.position.failingMs == 0 && consumer.position.lastFailure.isEmpty, "\(consumer.position)")
        // Each try applied 1 before failing on 2, and rolled back; the last applied 1, 2 and 3.
        #expect(applied.withLock { Array($0.suffix(3)) } == [1, 2, 3])
        stop.set()
        try await upRun.value
        try await downRun.value
        ctx.terminate()
    }
}
