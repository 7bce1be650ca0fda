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
            let copy = try DatabaseBackup.copy(dir.file("s.sqlite"), to: dir.file("copy-\(n).sqlite"))
            let seqs = try await DatabaseQueue(path: dir.file("copy-\(n).sqlite")).read { db in try Int64.fetchAll(db, sql: "SELECT seq FROM events ORDER BY seq") }
            #expect(copy.head >= 10 && copy.head % 10 == 0 && seqs == Array(1...copy.head), "copy \(n): head \(copy.head), \(seqs.count) events")
            copies.append(copy)
        }
        stop.set()
        #expect(copies.last!.head > copies.first!.head, "the writer went on during the copies")
        #expect { try DatabaseBackup.copy(dir.file("s.sqlite"), to: dir.file("copy-0.sqlite")) } throws: { "\($0)".contains("exists already") }
    }
}
