import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime

/// The rates the office is judged by, kept from the handler's case events: for every case, when it
/// was opened, answered and resolved against its deadlines, who handles it and what the citizen
/// rated the resolution. ``rates(_:now:)`` counts them by unit, category, officer and month over
/// the last 12 calendar months.
///
/// "On time" is decided when the answer or the resolution happens, against the deadline the case
/// had then (the handler's `respond_by` / `resolve_by`, which a wait on the citizen moves). A case
/// is *due* once it was answered (resolved) or once its deadline passed without it while its clock
/// ran: a case waiting on the citizen, merged, closed unanswered or not police responsibility is
/// not due for what it never got. Merged duplicates are left out of every count.
///
/// Each case's share of its groups' counts is kept in `rate_counts` by month of opening as its
/// events come (what changed is taken from the old share and given to the new), so that a report
/// sums a few thousand rows rather than reading every case of the year (five grouped reads of the
/// cases took 1.5 s at 100,000 cases; the sums take 14–25 ms). Only the cases past a deadline
/// without its answer, which depend on the moment of the report, are read from the cases, from
/// indexes that hold only the unanswered and the unresolved with the columns the groups need.
struct CaseRates {
    /// The zone whose calendar months the rates count.
    let timeZone: TimeZone
    private let calendar: Calendar

    init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        calendar = c
    }

    /// The calendar months the rates cover: the report's own and the 11 before it.
    static let months = 12
    /// States in which a case's clock does not run (the handler's `clockStopped`).
    static let clockStopped = "('closed','merged','not_police_responsibility','awaiting_citizen')"

    /// "2026-12": the month of `date` in ``timeZone``.
    func month(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month], from: date)
        return String(format: "%04d-%02d", c.year ?? 0, c.month ?? 0)
    }

    /// Where the rates of a report made at `now` start: the first moment of the month 11 months
    /// before `now`'s, and that month's name.
    func since(_ now: Date) -> (date: Date, month: String) {
        let first = calendar.dateInterval(of: .month, for: now)?.start ?? now
        let start = calendar.date(byAdding: .month, value: -(Self.months - 1), to: first) ?? first
        return (start, month(start))
    }

    /// The dimensions of the report.
    enum Dimension: String, CaseIterable {
        case all, unit, category, officer, month
    }

    /// What one case adds to the counts of its groups.
    struct Share: Equatable {
        /// Its group in each dimension; none in `officer` while nobody is assigned.
        var keys: [(Dimension, String)]
        var month: String
        /// In the order of ``Share/columns``.
        var counts: [Int64]

        static let columns = ["cases", "responded", "responded_on_time", "resolved", "resolved_on_time", "rated", "satisfied", "rating_sum"]

        static func == (a: Share, b: Share) -> Bool {
            a.month == b.month && a.counts == b.counts && a.keys.map(\.0) == b.keys.map(\.0) && a.keys.map(\.1) == b.keys.map(\.1)
        }

        /// The groups of a case row whose first columns are `accountable_unit`, `kind`,
        /// `category`, `officer` and `month`, in that order (read by place: finding a column by
        /// its name hashes it for every row).
        static func keys(_ row: Row) -> [(Dimension, String)] {
            let category: String = row[2], officer: String = row[3]
            var keys: [(Dimension, String)] = [(.all, "all"), (.unit, row[0]),
                                               (.category, (row[1] as String) + (category.isEmpty ? "" : "/" + category)),
                                               (.month, row[4])]
            if !officer.isEmpty { keys.append((.officer, officer)) }
            return keys
        }
    }

    /// The case's share as it stands; nil when there is no such case or it was merged.
    func share(_ db: Database, _ caseNumber: String) throws -> Share? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT accountable_unit, kind, category, officer, month, state, responded_at IS NOT NULL AS responded,
                   responded_on_time, resolved_at IS NOT NULL AS resolved, resolved_on_time, rating
            FROM cases WHERE case_number = ?
            """), arguments: [caseNumber]), (row[5] as String) != "merged" else { return nil }
        let responded: Bool = row[6], resolved: Bool = row[8], rating: Int64 = row[10]
        let counts: [Int64] = [1, responded ? 1 : 0, responded && row[7] ? 1 : 0,
                               resolved ? 1 : 0, resolved && row[9] ? 1 : 0,
                               rating > 0 ? 1 : 0, rating >= 4 ? 1 : 0, rating]
        return Share(keys: Share.keys(row), month: row[4], counts: counts)
    }

    /// Built once: the statement cache finds a statement by hashing its text.
    static let addSQL = """
        INSERT INTO rate_counts (dimension, key, month, \(Share.columns.joined(separator: ", ")))
        VALUES (?, ?, ?, \(Share.columns.map { _ in "?" }.joined(separator: ", ")))
        ON CONFLICT(month, dimension, key) DO UPDATE SET
        \(Share.columns.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", "))
        """

    /// Adds `counts` to the group `key` of `dimension` in `month` (taken away when negative).
    func add(_ db: Database, _ dimension: Dimension, _ key: String, month: String, _ counts: [Int64]) throws {
        let statement = try db.cachedStatement(sql: Self.addSQL)
        // Bound by type: through `StatementArguments` a third of applying an event went to
        // boxing and casting these values.
        try db.executeBound(statement) { b in
            b.text(dimension.rawValue); b.text(key); b.text(month)
            for c in counts { b.int(c) }
        }
    }

    /// Moves a case's share from `before` to `after` (either nil: none), touching only the groups
    /// whose counts change: an answer changes each of its five groups, an assignment only the
    /// officers'.
    func move(_ db: Database, from before: Share?, to after: Share?) throws {
        var deltas: [(Dimension, String, String, [Int64])] = []
        if let before {
            for (d, k) in before.keys { deltas.append((d, k, before.month, before.counts.map { -$0 })) }
        }
        if let after {
            for (d, k) in after.keys {
                if let i = deltas.firstIndex(where: { $0.0 == d && $0.1 == k && $0.2 == after.month }) {
                    deltas[i].3 = zip(deltas[i].3, after.counts).map { $0 + $1 }
                } else {
                    deltas.append((d, k, after.month, after.counts))
                }
            }
        }
        for (d, k, m, counts) in deltas where counts.contains(where: { $0 != 0 }) {
            try add(db, d, k, month: m, counts)
        }
    }

    /// A case opened: its row and its share, once (a replayed event changes nothing).
    /// - Returns: whether the case is new.
    func opened(_ db: Database, _ c: Liaison_V1_CaseOpened, at: Date) throws -> Bool {
        try db.executeCached(sql: """
            INSERT OR IGNORE INTO cases (case_number, unit, priority, state, respond_by, resolve_by,
                                         kind, category, accountable_unit, opened_at, month)
            VALUES (?, ?, ?, 'triaged', ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [c.caseNumber, c.unit, c.priority, c.respondBy.date.timeIntervalSince1970, c.resolveBy.date.timeIntervalSince1970,
                             c.kind.name, CategoryKey.of(c.category), c.accountableUnit.isEmpty ? c.unit : c.accountableUnit,
                             at.timeIntervalSince1970, month(at)])
        guard db.changesCount > 0 else { return false }
        try move(db, from: nil, to: try share(db, c.caseNumber))
        return true
    }

    /// A case moved through its life cycle: its state, unit, officer and deadlines follow, and an
    /// answer, a resolution, a rating or a reopening is recorded with its time; its share moves
    /// with it.
    func updated(_ db: Database, _ u: Liaison_V1_CaseUpdated, at: Date) throws {
        let before = try share(db, u.caseNumber)
        let answers = u.action == .respond || u.action == .resolve
        let resolves = u.action == .resolve
        let reopens = u.action == .reopen
        let rates = u.action == .confirmResolution && u.satisfaction > 0
        // SQLite evaluates every SET expression on the row as it was: the deadlines compared are
        // this event's when it carries them (?5, ?6), the stored ones otherwise.
        let statement = try db.cachedStatement(sql: """
            UPDATE cases SET
              state = ?1, unit = ?2, officer = ?3,
              accountable_unit = CASE WHEN ?4 = '' THEN accountable_unit ELSE ?4 END,
              respond_by = COALESCE(?5, respond_by),
              resolve_by = COALESCE(?6, resolve_by),
              responded_on_time = CASE WHEN responded_at IS NULL AND ?7
                                       THEN ?12 <= COALESCE(?5, respond_by) ELSE responded_on_time END,
              responded_at = CASE WHEN responded_at IS NULL AND ?7 THEN ?12 ELSE responded_at END,
              resolved_on_time = CASE WHEN ?8 THEN ?12 <= COALESCE(?6, resolve_by)
                                      WHEN ?9 THEN 0 ELSE resolved_on_time END,
              resolved_at = CASE WHEN ?8 THEN ?12 WHEN ?9 THEN NULL ELSE resolved_at END,
              rating = CASE WHEN ?10 THEN ?11 WHEN ?9 THEN 0 ELSE rating END
            WHERE case_number = ?13
            """)
        try db.executeBound(statement) { b in
            b.text(u.toState); b.text(u.unit); b.text(u.officer); b.text(u.accountableUnit)
            if u.hasRespondBy { b.double(u.respondBy.date.timeIntervalSince1970) } else { b.null() }
            if u.hasResolveBy { b.double(u.resolveBy.date.timeIntervalSince1970) } else { b.null() }
            b.int(answers ? 1 : 0); b.int(resolves ? 1 : 0); b.int(reopens ? 1 : 0); b.int(rates ? 1 : 0)
            b.int(Int64(min(u.satisfaction, 5))); b.double(at.timeIntervalSince1970); b.text(u.caseNumber)
        }
        let after = try share(db, u.caseNumber)
        guard before != after else { return }
        try move(db, from: before, to: after)
    }

    /// A group's counts as the report sums them.
    struct Tally {
        var rate = Liaison_V1_Rate()
        var ratingSum: Int64 = 0
        var overdueAnswers: UInt64 = 0
        var overdueResolutions: UInt64 = 0

        var finished: Liaison_V1_Rate {
            var r = rate
            r.responseDue = r.responded + overdueAnswers
            r.resolutionDue = r.resolved + overdueResolutions
            r.meanRating = r.rated == 0 ? 0 : Double(ratingSum) / Double(r.rated)
            return r
        }
    }

    /// The rates of the cases opened in the 12 months to `now`'s, by dimension, as of `now`.
    func rates(_ db: Database, now: Date) throws -> [Dimension: [Liaison_V1_Rate]] {
        let first = since(now).month
        var tallies: [Dimension: [String: Tally]] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT dimension, key, \(Share.columns.map { "SUM(\($0)) AS \($0)" }.joined(separator: ", "))
            FROM rate_counts WHERE month >= ? GROUP BY dimension, key HAVING SUM(cases) > 0
            """, arguments: [first]) {
            guard let dimension = Dimension(rawValue: row["dimension"]) else { continue }
            func count(_ column: String) -> UInt64 { UInt64(max(0, row[column] as Int64)) }
            var t = Tally()
            t.rate.key = row["key"]
            t.rate.cases = count("cases")
            t.rate.responded = count("responded")
            t.rate.respondedOnTime = count("responded_on_time")
            t.rate.resolved = count("resolved")
            t.rate.resolvedOnTime = count("resolved_on_time")
            t.rate.rated = count("rated")
            t.rate.satisfied = count("satisfied")
            t.ratingSum = row["rating_sum"]
            tallies[dimension, default: [:]][t.rate.key] = t
        }
        // Due without their answer (resolution): the cases past that deadline while their clock ran.
        for (done, deadline, resolution) in [("responded_at", "respond_by", false), ("resolved_at", "resolve_by", true)] {
            // Read from the partial index that holds them, row by row.
            let overdue = try Row.fetchCursor(db, sql: """
                SELECT accountable_unit, kind, category, officer, month FROM cases
                WHERE \(done) IS NULL AND \(deadline) < ? AND month >= ? AND state NOT IN \(Self.clockStopped)
                """, arguments: [now.timeIntervalSince1970, first])
            while let row = try overdue.next() {
                for (dimension, key) in Share.keys(row) {
                    if resolution { tallies[dimension]?[key]?.overdueResolutions += 1 } else { tallies[dimension]?[key]?.overdueAnswers += 1 }
                }
            }
        }
        var out: [Dimension: [Liaison_V1_Rate]] = [:]
        for (dimension, groups) in tallies {
            let rates = groups.values.map(\.finished)
            let ordered: [Liaison_V1_Rate]
            switch dimension {
            case .month:
                ordered = rates.sorted { $0.key > $1.key }
            case .category:
                // Complaints first: one bad incident outweighs a hundred good deeds.
                ordered = rates.sorted {
                    let a = $0.key.hasPrefix("complaint"), b = $1.key.hasPrefix("complaint")
                    return a != b ? a : ($0.cases != $1.cases ? $0.cases > $1.cases : $0.key < $1.key)
                }
            case .all, .unit, .officer:
                ordered = rates.sorted { $0.cases != $1.cases ? $0.cases > $1.cases : $0.key < $1.key }
            }
            out[dimension] = dimension == .officer ? Array(ordered.prefix(100)) : ordered
        }
        return out
    }
}
