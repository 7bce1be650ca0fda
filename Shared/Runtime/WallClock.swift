import Foundation
import Synchronization

/// Where services read the time, so tests can move it.
public protocol WallClock: Sendable {
    /// The time of day: for timestamps, deadlines and anything a person reads.
    func now() -> Date
    /// Now on the monotonic clock: for intervals (how long since the last log line, when periodic
    /// work is next due). A wall clock stepped back (NTP putting a fast clock right) would hold
    /// such work back for as long as the step, and one stepped forward would make it all due.
    ///
    /// Every interval in the set is on `SuspendingClock` (`CLOCK_MONOTONIC` on Linux, as
    /// `DispatchTime` and ``Pulse`` are): a machine suspended (a laptop closed, a VM paused) is not
    /// a service hung, where `ContinuousClock` (`CLOCK_BOOTTIME`) counts the time asleep.
    func instant() -> SuspendingClock.Instant
}

extension WallClock {
    public func instant() -> SuspendingClock.Instant { .now }
}

/// The system clock, optionally shifted by `offset` seconds (`--clock-offset`, for drills and tests).
public struct SystemClock: WallClock {
    public var offset: TimeInterval
    public init(offset: TimeInterval = 0) { self.offset = offset }
    public func now() -> Date { Date().addingTimeInterval(offset) }
}

/// A clock that moves only when told to (unit tests); its ``instant()`` moves with it.
public final class ManualClock: WallClock {
    private let current: Mutex<(date: Date, instant: SuspendingClock.Instant)>
    public init(_ start: Date) { current = Mutex((start, .now)) }
    public func now() -> Date { current.withLock { $0.date } }
    public func instant() -> SuspendingClock.Instant { current.withLock { $0.instant } }
    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = ($0.date.addingTimeInterval(seconds), $0.instant + .seconds(seconds)) }
    }
    public func set(_ date: Date) {
        current.withLock { $0 = (date, $0.instant + .seconds(date.timeIntervalSince($0.date))) }
    }
}
