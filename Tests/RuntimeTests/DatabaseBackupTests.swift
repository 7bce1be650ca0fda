import Foundation
import GRDB
import LiaisonRuntime
import Testing

@Suite struct DatabaseBackupTests {
    /// A copy taken while a writer commits holds one committed state: whole transactions of ten
    /// events, numbered without a gap, never part of one.
    @Test func aCopyTakenDuringWritesHoldsWholeTransactions() async throws {
        let dir = try TempDir()
        let store = try Store(path: dir.file("s.sqlite"))
        let insert = "INSERT INTO events (seq, event_id, topic, occurred_at, data) VALUES (?, ?, 'test', 0, x'00')"
        @Sendable func commit(_ t: Int) throws {
            try store.write { db in
                try db.inTransaction {
                    for i in 1...10 { try db.execute(sql: insert, arguments: [t * 10 + i, "e\(t * 10 + i)"]) }
                    return .commit
                }
            }
        }
        try commit(0)
        let stop = StopFlag()
        let writer = Thread {
            var t = 1
            while !stop.isSet, (try? commit(t)) != nil { t += 1 }
        }
        writer.start()
        defer { stop.set() }
        var copies: [DatabaseBackup.Copied] = []
        for n in 0..<5 {
            // Each copy after the writer has committed more than the last copy holds (at most 10 s).
            if let last = copies.last {
                #expect(try await eventually { try store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0 } > last.head })
            }
            let copy = try DatabaseBackup.copy(dir.file("s.sqlite"), to: dir.file("copy-\(n).sqlite"))
            let seqs = try await DatabaseQueue(path: dir.file("copy-\(n).sqlite")).read { db in try Int64.fetchAll(db, sql: "SELECT seq FROM events ORDER BY seq") }
            #expect(copy.head >= 10 && copy.head % 10 == 0 && seqs == Array(1...copy.head), "copy \(n): head \(copy.head), \(seqs.count) events")
            copies.append(copy)
        }
        stop.set()
        #expect(copies.last!.head > copies.first!.head, "the writer went on during the copies")
        #expect { try DatabaseBackup.copy(dir.file("s.sqlite"), to: dir.file("copy-0.sqlite")) } throws: { "\($0)".contains("exists already") }
    }

    /// After a restore, a cursor beyond the head of the stream it follows (as restored) is set back
    /// to that head, so the events the upstream numbers again are applied, not skipped; cursors
    /// within their upstream's head are left alone.
    @Test func restoredCursorsBeyondTheirUpstreamsHeadAreSetBack() throws {
        let dir = try TempDir()
        func database(_ stream: String, events: Int, cursors: [(String, Int)]) throws -> String {
            let path = dir.file(stream + ".sqlite")
            let log = try EventLog(store: Store(path: path), stream: stream)
            if events > 0 { try log.write { _, out in for _ in 0..<events { try out.append(topic: "t", at: Date()) { _ in } } } }
            try log.store.pool.write { db in
                for (upstream, applied) in cursors {
                    try db.execute(sql: "INSERT INTO consumer_cursors (stream, applied_seq, updated_at) VALUES (?, ?, 0)", arguments: [upstream, applied])
                }
            }
            return path
        }
        let databases = ["handler-1": try database("handler-1", events: 3, cursors: [("intake-1", 5)]),
                         "intake-1": try database("intake-1", events: 5, cursors: [("handler-1", 9)]),
                         "reporting-1": try database("reporting-1", events: 0, cursors: [("intake-1", 4), ("elsewhere-1", 99)])]
        let lines = try DatabaseBackup.alignCursors(databases)
        #expect(lines == ["intake-1: its cursor on handler-1 set back from 9 to 3, the head of handler-1's copy; it applies handler-1's events from there again"])
        func cursor(_ stream: String, _ upstream: String) throws -> Int64? {
            try DatabaseQueue(path: databases[stream]!).read { db in
                try Int64.fetchOne(db, sql: "SELECT applied_seq FROM consumer_cursors WHERE stream = ?", arguments: [upstream])
            }
        }
        #expect(try cursor("intake-1", "handler-1") == 3 && cursor("handler-1", "intake-1") == 5)
        #expect(try cursor("reporting-1", "intake-1") == 4 && cursor("reporting-1", "elsewhere-1") == 99)
        // Each set-back is kept in its database for the service to take up (intake makes its
        // statuses again); the databases with none have none.
        func pending(_ stream: String) throws -> [CursorSetbacks.Setback] {
            try DatabaseQueue(path: databases[stream]!).read { db in try CursorSetbacks.pending(db) }
        }
        #expect(try pending("intake-1").map { "\($0.stream) \($0.from)->\($0.to)" } == ["handler-1 9->3"])
        #expect(try pending("handler-1").isEmpty && pending("reporting-1").isEmpty)
        try DatabaseQueue(path: databases["intake-1"]!).write { db in try CursorSetbacks.clear(db, stream: "handler-1") }
        #expect(try pending("intake-1").isEmpty)
    }
}
