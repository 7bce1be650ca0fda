import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Logging
import Synchronization

/// Reporting: projections rebuilt from every stream (counts by kind, channel, unit, state and
/// priority; cases past their deadline; follow-ups due), answered by `GetReport`.
public final class ReportingService: RequestHandling {
    let log: EventLog
    let clock: WallClock

    public init(log: EventLog, clock: WallClock) {
        self.log = log
        self.clock = clock
    }

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
    }

    /// Builds the whole reporting instance: it consumes every instance of every other service.
    public static func host(config: ServiceConfig, clock: WallClock = SystemClock(), options: RequestLoopOptions = .init(),
                            logger: Logger) throws -> ServiceHost {
        let log = try config.openLog(migrations: migrations)
        let service = ReportingService(log: log, clock: clock)
        var consumers: [Consumer] = []
        for (name, prefixes) in [("intake", ["feedback."]), ("handler", ["case."]), ("scheduler", ["schedule."])] {
            for up in config.topology.instances(of: name) {
                consumers.append(try Consumer(upstream: up, topicPrefixes: prefixes, log: log, logger: logger) { db, out, event in
                    try service.apply(db, out, event)
                })
            }
        }
        return ServiceHost(config: config, log: log, handler: service, consumers: consumers, options: options, logger: logger)
    }

    static func bump(_ db: Database, _ dimension: String, _ key: String) throws {
        try db.executeCached(sql: """
            INSERT INTO counters (dimension, key, count) VALUES (?, ?, 1)
            ON CONFLICT(dimension, key) DO UPDATE SET count = count + 1
            """, arguments: [dimension, key])
    }

    /// Applies one event of any stream to the projections.
    public func apply(_ db: Database, _ out: EventAppender, _ event: Liaison_V1_Event) throws {
        switch event.payload {
        case .feedbackReceived(let fr)?:
            try Self.bump(db, "total", "feedback")
            try Self.bump(db, "kind", fr.feedback.kind.name)
            try Self.bump(db, "channel", fr.feedback.channel.name)
        case .caseOpened(let c)?:
            try db.executeCached(sql: """
                INSERT OR IGNORE INTO cases (case_number, unit, priority, state, respond_by, resolve_by)
                VALUES (?, ?, ?, 'triaged', ?, ?)
                """, arguments: [c.caseNumber, c.unit, c.priority, c.respondBy.date.timeIntervalSince1970, c.resolveBy.date.timeIntervalSince1970])
            if db.changesCount > 0 {
                try Self.bump(db, "unit", c.unit)
                try Self.bump(db, "priority", c.priority)
            }
        case .caseUpdated(let u)?:
            // The case moves through its life cycle: the projection follows its state, unit and deadlines.
            try db.executeCached(sql: "UPDATE cases SET state = ?, unit = ?, respond_by = ?, resolve_by = ? WHERE case_number = ?",
                           arguments: [u.toState, u.unit, u.respondBy.date.timeIntervalSince1970, u.resolveBy.date.timeIntervalSince1970, u.caseNumber])
        case .followupDue?:
            try Self.bump(db, "total", "followups_due")
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

    /// The last report made, and what it was made from.
    private let lastReport = Mutex<(writes: UInt64, second: Int64, report: Liaison_V1_Report)?>(nil)
    /// Reports made (not answered from ``lastReport``).
    let reportsMade = Atomic<Int>(0)

    /// The current report. Made again only when an event has been applied since the last one or
    /// the second has changed (the overdue list follows the clock): anyone may ask for it, and each
    /// one counts the cases table (72 ms at a million cases), so a client asking in a loop cannot
    /// keep reporting's request thread busy.
    public func report() throws -> Liaison_V1_Report {
        let now = clock.now()
        // Read before the report is made: a write that commits meanwhile makes the next request
        // make it again.
        let writes = log.transactions
        let second = Int64(now.timeIntervalSince1970.rounded(.down))
        if let last = lastReport.withLock({ $0 }), last.writes == writes, last.second == second { return last.report }
        let made = try makeReport(now)
        reportsMade.add(1, ordering: .relaxed)
        lastReport.withLock { $0 = (writes, second, made) }
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
                    c.count = UInt64(row["count"] as Int64)
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
            rep.generatedAt = .init(date: now)
            return rep
        }
    }
}
