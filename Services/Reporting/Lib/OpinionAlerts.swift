import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime

/// When an opinion alert is raised: complaints of one category about one area in any 24 hours
/// reaching `minimum` and `factor` times their usual level (their mean a day over the 28 days
/// before).
public struct OpinionAlertSettings: Sendable, Equatable {
    /// The fewest complaints in 24 hours that raise an alert, however quiet the area usually is.
    public var minimum: Int
    /// How many times its usual daily level a category's complaints must reach.
    public var factor: Double

    public init(minimum: Int = 5, factor: Double = 3) {
        self.minimum = minimum
        self.factor = factor
    }

    /// The count that raises an alert when the mean a day has been `usual`.
    public func threshold(usual: Double) -> Int {
        max(minimum, Int((factor * usual).rounded(.up)))
    }
}

/// Opinion alerts: a surge of similar complaints (same category, same area) well above its usual
/// level, raised on reporting's stream as an `opinion.alert` event so that the PR office can answer
/// publicly in time.
///
/// Each complaint is counted when intake's `feedback.received` arrives, at the time intake received
/// it, so that a reporting instance that was down or is rebuilding finds the same surges from the
/// same events. A near-duplicate (the same citizen again, linked by intake) is not counted: a surge
/// is many people, not one person many times. An alert is raised once a day at most for the same
/// category and area; one found in history older than ``publishHorizon`` (a rebuild) is kept for
/// the record but not raised again.
struct OpinionAlerts {
    var settings: OpinionAlertSettings

    static let day: TimeInterval = 86_400
    /// The days before the window whose mean is the usual level.
    static let usualDays = 28.0
    /// Alerts this old are not raised when found, nor listed in the report.
    static let publishHorizon: TimeInterval = 7 * day
    /// An alert raised this long after its window's end is marked late.
    static let lateAfter: TimeInterval = 3_600
    /// Case numbers an alert carries.
    static let caseNumbersKept = 20

    /// The area a complaint is about: the unit it names, "" when it gave only an address.
    static func area(_ f: Liaison_V1_SubmitFeedback) -> String { f.unit }

    static func category(_ f: Liaison_V1_SubmitFeedback) -> String {
        let key = CategoryKey.of(f.category)
        return key.isEmpty ? "uncategorized" : key
    }

    /// Counts one received feedback; appends an `opinion.alert` event when it makes a surge.
    /// - Returns: the alert raised, if any.
    @discardableResult
    func received(_ db: Database, _ out: EventAppender, _ fr: Liaison_V1_FeedbackReceived, at: Date, now: Date) throws -> Liaison_V1_OpinionAlert? {
        guard fr.feedback.kind == .complaint, fr.linkedCaseNumber.isEmpty else { return nil }
        let category = Self.category(fr.feedback), area = Self.area(fr.feedback)
        let t = at.timeIntervalSince1970
        // The same event applied twice (it cannot be, the cursor moves in the same transaction) or
        // the same case numbered twice would count once.
        try db.executeCached(sql: "INSERT OR IGNORE INTO complaints (case_number, category, area, at) VALUES (?, ?, ?, ?)",
                             arguments: [fr.caseNumber, category, area, t])
        guard db.changesCount > 0 else { return nil }
        // What no window can reach again: older than the usual level's days.
        try db.executeCached(sql: "DELETE FROM complaints WHERE category = ? AND area = ? AND at < ?",
                             arguments: [category, area, t - (Self.usualDays + 2) * Self.day])
        let count = try Int.fetchOne(db.cachedStatement(sql: """
            SELECT COUNT(*) FROM complaints WHERE category = ? AND area = ? AND at > ? AND at <= ?
            """), arguments: [category, area, t - Self.day, t]) ?? 0
        guard count >= settings.minimum else { return nil }
        let before = try Int.fetchOne(db.cachedStatement(sql: """
            SELECT COUNT(*) FROM complaints WHERE category = ? AND area = ? AND at > ? AND at <= ?
            """), arguments: [category, area, t - (Self.usualDays + 1) * Self.day, t - Self.day]) ?? 0
        let usual = Double(before) / Self.usualDays
        let threshold = settings.threshold(usual: usual)
        guard count >= threshold else { return nil }
        let raisedToday = try Bool.fetchOne(db.cachedStatement(sql: """
            SELECT EXISTS (SELECT 1 FROM opinion_alerts WHERE category = ? AND area = ? AND window_end > ?)
            """), arguments: [category, area, t - Self.day]) ?? false
        guard !raisedToday else { return nil }

        var alert = Liaison_V1_OpinionAlert()
        alert.category = category
        alert.area = area
        alert.count = UInt32(clamping: count)
        alert.usual = usual
        alert.threshold = UInt32(clamping: threshold)
        alert.windowEnd = .init(date: at)
        alert.caseNumbers = try String.fetchAll(db.cachedStatement(sql: """
            SELECT case_number FROM complaints WHERE category = ? AND area = ? AND at > ? AND at <= ?
            ORDER BY at DESC, case_number DESC LIMIT \(Self.caseNumbersKept)
            """), arguments: [category, area, t - Self.day, t])
        alert.late = now.timeIntervalSince(at) > Self.lateAfter
        let published = now.timeIntervalSince(at) <= Self.publishHorizon
        try db.executeCached(sql: """
            INSERT INTO opinion_alerts (category, area, window_end, raised_at, published, data) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [category, area, t, now.timeIntervalSince1970, published, try alert.serializedData()])
        guard published else { return nil }
        try out.append(topic: Topic.opinionAlert, at: now) { $0.opinionAlert = alert }
        return alert
    }

    /// The alerts whose window ended in the last 7 days, newest first.
    static func recent(_ db: Database, now: Date) throws -> [Liaison_V1_OpinionAlert] {
        try Data.fetchAll(db, sql: """
            SELECT data FROM opinion_alerts WHERE published AND window_end > ? ORDER BY window_end DESC LIMIT 100
            """, arguments: [now.timeIntervalSince1970 - publishHorizon]).map { try Liaison_V1_OpinionAlert(serializedBytes: $0) }
    }
}
