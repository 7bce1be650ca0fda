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
        let from = try DatabaseQueue(path: source, configuration: readOnly)
        let to = try DatabaseQueue(path: destination)
        try from.backup(to: to)
        // A copy found damaged on the day it is needed is no backup: read it whole now.
        let check = try to.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
        guard check == ["ok"] else {
            throw ConfigError("to", "the copy \(destination) does not read back whole: \(check.prefix(3).joined(separator: "; "))")
        }
        let head = try to.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") } ?? 0
        try to.close()
        try from.close()
        // The copy is a backup only once it is on disk, and its name in its directory.
        for path in [destination, (destination as NSString).deletingLastPathComponent] {
            let fd = open(path.isEmpty ? "." : path, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { _ = fsync(fd); close(fd) }
        }
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
        let fd = open(incoming, O_RDONLY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
        guard rename(incoming, database) == 0 else {
            throw ConfigError("data-dir", "cannot put the copy in place at \(database): \(String(cString: strerror(errno)))")
        }
        let dir = (database as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
        return moved
    }
}
