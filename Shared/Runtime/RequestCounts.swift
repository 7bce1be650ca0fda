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
        /// This second's refusals by what they were (``RequestCounts/kind(of:)``), at most
        /// ``RequestCounts/kindsKept`` kinds; the rest go to "other".
        var kinds: [Kind] = []
    }

    /// One kind of refusal (its code and field) and how many requests it answered.
    public struct Kind: Sendable, Equatable {
        public var what: String
        public var requests: UInt64
        public init(what: String, requests: UInt64) {
            self.what = what
            self.requests = requests
        }
    }

    /// Kinds of refusal a second keeps, and the last minute reports, before the rest are summed
    /// as ``otherKinds``: a client sending anything at all cannot make the status grow.
    public static let kindsKept = 8
    /// What the refusals past ``kindsKept`` are reported as.
    public static let otherKinds = "other"

    /// The last minute's figures: requests answered and refused, and the submissions among them
    /// (accepted or refused) and those refused.
    public struct Summary: Sendable, Equatable {
        public var answered: UInt64
        public var refused: UInt64
        public var submissions: UInt64
        public var submissionsRefused: UInt64
        /// The refused requests by kind, most first (then by name), at most ``kindsKept`` with
        /// those past it summed as ``otherKinds``.
        public var refusals: [Kind]
        public init(answered: UInt64, refused: UInt64, submissions: UInt64 = 0, submissionsRefused: UInt64 = 0, refusals: [Kind] = []) {
            self.answered = answered
            self.refused = refused
            self.submissions = submissions
            self.submissionsRefused = submissionsRefused
            self.refusals = refusals
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

    /// Keeps `error` as the latest refusal and counts it by its kind in the second of `now`; once
    /// a refused request, before ``record(answered:refused:submissions:now:)`` counts its batch.
    public func noteRefusal(_ error: Liaison_V1_Error, at now: Date = Date()) {
        let what = error.field.isEmpty ? error.code.name : "\(error.code.name) \(error.field)"
        latest.withLock { $0 = Refusal(what: what, at: now) }
        let kind = Self.kind(of: what)
        let second = Int64(now.timeIntervalSince1970)
        let slot = Int(second % 60)
        buckets.withLock { b in
            if b[slot].second != second { b[slot] = Bucket(second: second) }
            Self.add(kind, to: &b[slot].kinds)
        }
    }

    /// A refusal's kind: its code and field with each element's number left out, so that the lines
    /// of a desk's batches refused for the same field are one kind
    /// (`invalid_argument submit_batch.submissions[].text`), and the kinds stay few.
    package static func kind(of what: String) -> String {
        guard what.utf8.contains(UInt8(ascii: "[")) else { return what }
        var out = String.UnicodeScalarView()
        var inBrackets = false
        for u in what.unicodeScalars {
            if inBrackets {
                if u == "]" { inBrackets = false; out.append(u) }
                else if !("0"..."9").contains(u) { inBrackets = false; out.append(u) }
                continue
            }
            out.append(u)
            if u == "[" { inBrackets = true }
        }
        return String(out)
    }

    /// Counts a refusal of `what` in `kinds`: in its own entry, a new one while fewer than
    /// ``kindsKept`` are kept, else in ``otherKinds`` (which may make one more).
    static func add(_ what: String, to kinds: inout [Kind]) {
        if let i = kinds.firstIndex(where: { $0.what == what }) {
            kinds[i].requests += 1
        } else if kinds.count < kindsKept {
            kinds.append(Kind(what: what, requests: 1))
        } else if let i = kinds.firstIndex(where: { $0.what == otherKinds }) {
            kinds[i].requests += 1
        } else {
            kinds.append(Kind(what: otherKinds, requests: 1))
        }
    }

    public var lastRefusal: Refusal? { latest.withLock { $0 } }

    /// Requests answered and refused in the 60 s before `now`.
    public func lastMinute(now: Double = Date().timeIntervalSince1970) -> Summary {
        let current = Int64(now)
        return buckets.withLock { b in
            var s = Summary(answered: 0, refused: 0)
            var kinds: [String: UInt64] = [:]
            for bucket in b where bucket.second > current - 60 && bucket.second <= current {
                s.answered += bucket.answered
                s.refused += bucket.refused
                s.submissions += bucket.submissions
                s.submissionsRefused += bucket.submissionsRefused
                for k in bucket.kinds { kinds[k.what, default: 0] += k.requests }
            }
            // Most first; past the first kindsKept (other aside), summed into other.
            let other = kinds.removeValue(forKey: Self.otherKinds) ?? 0
            let ranked = kinds.map { Kind(what: $0.key, requests: $0.value) }
                .sorted { $0.requests != $1.requests ? $0.requests > $1.requests : $0.what < $1.what }
            let rest = ranked.dropFirst(Self.kindsKept).reduce(other) { $0 + $1.requests }
            s.refusals = Array(ranked.prefix(Self.kindsKept))
            if rest > 0 { s.refusals.append(Kind(what: Self.otherKinds, requests: rest)) }
            return s
        }
    }
}
