import Foundation
import GRDB
import LiaisonRuntime
import Testing

/// What stops a service when its disk fails an I/O (`DiskFailure`); the stop itself, on a real
/// failed fsync, is shown end to end (IntakeLoadTests: power cuts and failed fsyncs).
@Suite struct DiskFailureTests {
    /// Every I/O error of the disk stops the process; a short read (SQLite reads past a file's end
    /// on purpose), a file to delete already gone, a failed allocation and the errors that are not
    /// the disk's do not.
    @Test(arguments: [
        (ResultCode.SQLITE_IOERR_FSYNC, true), (.SQLITE_IOERR_WRITE, true), (.SQLITE_IOERR_DIR_FSYNC, true),
        (.SQLITE_IOERR_TRUNCATE, true), (.SQLITE_IOERR_READ, true), (.SQLITE_IOERR, true),
        (.SQLITE_IOERR_SHORT_READ, false), (.SQLITE_IOERR_DELETE_NOENT, false), (.SQLITE_IOERR_NOMEM, false), (.SQLITE_BUSY, false),
        (.SQLITE_CORRUPT, false), (.SQLITE_FULL, false), (.SQLITE_CONSTRAINT, false), (.SQLITE_NOTICE_RECOVER_WAL, false),
    ])
    func whichErrorsAreTheDisks(code: ResultCode, stops: Bool) {
        #expect(DiskFailure.isDiskFailure(code) == stops, "\(code)")
    }

    /// The WAL a process left is written back over itself byte for byte, and the database opens
    /// on it with everything committed; no WAL, nothing written and no file made.
    @Test func theWALIsWrittenBackUnchanged() throws {
        let dir = try TempDir()
        let path = dir.file("s.sqlite")
        #expect(try DiskFailure.writeBackWAL(databasePath: path) == 0)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))

        let store = try Store(path: path) { m in
            m.registerMigration("t") { db in try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)") }
        }
        // One transaction of more than one buffer's pages first: a WAL of small ones alone can start
        // over whenever a background checkpoint has copied it all between two commits (a slow
        // disk), and then stays the size it had. Small transactions after it.
        _ = try store.write { db in
            try db.inTransaction {
                for n in 1...290 {
                    try db.execute(sql: "INSERT INTO rows (id, body) VALUES (?, ?)", arguments: [n, String(repeating: "x", count: 4_000 + n)])
                }
                return .commit
            }
        }
        for n in 291...300 {
            _ = try store.write { db in try db.execute(sql: "INSERT INTO rows (id, body) VALUES (?, ?)", arguments: [n, String(repeating: "x", count: n)]) }
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: path + "-wal"))
        #expect(before.count > 1 << 20, "a WAL of more than one buffer: \(before.count)")
        #expect(try DiskFailure.writeBackWAL(databasePath: path) == before.count)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "-wal")) == before)
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM rows") } == 300)
        _ = try store.write { db in try db.execute(sql: "INSERT INTO rows (id, body) VALUES (301, 'after')") }
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM rows") } == 301)
    }

    /// A WAL that cannot be opened is named, on the data directory.
    @Test func aWALThatCannotBeReadIsNamed() throws {
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("s.sqlite-wal"), withIntermediateDirectories: false)
        #expect {
            try DiskFailure.writeBackWAL(databasePath: dir.file("s.sqlite"))
        } throws: { error in
            guard let e = error as? ConfigError else { return false }
            return e.key == "data-dir" && e.message.contains("s.sqlite-wal")
        }
    }
}
