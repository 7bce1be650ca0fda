import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One process at a time runs on a service's database.
///
/// Two processes on one database would each hand out the next case numbers and sequence numbers
/// from what they last saw, and intake's idempotency check reads the stored submission ids into
/// memory once, at start: a second process would not see the first one's new submissions. Each
/// service instance therefore holds an exclusive `flock` on `<database>.lock` for as long as it
/// runs; the kernel releases it when the process ends, however it ends (`kill -9` included), so a
/// stale lock never blocks a restart.
public enum DatabaseOwnership {
    /// Locks held by this process, by database path (open for the life of the process).
    private static let held = Mutex<[String: Int32]>([:])

    /// Takes the database at `databasePath` for this process.
    /// - Throws: `ConfigError` naming the process that holds it.
    public static func claim(_ databasePath: String) throws {
        let dir = (databasePath as NSString).deletingLastPathComponent
        try ConfigFiles.makeDirectory(dir, key: "data-dir")
        let lockPath = databasePath + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ConfigError("data-dir", "cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var owner = [UInt8](repeating: 0, count: 64)
            let n = pread(fd, &owner, owner.count, 0)
            close(fd)
            let who = n > 0 ? String(decoding: owner[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "another process"
            if code == EWOULDBLOCK {
                throw ConfigError("data-dir", "the database \(databasePath) is in use by \(who): one process per database (another instance, or a --data-dir shared by mistake)")
            }
            throw ConfigError("data-dir", "cannot lock \(lockPath): \(String(cString: strerror(code)))")
        }
        let me = Array("pid \(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, me, me.count, 0)
        held.withLock { $0[databasePath] = fd }
    }

    /// Who holds the database at `databasePath` now (`"pid 1234"`), or nil when nobody does. It
    /// takes nothing: a free lock is released at once (`liaison up` asks before it starts a set).
    public static func holder(of databasePath: String) -> String? {
        let fd = open(databasePath + ".lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }   // never claimed
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            _ = flock(fd, LOCK_UN)
            return nil
        }
        var owner = [UInt8](repeating: 0, count: 64)
        let n = pread(fd, &owner, owner.count, 0)
        return n > 0 ? String(decoding: owner[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "another process"
    }
}
