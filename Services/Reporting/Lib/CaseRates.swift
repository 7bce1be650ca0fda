import Foundation
import GRDB
import LiaisonCodec

/// The rates the office is judged by, kept from the handler's case events: for every case, when it
/// was opened, answered and resolved against its deadlines, who handles it and what the citizen
/// rated the resolution. ``rates(_:now:since:)`` counts them by unit, category, officer and month.
///
/// "On time" is decided when the answer or the resolution happens, against the deadline the case
/// had then (the handler's `respond_by` / `resolve_by`, which a wait on the citizen moves). A case
/// is *due* once it was answered (resolved) or once its deadline passed without it while its clock
/// ran: a case waiting on the citizen, merged, closed unanswered or not police responsibility is
/// not due for what it never got. Merged duplicates are left out of every count.
struct CaseRates {
    /// The zone whose calendar months `rates_by_month` counts.
    let timeZone: TimeZone
    private let calendar: Calendar

    init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        calendar = c
    }

    /// How far back the rates look: cases opened in the last 12 months.
    static let window: TimeInterval = 365 * 86_400
    /// States in which a case's clock does not run (the handler's `clockStopped`).
    static let clockStopped = "('closed','merged','not_police_responsibility','awaiting_citizen')"

    /// "2026-12": the month of `date` in ``timeZone``.
    func month(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month], from: date)
        return String(format: "%04d-%02d", c.year ?? 0, c.month ?? 0)
    }

    /// A case opened: its row, once (a replayed event changes nothing).
    func opened(_ db: Database, _ c: Liaison_V1_CaseOpened, at: Date) throws {
        try db.executeCached(sql: """
            INSERT OR IGNORE INTO cases (case_number, unit, priority, state, respond_by, resolve_by,
                                         kind, category, accountable_unit, opened_at, month)
            VALUES (?, ?, ?, 'triaged', ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [c.caseNumber, c.unit, c.priority, c.respondBy.date.timeIntervalSince1970, c.resolveBy.date.timeIntervalSince1970,
                             c.kind.name, CategoryKey.of(c.category), c.accountableUnit.isEmpty ? c.unit : c.accountableUnit,
                             at.timeIntervalSince1970, month(at)])
    }

    /// A case moved through its life cycle: its state, unit, officer and deadlines follow, and an
    /// answer, a resolution, a rating or a reopening is recorded with its time.
    func updated(_ db: Database, _ u: Liaison_V1_CaseUpdated, at: Date) throws {
        let answers = u.action == .respond || u.action == .resolve
        let resolves = u.action == .resolve
        let reopens = u.action == .reopen
        let rates = u.action == .confirmResolution && u.satisfaction > 0
        let t = at.timeIntervalSince1970
        // SQLite evaluates every SET expression on the row as it was: the deadlines compared are
        // this event's when it carries them, the stored ones otherwise.
        let arguments: StatementArguments = [
            "state": u.toState, "unit": u.unit, "officer": u.officer,
            "accountable": u.accountableUnit,
            "respondBy": u.hasRespondBy ? u.respondBy.date.timeIntervalSince1970 : nil,
            "resolveBy": u.hasResolveBy ? u.resolveBy.date.timeIntervalSince1970 : nil,
            "answers": answers, "resolves": resolves, "reopens": reopens, "rates": rates,
            "rating": Int(min(u.satisfaction, 5)), "at": t, "number": u.caseNumber,
        ]
        try db.executeCached(sql: """
            UPDATE cases SET
              state = :state, unit = :unit, officer = :officer,
              accountable_unit = CASE WHEN :accountable = '' THEN accountable_unit ELSE :accountable END,
              respond_by = COALESCE(:respondBy, respond_by),
              resolve_by = COALESCE(:resolveBy, resolve_by),
              responded_on_time = CASE WHEN responded_at IS NULL AND :answers
                                       THEN :at <= COALESCE(:respondBy, respond_by) ELSE responded_on_time END,
              responded_at = CASE WHEN responded_at IS NULL AND :answers THEN :at ELSE responded_at END,
              resolved_on_time = CASE WHEN :resolves THEN :at <= COALESCE(:resolveBy, resolve_by)
                                      WHEN :reopens THEN 0 ELSE resolved_on_time END,
              resolved_at = CASE WHEN :resolves THEN :at WHEN :reopens THEN NULL ELSE resolved_at END,
              rating = CASE WHEN :rates THEN :rating WHEN :reopens THEN 0 ELSE rating END
            WHERE case_number = :number
            """, arguments: arguments)
    }

    /// The dimensions of the report: how each groups a case, which cases it counts, and its order.
    enum Dimension: CaseIterable {
        case all, unit, category, officer, month

        var key: String {
            switch self {
            case .all: "'all'"
            case .unit: "accountable_unit"
            case .category: "kind || CASE WHEN category = '' THEN '' ELSE '/' || category END"
            case .officer: "officer"
            case .month: "month"
            }
        }

        var filter: String { self == .officer ? "AND officer != ''" : "" }

        /// Complaints come first among the categories; the newest month first.
        var order: String {
            switch self {
            case .all, .unit, .officer: "cases DESC, key"
            case .category: "MIN(kind != 'complaint'), cases DESC, key"
            case .month: "key DESC"
            }
        }

        var limit: Int { self == .officer ? 100 : 1_000 }
    }

    /// The rates of the cases opened since `since`, grouped by `dimension`, as of `now`.
    func rates(_ db: Database, _ dimension: Dimension, now: Date, since: Date) throws -> [Liaison_V1_Rate] {
        let n = now.timeIntervalSince1970
        return try Row.fetchAll(db, sql: """
            SELECT \(dimension.key) AS key, COUNT(*) AS cases,
              SUM(responded_at IS NOT NULL) AS responded,
              SUM(responded_at IS NOT NULL OR (respond_by < ? AND state NOT IN \(Self.clockStopped))) AS response_due,
              SUM(responded_on_time) AS responded_on_time,
              SUM(resolved_at IS NOT NULL) AS resolved,
              SUM(resolved_at IS NOT NULL OR (resolve_by < ? AND state NOT IN \(Self.clockStopped))) AS resolution_due,
              SUM(resolved_on_time) AS resolved_on_time,
              SUM(rating > 0) AS rated, SUM(rating >= 4) AS satisfied,
              COALESCE(AVG(NULLIF(rating, 0)), 0) AS mean_rating
            FROM cases
            WHERE opened_at >= ? AND state != 'merged' \(dimension.filter)
            GROUP BY key ORDER BY \(dimension.order) LIMIT \(dimension.limit)
            """, arguments: [n, n, since.timeIntervalSince1970]).map { row in
            func count(_ column: String) -> UInt64 { UInt64(max(0, (row[column] as Int64?) ?? 0)) }
            var r = Liaison_V1_Rate()
            r.key = row["key"]
            r.cases = count("cases")
            r.responded = count("responded")
            r.responseDue = count("response_due")
            r.respondedOnTime = count("responded_on_time")
            r.resolved = count("resolved")
            r.resolutionDue = count("resolution_due")
            r.resolvedOnTime = count("resolved_on_time")
            r.rated = count("rated")
            r.satisfied = count("satisfied")
            r.meanRating = (row["mean_rating"] as Double?) ?? 0
            return r
        }
    }
}
