import Foundation
import Synchronization

/// How long write transactions took (commit and fsync included) over the last minute, in
/// one-second buckets: what an operator looks at when acknowledgements get slow (a disk that
/// stalls shows here first).
public final class CommitTimes: Sendable {
    /// One second's commits.
    struct Bucket {
        var second: Int64 = -1
        var count: UInt64 = 0
        var totalMicros: UInt64 = 0
        var maxMicros: UInt64 = 0
    }

    /// The last minute's figures.
    public struct Summary: Sendable, Equatable {
        public var count: UInt64
        public var meanMicros: UInt64
        public var maxMicros: UInt64
    }

    private let buckets = Mutex([Bucket](repeating: Bucket(), count: 60))

    public init() {}

    /// Records one transaction that took `micros`, ending at `now` (seconds since 1970).
    public func record(micros: UInt64, now: Double = Date().timeIntervalSince1970) {
        let second = Int64(now)
        let slot = Int(second % 60)
        buckets.withLock { b in
            if b[slot].second != second { b[slot] = Bucket(second: second) }
            b[slot].count += 1
            b[slot].totalMicros += micros
            b[slot].maxMicros = max(b[slot].maxMicros, micros)
        }
    }

    /// Count, mean and longest of the transactions in the 60 s before `now`.
    public func lastMinute(now: Double = Date().timeIntervalSince1970) -> Summary {
        let current = Int64(now)
        return buckets.withLock { b in
            var s = Summary(count: 0, meanMicros: 0, maxMicros: 0)
            var total: UInt64 = 0
            for bucket in b where bucket.second > current - 60 && bucket.second <= current {
                s.count += bucket.count
                total += bucket.totalMicros
                s.maxMicros = max(s.maxMicros, bucket.maxMicros)
            }
            s.meanMicros = s.count > 0 ? total / s.count : 0
            return s
        }
    }
}
