import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Logging
import Synchronization

/// Reporting: projections rebuilt from every stream, answered by `GetReport`: counts by kind,
/// channel, unit, state and priority; cases past their deadline; follow-ups due; response,
/// resolution and satisfaction rates by unit, category, officer and month (``CaseRates``); and
/// opinion alerts when similar complaints surge (``OpinionAlerts``), raised as events on its own
/// stream.
public final class ReportingService: RequestHandling {
    let log: EventLog
    let clock: WallClock
    let rates: CaseRates
    let alerts: OpinionAlerts

    /// - Parameters:
    ///   - timeZone: the zone whose calendar months the rates by month count (the force's own).
    ///   - alerts: when a surge of complaints raises an opinion alert.
    public init(log: EventLog, clock: WallClock, timeZone: TimeZone = ReportingService.defaultTimeZone,
                alerts: OpinionAlertSettings = .init()) {
        self.log = log
        self.clock = clock
        self.rates = CaseRates(timeZone: timeZone)
        self.alerts = OpinionAlerts(settings: alerts)
    }

    /// The demo city's zone, as the handler's working calendar has it.
    public static var defaultTimeZone: TimeZone { ForceTimeZone.demo }

    public static func migrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("reporting-v1") { db in
            try db.execute(sql: """
                CREATE TABLE counters (
                  dimension TEXT NOT NULL,
                  key TEXT NOT NULL,
                  count INTEGER NOT NULL,
                  PRIMARY KEY (dimension, key)
                );
                CREATE TABLE cases (
                  case_number TEXT PRIMARY KEY,
                  unit TEXT NOT NULL,
                  priority TEXT NOT NULL,
                  state TEXT NOT NULL,
                  respond_by REAL NOT NULL,
                  resolve_by REAL NOT NULL
                );
                CREATE INDEX report_cases_state ON cases(state, respond_by);
                """)
        }
        m.registerMigration("reporting-v2") { db in
            // What the rates and the opinion alerts need. The new columns are filled from the
            // streams: every projection starts again from each upstream's first event (streams
            // are never trimmed), and the counts come back as the consumers catch up.
            try db.execute(sql: """
                ALTER TABLE cases ADD COLUMN kind TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN category TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN accountable_unit TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN officer TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN opened_at REAL NOT NULL DEFAULT 0;
                ALTER TABLE cases ADD COLUMN month TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN responded_at REAL;
                ALTER TABLE cases ADD COLUMN responded_on_time INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE cases ADD COLUMN resolved_at REAL;
                ALTER TABLE cases ADD COLUMN resolved_on_time INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE cases ADD COLUMN rating INTEGER NOT NULL DEFAULT 0;
                -- The cases still owing an answer or a resolution, by deadline, with what the report
                -- groups them by: it counts those whose deadline has passed from the index alone.
                CREATE INDEX report_cases_unanswered ON cases(respond_by, month, state, accountable_unit, kind, category, officer)
                  WHERE responded_at IS NULL;
                CREATE INDEX report_cases_unresolved ON cases(resolve_by, month, state, accountable_unit, kind, category, officer)
                  WHERE resolved_at IS NULL;
                -- What each group's rates count, by month of opening, kept as the events come
                -- (``CaseRates``): a report sums 12 months of it instead of reading every case.
                CREATE TABLE rate_counts (
                  dimension TEXT NOT NULL,
                  key TEXT NOT NULL,
                  month TEXT NOT NULL,
                  cases INTEGER NOT NULL DEFAULT 0,
                  responded INTEGER NOT NULL DEFAULT 0,
                  responded_on_time INTEGER NOT NULL DEFAULT 0,
                  resolved INTEGER NOT NULL DEFAULT 0,
                  resolved_on_time INTEGER NOT NULL DEFAULT 0,
                  rated INTEGER NOT NULL DEFAULT 0,
                  satisfied INTEGER NOT NULL DEFAULT 0,
                  rating_sum INTEGER NOT NULL DEFAULT 0,
                  PRIMARY KEY (month, dimension, key)
                );
                CREATE TABLE complaints (
                  case_number TEXT PRIMARY KEY,
                  category TEXT NOT NULL,
                  area TEXT NOT NULL,
                  at REAL NOT NULL
                );
                CREATE INDEX report_complaints ON complaints(category, area, at);
                CREATE TABLE opinion_alerts (
                  category TEXT NOT NULL,
                  area TEXT NOT NULL,
                  window_end REAL NOT NULL,
                  raised_at REAL NOT NULL,
                  published INTEGER NOT NULL,
                  data BLOB NOT NULL,
                  PRIMARY KEY (category, area, window_end)
                );
                CREATE INDEX report_alerts_window ON opinion_alerts(window_end);
                DELETE FROM counters;
                DELETE FROM cases;
                DELETE FROM consumer_cursors;
                """)
        }
        m.registerMigration("reporting-v3-liaison") { db in
            // The household liaison programme: who is paired with which household each year, and
            // the visits recorded (the scheduler's liaison.* events, new with this version).
            try db.execute(sql: """
                CREATE TABLE liaison_pairs (
                  year INTEGER NOT NULL,
                  household_id TEXT NOT NULL,
                  station TEXT NOT NULL,
                  officer TEXT NOT NULL,
                  PRIMARY KEY (year, household_id)
                );
                CREATE TABLE liaison_visits (
                  visit_id TEXT PRIMARY KEY,
                  year INTEGER NOT NULL,
                  household_id TEXT NOT NULL,
                  station TEXT NOT NULL,
                  met INTEGER NOT NULL            -- the household was met (not "nobody home")
                );
                """)
        }
    }

    /// Builds the whole reporting instance: it consumes every instance of every other service.
    public static func host(config: ServiceConfig, clock: WallClock = SystemClock(), options: RequestLoopOptions = .init(),
                            timeZone: TimeZone = ReportingService.defaultTimeZone, alerts: OpinionAlertSettings = .init(),
                            logger: Logger) throws -> ServiceHost {
        let log = try config.openLog(migrations: migrations)
        let service = ReportingService(log: log, clock: clock, timeZone: timeZone, alerts: alerts)
        var consumers: [Consumer] = []
        for (name, prefixes) in [("intake", ["feedback."]), ("handler", ["case."]), ("scheduler", ["schedule.", "liaison."])] {
            for up in config.topology.instances(of: name) {
                consumers.append(try Consumer(upstream: up, topicPrefixes: prefixes, log: log, logger: logger) { db, out, event in
                    try service.apply(db, out, event)
                })
            }
        }
        return ServiceHost(config: config, log: log, handler: service, consumers: consumers, options: options, logger: logger)
    }

    static func bump(_ db: Database, _ dimension: String, _ key: String, by n: Int = 1) throws {
        try db.executeCached(sql: """
            INSERT INTO counters (dimension, key, count) VALUES (?, ?, ?)
            ON CONFLICT(dimension, key) DO UPDATE SET count = count + excluded.count
            """, arguments: [dimension, key, n])
    }

    /// Applies one event of any stream to the projections.
    public func apply(_ db: Database, _ out: EventAppender, _ event: Liaison_V1_Event) throws {
        // When it happened upstream: what the rates and the alerts count by, so that a rebuild
        // from the streams finds the same figures.
        let at = event.hasOccurredAt ? event.occurredAt.date : clock.now()
        switch event.payload {
        case .feedbackReceived(let fr)?:
            try Self.bump(db, "total", "feedback")
            try Self.bump(db, "kind", fr.feedback.kind.name)
            try Self.bump(db, "channel", fr.feedback.channel.name)
            try alerts.received(db, out, fr, at: at, now: clock.now())
        case .caseOpened(let c)?:
            if try rates.opened(db, c, at: at) {
                try Self.bump(db, "unit", c.unit)
                try Self.bump(db, "priority", c.priority)
            }
        case .caseUpdated(let u)?:
            // The case moves through its life cycle: the projection follows its state, unit,
            // officer and deadlines, and records its answer, resolution and rating.
            try rates.updated(db, u, at: at)
        case .followupDue?:
            try Self.bump(db, "total", "followups_due")
        case .liaisonPaired(let p)?:
            try db.executeCached(sql: "INSERT OR IGNORE INTO liaison_pairs (year, household_id, station, officer) VALUES (?, ?, ?, ?)",
                                 arguments: [Int(p.year), p.householdID, p.station, p.officer])
        case .liaisonVisited(let v)?:
            try db.executeCached(sql: "INSERT OR IGNORE INTO liaison_visits (visit_id, year, household_id, station, met) VALUES (?, ?, ?, ?, ?)",
                                 arguments: [v.visitID, Int(v.year), v.householdID, v.station, v.outcome != .nobodyHome])
        case .registrationChanged(let r)?:
            // People confirmed at each venue of each campaign: a confirmation adds its party, a
            // confirmed registration cancelled takes it off again.
            let key = "\(r.campaignID) \(r.venue)"
            if r.state == "confirmed" { try Self.bump(db, "open_week", key, by: Int(r.partySize)) }
            if r.state == "cancelled", r.was == "confirmed" { try Self.bump(db, "open_week", key, by: -Int(r.partySize)) }
            // Attendance: the people checked in at the door.
            if r.state == "attended" { try Self.bump(db, "open_week_attended", key, by: Int(r.partySize)) }
        default:
            break
        }
    }

    public func handle(_ requests: [Liaison_V1_Request]) -> [Liaison_V1_Reply] {
        each(requests) { req in
            guard case .getReport? = req.body else {
                throw WireError.invalidArgument("body", "reporting does not answer this request")
            }
            var r = Liaison_V1_Reply()
            r.report = try report()
            return r
        }
    }

    /// The last report made, what it was made from, when, and how long it took.
    private let lastReport = Mutex<(writes: UInt64, second: Int64, made: SuspendingClock.Instant, cost: Duration,
                                    report: Liaison_V1_Report)?>(nil)
    /// Reports made (not answered from ``lastReport``).
    let reportsMade = Atomic<Int>(0)
    /// A report is made again at most once in this many times the last one's cost.
    static let costShare = 10

    /// The current report. Made again only when an event has been applied since the last one or
    /// the second has changed (the overdue list follows the clock), and no sooner than ten times
    /// the last one's making after it: anyone may ask for it, and each one reads the cases still
    /// owing an answer (0.5 s at a million cases with 80,000 of them past a deadline, release
    /// build), so a client asking in a loop while events flow cannot keep reporting's request
    /// thread busy more than a tenth of the time. A small office's report (a millisecond) is made
    /// again as soon as anything changes.
    public func report() throws -> Liaison_V1_Report {
        let now = clock.now()
        // Read before the report is made: a write that commits meanwhile makes the next request
        // make it again.
        let writes = log.transactions
        let second = Int64(now.timeIntervalSince1970.rounded(.down))
        let start = clock.instant()
        if let last = lastReport.withLock({ $0 }) {
            if last.writes == writes, last.second == second { return last.report }
            if start - last.made < last.cost * Self.costShare { return last.report }
        }
        let made = try makeReport(now)
        reportsMade.add(1, ordering: .relaxed)
        let end = clock.instant()
        lastReport.withLock { $0 = (writes, second, end, end - start, made) }
        return made
    }

    private func makeReport(_ now: Date) throws -> Liaison_V1_Report {
        try log.store.pool.read { db in
            var rep = Liaison_V1_Report()
            let counters = try Row.fetchAll(db, sql: "SELECT dimension, key, count FROM counters ORDER BY dimension, count DESC, key")
            func counts(_ dim: String) -> [Liaison_V1_Count] {
                counters.filter { ($0["dimension"] as String) == dim }.map { row in
                    var c = Liaison_V1_Count()
                    c.key = row["key"]
                    c.count = UInt64(max(0, row["count"] as Int64))
                    return c
                }
            }
            let totals = Dictionary(uniqueKeysWithValues: counts("total").map { ($0.key, $0.count) })
            rep.feedbackTotal = totals["feedback"] ?? 0
            rep.followupsDue = totals["followups_due"] ?? 0
            rep.byKind = counts("kind")
            rep.byChannel = counts("channel")
            rep.byUnit = counts("unit")
            rep.byPriority = counts("priority")
            rep.openWeekConfirmed = counts("open_week").sorted { $0.key < $1.key }
            rep.openWeekAttended = counts("open_week_attended").sorted { $0.key < $1.key }
            rep.liaisonCoverage = try Row.fetchAll(db, sql: """
                SELECT p.year, p.station, COUNT(DISTINCT p.officer), COUNT(*),
                  (SELECT COUNT(*) FROM liaison_visits v WHERE v.year = p.year AND v.station = p.station),
                  (SELECT COUNT(DISTINCT household_id) FROM liaison_visits v WHERE v.year = p.year AND v.station = p.station AND v.met)
                FROM liaison_pairs p GROUP BY p.year, p.station ORDER BY p.year DESC, p.station LIMIT 1000
                """).map { row in
                Liaison_V1_LiaisonCoverage.with {
                    $0.year = UInt32(row[0] as Int64); $0.station = row[1]; $0.officers = UInt32(row[2] as Int64)
                    $0.households = UInt32(row[3] as Int64); $0.visits = UInt32(row[4] as Int64); $0.householdsVisited = UInt32(row[5] as Int64)
                }
            }
            rep.casesTotal = UInt64(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cases") ?? 0)
            rep.byState = try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM cases GROUP BY state ORDER BY n DESC").map { row in
                var c = Liaison_V1_Count()
                c.key = row["state"]
                c.count = UInt64(row["n"] as Int64)
                return c
            }
            rep.overdue = try Row.fetchAll(db, sql: """
                SELECT case_number, unit, respond_by FROM cases
                WHERE state IN ('triaged','assigned','in_progress','escalated','transferred') AND respond_by < ? ORDER BY respond_by LIMIT 100
                """, arguments: [now.timeIntervalSince1970]).map { row in
                var o = Liaison_V1_OverdueCase()
                o.caseNumber = row["case_number"]
                o.unit = row["unit"]
                o.deadline = "respond"
                o.due = .init(date: Date(timeIntervalSince1970: row["respond_by"]))
                return o
            }
            let byDimension = try rates.rates(db, now: now)
            rep.ratesAll = byDimension[.all]?.first ?? Liaison_V1_Rate.with { $0.key = "all" }
            rep.ratesByUnit = byDimension[.unit] ?? []
            rep.ratesByCategory = byDimension[.category] ?? []
            rep.ratesByOfficer = byDimension[.officer] ?? []
            rep.ratesByMonth = byDimension[.month] ?? []
            rep.ratesSince = .init(date: rates.since(now).date)
            rep.timeZone = rates.timeZone.identifier
            rep.opinionAlerts = try OpinionAlerts.recent(db, now: now)
            rep.generatedAt = .init(date: now)
            return rep
        }
    }
}
