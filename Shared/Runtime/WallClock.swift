import Foundation
import Synchronization

/// Where services read the time, so tests can move it.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The system clock, optionally shifted by `offset` seconds (`--clock-offset`, for drills and tests).
public struct SystemClock: WallClock {
    public var offset: TimeInterval
    public init(offset: TimeInterval = 0) { self.offset = offset }
    public func now() -> Date { Date().addingTimeInterval(offset) }
}

/// A clock that moves only when told to (unit tests).
public final class ManualClock: WallClock {
    private let current: Mutex<Date>
    public init(_ start: Date) { current = Mutex(start) }
    public func now() -> Date { current.withLock { $0 } }
    public func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    public func set(_ date: Date) { current.withLock { $0 = date } }
}
