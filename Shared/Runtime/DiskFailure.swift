import Foundation
import GRDB
import Logging
import Synchronization

/// What a service does when its disk fails an I/O: it stops at once, without closing its database,
/// so that the process manager starts it again and SQLite recovers from the write-ahead log.
///
/// Going on is not safe. After a failed write-back Linux marks the pages clean, so the next fsync
/// of the file succeeds without writing them. A checkpoint that copies only part of the WAL into
/// the database file does not fsync it, and the next whole one does; if that fsync fails and a later
/// one succeeds, SQLite counts the WAL copied and starts it over, and the pages the failed fsync held
/// are gone: at the next power cut the database is damaged, and what was acknowledged with it. A
/// connection closed after the failure (a graceful stop, an error thrown out of start-up) runs the
/// same checkpoint on its way out. Stopping at once leaves the WAL as it is; the next process's
/// recovery reads it whole and its first checkpoint copies every page again
/// (`scripts/soak-kill.py --power-cut --fsync-errors` shows both).
///
/// SQLite reports every I/O error to its error log, from whichever connection and whichever path
/// (a commit, a checkpoint, a close); ``stopOnIOErrors(logger:)`` ends the process from there,
/// before the error is even returned.
///
/// A WAL whose fsync failed is the other half. The frames of the commit that failed are still in
/// the page cache, valid, so the next process's recovery takes them in; its own commits chain after
/// them and are fsync'd, but those pages are never written again, and after a power cut the chain
/// breaks there and every commit after it is lost, acknowledged or not. So before the database is
/// opened, ``writeBackWAL(databasePath:)`` writes the WAL back over itself and fsyncs it: what the
/// process starts from is on the disk.
public enum DiskFailure {
    /// The exit status of a process stopped by a disk failure (`EX_IOERR`).
    public static let exitStatus: Int32 = 74

    /// Whether SQLite's `code` is a failed disk I/O that ends the process: any `SQLITE_IOERR`
    /// except a short read (SQLite reads past the end of a file on purpose), a file to delete that
    /// is already gone, and an allocation that failed (not the disk).
    public static func isDiskFailure(_ code: ResultCode) -> Bool {
        code.primaryResultCode == .SQLITE_IOERR
            && code != .SQLITE_IOERR_SHORT_READ && code != .SQLITE_IOERR_DELETE_NOENT && code != .SQLITE_IOERR_NOMEM
    }

    /// What the error log line says to the operator, after what failed.
    static func explanation(_ what: String) -> String {
        "the disk failed an I/O (\(what)): stopping at once without closing the database, "
            + "so that the restart recovers from the write-ahead log; what was acknowledged is safe. A disk that keeps "
            + "failing stops the service each time: check it (dmesg, SMART) and the free space (exit status \(exitStatus))"
    }

    /// A write or flush the disk failed (``writeBackWAL(databasePath:)``).
    public struct Failed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Logs `what` failed as ``stopOnIOErrors(logger:)`` does and ends the process with ``exitStatus``.
    public static func stop(_ what: String) -> Never {
        if let logger = installed.withLock({ $0 }) {
            logger.critical("\(explanation(what))")
        } else {
            FileHandle.standardError.write(Data(("critical: " + explanation(what) + "\n").utf8))
        }
        fflush(nil)
        _exit(exitStatus)
    }

    private static let installed = Mutex<Logger?>(nil)

    /// Installs SQLite's error log for this process: a disk failure (``isDiskFailure(_:)``) is
    /// logged critical with what it was and the process ends with ``exitStatus``. Other SQLite
    /// errors are left to the code that gets them. Call before any database is opened (SQLite takes
    /// its error log only then); later calls change nothing.
    public static func stopOnIOErrors(logger: Logger) {
        let first = installed.withLock { current -> Bool in
            guard current == nil else { return false }
            current = logger
            return true
        }
        guard first else { return }
        Database.logError = { code, message in
            guard isDiskFailure(code) else { return }
            stop("SQLite \(code.rawValue): \(message)")
        }
    }

    /// Writes the database's WAL (`<databasePath>-wal`), as a process before this one left it, back
    /// over itself and fsyncs it, so that pages a failed fsync left clean but unwritten are written
    /// (after a kill or a power cut without a disk failure this rewrites what is already there).
    /// Call while holding the database (``DatabaseOwnership``) and before opening it. Returns the
    /// bytes written back (0: no WAL).
    /// - Throws: `ConfigError` on `data-dir` when the WAL cannot be opened or read; ``Failed`` when
    ///   the disk fails to write or flush it.
    @discardableResult
    public static func writeBackWAL(databasePath: String) throws -> Int {
        let path = databasePath + "-wal"
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return 0 }
            throw ConfigError("data-dir", "cannot open \(path) to write it back: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigError("data-dir", "cannot read \(path) to write it back: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, n - done, off_t(offset + done)) }
                if w < 0 {
                    if errno == EINTR { continue }
                    throw Failed(description: "writing \(path) back: \(String(cString: strerror(errno)))")
                }
                done += w
            }
            offset += n
        }
        if offset > 0 && fdatasync(fd) != 0 {
            throw Failed(description: "flushing \(path): \(String(cString: strerror(errno)))")
        }
        return offset
    }
}
