import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Logging

/// Handler: turns each feedback into exactly one case, routed by policy with deadlines, and
/// answers case queries.
public final class HandlerService: RequestHandling {
    let log: EventLog
    let policy: DefaultPolicy
    let clock: WallClock

    public init(log: EventLog, policy: DefaultPolicy = .init(), clock: WallClock = SystemClock()) {
        self.log = log
        self.policy = policy
        self.clock = clock
    }

    /// States in which a case still owes the citizen a first response.
    static let awaitingResponse = ["triage", "assigned", "in_progress"]

    public static func migrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("handler-v1") { db in
            try db.execute(sql: """
                CREATE TABLE cases (
                  case_number TEXT PRIMARY KEY,
                  kind INTEGER NOT NULL,
                  channel INTEGER NOT NULL,
                  category TEXT NOT NULL,
                  unit TEXT NOT NULL,
                  priority TEXT NOT NULL,
                  state TEXT NOT NULL,
                  opened_at REAL NOT NULL,
                  respond_by REAL NOT NULL,
                  resolve_by REAL NOT NULL,
                  officer_badge TEXT NOT NULL,
                  text TEXT NOT NULL,
                  source_stream TEXT NOT NULL,
                  source_seq INTEGER NOT NULL
                );
                CREATE INDEX cases_by_unit_state ON cases(unit, state);
                CREATE INDEX cases_by_priority ON cases(priority, respond_by);
                """)
        }
    }

    /// Builds the whole handler instance: its requests, and one consumer per intake instance.
    public static func host(config: ServiceConfig, clock: WallClock = SystemClock(), logger: Logger) throws -> ServiceHost {
        let log = try config.openLog(migrations: migrations)
        let service = HandlerService(log: log, clock: clock)
        let consumers = try config.topology.instances(of: "intake").map { up in
            try Consumer(upstream: up, topicPrefixes: ["feedback."], log: log, logger: logger) { db, out, event in
                try service.apply(db, out, event)
            }
        }
        return ServiceHost(config: config, log: log, handler: service, consumers: consumers, logger: logger)
    }

    /// Applies one intake event: `feedback.received` opens a case and publishes `case.opened`.
    public func apply(_ db: Database, _ out: EventAppender, _ event: Liaison_V1_Event) throws {
        guard case .feedbackReceived(let fr)? = event.payload else { return }
        // One case per feedback, even if an event were applied twice.
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM cases WHERE case_number = ?", arguments: [fr.caseNumber]) == true { return }
        let f = fr.feedback
        let routing = policy.route(f)
        // Deadlines run from the moment intake received the feedback, so a replay gives the same case.
        let opened = event.occurredAt.date
        let respondBy = opened.addingTimeInterval(routing.respondWithin)
        let resolveBy = opened.addingTimeInterval(routing.resolveWithin)
        try db.execute(sql: """
            INSERT INTO cases (case_number, kind, channel, category, unit, priority, state, opened_at, respond_by, resolve_by,
                               officer_badge, text, source_stream, source_seq)
            VALUES (?, ?, ?, ?, ?, ?, 'assigned', ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [fr.caseNumber, f.kind.rawValue, f.channel.rawValue, f.category, routing.unit, routing.priority,
                             opened.timeIntervalSince1970, respondBy.timeIntervalSince1970, resolveBy.timeIntervalSince1970,
                             f.officerBadge, f.text, event.stream, Int64(event.seq)])
        try out.append(topic: Topic.caseOpened, at: opened) { e in
            e.caseOpened.caseNumber = fr.caseNumber
            e.caseOpened.unit = routing.unit
            e.caseOpened.priority = routing.priority
            e.caseOpened.respondBy = .init(date: respondBy)
            e.caseOpened.resolveBy = .init(date: resolveBy)
            e.caseOpened.kind = f.kind
            e.caseOpened.channel = f.channel
            e.caseOpened.category = f.category
            e.caseOpened.sourceStream = event.stream
            e.caseOpened.sourceSeq = event.seq
        }
    }

    public func handle(_ requests: [Liaison_V1_Request]) -> [Liaison_V1_Reply] {
        each(requests) { req in
            switch req.body {
            case .getCase(let q)?: return try getCase(q)
            case .listCases(let q)?: return try listCases(q)
            default: throw WireError.invalidArgument("body", "the handler does not answer this request")
            }
        }
    }

    func getCase(_ q: Liaison_V1_GetCase) throws -> Liaison_V1_Reply {
        if q.caseNumber.isEmpty { throw WireError.invalidArgument("get_case.case_number", "case_number is required") }
        let row = try log.store.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM cases WHERE case_number = ?", arguments: [q.caseNumber])
        }
        guard let row else { throw WireError.notFound("get_case.case_number", "no case \(q.caseNumber)") }
        var r = Liaison_V1_Reply()
        r.caseInfo = Self.caseInfo(row)
        return r
    }

    func listCases(_ q: Liaison_V1_ListCases) throws -> Liaison_V1_Reply {
        var clauses: [String] = []
        var args: [(any DatabaseValueConvertible)?] = []
        if !q.unit.isEmpty { clauses.append("unit = ?"); args.append(q.unit) }
        if !q.state.isEmpty { clauses.append("state = ?"); args.append(q.state) }
        if q.overdueOnly {
            clauses.append("respond_by < ? AND state IN ('triage','assigned','in_progress')")
            args.append(clock.now().timeIntervalSince1970)
        }
        let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let limit = q.limit == 0 ? 100 : min(Int(q.limit), 1_000)
        var pageClauses = clauses
        var pageArgs = args
        if !q.afterCaseNumber.isEmpty { pageClauses.append("case_number > ?"); pageArgs.append(q.afterCaseNumber) }
        let pageWhere = pageClauses.isEmpty ? "" : "WHERE " + pageClauses.joined(separator: " AND ")
        // Most urgent first (complaints are P1), then the nearest deadline; with paging, by number.
        let order = q.afterCaseNumber.isEmpty ? "priority, respond_by, case_number" : "case_number"
        let (rows, total) = try log.store.pool.read { db in
            (try Row.fetchAll(db, sql: "SELECT * FROM cases \(pageWhere) ORDER BY \(order) LIMIT \(limit)",
                              arguments: StatementArguments(pageArgs)),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM cases \(whereSQL)", arguments: StatementArguments(args)) ?? 0)
        }
        var r = Liaison_V1_Reply()
        r.caseList.cases = rows.map(Self.caseInfo)
        r.caseList.total = UInt64(total)
        return r
    }

    static func caseInfo(_ row: Row) -> Liaison_V1_CaseInfo {
        var c = Liaison_V1_CaseInfo()
        c.caseNumber = row["case_number"]
        c.kind = Liaison_V1_FeedbackKind(rawValue: row["kind"]) ?? .unspecified
        c.channel = Liaison_V1_Channel(rawValue: row["channel"]) ?? .unspecified
        c.category = row["category"]
        c.unit = row["unit"]
        c.priority = row["priority"]
        c.state = row["state"]
        c.openedAt = .init(date: Date(timeIntervalSince1970: row["opened_at"]))
        c.respondBy = .init(date: Date(timeIntervalSince1970: row["respond_by"]))
        c.resolveBy = .init(date: Date(timeIntervalSince1970: row["resolve_by"]))
        c.officerBadge = row["officer_badge"]
        c.text = row["text"]
        return c
    }
}
