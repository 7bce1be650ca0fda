import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Logging
import Synchronization

/// What the handler routes and counts deadlines by; replaced whole on reload (SIGHUP).
public struct HandlerSettings: Sendable {
    public var policy: Policy
    public var calendar: WorkingCalendar

    public init(policy: Policy, calendar: WorkingCalendar) {
        self.policy = policy
        self.calendar = calendar
    }

    /// The policy file and calendar directory given (nil: the built-in ones).
    public static func load(policyPath: String?, calendarDir: String?, units: UnitDirectory) throws -> HandlerSettings {
        HandlerSettings(policy: try Policy.load(path: policyPath, units: units),
                        calendar: try WorkingCalendar.load(directory: calendarDir ?? ProcessInfo.processInfo.environment["LIAISON_CALENDAR"]))
    }
}

/// Handler: turns each feedback into exactly one case, routed by policy, runs it through its life
/// cycle on operators' commands, holds it to its deadlines on the working calendar, and keeps an
/// audit trail of every change. With several instances, each owns the cases of its partition.
public final class HandlerService: RequestHandling {
    let log: EventLog
    let settings: Mutex<HandlerSettings>
    let partition: CasePartition
    /// The operator secrets that may give case commands (reloaded on SIGHUP; never to none).
    public let operators: OperatorRoster
    let clock: WallClock
    let logger: Logger
    /// Refused case commands, logged without flooding the log.
    let refusals = Mutex(SampledLogs(interval: 1))
    /// A deadline event raised this long after its moment (the handler was down) is marked late.
    public static let lateAfter: TimeInterval = 60

    public init(log: EventLog, settings: HandlerSettings, partition: CasePartition = .init(index: 0, count: 1),
                operators: OperatorCredentials = .init(secrets: []), clock: WallClock = SystemClock(),
                logger: Logger = Logger(label: "liaison.handler")) {
        self.log = log
        self.settings = Mutex(settings)
        self.partition = partition
        self.operators = OperatorRoster(operators)
        self.clock = clock
        self.logger = logger
    }

    var units: UnitDirectory { settings.withLock { $0.policy.units } }

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
        m.registerMigration("handler-v2-life-cycle") { db in
            try db.execute(sql: """
                ALTER TABLE cases ADD COLUMN reported_unit TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN accountable_unit TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN officer TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN confidential INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE cases ADD COLUMN commendation INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE cases ADD COLUMN first_response_at REAL;
                ALTER TABLE cases ADD COLUMN resolved_at REAL;
                ALTER TABLE cases ADD COLUMN resolution_confirmed INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE cases ADD COLUMN satisfaction INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE cases ADD COLUMN merged_into TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN paused_from TEXT;
                ALTER TABLE cases ADD COLUMN respond_remaining REAL;
                ALTER TABLE cases ADD COLUMN resolve_remaining REAL;
                ALTER TABLE cases ADD COLUMN public_note TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN policy_rule TEXT NOT NULL DEFAULT '';
                ALTER TABLE cases ADD COLUMN respond_span TEXT NOT NULL DEFAULT '1 working days';
                ALTER TABLE cases ADD COLUMN resolve_span TEXT NOT NULL DEFAULT '10 working days';
                ALTER TABLE cases ADD COLUMN updated_at REAL NOT NULL DEFAULT 0;
                UPDATE cases SET accountable_unit = unit, state = 'triaged' WHERE accountable_unit = '';
                CREATE INDEX cases_by_officer ON cases(officer);
                CREATE TABLE audit (
                  id INTEGER PRIMARY KEY,
                  case_number TEXT NOT NULL,
                  at REAL NOT NULL,
                  actor TEXT NOT NULL,
                  action TEXT NOT NULL,
                  from_state TEXT NOT NULL,
                  to_state TEXT NOT NULL,
                  detail TEXT NOT NULL,
                  reason TEXT NOT NULL
                );
                CREATE INDEX audit_by_case ON audit(case_number, id);
                CREATE TABLE deadlines (
                  case_number TEXT NOT NULL,
                  deadline TEXT NOT NULL,          -- respond | resolve
                  level TEXT NOT NULL,             -- warning | breach
                  fire_at REAL NOT NULL,
                  deadline_at REAL NOT NULL,
                  fired_at REAL,
                  PRIMARY KEY (case_number, deadline, level)
                );
                CREATE INDEX deadlines_due ON deadlines(fired_at, fire_at);
                """)
        }
        // The name of the operator secret each command (and each contact disclosure) came with.
        m.registerMigration("handler-v3-credential-name") { db in
            try db.execute(sql: "ALTER TABLE audit ADD COLUMN credential_name TEXT NOT NULL DEFAULT ''")
        }
        // The last case each intake instance numbered, as heard on its stream (every handler hears
        // every feedback.received, its own cases or not): a merge into a case another partition
        // owns is refused when no such case was numbered (a typo would end a complaint for good).
        // Filled from the cases this partition owns; the next feedback of each instance brings it up.
        m.registerMigration("handler-v4-intake-heads") { db in
            try db.execute(sql: "CREATE TABLE intake_heads (instance INTEGER PRIMARY KEY, last_case_seq INTEGER NOT NULL)")
            var heads: [Int: Int64] = [:]
            for number in try String.fetchAll(db, sql: "SELECT case_number FROM cases") {
                if let o = CaseOrigin.parse(number) { heads[o.instance] = max(heads[o.instance] ?? 0, o.sequence) }
            }
            for (instance, seq) in heads {
                try db.execute(sql: "INSERT INTO intake_heads (instance, last_case_seq) VALUES (?, ?)", arguments: [instance, seq])
            }
        }
        // Whether the case's public note is what the citizen was asked while the case waited on them
        // (`await_citizen` with a text): a resume without words of its own thanks them instead of
        // leaving the question they have answered.
        m.registerMigration("handler-v5-citizen-asked") { db in
            try db.execute(sql: "ALTER TABLE cases ADD COLUMN citizen_asked INTEGER NOT NULL DEFAULT 0")
        }
    }

    /// What a citizen who was asked for something reads once the case goes on, when the office
    /// gives no words of its own (`resume` without a text).
    public static let answeredNote = "Thank you for your answer: we are dealing with your case again."

    /// Builds the whole handler instance: its requests, one consumer per intake instance, and the
    /// deadline clock. Returns the service too, for reloads.
    public static func host(config: ServiceConfig, settings: HandlerSettings, partition: CasePartition,
                            operators: OperatorCredentials = .init(secrets: []), clock: WallClock = SystemClock(),
                            options: RequestLoopOptions = .init(), logger: Logger) throws -> (ServiceHost, HandlerService) {
        let log = try config.openLog(migrations: migrations)
        let service = HandlerService(log: log, settings: settings, partition: partition, operators: operators, clock: clock, logger: logger)
        let consumers = try config.topology.instances(of: "intake").map { up in
            try Consumer(upstream: up, topicPrefixes: ["feedback.", "contact."], log: log, logger: logger) { db, out, event in
                try service.apply(db, out, event)
            }
        }
        let deadlines = TimerLoop(name: "\(config.instance.stream)-deadlines", logger: logger) {
            let fired = try service.fireDeadlines()
            if fired > 0 { logger.info("deadline events raised", metadata: ["count": "\(fired)"]) }
            return fired == 500
        }
        return (ServiceHost(config: config, log: log, handler: service, consumers: consumers, extraLoops: [deadlines], options: options, logger: logger), service)
    }

    /// Replaces the policy, the calendar and the unit directory the policy routes to (SIGHUP), all
    /// read again: `unitsPath`, else `$LIAISON_UNITS`, else the demo city, as at start. On an error
    /// the old ones stay and the error is thrown.
    public func reload(policyPath: String?, calendarDir: String?, unitsPath: String? = nil,
                       environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let next = try HandlerSettings.load(policyPath: policyPath, calendarDir: calendarDir,
                                            units: try UnitDirectory.resolve(path: unitsPath, environment: environment))
        settings.withLock { $0 = next }
        logger.notice("policy, calendar and unit directory reloaded",
                      metadata: ["policy": "\(next.policy.source)", "rules": "\(next.policy.rules.count)", "units": "\(next.policy.units.units.count)"])
    }

    // MARK: opening cases

    /// Applies one intake event: `feedback.received` of a case this partition owns opens it.
    public func apply(_ db: Database, _ out: EventAppender, _ event: Liaison_V1_Event) throws {
        switch event.payload {
        case .contactDisclosed(let d)?: return try auditContact(db, d.caseNumber, at: event.occurredAt.date, actor: d.actor, action: "contact_disclosed",
                                                                detail: d.anonymous ? "asked for the contact data: the case is anonymous, none is stored"
                                                                                    : "was given the citizen's contact data by intake",
                                                                reason: d.reason, credentialName: d.credentialName)
        case .contactErased(let e)?: return try auditContact(db, e.caseNumber, at: event.occurredAt.date, actor: "retention", action: "contact_erased",
                                                             detail: "intake erased the citizen's contact data", reason: e.why)
        default: break
        }
        guard case .feedbackReceived(let fr)? = event.payload else { return }
        if let origin = CaseOrigin.parse(fr.caseNumber) {
            try db.executeCached(sql: """
                INSERT INTO intake_heads (instance, last_case_seq) VALUES (?, ?)
                ON CONFLICT (instance) DO UPDATE SET last_case_seq = max(last_case_seq, excluded.last_case_seq)
                """, arguments: [origin.instance, origin.sequence])
        }
        guard partition.owns(fr.caseNumber) else { return }
        // One case per feedback, even if an event were applied twice.
        if try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM cases WHERE case_number = ?"), arguments: [fr.caseNumber]) == true { return }
        let f = fr.feedback
        let s = settings.withLock { $0 }
        let routing = s.policy.route(f)
        // Deadlines run from the moment intake received the feedback, so a replay gives the same case.
        let opened = event.occurredAt.date
        let respond = Self.deadlineTimes(start: opened, span: routing.respond, calendar: s.calendar)
        let resolve = Self.deadlineTimes(start: opened, span: routing.resolve, calendar: s.calendar)
        let (respondBy, resolveBy) = (respond.due, resolve.due)
        try db.executeCached(sql: """
            INSERT INTO cases (case_number, kind, channel, category, unit, priority, state, opened_at, respond_by, resolve_by,
                               officer_badge, text, source_stream, source_seq, reported_unit, accountable_unit, confidential,
                               commendation, policy_rule, respond_span, resolve_span, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, 'triaged', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [fr.caseNumber, f.kind.rawValue, f.channel.rawValue, f.category, routing.unit, routing.priority,
                             opened.timeIntervalSince1970, respondBy.timeIntervalSince1970, resolveBy.timeIntervalSince1970,
                             f.officerBadge, f.text, event.stream, Int64(event.seq), f.unit, routing.unit, routing.confidential,
                             routing.commendation, routing.rule, routing.respond.description, routing.resolve.description,
                             opened.timeIntervalSince1970])
        try putOnClock(db, fr.caseNumber, "respond", respond)
        try putOnClock(db, fr.caseNumber, "resolve", resolve)
        try audit(db, fr.caseNumber, at: opened, actor: "policy", action: "opened", from: "", to: CaseState.triaged.rawValue,
                  detail: "routed to \(routing.unit) by rule \(routing.rule), \(routing.priority); respond within \(routing.respond), resolve within \(routing.resolve)",
                  reason: fr.linkedCaseNumber.isEmpty ? "" : "near-duplicate of \(fr.linkedCaseNumber)")
        try out.append(topic: Topic.caseOpened, at: opened) { e in
            e.caseOpened.caseNumber = fr.caseNumber
            e.caseOpened.unit = routing.unit
            e.caseOpened.accountableUnit = routing.unit
            e.caseOpened.priority = routing.priority
            e.caseOpened.respondBy = .init(date: respondBy)
            e.caseOpened.resolveBy = .init(date: resolveBy)
            e.caseOpened.kind = f.kind
            e.caseOpened.channel = f.channel
            e.caseOpened.category = f.category
            e.caseOpened.sourceStream = event.stream
            e.caseOpened.sourceSeq = event.seq
            e.caseOpened.confidential = routing.confidential
            e.caseOpened.commendation = routing.commendation
            e.caseOpened.officerBadge = f.officerBadge
            e.caseOpened.policyRule = routing.rule
            e.caseOpened.linkedCaseNumber = fr.linkedCaseNumber
        }
    }

    /// Intake gave an operator the case's contact data, or erased it under its retention: a line in
    /// the case's audit trail (who, why, when), so whoever reviews the case sees every look at the
    /// citizen's details and when they went. The state stays.
    func auditContact(_ db: Database, _ caseNumber: String, at: Date, actor: String, action: String, detail: String, reason: String,
                      credentialName: String = "") throws {
        guard partition.owns(caseNumber),
              let state = try String.fetchOne(db.cachedStatement(sql: "SELECT state FROM cases WHERE case_number = ?"), arguments: [caseNumber])
        else { return }
        try audit(db, caseNumber, at: at, actor: actor, action: action, from: state, to: state, detail: detail, reason: reason,
                  credentialName: credentialName)
    }

    /// When a deadline falls due, and when its warning comes (80 % of its time used). `remaining`
    /// (after a pause) is the time left: working seconds for a working span.
    static func deadlineTimes(start: Date, span: Span, calendar: WorkingCalendar, remaining: TimeInterval? = nil) -> (due: Date, warn: Date) {
        guard let remaining else {
            return (span.due(from: start, on: calendar), span.due(from: start, on: calendar, fraction: 0.8))
        }
        let warnLeft = max(0, remaining - 0.2 * span.totalWorkingSeconds(calendar))
        if span.isWorking {
            return (calendar.adding(workingSeconds: remaining, to: start), calendar.adding(workingSeconds: warnLeft, to: start))
        }
        return (start.addingTimeInterval(remaining), start.addingTimeInterval(warnLeft))
    }

    /// Puts a deadline's warning and breach on the clock; one already raised stays raised.
    func putOnClock(_ db: Database, _ caseNumber: String, _ deadline: String, _ times: (due: Date, warn: Date)) throws {
        for (level, at) in [("warning", times.warn), ("breach", times.due)] {
            try db.executeCached(sql: """
                INSERT INTO deadlines (case_number, deadline, level, fire_at, deadline_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT DO UPDATE SET fire_at = excluded.fire_at, deadline_at = excluded.deadline_at WHERE fired_at IS NULL
                """, arguments: [caseNumber, deadline, level, at.timeIntervalSince1970, times.due.timeIntervalSince1970])
        }
    }

    /// Re-times a running deadline of an open case (reopened, resumed): its clock and the case's due date.
    func reschedule(_ db: Database, _ caseNumber: String, _ deadline: String, start: Date, span: Span, calendar: WorkingCalendar,
                    remaining: TimeInterval? = nil) throws {
        let times = Self.deadlineTimes(start: start, span: span, calendar: calendar, remaining: remaining)
        try putOnClock(db, caseNumber, deadline, times)
        try db.executeCached(sql: "UPDATE cases SET \(deadline == "respond" ? "respond_by" : "resolve_by") = ? WHERE case_number = ?",
                             arguments: [times.due.timeIntervalSince1970, caseNumber])
    }

    func audit(_ db: Database, _ caseNumber: String, at: Date, actor: String, action: String, from: String, to: String,
               detail: String, reason: String, credentialName: String = "") throws {
        try db.executeCached(sql: """
            INSERT INTO audit (case_number, at, actor, action, from_state, to_state, detail, reason, credential_name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [caseNumber, at.timeIntervalSince1970, actor, action, from, to, detail, reason, credentialName])
    }

    // MARK: requests

    public func handle(_ requests: [Liaison_V1_Request]) -> [Liaison_V1_Reply] { handle(requests, operatorKeys: []) }

    /// Requests some of which came over CURVE with a key let in as an operator (`operatorKeys[i]`,
    /// its allow-list name), which gives case commands without an operator secret.
    public func answer(_ requests: [Liaison_V1_Request], operatorKeys: [String?]) -> [OutgoingReply] {
        handle(requests, operatorKeys: operatorKeys).map { .message($0) }
    }

    func handle(_ requests: [Liaison_V1_Request], operatorKeys: [String?]) -> [Liaison_V1_Reply] {
        each(requests, operatorKeys: operatorKeys) { req, operatorKey in
            switch req.body {
            case .getCase(let q)?: return try getCase(q)
            case .listCases(let q)?: return try listCases(q)
            case .caseCommand(let c)?: return try command(c, credential: req.credential, operatorKey: operatorKey)
            default: throw WireError.invalidArgument("body", "the handler answers get_case, list_cases and case_command")
            }
        }
    }

    func notOwned(_ field: String, _ caseNumber: String) -> WireError {
        let owner = CasePartition.owner(of: caseNumber, count: partition.count)
        return .notFound(field, "case \(WireError.quoted(caseNumber)) belongs to handler partition \(owner + 1)/\(partition.count), not \(partition); send it there")
    }

    func getCase(_ q: Liaison_V1_GetCase) throws -> Liaison_V1_Reply {
        if q.caseNumber.isEmpty { throw WireError.invalidArgument("get_case.case_number", "case_number is required") }
        guard partition.owns(q.caseNumber) else { throw notOwned("get_case.case_number", q.caseNumber) }
        let (row, trail) = try log.store.pool.read { db -> (Row?, [Row]) in
            (try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM cases WHERE case_number = ?"), arguments: [q.caseNumber]),
             try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM audit WHERE case_number = ? ORDER BY id"), arguments: [q.caseNumber]))
        }
        guard let row else { throw WireError.notFound("get_case.case_number", "no case \(WireError.quoted(q.caseNumber))") }
        var r = Liaison_V1_Reply()
        r.caseInfo = caseInfo(row, full: true)
        r.caseInfo.audit = trail.map { a in
            var e = Liaison_V1_AuditEntry()
            e.at = .init(date: Date(timeIntervalSince1970: a["at"]))
            e.actor = a["actor"]
            e.action = a["action"]
            e.fromState = a["from_state"]
            e.toState = a["to_state"]
            e.credentialName = a["credential_name"]
            e.detail = a["detail"]
            e.reason = a["reason"]
            return e
        }
        return r
    }

    /// States whose deadlines no longer run (finished, or paused waiting on the citizen).
    static let clockStopped = "('closed','merged','not_police_responsibility','awaiting_citizen')"

    func listCases(_ q: Liaison_V1_ListCases) throws -> Liaison_V1_Reply {
        var clauses: [String] = []
        var args: [(any DatabaseValueConvertible)?] = []
        if !q.unit.isEmpty {
            // In the directory's spelling, however it was typed; a code it lacks matches nothing.
            let unit = q.unit.utf8.count <= 64 ? units.code(typed: q.unit) ?? q.unit : q.unit
            clauses.append("(unit = ? OR accountable_unit = ?)"); args.append(unit); args.append(unit)
        }
        if !q.state.isEmpty {
            // Measured before it is compared: comparing Strings normalizes them, which for thousands
            // of combining marks took 53 ms of the thread that answers every request.
            // As an operator types it: `In-Progress` is in_progress.
            let typed = q.state.utf8.count <= 32 ? q.state.trimmingCharacters(in: .whitespaces).lowercased().replacingOccurrences(of: "-", with: "_") : q.state
            guard q.state.utf8.count <= 32, let state = CaseState(rawValue: typed) else {
                let names = CaseState.allCases.map(\.rawValue)
                let meant = q.state.utf8.count <= 32 ? Spelling.meant(typed, among: names).map { " (did you mean \($0)?)" } ?? "" : ""
                throw WireError.invalidArgument("list_cases.state", "\(WireError.quoted(q.state)) is not a state\(meant): \(names.joined(separator: ", "))")
            }
            clauses.append("state = ?"); args.append(state.rawValue)
        }
        if !q.officer.isEmpty {
            // Badges in any letter case: cases assigned before badges were kept in capitals too.
            clauses.append("officer = ? COLLATE NOCASE"); args.append(q.officer.utf8.count <= 64 ? TypedText.badge(q.officer) : q.officer)
        }
        if q.overdueOnly {
            clauses.append("state NOT IN \(Self.clockStopped) AND ((first_response_at IS NULL AND respond_by < ?) OR (resolved_at IS NULL AND resolve_by < ?))")
            let now = clock.now().timeIntervalSince1970
            args.append(now); args.append(now)
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
             try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM cases \(whereSQL)"), arguments: StatementArguments(args)) ?? 0)
        }
        var r = Liaison_V1_Reply()
        r.caseList.cases = rows.map { caseInfo($0, full: false) }
        r.caseList.total = UInt64(total)
        return r
    }

    /// A case for a reply; in listings a confidential case's text is left out.
    func caseInfo(_ row: Row, full: Bool) -> Liaison_V1_CaseInfo {
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
        c.confidential = row["confidential"]
        c.text = (c.confidential && !full) ? "" : row["text"]
        c.accountableUnit = row["accountable_unit"]
        c.officer = row["officer"]
        c.commendation = row["commendation"]
        if let t = row["first_response_at"] as Double? { c.firstResponseAt = .init(date: Date(timeIntervalSince1970: t)) }
        if let t = row["resolved_at"] as Double? { c.resolvedAt = .init(date: Date(timeIntervalSince1970: t)) }
        c.resolutionConfirmed = row["resolution_confirmed"]
        c.mergedInto = row["merged_into"]
        c.paused = (row["paused_from"] as String?) != nil
        c.publicNote = row["public_note"]
        c.policyRule = row["policy_rule"]
        c.handlerStream = log.stream
        // A resolution confirmed once is refused a second confirmation: not offered as a next step.
        c.allowedActions = CaseLifecycle.allowed(in: CaseState(rawValue: c.state) ?? .triaged)
            .filter { !(c.resolutionConfirmed && $0 == .confirmResolution) }.map(\.name)
        return c
    }

    // MARK: commands

    /// Carries out one operator command in one transaction: the change, its audit line and its event.
    /// With operator secrets configured, a valid one, or over CURVE a key let in as an operator
    /// (`operatorKey`), gives it; without any (a set of no secrets), anyone may.
    func command(_ c: Liaison_V1_CaseCommand, credential: String, operatorKey: String? = nil) throws -> Liaison_V1_Reply {
        let operators = self.operators.credentials
        let name = operators.operatorName(credential, operatorKey: operatorKey)
        let credentialName = name ?? ""
        if operators.isConfigured && name == nil {
            // Sampled (a line a second at most, each kind, with how many were left out).
            let why = credential.isEmpty ? "no operator credential" : "an operator credential that is not accepted"
            refusals.withLock { $0.log(why, .warning, "case command refused: \(why)", metadata: ["case": "\(WireError.quoted(c.caseNumber))", "action": "\(c.action)"], logger: logger) }
            throw WireError.unauthorized("case commands need an operator credential (Request.credential)")
        }
        try CaseLifecycle.checkFields(c)
        guard partition.owns(c.caseNumber) else { throw notOwned("case_command.case_number", c.caseNumber) }
        let s = settings.withLock { $0 }
        // As intake keeps them: the unit in the directory's spelling and the badge in capitals,
        // however the operator typed them (`dist-east`, `pc-1001`), so that the case is found and
        // counted under one spelling. A unit not in the directory is left to be refused by name.
        var c = c
        if !c.unit.isEmpty, let code = s.policy.units.code(typed: c.unit) { c.unit = code }
        if !c.officer.isEmpty { c.officer = TypedText.badge(c.officer) }
        let now = clock.now()
        try log.write { db, out in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM cases WHERE case_number = ?"), arguments: [c.caseNumber]) else {
                throw WireError.notFound("case_command.case_number", "no case \(WireError.quoted(c.caseNumber))")
            }
            try self.apply(c, to: row, at: now, settings: s, db: db, out: out, credentialName: credentialName)
        }
        return try getCase(.with { $0.caseNumber = c.caseNumber })
    }

    func apply(_ c: Liaison_V1_CaseCommand, to row: Row, at now: Date, settings s: HandlerSettings, db: Database, out: EventAppender,
               credentialName: String = "") throws {
        let caseNumber = c.caseNumber
        let state = CaseState(rawValue: row["state"]) ?? .triaged
        let pausedFrom = (row["paused_from"] as String?).flatMap(CaseState.init(rawValue:))
        let next = try CaseLifecycle.next(state, c.action, resumeTo: pausedFrom)
        var unit: String = row["unit"]
        var officer: String = row["officer"]
        var priority: String = row["priority"]
        var publicNote: String = row["public_note"]
        var detail = ""
        var sets: [String] = []
        var setArgs: [(any DatabaseValueConvertible)?] = []
        func set(_ column: String, _ value: (any DatabaseValueConvertible)?) { sets.append("\(column) = ?"); setArgs.append(value) }
        let respondSpan = Span.parse((row["respond_span"] as String).split(separator: " ").map(String.init)) ?? .workingDays(1)
        let resolveSpan = Span.parse((row["resolve_span"] as String).split(separator: " ").map(String.init)) ?? .workingDays(10)
        let units = s.policy.units

        func checkUnit(_ code: String) throws {
            guard units.contains(code) else {
                throw WireError.invalidArgument("case_command.unit", units.notAUnit(code, shown: code, offering: false))
            }
            // A complaint about an officer never goes to the officer's own unit.
            let kind = Liaison_V1_FeedbackKind(rawValue: row["kind"]) ?? .unspecified
            let reported: String = row["reported_unit"]
            if kind == .complaint && !(row["officer_badge"] as String).isEmpty && !reported.isEmpty {
                // The officer's own unit: the unit named, its station when it is a community office, and
                // the community offices under it.
                var own: Set<String> = [reported]
                if let r = units.unit(reported), r.type == .communityOffice, let p = r.parent { own.insert(p) }
                for u in units.units where u.parent == reported && u.type == .communityOffice { own.insert(u.code) }
                if own.contains(code) {
                    throw WireError.conflict("case_command.unit", "case \(caseNumber) is a complaint about an officer of \(reported); it may not go to \(code), the officer's own unit")
                }
            }
        }
        func dropClock(_ deadlines: [String]) throws {
            for d in deadlines {
                try db.executeCached(sql: "DELETE FROM deadlines WHERE case_number = ? AND deadline = ? AND fired_at IS NULL", arguments: [caseNumber, d])
            }
        }
        let responded = (row["first_response_at"] as Double?) != nil
        let resolved = (row["resolved_at"] as Double?) != nil

        switch c.action {
        case .assign:
            if !c.unit.isEmpty { try checkUnit(c.unit); unit = c.unit; if c.officer.isEmpty { officer = "" } }
            if !c.officer.isEmpty { officer = c.officer }
            detail = [c.unit.isEmpty ? nil : "unit \(unit)", c.officer.isEmpty ? nil : "officer \(officer)"].compactMap { $0 }.joined(separator: ", ")
        case .accept:
            if !c.officer.isEmpty { officer = c.officer }
            if officer.isEmpty { officer = c.actor }
            detail = "accepted by \(officer) of \(unit)"
        case .transfer:
            try checkUnit(c.unit)
            guard c.unit != unit else { throw WireError.invalidArgument("case_command.unit", "case \(caseNumber) is already with \(unit)") }
            detail = "from \(unit) to \(c.unit)"
            unit = c.unit
            officer = ""
        case .escalate:
            let target = c.unit.isEmpty ? (units.unit(unit)?.parent ?? "") : c.unit
            guard !target.isEmpty else {
                throw WireError.invalidArgument("case_command.unit", "\(unit) has no unit above it; name the unit to escalate to")
            }
            try checkUnit(target)
            detail = "from \(unit) to \(target)"
            unit = target
            officer = ""
            if let n = Int(priority.dropFirst()), n > 1 { priority = "P\(n - 1)" }
        case .note:
            detail = c.text
            if c.public { publicNote = c.text }
        case .respond:
            detail = c.text
            publicNote = c.text
            if !responded { set("first_response_at", now.timeIntervalSince1970) }
            try dropClock(["respond"])
        case .resolve:
            detail = c.text
            publicNote = c.text
            set("resolved_at", now.timeIntervalSince1970)
            if !responded { set("first_response_at", now.timeIntervalSince1970) }
            try dropClock(["respond", "resolve"])
        case .confirmResolution:
            if row["resolution_confirmed"] as Bool {
                throw WireError.conflict("case_command.action", "the resolution of case \(caseNumber) is already confirmed")
            }
            set("resolution_confirmed", true)
            set("satisfaction", Int(c.satisfaction))
            detail = c.satisfaction == 0 ? "the citizen confirms" : "the citizen confirms; satisfaction \(c.satisfaction)/5"
        case .close:
            try dropClock(["respond", "resolve"])
            detail = resolved ? ((row["resolution_confirmed"] as Bool) ? "resolution confirmed" : "resolution not confirmed by the citizen") : "closed"
        case .reopen:
            set("resolved_at", nil)
            set("resolution_confirmed", false)
            set("satisfaction", 0)
            // A new resolution deadline from now; the accountable unit keeps the case.
            try db.executeCached(sql: "DELETE FROM deadlines WHERE case_number = ? AND deadline = 'resolve'", arguments: [caseNumber])
            try reschedule(db, caseNumber, "resolve", start: now, span: resolveSpan, calendar: s.calendar)
            detail = "resolve within \(resolveSpan) from now"
        case .merge:
            if partition.owns(c.mergeInto) {
                guard let target = try String.fetchOne(db.cachedStatement(sql: "SELECT state FROM cases WHERE case_number = ?"), arguments: [c.mergeInto]) else {
                    throw WireError.notFound("case_command.merge_into", "no case \(WireError.quoted(c.mergeInto))")
                }
                if target == CaseState.merged.rawValue {
                    throw WireError.conflict("case_command.merge_into", "case \(c.mergeInto) is itself merged; merge into the case it was merged into")
                }
                try audit(db, c.mergeInto, at: now, actor: c.actor, action: "merged_in", from: target, to: target, detail: "case \(caseNumber) merged into this one", reason: c.reason,
                              credentialName: credentialName)
            } else {
                // Another partition owns it: this one knows only whether its intake has numbered it.
                let origin = CaseOrigin.parse(c.mergeInto)
                let head = try origin.flatMap { o in
                    try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_case_seq FROM intake_heads WHERE instance = ?"), arguments: [o.instance])
                }
                guard let origin, let head, origin.sequence <= head else {
                    throw WireError.notFound("case_command.merge_into", "no case \(WireError.quoted(c.mergeInto)) has been numbered"
                                             + (origin.map { " by intake instance \($0.instance + 1)" } ?? "")
                                             + " that this handler has heard of; check the number (a merged case ends for good), and if it was just submitted, try again in a moment")
                }
            }
            set("merged_into", c.mergeInto)
            try dropClock(["respond", "resolve"])
            detail = "duplicate of \(c.mergeInto)"
        case .markNotPoliceResponsibility:
            try dropClock(["respond", "resolve"])
            detail = "not police responsibility"
            publicNote = c.text.isEmpty ? publicNote : c.text
        case .awaitCitizen:
            // The clock stops: keep what is left of each running deadline.
            set("paused_from", state.rawValue)
            func left(_ due: Double, _ span: Span) -> Double {
                let d = Date(timeIntervalSince1970: due)
                return span.isWorking ? s.calendar.workingSeconds(from: now, to: d) : max(0, d.timeIntervalSince(now))
            }
            set("respond_remaining", responded ? nil : left(row["respond_by"], respondSpan))
            set("resolve_remaining", resolved ? nil : left(row["resolve_by"], resolveSpan))
            try dropClock(["respond", "resolve"])
            detail = "waiting on the citizen; deadlines paused"
            // What the citizen is asked for, in words for them: their status shows it.
            set("citizen_asked", !c.text.trimmedIsEmpty)
            if !c.text.trimmedIsEmpty {
                publicNote = c.text
                detail += "; asked: \(c.text)"
            }
        case .resume:
            set("paused_from", nil)
            if let r = row["respond_remaining"] as Double? { try reschedule(db, caseNumber, "respond", start: now, span: respondSpan, calendar: s.calendar, remaining: r) }
            if let r = row["resolve_remaining"] as Double? { try reschedule(db, caseNumber, "resolve", start: now, span: resolveSpan, calendar: s.calendar, remaining: r) }
            set("respond_remaining", nil)
            set("resolve_remaining", nil)
            detail = "deadlines run again"
            // What the citizen is told now, in place of what they were asked (or thanks for answering).
            if !c.text.trimmedIsEmpty {
                publicNote = c.text
                detail += "; told: \(c.text)"
            } else if row["citizen_asked"] as Bool {
                publicNote = Self.answeredNote
            }
            set("citizen_asked", false)
        case .unspecified, .UNRECOGNIZED:
            throw WireError.invalidArgument("case_command.action", "unknown action")
        }
        set("state", next.rawValue)
        set("unit", unit)
        set("officer", officer)
        set("priority", priority)
        set("public_note", publicNote)
        set("updated_at", now.timeIntervalSince1970)
        try db.executeCached(sql: "UPDATE cases SET \(sets.joined(separator: ", ")) WHERE case_number = ?",
                       arguments: StatementArguments(setArgs + [caseNumber]))
        let reason = c.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        let audited = c.action == .note && !c.public ? "internal: " + detail : detail
        try audit(db, caseNumber, at: now, actor: c.actor, action: c.action.name, from: state.rawValue, to: next.rawValue, detail: audited, reason: reason,
                  credentialName: credentialName)
        let final = try Row.fetchOne(db.cachedStatement(sql: "SELECT respond_by, resolve_by, accountable_unit, kind, category FROM cases WHERE case_number = ?"), arguments: [caseNumber])!
        try out.append(topic: c.action.topic, at: now) { e in
            e.caseUpdated.caseNumber = caseNumber
            e.caseUpdated.action = c.action
            e.caseUpdated.actor = c.actor
            e.caseUpdated.fromState = state.rawValue
            e.caseUpdated.toState = next.rawValue
            e.caseUpdated.unit = unit
            e.caseUpdated.accountableUnit = final["accountable_unit"]
            e.caseUpdated.officer = officer
            e.caseUpdated.reason = reason
            // Internal notes stay in the handler's audit trail; the stream carries only what the citizen
            // may see: the public note, when this command gave the case a new one.
            if publicNote != row["public_note"] as String { e.caseUpdated.publicNote = publicNote }
            e.caseUpdated.respondBy = .init(date: Date(timeIntervalSince1970: final["respond_by"]))
            e.caseUpdated.resolveBy = .init(date: Date(timeIntervalSince1970: final["resolve_by"]))
            e.caseUpdated.mergedInto = c.action == .merge ? c.mergeInto : ""
            e.caseUpdated.satisfaction = c.action == .confirmResolution ? c.satisfaction : 0
            e.caseUpdated.kind = Liaison_V1_FeedbackKind(rawValue: final["kind"]) ?? .unspecified
            e.caseUpdated.category = final["category"]
        }
    }

    // MARK: deadlines

    /// Raises every deadline warning and breach whose moment has come (at most `limit`), each with
    /// its event and audit line, in one transaction. One raised after its moment by more than
    /// ``lateAfter`` (the handler was down) is marked late.
    @discardableResult
    public func fireDeadlines(limit: Int = 500) throws -> Int {
        let now = clock.now()
        // Look first with a reader: most rounds find nothing due and take no write lock.
        let next = try log.store.pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(fire_at) FROM deadlines WHERE fired_at IS NULL")
        }
        guard let next, next <= now.timeIntervalSince1970 else { return 0 }
        let iso = ISO8601DateFormatter()
        return try log.write { db, out in
            let rows = try Row.fetchAll(db, sql: """
                SELECT d.case_number, d.deadline, d.level, d.fire_at, d.deadline_at, c.unit, c.accountable_unit, c.state
                FROM deadlines d JOIN cases c ON c.case_number = d.case_number
                WHERE d.fired_at IS NULL AND d.fire_at <= ? ORDER BY d.fire_at LIMIT ?
                """, arguments: [now.timeIntervalSince1970, limit])
            for row in rows {
                let caseNumber: String = row["case_number"]
                let deadline: String = row["deadline"]
                let level: String = row["level"]
                let fireAt = Date(timeIntervalSince1970: row["fire_at"])
                let due = Date(timeIntervalSince1970: row["deadline_at"])
                let late = now.timeIntervalSince(fireAt) > Self.lateAfter
                try db.executeCached(sql: "UPDATE deadlines SET fired_at = ? WHERE case_number = ? AND deadline = ? AND level = ?",
                               arguments: [now.timeIntervalSince1970, caseNumber, deadline, level])
                let state: String = row["state"]
                let action = level == "warning" ? "deadline_warning" : "deadline_breached"
                try audit(db, caseNumber, at: now, actor: "clock", action: action, from: state, to: state,
                          detail: "\(deadline) deadline \(iso.string(from: due))\(level == "warning" ? ": 80 % of the time used" : " passed")\(late ? " (raised late: the handler was down)" : "")",
                          reason: "")
                try out.append(topic: level == "warning" ? "case.deadline_warning" : "case.deadline_breached", at: now) { e in
                    e.deadlineAlert.caseNumber = caseNumber
                    e.deadlineAlert.unit = row["unit"]
                    e.deadlineAlert.accountableUnit = row["accountable_unit"]
                    e.deadlineAlert.deadline = deadline
                    e.deadlineAlert.level = level
                    e.deadlineAlert.due = .init(date: due)
                    e.deadlineAlert.late = late
                }
            }
            return rows.count
        }
    }
}

extension Span {
    /// The span's length in working seconds (plain hours: their seconds).
    func totalWorkingSeconds(_ calendar: WorkingCalendar) -> TimeInterval {
        switch self {
        case .workingHours(let h): return h * 3_600
        case .workingDays(let d): return d * calendar.secondsPerDay
        case .hours(let h): return h * 3_600
        }
    }
}
