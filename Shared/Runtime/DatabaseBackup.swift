import Foundation
import GRDB

/// A service's database copied as it stood at one moment, while the service runs.
///
/// Copying the files of a running service is not a backup: the database file lags its WAL, and a
/// copy taken between the two is torn. SQLite's online backup, run in one step inside one read
/// transaction, copies every page of one committed state and never blocks the service's writer.
public enum DatabaseBackup {
    /// What one copy holds.
    public struct Copied: Sendable {
        /// Bytes of the copy.
        public let bytes: UInt64
        /// The last event sequence in it (the stream's head when it was taken).
        public let head: Int64
    }

    /// Copies the database at `source` to `destination`, which must not exist yet, reads the copy
    /// back whole (`PRAGMA quick_check`) and flushes it to disk.
    public static func copy(_ source: String, to destination: String) throws -> Copied {
        guard FileManager.default.fileExists(atPath: source) else { throw ConfigError("data-dir", "no database at \(source)") }
        guard !FileManager.default.fileExists(atPath: destination) else {
            throw ConfigError("to", "\(destination) exists already: back up into a directory of its own")
        }
        var readOnly = Configuration()
        readOnly.readonly = true
        readOnly.busyMode = .timeout(10)
        let from = try DamagedDatabase.naming(source) { try DatabaseQueue(path: source, configuration: readOnly) }
        let to = try DatabaseQueue(path: destination)
        // A live database found damaged while it is read is named as such, with the way back.
        try DamagedDatabase.naming(source) { try from.backup(to: to) }
        // A copy found damaged on the day it is needed is no backup: read it whole now.
        // The copy is page for page: when it does not read back whole, the source is checked
        // too, so that a damaged live database is named as such (the copy's disk is not to blame).
        func quickCheck(_ q: DatabaseQueue) throws -> [String] {
            do {
                return try q.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            } catch let e as DatabaseError where DamagedDatabase.isDamage(e) {
                return [e.message ?? "\(e.resultCode)"]
            }
        }
        let check = try quickCheck(to)
        guard check == ["ok"] else {
            let sourceCheck = try quickCheck(from)
            if sourceCheck != ["ok"] {
                throw DamagedDatabase(path: source, sqliteMessage: sourceCheck.prefix(3).joined(separator: "; "))
            }
            throw ConfigError("to", "the copy \(destination) does not read back whole: \(check.prefix(3).joined(separator: "; "))")
        }
        let head = try to.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") } ?? 0
        try to.close()
        try from.close()
        // The copy is a backup only once it is on disk, and its name in its directory.
        try flushToDisk(destination, key: "to")
        try flushToDisk((destination as NSString).deletingLastPathComponent, key: "to")
        var st = stat()
        return Copied(bytes: stat(destination, &st) == 0 ? UInt64(st.st_size) : 0, head: head)
    }

    /// Puts the copy at `copy` in place of the database at `database`, whose service must be
    /// stopped. The database and its `-wal` and `-shm` files are moved into `setAside` first: an
    /// old write-ahead log left beside a restored database would be applied to it as if it were
    /// its own. The copy is written beside the database, flushed, then renamed into place.
    /// - Returns: the files moved aside.
    @discardableResult
    public static func restore(copy: String, over database: String, setAside: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: copy) else { throw ConfigError("from", "no copy at \(copy)") }
        if let who = DatabaseOwnership.holder(of: database) {
            throw ConfigError("data-dir", "the database \(database) is in use by \(who): stop the set before restoring")
        }
        try ConfigFiles.makeDirectory(setAside, key: "data-dir")
        var moved: [String] = []
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: database + suffix) {
            let target = (setAside as NSString).appendingPathComponent((database as NSString).lastPathComponent + suffix)
            try FileManager.default.moveItem(atPath: database + suffix, toPath: target)
            moved.append(target)
        }
        let incoming = database + ".restoring"
        try? FileManager.default.removeItem(atPath: incoming)
        try FileManager.default.copyItem(atPath: copy, toPath: incoming)
        try flushToDisk(incoming, key: "data-dir")
        guard rename(incoming, database) == 0 else {
            throw ConfigError("data-dir", "cannot put the copy in place at \(database): \(String(cString: strerror(errno)))")
        }
        try flushToDisk((database as NSString).deletingLastPathComponent, key: "data-dir")
        return moved
    }

    /// `fsync` of a file or a directory ("" is the working directory): what was written to it, or
    /// the names in it, are on disk. A path that cannot be opened is left (a directory some file
    /// systems will not open); one the disk fails to flush is not on it, and is an error.
    /// - Throws: `ConfigError` on `key` naming the path when the disk fails the fsync.
    public static func flushToDisk(_ path: String, key: String) throws {
        let fd = open(path.isEmpty ? "." : path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        if fsync(fd) != 0 {
            throw ConfigError(key, "the disk failed to flush \(path) (\(String(cString: strerror(errno)))): what was written there is not safe on it; check the disk (dmesg, SMART) and its free space")
        }
    }

    /// After a restore: sets back every cursor in the restored databases that is beyond the head of
    /// the stream it follows, as restored, and records it (``CursorSetbacks``). Copies are taken
    /// consumers first, but intake follows the handler too (the citizen's status), so intake's copy
    /// may have applied handler events that the handler's earlier copy lacks; the handler makes new
    /// ones under those numbers, and intake, finding the record at start, makes that partition's
    /// statuses again from the handler's whole stream instead of keeping what it applied.
    /// - Parameter databases: each restored stream's database.
    /// - Returns: one line for each cursor set back.
    public static func alignCursors(_ databases: [String: String]) throws -> [String] {
        var heads: [String: Int64] = [:]
        for (stream, path) in databases {
            heads[stream] = try DatabaseQueue(path: path).read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") } ?? 0
        }
        var lines: [String] = []
        for (stream, path) in databases.sorted(by: { $0.key < $1.key }) {
            try DatabaseQueue(path: path).write { db in
                for row in try Row.fetchAll(db, sql: "SELECT stream, applied_seq FROM consumer_cursors ORDER BY stream") {
                    let upstream: String = row["stream"], applied: Int64 = row["applied_seq"]
                    guard let head = heads[upstream], applied > head else { continue }
                    try db.execute(sql: "UPDATE consumer_cursors SET applied_seq = ? WHERE stream = ?", arguments: [head, upstream])
                    try CursorSetbacks.record(db, stream: upstream, from: applied, to: head)
                    lines.append("\(stream): its cursor on \(upstream) set back from \(applied) to \(head), the head of \(upstream)'s copy; it applies \(upstream)'s events from there again")
                }
            }
        }
        return lines
    }
}

/// The cursors `liaison restore` set back (``DatabaseBackup/alignCursors(_:)``), kept in the
/// restored database until the service takes them up: what the consumer applied beyond the new
/// head came from events its upstream's copy does not have. A service whose effects of a stream
/// can be made again from the whole stream (intake's citizen statuses, from the handler's) does
/// so at start and clears the record; the others leave it.
public enum CursorSetbacks {
    public struct Setback: Sendable, Equatable {
        public let stream: String
        public let from: Int64
        public let to: Int64
    }

    static func record(_ db: Database, stream: String, from: Int64, to: Int64) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS cursor_setbacks (stream TEXT PRIMARY KEY, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, at REAL NOT NULL)")
        try db.execute(sql: "INSERT OR REPLACE INTO cursor_setbacks (stream, from_seq, to_seq, at) VALUES (?, ?, ?, ?)",
                       arguments: [stream, from, to, Date().timeIntervalSince1970])
    }

    /// The set-backs not taken up yet (none when no restore set any back).
    public static func pending(_ db: Database) throws -> [Setback] {
        guard try db.tableExists("cursor_setbacks") else { return [] }
        return try Row.fetchAll(db, sql: "SELECT stream, from_seq, to_seq FROM cursor_setbacks ORDER BY stream").map {
            Setback(stream: $0["stream"], from: $0["from_seq"], to: $0["to_seq"])
        }
    }

    /// `stream`'s set-back taken up: its effects were made again.
    public static func clear(_ db: Database, stream: String) throws {
        guard try db.tableExists("cursor_setbacks") else { return }
        try db.execute(sql: "DELETE FROM cursor_setbacks WHERE stream = ?", arguments: [stream])
    }
}
