import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Logging
import Synchronization
import ZeroMQ

/// Scheduler: keeps a durable timer table and raises `schedule.followup_due` when a follow-up
/// comes due: the call to the citizen after a case is resolved, whose answer confirms the
/// resolution (or reopens the case). And plans open-week campaigns (``OpenWeek``): venues,
/// sessions, public registration with a waiting list, officers on duty; and the household liaison
/// programme (``LiaisonProgramme``). What it keeps about people is sealed (``PersonalData``).
public final class SchedulerService: RequestHandling {
    let log: EventLog
    let clock: WallClock
    /// How long after a resolution the follow-up call is due.
    let followupAfter: TimeInterval
    /// A follow-up fired this long after its due time (the scheduler was down) is marked late.
    public static let lateAfter: TimeInterval = 60
    /// The unit directory in force (the venues, the stations): replaced whole by ``reloadUnits(path:environment:)``.
    let units: Mutex<UnitDirectory>
    let programmeSettings: ProgrammeSettings
    let personal: PersonalData
    /// Who may plan campaigns and sessions, put officers on duty and run the liaison programme;
    /// anyone when none is configured. Read again on SIGHUP.
    public let operators: OperatorRoster
    let logger: Logger

    /// Open weeks, with the unit directory in force.
    var openWeek: OpenWeek { OpenWeek(units: units.withLock { $0 }, personal: personal) }
    /// The household liaison programme, with the unit directory in force.
    var programme: LiaisonProgramme { LiaisonProgramme(units: units.withLock { $0 }, settings: programmeSettings, personal: personal) }

    /// - Parameter vault: the contact keys that seal registrants' names, households' names and
    ///   addresses and visits' records (the same as ``migrations(vault:)`` was given).
    public init(log: EventLog, clock: WallClock, vault: ContactVault, followupAfter: TimeInterval = 24 * 3_600, units: UnitDirectory = .demo,
                programme: ProgrammeSettings = .init(), operators: OperatorCredentials = .init(secrets: []),
                logger: Logger = Logger(label: "liaison.scheduler")) {
        self.log = log
        self.clock = clock
        self.followupAfter = followupAfter
        self.personal = PersonalData(vault: vault)
        self.units = Mutex(units)
        self.programmeSettings = programme
        self.operators = OperatorRoster(operators)
        self.logger = logger
    }

    /// Reads the unit directory again (SIGHUP): a new station or district bureau can be a venue or
    /// pair households at once. A file that does not load is refused whole; the one in force stays.
    public func reloadUnits(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let next = try UnitDirectory.resolve(path: path, environment: environment)
        units.withLock { $0 = next }
        logger.notice("unit directory reloaded", metadata: ["units": "\(next.units.count)"])
    }

    /// The scheduler's migrations; `vault` seals what earlier versions kept in the clear.
    public static func migrations(vault: ContactVault) -> (inout DatabaseMigrator) -> Void {
        { m in migrations(&m, vault: vault) }
    }

    static func migrations(_ m: inout DatabaseMigrator, vault: ContactVault) {
        m.registerMigration("scheduler-v1") { db in
            try db.execute(sql: """
                CREATE TABLE followups (
                  case_number TEXT PRIMARY KEY,
                  unit TEXT NOT NULL,
                  due_at REAL NOT NULL,
                  state TEXT NOT NULL,
                  fired_at REAL
                );
                CREATE INDEX followups_pending ON followups(state, due_at);
                """)
        }
        OpenWeek.migrate(&m)
        LiaisonProgramme.migrate(&m)
        PersonalData.migrate(&m, vault: vault)
        OpenWeek.migrateAfterSealing(&m)
    }

    /// Builds the whole scheduler instance: requests, one consumer per handler instance, the timer
    /// loop. Returns the host to run, and the service (to read its files again on SIGHUP).
    public static func host(config: ServiceConfig, vault: ContactVault, clock: WallClock = SystemClock(), followupAfter: TimeInterval = 24 * 3_600,
                            units: UnitDirectory = .demo, programme: ProgrammeSettings = .init(),
                            operators: OperatorCredentials = .init(secrets: []),
                            options: RequestLoopOptions = .init(), logger: Logger) throws -> (ServiceHost, SchedulerService) {
        let log = try config.openLog(migrations: migrations(vault: vault))
        PersonalData.announce(try log.store.pool.read { db in try PersonalData.census(db) }, vault: vault, to: logger)
        let service = SchedulerService(log: log, clock: clock, vault: vault, followupAfter: followupAfter, units: units, programme: programme,
                                       operators: operators, logger: logger)
        let consumers = try config.topology.instances(of: "handler").map { up in
            try Consumer(upstream: up, topicPrefixes: ["case."], log: log, logger: logger) { db, out, event in
                try service.apply(db, out, event)
            }
        }
        let timers = TimerLoop(name: "\(config.instance.stream)-timers", logger: logger) {
            let (fired, _) = try service.fireDue()
            if fired > 0 { logger.info("follow-ups due", metadata: ["count": "\(fired)"]) }
            return fired == 500
        }
        return (ServiceHost(config: config, log: log, handler: service, consumers: consumers, extraLoops: [timers], options: options, logger: logger), service)
    }

    /// Applies one handler event. `case.resolved` puts a follow-up call `followupAfter` later (a case
    /// resolved again after a reopening gets a new one); a confirmed resolution, a reopening, a
    /// close or a merge cancels the one still pending.
    public func apply(_ db: Database, _ out: EventAppender, _ event: Liaison_V1_Event) throws {
        guard case .caseUpdated(let u)? = event.payload else { return }
        switch u.action {
        case .resolve:
            let due = event.occurredAt.date.addingTimeInterval(followupAfter)
            try db.executeCached(sql: """
                INSERT INTO followups (case_number, unit, due_at, state) VALUES (?, ?, ?, 'pending')
                ON CONFLICT(case_number) DO UPDATE SET unit = excluded.unit, due_at = excluded.due_at, state = 'pending', fired_at = NULL
                """, arguments: [u.caseNumber, u.unit, due.timeIntervalSince1970])
        case .confirmResolution, .reopen, .close, .merge:
            try db.executeCached(sql: "UPDATE followups SET state = 'cancelled' WHERE case_number = ? AND state = 'pending'",
                                 arguments: [u.caseNumber])
        default:
            break
        }
    }

    /// Fires every pending follow-up due at `now` (at most `limit`), each with its event, in one
    /// transaction. Returns how many fired; the earliest next due time, if any.
    @discardableResult
    public func fireDue(limit: Int = 500) throws -> (fired: Int, next: Date?) {
        let now = clock.now()
        // Look first with a reader, as the handler's deadlines do: most rounds (five a second) find
        // nothing due and take no write lock.
        let earliest = try log.store.pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MIN(due_at) FROM followups WHERE state = 'pending'")
        }
        guard let earliest, earliest <= now.timeIntervalSince1970 else { return (0, earliest.map(Date.init(timeIntervalSince1970:))) }
        return try log.write { db, out in
            let rows = try Row.fetchAll(db, sql: "SELECT case_number, unit, due_at FROM followups WHERE state = 'pending' AND due_at <= ? ORDER BY due_at LIMIT ?",
                                        arguments: [now.timeIntervalSince1970, limit])
            for row in rows {
                let caseNumber: String = row["case_number"]
                let due = Date(timeIntervalSince1970: row["due_at"])
                try db.executeCached(sql: "UPDATE followups SET state = 'due', fired_at = ? WHERE case_number = ?",
                               arguments: [now.timeIntervalSince1970, caseNumber])
                try out.append(topic: Topic.followupDue, at: now) { e in
                    e.followupDue.caseNumber = caseNumber
                    e.followupDue.unit = row["unit"]
                    e.followupDue.dueAt = .init(date: due)
                    e.followupDue.late = now.timeIntervalSince(due) > SchedulerService.lateAfter
                }
            }
            let next = try Double.fetchOne(db, sql: "SELECT MIN(due_at) FROM followups WHERE state = 'pending'")
            return (rows.count, next.map(Date.init(timeIntervalSince1970:)))
        }
    }

    public func handle(_ requests: [Liaison_V1_Request]) -> [Liaison_V1_Reply] { handle(requests, operatorKeys: []) }

    /// Requests some of which came over CURVE with a key let in as an operator (`operatorKeys[i]`),
    /// which stands in for an operator secret.
    public func answer(_ requests: [Liaison_V1_Request], operatorKeys: [String?]) -> [OutgoingReply] {
        handle(requests, operatorKeys: operatorKeys).map { .message($0) }
    }

    /// Planning a campaign or a session and putting officers on duty are operators' when the
    /// scheduler has operator secrets.
    func needOperator(_ req: Liaison_V1_Request, _ operatorKey: String?, _ what: String) throws {
        let operators = self.operators.credentials
        guard operators.isConfigured, operators.operatorName(req.credential, operatorKey: operatorKey) == nil else { return }
        throw WireError.unauthorized("\(what) needs an operator credential (Request.credential)")
    }

    func handle(_ requests: [Liaison_V1_Request], operatorKeys: [String?]) -> [Liaison_V1_Reply] {
        each(requests, operatorKeys: operatorKeys) { req, operatorKey in
            var r = Liaison_V1_Reply()
            let now = clock.now()
            switch req.body {
            case .listFollowups(let q)?:
                return try listFollowups(q)
            case .planCampaign(let q)?:
                try needOperator(req, operatorKey, "planning a campaign")
                r.campaign = try log.write { db, _ in try openWeek.plan(q, db: db) }
            case .addSession(let q)?:
                try needOperator(req, operatorKey, "adding a session")
                r.campaign = try log.write { db, _ in try openWeek.addSession(q, db: db) }
            case .assignDuty(let q)?:
                try needOperator(req, operatorKey, "putting an officer on duty")
                r.campaign = try log.write { db, _ in try openWeek.duty(q, now: now, db: db) }
            case .registerForSession(let q)?:
                r.registration = try log.write { db, out in try openWeek.register(q, now: now, db: db, out: out) }
            case .cancelRegistration(let q)?:
                r.registration = try log.write { db, out in try openWeek.cancel(q, now: now, db: db, out: out) }
            case .pairHousehold(let q)?:
                try needOperator(req, operatorKey, "pairing a household")
                r.programme = try log.write { db, out in try programme.pair(q, now: now, db: db, out: out) }
            case .recordVisit(let q)?:
                try needOperator(req, operatorKey, "recording a visit")
                r.programme = try log.write { db, out in try programme.record(q, now: now, db: db, out: out) }
            case .getProgramme(let q)?:
                try needOperator(req, operatorKey, "the liaison programme (households' addresses)")
                try LiaisonProgramme.checkYear(q.year, "get_programme.year")
                r.programme = try log.store.pool.read { db in
                    try programme.programme(year: Int(q.year), station: q.station, officer: q.officer, now: now, db: db)
                }
            case .getSessionList(let q)?:
                try needOperator(req, operatorKey, "the door's list (registrants' names)")
                r.sessionList = try log.store.pool.read { db in try openWeek.sessionList(q, db: db) }
            case .checkIn(let q)?:
                try needOperator(req, operatorKey, "checking people in at the door")
                r.registration = try log.write { db, out in try openWeek.checkIn(q, now: now, db: db, out: out) }
            case .cancelSession(let q)?:
                try needOperator(req, operatorKey, "calling a session off")
                r.campaign = try log.write { db, out in try openWeek.cancelSession(q, now: now, db: db, out: out) }
            case .getRegistration(let q)?:
                try OpenWeek.checkID(q.registrationID, "get_registration.registration_id")
                guard let found = try log.store.pool.read({ db in try openWeek.registration(q.registrationID, db: db) }) else {
                    throw WireError.notFound("get_registration.registration_id", "no registration \(WireError.quoted(q.registrationID))")
                }
                r.registration = found
            case .getCampaign(let q)?:
                try OpenWeek.checkID(q.campaignID, "get_campaign.campaign_id")
                guard let c = try log.store.pool.read({ db in try openWeek.campaign(q.campaignID, db: db) }) else {
                    throw WireError.notFound("get_campaign.campaign_id", "no campaign \(WireError.quoted(q.campaignID))")
                }
                r.campaign = c
            default:
                throw WireError.invalidArgument("body", "the scheduler answers list_followups, plan_campaign, add_session, register_for_session, cancel_registration, assign_duty, get_campaign, get_session_list, check_in, cancel_session, get_registration, pair_household, record_visit and get_programme")
            }
            return r
        }
    }

    func listFollowups(_ q: Liaison_V1_ListFollowups) throws -> Liaison_V1_Reply {
        let limit = q.limit == 0 ? 100 : min(Int(q.limit), 1_000)
        let rows = try log.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM followups \(q.dueOnly ? "WHERE state = 'due'" : "") ORDER BY due_at LIMIT \(limit)")
        }
        var r = Liaison_V1_Reply()
        r.followupList.followups = rows.map { row in
            var f = Liaison_V1_Followup()
            f.caseNumber = row["case_number"]
            f.unit = row["unit"]
            f.dueAt = .init(date: Date(timeIntervalSince1970: row["due_at"]))
            f.state = row["state"]
            return f
        }
        return r
    }
}
