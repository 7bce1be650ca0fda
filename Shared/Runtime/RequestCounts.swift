import Foundation
import LiaisonCodec
import Synchronization

/// How many requests a service answered over the last minute and how many of them it refused with
/// the caller's error, in one-second buckets, with the latest refusal's code and field, and the
/// same for the submissions those requests carried (a batch of 50 is one request): what shows
/// an operator at night that a client (a web front after a deploy, a desk's tool) is sending every
/// submission wrong, or that tokens are being guessed.
public final class RequestCounts: Sendable {
    struct Bucket {
        var second: Int64 = -1
        var answered: UInt64 = 0
        var refused: UInt64 = 0
        var submissions: UInt64 = 0
        var submissionsRefused: UInt64 = 0
    }

    /// The last minute's figures: requests answered and refused, and the submissions among them
    /// (accepted or refused) and those refused.
    public struct Summary: Sendable, Equatable {
        public var answered: UInt64
        public var refused: UInt64
        public var submissions: UInt64
        public var submissionsRefused: UInt64
        public init(answered: UInt64, refused: UInt64, submissions: UInt64 = 0, submissionsRefused: UInt64 = 0) {
            self.answered = answered
            self.refused = refused
            self.submissions = submissions
            self.submissionsRefused = submissionsRefused
        }
    }

    /// A refusal as the status reports it: code and field, never what was sent.
    public struct Refusal: Sendable, Equatable {
        public var what: String
        public var at: Date
    }

    private let buckets = Mutex([Bucket](repeating: Bucket(), count: 60))
    private let latest = Mutex<Refusal?>(nil)
    /// Refusals since start.
    public let refusedTotal = Atomic<UInt64>(0)
    /// Submissions accepted (a case given, a duplicate's too) since start.
    public let submissionsAccepted = Atomic<UInt64>(0)
    /// Submissions refused with the caller's error since start.
    public let submissionsRefused = Atomic<UInt64>(0)

    public init() {}


    /// Records a batch of `answered` replies, `refused` of them refusals, and the submissions they
    /// answered (`submissions`: accepted and refused), at `now` (seconds since 1970); once a batch,
    /// on the request thread.
    public func record(answered: Int, refused: Int, submissions: OutgoingReply.SubmissionCounts = .init(),
                       now: Double = Date().timeIntervalSince1970) {
        guard answered > 0 else { return }
        let second = Int64(now)
        let slot = Int(second % 60)
        buckets.withLock { b in
            if b[slot].second != second { b[slot] = Bucket(second: second) }
            b[slot].answered += UInt64(answered)
            b[slot].refused += UInt64(refused)
            b[slot].submissions += UInt64(submissions.accepted + submissions.refused)
            b[slot].submissionsRefused += UInt64(submissions.refused)
        }
        if refused > 0 { refusedTotal.add(UInt64(refused), ordering: .relaxed) }
        if submissions.accepted > 0 { submissionsAccepted.add(UInt64(submissions.accepted), ordering: .relaxed) }
        if submissions.refused > 0 { submissionsRefused.add(UInt64(submissions.refused), ordering: .relaxed) }
    }

    /// Keeps `error` as the latest refusal.
    public func noteRefusal(_ error: Liaison_V1_Error, at now: Date = Date()) {
        let what = error.field.isEmpty ? error.code.name : "\(error.code.name) \(error.field)"
        latest.withLock { $0 = Refusal(what: what, at: now) }
    }

    public var lastRefusal: Refusal? { latest.withLock { $0 } }

    /// Requests answered and refused in the 60 s before `now`.
    public func lastMinute(now: Double = Date().timeIntervalSince1970) -> Summary {
        let current = Int64(now)
        return buckets.withLock { b in
            var s = Summary(answered: 0, refused: 0)
            for bucket in b where bucket.second > current - 60 && bucket.second <= current {
                s.answered += bucket.answered
                s.refused += bucket.refused
                s.submissions += bucket.submissions
                s.submissionsRefused += bucket.submissionsRefused
            }
            return s
        }
    }
}
