import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime

/// When the household liaison programme asks what of whom: households per officer a year, visits
/// to each a year, and the zone whose calendar years it counts.
public struct ProgrammeSettings: Sendable {
    public var householdsPerOfficer: Int
    public var visitsPerYear: Int
    public var timeZone: TimeZone

    public init(householdsPerOfficer: Int = 2, visitsPerYear: Int = 4,
                timeZone: TimeZone = ForceTimeZone.demo) {
        self.householdsPerOfficer = householdsPerOfficer
        self.visitsPerYear = visitsPerYear
        self.timeZone = timeZone
    }
}

/// The multi-year household liaison programme: each station officer paired with households for a
/// year (``ProgrammeSettings/householdsPerOfficer``, default 2), visits planned evenly across the
/// year and recorded with their outcome. A household's name and address, and a visit's note, stay
/// here, sealed (``PersonalData``): the stream carries ids and outcomes (`liaison.paired`,
/// `liaison.visited`).
struct LiaisonProgramme {
    let units: UnitDirectory
    let settings: ProgrammeSettings
    let personal: PersonalData

    static func migrate(_ m: inout DatabaseMigrator) {
        m.registerMigration("scheduler-v3-liaison") { db in
            try db.execute(sql: """
                CREATE TABLE pairings (
                  year INTEGER NOT NULL,
                  household_id TEXT NOT NULL,
                  officer TEXT NOT NULL,
                  station TEXT NOT NULL,
                  household_name TEXT NOT NULL,
                  address TEXT NOT NULL,
                  paired_by TEXT NOT NULL,
                  paired_at REAL NOT NULL,
                  PRIMARY KEY (year, household_id)
                );
                CREATE INDEX pairings_officer ON pairings(year, officer);
                CREATE TABLE visits (
                  visit_id TEXT PRIMARY KEY,
                  year INTEGER NOT NULL,
                  household_id TEXT NOT NULL,
                  request BLOB NOT NULL          -- the RecordVisit as recorded
                );
                CREATE INDEX visits_household ON visits(year, household_id);
                """)
        }
    }

    /// The first moment of `year` and of the year after, in the programme's zone.
    func bounds(_ year: Int) -> (Date, Date) {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = settings.timeZone
        let start = c.date(from: DateComponents(year: year, month: 1, day: 1)) ?? .distantPast
        let end = c.date(from: DateComponents(year: year + 1, month: 1, day: 1)) ?? .distantFuture
        return (start, end)
    }

    /// The visits planned for a household in `year`: evenly, each in the middle of its share.
    func planned(_ year: Int) -> [Date] {
        let (start, end) = bounds(year)
        let share = end.timeIntervalSince(start) / Double(settings.visitsPerYear)
        return (0..<settings.visitsPerYear).map { start.addingTimeInterval((Double($0) + 0.5) * share) }
    }

    static func checkYear(_ year: UInt32, _ field: String) throws(WireError) {
        guard (2000...2100).contains(year) else { throw .invalidArgument(field, "year is 2000 to 2100, not \(year)") }
    }

    static func badge(_ typed: String) -> String { typed.trimmingCharacters(in: .whitespaces).uppercased() }

    // MARK: pairing

    func pair(_ p: Liaison_V1_PairHousehold, now: Date, db: Database, out: EventAppender) throws -> Liaison_V1_Programme {
        let f = "pair_household."
        try Self.checkYear(p.year, f + "year")
        let officer = Self.badge(p.officer)
        try OpenWeek.checkID(officer, f + "officer")
        guard let code = units.code(typed: p.station), let unit = units.unit(code) else {
            throw WireError.invalidArgument(f + "station", units.notAUnit(p.station, shown: WireError.quoted(p.station)))
        }
        guard unit.type == .station || unit.type == .communityOffice else {
            throw WireError.invalidArgument(f + "station", "\(code) is a \(unit.type.rawValue.replacingOccurrences(of: "_", with: " ")); households are paired by a station or a community police office")
        }
        // Where the directory keeps rosters: an officer pairs households of the unit they serve at.
        if let home = units.unit(ofOfficer: officer), home.code != code {
            throw WireError.invalidArgument(f + "officer", "\(officer) serves at \(home.code), not \(code) (the unit directory's roster)")
        }
        if let roster = unit.officers, !roster.isEmpty, !roster.contains(officer) {
            let listed = roster.prefix(8).joined(separator: ", ") + (roster.count > 8 ? ", …" : "")
            throw WireError.invalidArgument(f + "officer", "\(officer) is not on \(code)'s roster in the unit directory (\(listed))")
        }
        try OpenWeek.checkID(p.householdID, f + "household_id")
        try OpenWeek.checkText(p.householdName, f + "household_name", limit: 64)
        try OpenWeek.checkText(p.address, f + "address", limit: 200)
        try OpenWeek.checkText(p.actor, f + "actor", limit: 64)
        let year = Int(p.year)
        let nameOwner = PersonalData.household(year, p.householdID, "name"), addressOwner = PersonalData.household(year, p.householdID, "address")
        if let row = try Row.fetchOne(db, sql: "SELECT officer, station, sealed_name, sealed_address FROM pairings WHERE year = ? AND household_id = ?",
                                      arguments: [year, p.householdID]) {
            guard (row[0] as String) == officer, (row[1] as String) == code, try personal.openText(row[2], for: nameOwner) == p.householdName,
                  try personal.openText(row[3], for: addressOwner) == p.address else {
                throw WireError.conflict(f + "household_id", "household \(p.householdID) is paired with \(row[0] as String) of \(row[1] as String) for \(year); one officer a household a year")
            }
            return try programme(year: year, householdID: p.householdID, now: now, db: db)
        }
        let held = try String.fetchAll(db, sql: "SELECT household_id FROM pairings WHERE year = ? AND officer = ? ORDER BY household_id",
                                       arguments: [year, officer])
        guard held.count < settings.householdsPerOfficer else {
            throw WireError.conflict(f + "officer", "\(officer) already has \(held.count) households for \(year) (\(held.joined(separator: ", "))), the programme's \(settings.householdsPerOfficer)")
        }
        try db.execute(sql: """
            INSERT INTO pairings (year, household_id, officer, station, sealed_name, sealed_address, paired_by, paired_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [year, p.householdID, officer, code, try personal.seal(p.householdName, for: nameOwner),
                             try personal.seal(p.address, for: addressOwner), p.actor, now.timeIntervalSince1970])
        try out.append(topic: Topic.liaisonPaired, at: now) { e in
            e.liaisonPaired = .with { $0.year = p.year; $0.officer = officer; $0.station = code; $0.householdID = p.householdID }
        }
        return try programme(year: year, householdID: p.householdID, now: now, db: db)
    }

    // MARK: visits

    func record(_ v: Liaison_V1_RecordVisit, now: Date, db: Database, out: EventAppender) throws -> Liaison_V1_Programme {
        let f = "record_visit."
        try OpenWeek.checkID(v.visitID, f + "visit_id")
        try Self.checkYear(v.year, f + "year")
        try OpenWeek.checkID(v.householdID, f + "household_id")
        let officer = Self.badge(v.officer)
        try OpenWeek.checkID(officer, f + "officer")
        guard v.hasVisitedAt else { throw WireError.invalidArgument(f + "visited_at", "visited_at is required") }
        let (start, end) = bounds(Int(v.year))
        guard v.visitedAt.date >= start, v.visitedAt.date < end else {
            throw WireError.invalidArgument(f + "visited_at", "the visit is not in \(v.year)")
        }
        guard v.visitedAt.date <= now.addingTimeInterval(600) else {
            throw WireError.invalidArgument(f + "visited_at", "the visit is in the future: record it once it has happened")
        }
        switch v.outcome {
        case .unspecified:
            throw WireError.invalidArgument(f + "outcome", "outcome is required: \(Liaison_V1_VisitOutcome.named.map(\.0).joined(separator: ", "))")
        case .UNRECOGNIZED(let n):
            throw WireError.invalidArgument(f + "outcome", "outcome \(n) is not a known visit outcome: \(Liaison_V1_VisitOutcome.named.map(\.0).joined(separator: ", "))")
        default: break
        }
        if let refused = WireError.tooLong(f + "note", "note", v.note, limit: 1_000) { throw refused }
        if !v.note.isEmpty, let control = PlainText.firstControl(in: v.note, lineBreaks: true) {
            throw WireError.invalidArgument(f + "note", control.refusal("note", lineBreaks: true))
        }
        if v.outcome == .issueRaised {
            guard !v.feedbackCaseNumber.isEmpty else {
                throw WireError.invalidArgument(f + "feedback_case_number", "an issue raised is taken in as feedback first (liaison submit --channel liaison_visit); give its case number")
            }
        }
        if !v.feedbackCaseNumber.isEmpty { try OpenWeek.checkID(v.feedbackCaseNumber, f + "feedback_case_number") }
        try OpenWeek.checkText(v.actor, f + "actor", limit: 64)
        guard let row = try Row.fetchOne(db, sql: "SELECT officer, station FROM pairings WHERE year = ? AND household_id = ?",
                                         arguments: [Int(v.year), v.householdID]) else {
            throw WireError.notFound(f + "household_id", "household \(v.householdID) is not paired with an officer for \(v.year)")
        }
        let pairedOfficer: String = row[0], station: String = row[1]
        guard pairedOfficer == officer else {
            throw WireError.conflict(f + "officer", "household \(v.householdID) is \(pairedOfficer)'s for \(v.year), not \(officer)'s")
        }
        var stored = v
        stored.officer = officer
        let owner = PersonalData.visit(v.visitID)
        let recorded = try OpenWeek.storeOnce(try stored.serializedData(), db: db, stored: "SELECT sealed_request FROM visits WHERE visit_id = ?", id: v.visitID,
                                              conflict: .conflict(f + "visit_id", "visit \(v.visitID) is recorded otherwise; record this one under another visit_id"),
                                              open: { Data(try personal.open($0, for: owner)) }) { bytes in
            try db.execute(sql: "INSERT INTO visits (visit_id, year, household_id, sealed_request) VALUES (?, ?, ?, ?)",
                           arguments: [v.visitID, Int(v.year), v.householdID, try personal.seal([UInt8](bytes), for: owner)])
        }
        guard recorded else { return try programme(year: Int(v.year), householdID: v.householdID, now: now, db: db) }
        try out.append(topic: Topic.liaisonVisited, at: now) { e in
            e.liaisonVisited = .with {
                $0.year = v.year; $0.officer = officer; $0.station = station; $0.householdID = v.householdID
                $0.visitID = v.visitID; $0.outcome = v.outcome; $0.visitedAt = v.visitedAt; $0.feedbackCaseNumber = v.feedbackCaseNumber
            }
        }
        return try programme(year: Int(v.year), householdID: v.householdID, now: now, db: db)
    }

    // MARK: the programme

    /// A year's pairings (all, one station's, one officer's or one household's) with their visits,
    /// and the coverage by station of those shown.
    func programme(year: Int, station: String = "", officer: String = "", householdID: String = "", now: Date,
                   db: Database) throws -> Liaison_V1_Programme {
        var clauses = ["year = ?"], arguments: [(any DatabaseValueConvertible)?] = [year]
        if !station.isEmpty { clauses.append("station = ?"); arguments.append(units.code(typed: station) ?? station) }
        if !officer.isEmpty { clauses.append("officer = ?"); arguments.append(Self.badge(officer)) }
        if !householdID.isEmpty { clauses.append("household_id = ?"); arguments.append(householdID) }
        let planned = planned(year)
        var p = Liaison_V1_Programme()
        p.year = UInt32(year)
        for row in try Row.fetchAll(db, sql: """
            SELECT officer, station, household_id, sealed_name, sealed_address FROM pairings
            WHERE \(clauses.joined(separator: " AND ")) ORDER BY station, officer, household_id
            """, arguments: StatementArguments(arguments)) {
            var pairing = Liaison_V1_Pairing()
            pairing.year = UInt32(year)
            pairing.officer = row[0]
            pairing.station = row[1]
            pairing.householdID = row[2]
            pairing.householdName = try personal.openText(row[3], for: PersonalData.household(year, pairing.householdID, "name"))
            pairing.address = try personal.openText(row[4], for: PersonalData.household(year, pairing.householdID, "address"))
            pairing.planned = planned.map { .init(date: $0) }
            pairing.visits = try Row.fetchAll(db, sql: "SELECT visit_id, sealed_request FROM visits WHERE year = ? AND household_id = ?",
                                              arguments: [year, pairing.householdID]).map { row in
                let r = try Liaison_V1_RecordVisit(serializedBytes: try personal.open(row[1], for: PersonalData.visit(row[0])))
                return Liaison_V1_Visit.with {
                    $0.visitID = r.visitID; $0.visitedAt = r.visitedAt; $0.outcome = r.outcome; $0.note = r.note
                    $0.feedbackCaseNumber = r.feedbackCaseNumber
                }
            }.sorted { $0.visitedAt.date < $1.visitedAt.date }
            let met = pairing.visits.filter { $0.outcome != .nobodyHome }.count
            pairing.owed = UInt32(max(0, planned.filter { $0 <= now }.count - met))
            p.pairings.append(pairing)
        }
        var coverage: [String: (officers: Set<String>, households: Int, visits: Int, visited: Int)] = [:]
        for x in p.pairings {
            var c = coverage[x.station] ?? ([], 0, 0, 0)
            c.officers.insert(x.officer)
            c.households += 1
            c.visits += x.visits.count
            c.visited += x.visits.contains { $0.outcome != .nobodyHome } ? 1 : 0
            coverage[x.station] = c
        }
        // Stations that keep a roster are covered too when none of their officers is paired yet
        // (the whole year, or the station asked for; not for one officer's or household's view).
        let rostered = units.units.filter { !($0.officers ?? []).isEmpty }
        if officer.isEmpty && householdID.isEmpty {
            for u in rostered where (station.isEmpty || u.code == units.code(typed: station)) && coverage[u.code] == nil {
                coverage[u.code] = ([], 0, 0, 0)
            }
        }
        var held: [String: Int] = [:]
        if !rostered.isEmpty {
            for row in try Row.fetchAll(db, sql: "SELECT officer, COUNT(*) FROM pairings WHERE year = ? GROUP BY officer", arguments: [year]) {
                held[row[0]] = row[1]
            }
        }
        p.coverage = coverage.keys.sorted().map { station in
            let c = coverage[station]!
            let roster = units.unit(station)?.officers ?? []
            return .with {
                $0.year = UInt32(year); $0.station = station; $0.officers = UInt32(c.officers.count)
                $0.households = UInt32(c.households); $0.visits = UInt32(c.visits); $0.householdsVisited = UInt32(c.visited)
                $0.roster = UInt32(roster.count)
                $0.shortOfHouseholds = roster.filter { held[$0, default: 0] < settings.householdsPerOfficer }
            }
        }
        return p
    }
}
