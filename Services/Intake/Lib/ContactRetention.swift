import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Synchronization

/// How long a citizen's contact data is kept once their case has ended (closed or merged):
/// `--contact-retention-days`. Past it, intake erases the sealed contact and its fingerprints,
/// records the erasure (a `contact.erased` event, which the case's handler puts in the audit
/// trail), and answers an operator's request with when it was erased.
public struct ContactRetention: Sendable, Equatable, CustomStringConvertible {
    /// Days after the case ended; nil: kept for as long as the case is.
    public let days: Double?

    public init(days: Double?) { self.days = days }

    /// The default: a year after the case ended.
    public static let standard = ContactRetention(days: 365)
    public static let forever = ContactRetention(days: nil)

    /// `365`, `0.5`, `0` (erased as soon as the case ends) or `never`.
    public init?(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "never" { self = .forever; return }
        guard let d = Double(t), d.isFinite, d >= 0, d <= 36_500 else { return nil }
        self.days = d
    }

    /// The time kept, in seconds.
    public var seconds: TimeInterval? { days.map { $0 * 86_400 } }

    /// How often intake looks for contacts past the retention: a hundredth of it, between a
    /// second and an hour (an hour for a year: a contact is erased at most an hour late).
    public var checkInterval: TimeInterval {
        guard let s = seconds else { return .infinity }
        return min(3_600, max(1, s / 100))
    }

    public var description: String {
        guard let days else { return "kept for as long as the case" }
        return days == 0 ? "erased when the case ends" : "erased \(Self.number(days)) day(s) after the case ends"
    }

    public static func number(_ d: Double) -> String { String(format: "%g", d) }
}

extension IntakeService {
    /// The public states of a case that has ended: nothing more is done with it, nobody needs to
    /// call the citizen about it.
    static let endedStates = "('closed', 'merged')"

    /// ``erasedAt`` of a `submissions` row: when its contact was erased, or NULL.
    static let erasedAtColumn = "(SELECT erased_at FROM contact_erasures WHERE contact_erasures.case_seq = submissions.case_seq) AS \(erasedAt)"
    /// The name a row read with ``erasedAtColumn`` gives it.
    static let erasedAt = "contact_erased_at"

    /// Erases the contact data of at most `limit` cases that ended longer ago than `retention`:
    /// the sealed contact and its fingerprints, in one fsync'd transaction with one
    /// `contact.erased` event each. Returns how many it erased, and whether there may be more
    /// (a full batch of candidates was found).
    ///
    /// The candidates are found on a reader, so a scan of a large table never holds the writer and
    /// the submissions waiting for it; each is erased only if it still qualifies (a case reopened
    /// meanwhile keeps its contact). The erasing connection overwrites what it deletes
    /// (`secure_delete`), so the sealed bytes do not linger in free pages.
    @discardableResult
    public func eraseEndedContacts(retention: ContactRetention, limit: Int = 100) throws -> (erased: Int, more: Bool) {
        guard let kept = retention.seconds else { return (0, false) }
        let now = clock.now()
        let cutoff = now.addingTimeInterval(-kept).timeIntervalSince1970
        let candidates = try log.store.pool.read { db in
            try Int64.fetchAll(db, sql: """
                SELECT case_seq FROM submissions
                WHERE contact IS NOT NULL AND state IN \(Self.endedStates) AND updated_at <= ?
                ORDER BY case_seq LIMIT ?
                """, arguments: [cutoff, limit])
        }
        if candidates.isEmpty { return (0, false) }
        let erased = try log.write { db, out -> [String] in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            defer { try? db.execute(sql: "PRAGMA secure_delete = OFF") }
            var erased: [String] = []
            for seq in candidates {
                guard let caseNumber = try String.fetchOne(db, sql: """
                    UPDATE submissions SET contact = NULL, contact_prints = NULL
                    WHERE case_seq = ? AND contact IS NOT NULL AND state IN \(Self.endedStates) AND updated_at <= ?
                    RETURNING case_number
                    """, arguments: [seq, cutoff]) else { continue }
                try db.execute(sql: "INSERT OR REPLACE INTO contact_erasures (case_seq, erased_at) VALUES (?, ?)", arguments: [seq, now.timeIntervalSince1970])
                try out.append(topic: Topic.contactErased, at: now) { e in
                    e.contactErased.caseNumber = caseNumber
                    e.contactErased.retentionDays = retention.days ?? 0
                }
                erased.append(caseNumber)
            }
            return erased
        }
        if !erased.isEmpty {
            logger.notice("contact data erased under the retention", metadata: [
                "count": "\(erased.count)", "retention": "\(retention)", "first": "\(erased[0])", "last": "\(erased[erased.count - 1])",
            ])
        }
        return (erased.count, candidates.count == limit)
    }

    /// The timer that applies the retention: it looks every ``ContactRetention/checkInterval``, on
    /// a thread of its own; nil when contacts are kept. After a full batch it looks again a second
    /// later, not at once: a backlog (the first run after an upgrade) is worked off at 100 cases a
    /// second (360,000 an hour), and the submissions that share the writer wait for one short
    /// transaction at a time (13–17 ms for 100 cases in a debug build, lookup included).
    func retentionTimer(_ retention: ContactRetention, name: String) -> TimerLoop? {
        guard retention.seconds != nil else { return nil }
        let cadence = Mutex(Cadence(every: retention.checkInterval))
        return TimerLoop(name: "\(name)-retention", intervalMs: 200, logger: logger) { [self] in
            let now = clock.instant()
            if cadence.withLock({ $0.isDue(now) }), try eraseEndedContacts(retention: retention).more {
                // The next look in a second, not at the next interval.
                cadence.withLock { $0.due(at: now + .seconds(1)) }
            }
            return false
        }
    }
}
