import Foundation
import GRDB
import Logging
import Testing
@testable import LiaisonRuntime

/// A damaged database file is named, with the way back, wherever SQLite finds the damage.
@Suite struct DamagedDatabaseTests {
    /// A store with a few events, closed, its WAL copied into the file; returns the events table's
    /// first page number.
    private func storeWithEvents(_ path: String) throws -> Int {
        var root = 0
        do {
            let log = try EventLog(store: Store(path: path), stream: "t-1")
            for _ in 0..<20 { try log.write { _, out in try out.append(topic: "t.x", at: Date()) { _ in } } }
            try log.store.pool.writeWithoutTransaction { db in
                root = try Int.fetchOne(db, sql: "SELECT rootpage FROM sqlite_master WHERE name = 'events'") ?? 0
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        }
        return root
    }

    private func overwrite(_ path: String, at offset: UInt64, count: Int) throws {
        let f = try #require(FileHandle(forWritingAtPath: path))
        try f.seek(toOffset: offset)
        try f.write(contentsOf: Data(repeating: 0xA5, count: count))
        try f.close()
    }

    private func open(_ path: String) throws -> EventLog {
        try DamagedDatabase.naming(path) { try EventLog(store: Store(path: path), stream: "t-1") }
    }

    @Test func aDamagedPageIsNamedWithItsFileAndTheRestore() throws {
        let dir = try TempDir()
        let path = dir.file("intake-1.sqlite")
        let root = try storeWithEvents(path)
        #expect(root > 1)
        _ = try open(path)   // whole, it opens
        try overwrite(path, at: UInt64((root - 1) * 4096), count: 4096)
        let error = try #require(throws: DamagedDatabase.self) { _ = try open(path) }
        #expect(error.path == path)
        #expect(error.description.contains(path) && error.description.contains("liaison restore --from"), "\(error)")
        #expect(error.description.contains("malformed"), "SQLite's own words are kept: \(error)")
    }

    @Test func aFileThatIsNoDatabaseIsNamedToo() throws {
        let dir = try TempDir()
        let path = dir.file("handler-1.sqlite")
        _ = try storeWithEvents(path)
        try overwrite(path, at: 0, count: 100)
        let error = try #require(throws: DamagedDatabase.self) { _ = try open(path) }
        #expect(error.description.contains(path) && error.description.contains("not a database"), "\(error)")
    }

    @Test func otherErrorsPassUnchanged() throws {
        let dir = try TempDir()
        let path = dir.file("s.sqlite")
        let store = try Store(path: path)
        #expect(throws: DatabaseError.self) {
            try DamagedDatabase.naming(path) { try store.pool.read { db in try db.execute(sql: "SELECT * FROM no_such_table") } }
        }
        #expect(!DamagedDatabase.isDamage(ConfigError("x", "y")))
    }

    @Test func aCommitOnADamagedDatabaseIsLoggedCriticalWithTheRemedy() {
        let lines = CollectedLines()
        let logger = Logger(label: "t") { _ in lines }
        var failures = RepeatedFailureLog("commit")
        failures.failed(DatabaseError(resultCode: .SQLITE_CORRUPT, message: "database disk image is malformed"), logger: logger)
        failures.failed(DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full"), logger: logger, now: .now + .seconds(60))
        let all = lines.all
        #expect(all.count == 2)
        #expect(all.first?.level == .critical && all.first?.text.contains("liaison restore") == true, "\(all)")
        #expect(all.last?.level == .error && all.last?.text.contains("liaison restore") == false, "\(all)")
    }
}

/// A log handler that keeps every line (its level, message and metadata in one text).
final class CollectedLines: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [(level: Logger.Level, text: String)] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    var all: [(level: Logger.Level, text: String)] { lock.lock(); defer { lock.unlock() }; return lines }
    func log(event: LogEvent) {
        lock.lock(); defer { lock.unlock() }
        lines.append((event.level, "\(event.message) \(event.metadata ?? [:])"))
    }
}
