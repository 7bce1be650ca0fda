import Foundation
import GRDB
import LiaisonCodec
import Logging
import Testing
import ZeroMQ
@testable import LiaisonRuntime

@Suite struct ConsumerWarningTests {
    /// A consumer whose cursor is beyond its upstream's head (one of the two restored from a backup
    /// of another moment) says so, with both numbers, instead of waiting in silence for sequence
    /// numbers it will skip.
    @Test func anUpstreamBehindTheCursorIsReported() async throws {
        let dir = try TempDir()
        let upLog = try EventLog(store: Store(path: dir.file("up.sqlite")), stream: "up-1")
        try upLog.write { _, out in for _ in 0..<3 { try out.append(topic: "feedback.received", at: Date()) { _ in } } }
        let served = Topology.Instance(stream: "up-1", requests: "ipc://\(dir.path)/up.req", events: "ipc://\(dir.path)/up.pub")
        let upConfig = ServiceConfig(service: "intake", topology: .init(services: [:]), instance: served, index: 0, databasePath: "")
        struct NoHandler: RequestHandling { func handle(_ r: [Liaison_V1_Request]) -> [Liaison_V1_Reply] { r.map { _ in .failure(.notFound("", "")) } } }
        let upLoop = RequestLoop(config: upConfig, log: upLog, handler: NoHandler(), logger: Logger(label: "up")) { .init() }

        let downLog = try EventLog(store: Store(path: dir.file("down.sqlite")), stream: "down-1")
        try await downLog.store.pool.write { db in
            try db.execute(sql: "INSERT INTO consumer_cursors (stream, applied_seq, updated_at) VALUES ('up-1', 10, 0)")
        }
        let captured = CapturedLog()
        let consumer = try Consumer(upstream: served, topicPrefixes: [], log: downLog, logger: captured.logger) { _, _, _ in }

        let ctx = try Context()
        let stop = StopFlag()
        let upRun = Threads.start(name: "up") { try upLoop.run(context: ctx, stop: stop) }
        let downRun = Threads.start(name: "down") { try consumer.run(context: ctx, stop: stop) }
        defer { stop.set() }
        // Waits on the condition, at most 10 s.
        var said = false
        let deadline = Date().addingTimeInterval(10)
        while !said && Date() < deadline {
            said = captured.lines.contains { $0.contains("upstream is behind what this consumer applied") }
            if !said { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        #expect(said, "\(captured.lines)")
        #expect(captured.lines.contains { $0.contains("applied=10") && $0.contains("upstream_head=3") && $0.contains("stream=up-1") }, "\(captured.lines)")
        // Once a minute, not once a replay.
        #expect(captured.lines.filter { $0.contains("upstream is behind") }.count == 1)
        #expect(consumer.position.appliedSeq == 10)
        stop.set()
        try await upRun.value
        try await downRun.value
        ctx.terminate()
    }
}
