import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Free and total space of the file system holding a path, as `statvfs` reports it: free is what
/// an unprivileged writer may still use (`f_bavail`), which is when SQLite's writes start to fail.
public struct DiskSpace: Sendable, Equatable {
    public var free: UInt64
    public var total: UInt64

    public init(free: UInt64, total: UInt64) {
        self.free = free
        self.total = total
    }

    /// `512 B`, `12.0 KiB`, `1.5 GiB`: how the command line and the logs write sizes.
    public static func text(_ n: UInt64) -> String {
        if n < 1024 { return "\(n) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var v = Double(n) / 1024
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return String(format: "%.1f %@", v, units[u])
    }

    /// The file system of `path` (a file or a directory); nil when it cannot be asked.
    public static func of(_ path: String) -> DiskSpace? {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return nil }
        let unit = UInt64(st.f_frsize == 0 ? st.f_bsize : st.f_frsize)
        return DiskSpace(free: UInt64(st.f_bavail) * unit, total: UInt64(st.f_blocks) * unit)
    }
}

/// Warns the operator before the disk is full, not when every commit fails: a warning when the
/// free space under the database falls below `threshold`, again every `remindEvery` while it stays
/// there, and a line when there is room again.
public struct DiskWatch: Sendable {
    public let threshold: UInt64
    public let remindEvery: TimeInterval
    /// Whether the free space is under the threshold, as last measured.
    public private(set) var isLow = false
    /// When the last warning was said (monotonic: a wall clock stepped back would hold the next
    /// one back for as long as the step); nil: none since there was room.
    private var lastWarning: SuspendingClock.Instant?

    public init(threshold: UInt64, remindEvery: TimeInterval = 3_600) {
        self.threshold = threshold
        self.remindEvery = remindEvery
    }

    /// Takes one measurement of the space under `path`; logs as above.
    public mutating func check(_ space: DiskSpace, path: String, now: SuspendingClock.Instant = .now, logger: Logger) {
        let low = space.free < threshold
        defer { isLow = low }
        let metadata: Logger.Metadata = ["path": "\(path)", "free": "\(DiskSpace.text(space.free))", "total": "\(DiskSpace.text(space.total))",
                                         "warning_under": "\(DiskSpace.text(threshold))"]
        if low, !isLow || lastWarning.map({ now - $0 >= .seconds(remindEvery) }) ?? true {
            logger.warning("the disk of the database is nearly full: \(DiskSpace.text(space.free)) free of \(DiskSpace.text(space.total)); when it is full, every write fails and requests are answered 'unavailable'. Free space or move the data directory",
                           metadata: metadata)
            lastWarning = now
        } else if !low, isLow {
            logger.notice("the disk of the database has room again: \(DiskSpace.text(space.free)) free", metadata: metadata)
            lastWarning = nil
        }
    }
}
