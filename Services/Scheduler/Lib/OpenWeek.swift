import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime

/// Open-week campaigns ("Police Open Week"): a main venue at the city bureau and linked sub-venues
/// at district bureaus, sessions at each (time, theme, capacity), public registration with a
/// waiting list, and officers on duty, never at two sessions that overlap.
///
/// Every request is idempotent by the id its sender chose (`campaign_id`, `session_id`,
/// `registration_id`): the same request again answers as the first did, the same id with
/// something else is a `conflict`. Each registration's change is a `schedule.registration`
/// event, without the registrant's name; the name is kept sealed (``PersonalData``).
struct OpenWeek {
    let units: UnitDirectory
    let personal: PersonalData

    static let maxCapacity = 10_000
    static let maxParty = 6
    static let maxCampaignDays = 62.0
    static let idLimit = 64, nameLimit = 200, registrantLimit = 64

    /// The door's check-in (`scheduler-v5-door`) and sessions called off (`scheduler-v6-…`),
    /// registered after the sealing.
    static func migrateAfterSealing(_ m: inout DatabaseMigrator) {
        m.registerMigration("scheduler-v5-door") { db in
            try db.execute(sql: """
                ALTER TABLE registrations ADD COLUMN attended INTEGER NOT NULL DEFAULT 0;   -- people checked in at the door
                ALTER TABLE registrations ADD COLUMN checked_in_at REAL;
                ALTER TABLE registrations ADD COLUMN checked_in_by TEXT;
                """)
        }
        m.registerMigration("scheduler-v6-session-cancelled") { db in
            try db.execute(sql: """
                ALTER TABLE sessions ADD COLUMN cancelled TEXT;        -- why it was called off (NULL: it stands)
                ALTER TABLE sessions ADD COLUMN cancelled_at REAL;
                ALTER TABLE sessions ADD COLUMN cancelled_by TEXT;
                """)
        }
    }

    static func migrate(_ m: inout DatabaseMigrator) {
        m.registerMigration("scheduler-v2-open-week") { db in
            try db.execute(sql: """
                CREATE TABLE campaigns (
                  campaign_id TEXT PRIMARY KEY,
                  plan BLOB NOT NULL             -- the PlanCampaign as planned (units in the directory's spelling)
                );
                CREATE TABLE sessions (
                  session_id TEXT PRIMARY KEY,
                  campaign_id TEXT NOT NULL,
                  venue TEXT NOT NULL,
                  starts_at REAL NOT NULL,
                  ends_at REAL NOT NULL,
                  capacity INTEGER NOT NULL,
                  plan BLOB NOT NULL             -- the AddSession as added
                );
                CREATE INDEX sessions_campaign ON sessions(campaign_id, starts_at);
                CREATE TABLE registrations (
                  registration_id TEXT PRIMARY KEY,
                  session_id TEXT NOT NULL,
                  name TEXT NOT NULL,
                  party_size INTEGER NOT NULL,
                  state TEXT NOT NULL,           -- confirmed, waitlisted, cancelled
                  arrived INTEGER NOT NULL       -- order of arrival: the waiting list's order
                );
                CREATE INDEX registrations_session ON registrations(session_id, state, arrived);
                CREATE TABLE duty (
                  session_id TEXT NOT NULL,
                  officer TEXT NOT NULL,
                  starts_at REAL NOT NULL,
                  ends_at REAL NOT NULL,
                  assigned_by TEXT NOT NULL,
                  assigned_at REAL NOT NULL,
                  PRIMARY KEY (session_id, officer)
                );
                CREATE INDEX duty_officer ON duty(officer, starts_at);
                """)
        }
    }

    // MARK: checks

    /// An id chosen by the sender: 1-64 characters, none of them a control or a space.
    static func checkID(_ value: String, _ field: String) throws(WireError) {
        if value.isEmpty { throw .invalidArgument(field, "\(field.split(separator: ".").last ?? "") is required") }
        if let refused = WireError.tooLong(field, String(field.split(separator: ".").last ?? ""), value, limit: idLimit) { throw refused }
        if value.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            throw .invalidArgument(field, "\(field.split(separator: ".").last ?? "") \(WireError.quoted(value)) may not hold spaces or control characters")
        }
    }

    /// A text a person reads: visible characters, no controls, at most `limit`.
    static func checkText(_ value: String, _ field: String, limit: Int) throws(WireError) {
        let name = String(field.split(separator: ".").last ?? "")
        if let refused = WireError.tooLong(field, name, value, limit: limit) { throw refused }
        if !PlainText.hasVisibleCharacter(value) { throw .invalidArgument(field, "\(name) is required") }
        if let control = PlainText.firstControl(in: value, lineBreaks: false) {
            throw .invalidArgument(field, control.refusal(name, lineBreaks: false))
        }
    }

    /// A unit code of `kind`, in the directory's spelling.
    func venue(_ typed: String, _ field: String, _ kind: UnitDirectory.Kind) throws(WireError) -> String {
        guard let code = units.code(typed: typed), let unit = units.unit(code) else {
            throw .invalidArgument(field, units.notAUnit(typed, shown: WireError.quoted(typed)))
        }
        guard unit.type == kind else {
            throw .invalidArgument(field, "\(code) is a \(unit.type.rawValue.replacingOccurrences(of: "_", with: " ")), not a \(kind.rawValue.replacingOccurrences(of: "_", with: " "))")
        }
        return code
    }

    /// A start and an end, both given, the end after the start.
    static func interval(_ s: Date?, _ e: Date?, _ prefix: String) throws(WireError) -> (Date, Date) {
        guard let s else { throw .invalidArgument(prefix + "starts_at", "starts_at is required") }
        guard let e else { throw .invalidArgument(prefix + "ends_at", "ends_at is required") }
        guard e > s else { throw .invalidArgument(prefix + "ends_at", "ends_at must come after starts_at") }
        return (s, e)
    }

    // MARK: campaigns and sessions

    func plan(_ p: Liaison_V1_PlanCampaign, db: Database) throws -> Liaison_V1_Campaign {
        let f = "plan_campaign."
        try Self.checkID(p.campaignID, f + "campaign_id")
        try Self.checkText(p.name, f + "name", limit: Self.nameLimit)
        var plan = p
        plan.mainVenue = try venue(p.mainVenue, f + "main_venue", .cityBureau)
        plan.subVenues = []
        for (i, typed) in p.subVenues.enumerated() {
            let code = try venue(typed, f + "sub_venues[\(i)]", .districtBureau)
            if plan.subVenues.contains(code) { throw WireError.invalidArgument(f + "sub_venues[\(i)]", "\(code) is named twice") }
            plan.subVenues.append(code)
        }
        let (start, end) = try Self.interval(p.hasStartsAt ? p.startsAt.date : nil, p.hasEndsAt ? p.endsAt.date : nil, f)
        if end.timeIntervalSince(start) > Self.maxCampaignDays * 86_400 {
            throw WireError.invalidArgument(f + "ends_at", "a campaign runs at most \(Int(Self.maxCampaignDays)) days")
        }
        try Self.storeOnce(try plan.serializedData(), db: db, stored: "SELECT plan FROM campaigns WHERE campaign_id = ?", id: plan.campaignID,
                           conflict: .conflict(f + "campaign_id", "campaign \(plan.campaignID) is already planned otherwise; plan this one under another campaign_id")) { bytes in
            try db.execute(sql: "INSERT INTO campaigns (campaign_id, plan) VALUES (?, ?)", arguments: [plan.campaignID, bytes])
        }
        return try campaign(plan.campaignID, db: db)!
    }

    func storedPlan(_ id: String, db: Database) throws -> Liaison_V1_PlanCampaign? {
        try Data.fetchOne(db, sql: "SELECT plan FROM campaigns WHERE campaign_id = ?", arguments: [id]).map { try Liaison_V1_PlanCampaign(serializedBytes: $0) }
    }

    func addSession(_ a: Liaison_V1_AddSession, db: Database) throws -> Liaison_V1_Campaign {
        let f = "add_session."
        try Self.checkID(a.campaignID, f + "campaign_id")
        guard let plan = try storedPlan(a.campaignID, db: db) else {
            throw WireError.notFound(f + "campaign_id", "no campaign \(WireError.quoted(a.campaignID)); plan it first")
        }
        try Self.checkID(a.sessionID, f + "session_id")
        var session = a
        let venues = [plan.mainVenue] + plan.subVenues
        guard let code = units.code(typed: a.venue), venues.contains(code) else {
            throw WireError.invalidArgument(f + "venue", "\(WireError.quoted(a.venue)) is not a venue of \(plan.campaignID): its venues are \(venues.joined(separator: ", "))")
        }
        session.venue = code
        try Self.checkText(a.theme, f + "theme", limit: Self.nameLimit)
        let (start, end) = try Self.interval(a.hasStartsAt ? a.startsAt.date : nil, a.hasEndsAt ? a.endsAt.date : nil, f)
        if start < plan.startsAt.date || end > plan.endsAt.date {
            throw WireError.invalidArgument(f + "starts_at", "the session must fall within the campaign, \(Self.text(plan.startsAt.date)) to \(Self.text(plan.endsAt.date)) UTC")
        }
        guard (1...Self.maxCapacity).contains(Int(a.capacity)) else {
            throw WireError.invalidArgument(f + "capacity", "capacity is 1 to \(Self.maxCapacity) people, not \(a.capacity)")
        }
        try Self.storeOnce(try session.serializedData(), db: db, stored: "SELECT plan FROM sessions WHERE session_id = ?", id: a.sessionID,
                           conflict: .conflict(f + "session_id", "session \(a.sessionID) is already added otherwise; add this one under another session_id")) { bytes in
            try db.execute(sql: """
                INSERT INTO sessions (session_id, campaign_id, venue, starts_at, ends_at, capacity, plan) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [a.sessionID, a.campaignID, code, start.timeIntervalSince1970, end.timeIntervalSince1970, Int(a.capacity), bytes])
        }
        return try campaign(a.campaignID, db: db)!
    }

    /// What makes a request idempotent by the id its sender chose: `bytes` (the request as
    /// checked) are stored by `insert` when `stored` (a query of the id) finds nothing; the same
    /// bytes stored already change nothing; other bytes under the id throw `conflict`. `open`
    /// gives back the bytes stored (a sealed request's, opened).
    /// - Returns: whether they were new.
    @discardableResult
    static func storeOnce(_ bytes: Data, db: Database, stored: String, id: String, conflict: WireError,
                          open: (Data) throws -> Data = { $0 }, insert: (Data) throws -> Void) throws -> Bool {
        if let before = try Data.fetchOne(db, sql: stored, arguments: [id]) {
            guard try open(before) == bytes else { throw conflict }
            return false
        }
        try insert(bytes)
        return true
    }

    static func text(_ date: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    /// A campaign with its sessions, their counts and their officers; nil when there is none.
    func campaign(_ id: String, db: Database) throws -> Liaison_V1_Campaign? {
        guard let plan = try storedPlan(id, db: db) else { return nil }
        var c = Liaison_V1_Campaign()
        c.campaignID = plan.campaignID
        c.name = plan.name
        c.mainVenue = plan.mainVenue
        c.subVenues = plan.subVenues
        c.startsAt = plan.startsAt
        c.endsAt = plan.endsAt
        c.sessions = try Row.fetchAll(db, sql: """
            SELECT s.plan, s.capacity, s.cancelled,
              (SELECT COALESCE(SUM(party_size), 0) FROM registrations r WHERE r.session_id = s.session_id AND r.state = 'confirmed') AS confirmed,
              (SELECT COALESCE(SUM(party_size), 0) FROM registrations r WHERE r.session_id = s.session_id AND r.state = 'waitlisted') AS waitlisted,
              (SELECT GROUP_CONCAT(officer, ' ') FROM (SELECT officer FROM duty d WHERE d.session_id = s.session_id ORDER BY officer)) AS officers
            FROM sessions s WHERE s.campaign_id = ? ORDER BY s.starts_at, s.venue, s.session_id
            """, arguments: [id]).map { row in
            let plan: Data = row["plan"]
            let a = try Liaison_V1_AddSession(serializedBytes: [UInt8](plan))
            var s = Liaison_V1_Session()
            s.sessionID = a.sessionID
            s.venue = a.venue
            s.theme = a.theme
            s.startsAt = a.startsAt
            s.endsAt = a.endsAt
            s.capacity = a.capacity
            s.confirmed = UInt32(row["confirmed"] as Int64)
            s.waitlisted = UInt32(row["waitlisted"] as Int64)
            s.officers = ((row["officers"] as String?) ?? "").split(separator: " ").map(String.init)
            s.cancelled = (row["cancelled"] as String?) ?? ""
            return s
        }
        return c
    }

    // MARK: registration

    struct SessionRow {
        var campaignID: String, venue: String, start: Date, end: Date, capacity: Int
        /// Why it was called off; nil while it stands.
        var cancelled: String?
    }

    func session(_ id: String, _ field: String, db: Database) throws -> SessionRow {
        guard let row = try Row.fetchOne(db, sql: "SELECT campaign_id, venue, starts_at, ends_at, capacity, cancelled FROM sessions WHERE session_id = ?",
                                         arguments: [id]) else {
            throw WireError.notFound(field, "no session \(WireError.quoted(id))")
        }
        return SessionRow(campaignID: row[0], venue: row[1], start: Date(timeIntervalSince1970: row[2]),
                          end: Date(timeIntervalSince1970: row[3]), capacity: row[4], cancelled: row[5])
    }

    func confirmedPeople(_ sessionID: String, db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(party_size), 0) FROM registrations WHERE session_id = ? AND state = 'confirmed'",
                         arguments: [sessionID]) ?? 0
    }

    /// The registration as it stands, its place on the waiting list counted.
    func registration(_ id: String, db: Database) throws -> Liaison_V1_Registration? {
        guard let row = try Row.fetchOne(db, sql: "SELECT session_id, party_size, state, arrived, attended FROM registrations WHERE registration_id = ?",
                                         arguments: [id]) else { return nil }
        var r = Liaison_V1_Registration()
        r.registrationID = id
        r.sessionID = row[0]
        r.partySize = UInt32(row[1] as Int64)
        r.state = row[2]
        r.attended = UInt32(row[4] as Int64)
        if r.state == "cancelled", let why = try String.fetchOne(db, sql: "SELECT cancelled FROM sessions WHERE session_id = ?", arguments: [r.sessionID]) {
            r.sessionCancelled = why
        }
        if r.state == "waitlisted" {
            r.waitlistPosition = UInt32(1 + (try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM registrations WHERE session_id = ? AND state = 'waitlisted' AND arrived < ?
                """, arguments: [r.sessionID, row[3] as Int64]) ?? 0))
        }
        return r
    }

    func register(_ q: Liaison_V1_RegisterForSession, now: Date, db: Database, out: EventAppender) throws -> Liaison_V1_Registration {
        let f = "register_for_session."
        try Self.checkID(q.sessionID, f + "session_id")
        try Self.checkID(q.registrationID, f + "registration_id")
        try Self.checkText(q.name, f + "name", limit: Self.registrantLimit)
        let party = q.partySize == 0 ? 1 : Int(q.partySize)
        guard party <= Self.maxParty else {
            throw WireError.invalidArgument(f + "party_size", "a registration is for 1 to \(Self.maxParty) people, not \(q.partySize); register a larger group in several")
        }
        let owner = PersonalData.registration(q.registrationID)
        if let row = try Row.fetchOne(db, sql: "SELECT session_id, sealed_name, party_size FROM registrations WHERE registration_id = ?",
                                      arguments: [q.registrationID]) {
            guard (row[0] as String) == q.sessionID, (row[2] as Int) == party, try personal.openText(row[1], for: owner) == q.name else {
                throw WireError.conflict(f + "registration_id", "registration \(q.registrationID) was made for another session, name or party; register under another registration_id")
            }
            return try registration(q.registrationID, db: db)!
        }
        let s = try session(q.sessionID, f + "session_id", db: db)
        if let why = s.cancelled {
            throw WireError.conflict(f + "session_id", "session \(q.sessionID) was called off (\(why)): registration is closed")
        }
        guard now < s.start else {
            throw WireError.conflict(f + "session_id", "session \(q.sessionID) began at \(Self.text(s.start)) UTC: registration is closed")
        }
        // Nobody passes those already waiting: a place goes to the waiting list's first.
        let waiting = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM registrations WHERE session_id = ? AND state = 'waitlisted'",
                                       arguments: [q.sessionID]) ?? 0
        let confirmed = try confirmedPeople(q.sessionID, db: db)
        let state = waiting == 0 && confirmed + party <= s.capacity ? "confirmed" : "waitlisted"
        // The order matters within the session only: its rows, through its index, not the table's.
        let arrived = (try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(arrived), 0) + 1 FROM registrations WHERE session_id = ?",
                                          arguments: [q.sessionID]) ?? 1)
        try db.execute(sql: """
            INSERT INTO registrations (registration_id, session_id, sealed_name, party_size, state, arrived) VALUES (?, ?, ?, ?, ?, ?)
            """, arguments: [q.registrationID, q.sessionID, try personal.seal(q.name, for: owner), party, state, arrived])
        try changed(q.registrationID, s, q.sessionID, state: state, was: "", party: party, promoted: false, now: now, out: out)
        return try registration(q.registrationID, db: db)!
    }

    func cancel(_ q: Liaison_V1_CancelRegistration, now: Date, db: Database, out: EventAppender) throws -> Liaison_V1_Registration {
        let f = "cancel_registration."
        try Self.checkID(q.registrationID, f + "registration_id")
        guard let before = try registration(q.registrationID, db: db) else {
            throw WireError.notFound(f + "registration_id", "no registration \(WireError.quoted(q.registrationID))")
        }
        guard before.state != "cancelled" else { return before }
        guard before.attended == 0 else {
            throw WireError.conflict(f + "registration_id", "registration \(q.registrationID) was checked in at the door: it cannot be cancelled")
        }
        let s = try session(before.sessionID, f + "registration_id", db: db)
        try db.execute(sql: "UPDATE registrations SET state = 'cancelled' WHERE registration_id = ?", arguments: [q.registrationID])
        try changed(q.registrationID, s, before.sessionID, state: "cancelled", was: before.state, party: Int(before.partySize), promoted: false, now: now, out: out)
        if before.state == "confirmed", now < s.start {
            // The places freed go down the waiting list in order, to each party that fits.
            var free = s.capacity - (try confirmedPeople(before.sessionID, db: db))
            for row in try Row.fetchAll(db, sql: """
                SELECT registration_id, party_size FROM registrations WHERE session_id = ? AND state = 'waitlisted' ORDER BY arrived
                """, arguments: [before.sessionID]) where free > 0 {
                let id: String = row[0], party: Int = row[1]
                guard party <= free else { continue }
                try db.execute(sql: "UPDATE registrations SET state = 'confirmed' WHERE registration_id = ?", arguments: [id])
                try changed(id, s, before.sessionID, state: "confirmed", was: "waitlisted", party: party, promoted: true, now: now, out: out)
                free -= party
            }
        }
        return try registration(q.registrationID, db: db)!
    }

    func changed(_ id: String, _ s: SessionRow, _ sessionID: String, state: String, was: String, party: Int, promoted: Bool,
                 now: Date, out: EventAppender) throws {
        try out.append(topic: Topic.registration, at: now) { e in
            e.registrationChanged.registrationID = id
            e.registrationChanged.campaignID = s.campaignID
            e.registrationChanged.sessionID = sessionID
            e.registrationChanged.venue = s.venue
            e.registrationChanged.state = state
            e.registrationChanged.was = was
            e.registrationChanged.partySize = UInt32(party)
            e.registrationChanged.promoted = promoted
        }
    }

    // MARK: the door

    /// Check-in opens this long before a session begins.
    static let checkInOpens: TimeInterval = 3_600

    /// Who is coming to a session, by name, for the door (operators only): confirmed, then waiting
    /// in line, then cancelled, each in order of registration.
    func sessionList(_ q: Liaison_V1_GetSessionList, db: Database) throws -> Liaison_V1_SessionList {
        let f = "get_session_list."
        try Self.checkID(q.sessionID, f + "session_id")
        let s = try session(q.sessionID, f + "session_id", db: db)
        var list = Liaison_V1_SessionList()
        list.sessionID = q.sessionID
        list.campaignID = s.campaignID
        list.venue = s.venue
        list.startsAt = .init(date: s.start)
        list.endsAt = .init(date: s.end)
        list.capacity = UInt32(s.capacity)
        var waiting: UInt32 = 0
        for row in try Row.fetchAll(db, sql: """
            SELECT registration_id, sealed_name, party_size, state, attended, checked_in_at FROM registrations WHERE session_id = ?
            ORDER BY CASE state WHEN 'confirmed' THEN 0 WHEN 'waitlisted' THEN 1 ELSE 2 END, arrived
            """, arguments: [q.sessionID]) {
            var e = Liaison_V1_SessionListEntry()
            e.registrationID = row[0]
            e.name = try personal.openText(row[1], for: PersonalData.registration(e.registrationID))
            e.partySize = UInt32(row[2] as Int64)
            e.state = row[3]
            if e.state == "waitlisted" { waiting += 1; e.waitlistPosition = waiting }
            e.attended = UInt32(row[4] as Int64)
            if let at = row[5] as Double? { e.checkedInAt = .init(date: Date(timeIntervalSince1970: at)) }
            list.entries.append(e)
        }
        return list
    }

    /// Checks a confirmed registration's people in at the door, from an hour before the session
    /// to its end: a `schedule.registration` event with state `attended` and the people who came,
    /// which reporting counts as the venue's attendance. The same check-in again changes nothing.
    func checkIn(_ q: Liaison_V1_CheckIn, now: Date, db: Database, out: EventAppender) throws -> Liaison_V1_Registration {
        let f = "check_in."
        try Self.checkID(q.registrationID, f + "registration_id")
        try Self.checkText(q.actor, f + "actor", limit: Self.idLimit)
        guard let before = try registration(q.registrationID, db: db) else {
            throw WireError.notFound(f + "registration_id", "no registration \(WireError.quoted(q.registrationID))")
        }
        let people = q.people == 0 ? before.partySize : q.people
        guard people <= before.partySize else {
            throw WireError.invalidArgument(f + "people", "registration \(q.registrationID) is for \(before.partySize) \(before.partySize == 1 ? "person" : "people"), not \(people)")
        }
        if before.attended > 0 {
            guard before.attended == people else {
                throw WireError.conflict(f + "people", "registration \(q.registrationID) was checked in with \(before.attended) \(before.attended == 1 ? "person" : "people") already")
            }
            return before
        }
        switch before.state {
        case "confirmed": break
        case "waitlisted":
            throw WireError.conflict(f + "registration_id", "registration \(q.registrationID) is number \(before.waitlistPosition) in line for \(before.sessionID), without a place")
        default:
            throw WireError.conflict(f + "registration_id", "registration \(q.registrationID) was \(before.state)")
        }
        let s = try session(before.sessionID, f + "registration_id", db: db)
        guard now >= s.start.addingTimeInterval(-Self.checkInOpens) else {
            throw WireError.conflict(f + "registration_id", "check-in for \(before.sessionID) opens at \(Self.text(s.start.addingTimeInterval(-Self.checkInOpens))) UTC, an hour before it begins")
        }
        guard now <= s.end else {
            throw WireError.conflict(f + "registration_id", "session \(before.sessionID) ended at \(Self.text(s.end)) UTC")
        }
        try db.execute(sql: "UPDATE registrations SET attended = ?, checked_in_at = ?, checked_in_by = ? WHERE registration_id = ?",
                       arguments: [Int(people), now.timeIntervalSince1970, q.actor, q.registrationID])
        try changed(q.registrationID, s, before.sessionID, state: "attended", was: "confirmed", party: Int(people), promoted: false, now: now, out: out)
        return try registration(q.registrationID, db: db)!
    }

    // MARK: calling a session off

    /// Calls a session off before it begins: each of its registrations cancelled (a
    /// `schedule.registration` event each, so reporting takes the places off), its officers
    /// released, registration closed. Those who registered learn why from their registration
    /// (``Liaison_V1_Registration/sessionCancelled``). Again: the same answer.
    func cancelSession(_ q: Liaison_V1_CancelSession, now: Date, db: Database, out: EventAppender) throws -> Liaison_V1_Campaign {
        let f = "cancel_session."
        try Self.checkID(q.sessionID, f + "session_id")
        try Self.checkText(q.reason, f + "reason", limit: Self.nameLimit)
        try Self.checkText(q.actor, f + "actor", limit: Self.idLimit)
        let s = try session(q.sessionID, f + "session_id", db: db)
        if s.cancelled != nil { return try campaign(s.campaignID, db: db)! }
        guard now < s.start else {
            throw WireError.conflict(f + "session_id", "session \(q.sessionID) began at \(Self.text(s.start)) UTC: it cannot be called off")
        }
        let came = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(attended), 0) FROM registrations WHERE session_id = ?", arguments: [q.sessionID]) ?? 0
        guard came == 0 else {
            throw WireError.conflict(f + "session_id", "\(came) people are checked in at \(q.sessionID) already: it cannot be called off")
        }
        try db.execute(sql: "UPDATE sessions SET cancelled = ?, cancelled_at = ?, cancelled_by = ? WHERE session_id = ?",
                       arguments: [q.reason, now.timeIntervalSince1970, q.actor, q.sessionID])
        for row in try Row.fetchAll(db, sql: """
            SELECT registration_id, state, party_size FROM registrations WHERE session_id = ? AND state != 'cancelled' ORDER BY arrived
            """, arguments: [q.sessionID]) {
            let id: String = row[0], was: String = row[1], party: Int = row[2]
            try db.execute(sql: "UPDATE registrations SET state = 'cancelled' WHERE registration_id = ?", arguments: [id])
            try changed(id, s, q.sessionID, state: "cancelled", was: was, party: party, promoted: false, now: now, out: out)
        }
        try db.execute(sql: "DELETE FROM duty WHERE session_id = ?", arguments: [q.sessionID])
        return try campaign(s.campaignID, db: db)!
    }

    // MARK: duty

    func duty(_ q: Liaison_V1_AssignDuty, now: Date, db: Database) throws -> Liaison_V1_Campaign {
        let f = "assign_duty."
        try Self.checkID(q.sessionID, f + "session_id")
        let officer = q.officer.trimmingCharacters(in: .whitespaces).uppercased()
        try Self.checkID(officer, f + "officer")
        try Self.checkText(q.actor, f + "actor", limit: Self.idLimit)
        let s = try session(q.sessionID, f + "session_id", db: db)
        if !q.release, let why = s.cancelled {
            throw WireError.conflict(f + "session_id", "session \(q.sessionID) was called off (\(why))")
        }
        if q.release {
            try db.execute(sql: "DELETE FROM duty WHERE session_id = ? AND officer = ?", arguments: [q.sessionID, officer])
        } else if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM duty WHERE session_id = ? AND officer = ?)",
                                    arguments: [q.sessionID, officer]) != true {
            // Never two places at once: any session of any campaign that overlaps this one.
            if let clash = try Row.fetchOne(db, sql: """
                SELECT d.session_id, s.venue, d.starts_at, d.ends_at FROM duty d JOIN sessions s ON s.session_id = d.session_id
                WHERE d.officer = ? AND d.starts_at < ? AND d.ends_at > ? LIMIT 1
                """, arguments: [officer, s.end.timeIntervalSince1970, s.start.timeIntervalSince1970]) {
                throw WireError.conflict(f + "officer", "\(officer) is on duty at session \(clash[0] as String) (\(clash[1] as String), "
                                         + "\(Self.text(Date(timeIntervalSince1970: clash[2]))) to \(Self.text(Date(timeIntervalSince1970: clash[3]))) UTC), "
                                         + "which overlaps \(q.sessionID); release them there first")
            }
            try db.execute(sql: """
                INSERT INTO duty (session_id, officer, starts_at, ends_at, assigned_by, assigned_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [q.sessionID, officer, s.start.timeIntervalSince1970, s.end.timeIntervalSince1970, q.actor, now.timeIntervalSince1970])
        }
        return try campaign(s.campaignID, db: db)!
    }
}
