import Crypto
import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Testing
@testable import Scheduler

/// What the scheduler keeps about people (a registrant's name, a household's name and address, a
/// visit's note) is sealed at rest, bound to its row, read back only through the requests, carried
/// over from a database that kept it in the clear, and sealed again after a key rotation.
@Suite struct PersonalDataTests {
    static let k1 = try! ContactVault(keys: [("k1", SymmetricKey(data: Data(repeating: 1, count: 32)))])
    static let k2k1 = try! ContactVault(keys: [("k2", SymmetricKey(data: Data(repeating: 2, count: 32))),
                                               ("k1", SymmetricKey(data: Data(repeating: 1, count: 32)))])
    static let k2 = try! ContactVault(keys: [("k2", SymmetricKey(data: Data(repeating: 2, count: 32)))])
    static let people = ["Li Wei-Registrant", "Wang family", "No. 8 Lotus Lane, 3-402", "Anti-fraud leaflet; checked the door lock"]

    /// A scheduler on `dir`'s database with `vault`, on 2026-07-01 (open week planned for December).
    static func scheduler(_ dir: TempDir, _ vault: ContactVault) throws -> SchedulerService {
        let store = try Store(path: dir.file("s.sqlite"), migrations: SchedulerService.migrations(vault: vault))
        return SchedulerService(log: try EventLog(store: store, stream: "scheduler-1"), clock: ManualClock(LiaisonProgrammeTests.july), vault: vault)
    }

    static func ask(_ s: SchedulerService, _ body: Liaison_V1_Request.OneOf_Body) -> Liaison_V1_Reply {
        var r = Liaison_V1_Request()
        r.body = body
        return s.handle([r])[0]
    }

    /// A campaign, a session, a registration, a household and a visit to it.
    static func fill(_ s: SchedulerService) {
        _ = ask(s, .planCampaign(OpenWeekTests.plan()))
        _ = ask(s, .addSession(OpenWeekTests.session("east-am")))
        #expect(ask(s, OpenWeekTests.register("r1", name: people[0])).registration.state == "confirmed")
        #expect(ask(s, LiaisonProgrammeTests.pair("EAST01-0001")).programme.pairings.count == 1)
        #expect(ask(s, LiaisonProgrammeTests.visit("v1", "EAST01-0001", daysIn: 30)).programme.pairings.first?.visits.count == 1)
    }

    /// Every byte of the database's files (the WAL checkpointed into it first).
    static func fileBytes(_ dir: TempDir) throws -> Data {
        let q = try DatabaseQueue(path: dir.file("s.sqlite"))
        try q.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        try q.close()
        var all = Data()
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasPrefix("s.sqlite") {
            all += try Data(contentsOf: URL(fileURLWithPath: dir.file(name)))
        }
        return all
    }

    static func holdsInTheClear(_ bytes: Data) -> [String] { people.filter { bytes.range(of: Data($0.utf8)) != nil } }

    @Test func namesAddressesAndNotesAreSealedAtRestAndReadBackByOperators() throws {
        let dir = try TempDir()
        do {
            let s = try Self.scheduler(dir, Self.k1)
            Self.fill(s)
            let p = Self.ask(s, .getProgramme(.with { $0.year = 2026 })).programme
            #expect(p.pairings.first?.householdName == "Wang family" && p.pairings.first?.address == Self.people[2])
            #expect(p.pairings.first?.visits.first?.note == Self.people[3])
            // Idempotency compares what was sealed: the same request again answers as before, the
            // same id with another name is a conflict.
            #expect(Self.ask(s, OpenWeekTests.register("r1", name: Self.people[0])).registration.state == "confirmed")
            #expect(Self.ask(s, OpenWeekTests.register("r1", name: "Someone Else")).error.code == .conflict)
            var moved = LiaisonProgrammeTests.pair("EAST01-0001")
            if case .pairHousehold(var q) = moved { q.address = "No. 9 Lotus Lane"; moved = .pairHousehold(q) }
            #expect(Self.ask(s, moved).error.field == "pair_household.household_id")
            #expect(Self.ask(s, LiaisonProgrammeTests.visit("v1", "EAST01-0001", daysIn: 30)).error.code == .unspecified)
            #expect(Self.ask(s, LiaisonProgrammeTests.visit("v1", "EAST01-0001", daysIn: 31)).error.code == .conflict)
            #expect(try s.log.store.pool.read { db in try PersonalData.census(db) } == ["k1": 4])
        }
        #expect(Self.holdsInTheClear(try Self.fileBytes(dir)) == [])
    }

    /// A sealed value copied to another row does not open there: the request that reads it gets an
    /// `internal` error naming the row, and the scheduler goes on.
    @Test func aSealedValueMovedToAnotherRowDoesNotOpen() throws {
        let dir = try TempDir()
        let s = try Self.scheduler(dir, Self.k1)
        Self.fill(s)
        #expect(Self.ask(s, LiaisonProgrammeTests.pair("EAST01-0002")).programme.pairings.count == 1)
        try s.log.store.pool.write { db in
            try db.execute(sql: """
                UPDATE pairings SET sealed_address = (SELECT sealed_address FROM pairings WHERE household_id = 'EAST01-0001')
                WHERE household_id = 'EAST01-0002'
                """)
        }
        let refused = Self.ask(s, .getProgramme(.with { $0.year = 2026 })).error
        #expect(refused.code == .internal && refused.message.contains("household 2026 EAST01-0002 address does not open"), "\(refused)")
        #expect(Self.ask(s, .getProgramme(.with { $0.year = 2026; $0.officer = "PC-9999" })).programme.pairings.isEmpty)
    }

    /// A database of the version that kept people in the clear: the migration seals every row in
    /// place, the requests read them back, and nothing of them is left in the files.
    @Test func theMigrationSealsWhatAnEarlierVersionKeptInTheClear() throws {
        let dir = try TempDir()
        do {
            var m = DatabaseMigrator()
            Store.runtimeMigrations(&m)
            SchedulerService.migrations(vault: Self.k1)(&m)
            let q = try DatabaseQueue(path: dir.file("s.sqlite"))
            try m.migrate(q, upTo: "scheduler-v3-liaison")
            var visit = Liaison_V1_RecordVisit()
            if case .recordVisit(let v) = LiaisonProgrammeTests.visit("v1", "EAST01-0001", daysIn: 30) { visit = v }
            visit.officer = "PC-1001"
            try q.write { db in
                try db.execute(sql: "INSERT INTO campaigns (campaign_id, plan) VALUES ('open-week-2026', ?)", arguments: [try OpenWeekTests.plan().serializedData()])
                let a = OpenWeekTests.session("east-am")
                try db.execute(sql: "INSERT INTO sessions VALUES ('east-am', 'open-week-2026', 'DIST-EAST', ?, ?, 4, ?)",
                               arguments: [a.startsAt.date.timeIntervalSince1970, a.endsAt.date.timeIntervalSince1970, try a.serializedData()])
                try db.execute(sql: "INSERT INTO registrations VALUES ('r1', 'east-am', ?, 1, 'confirmed', 1)", arguments: [Self.people[0]])
                // Enough rows to fill pages, whose freed space would otherwise keep the names.
                for i in 2...300 {
                    try db.execute(sql: "INSERT INTO registrations VALUES (?, 'east-am', ?, 1, 'waitlisted', ?)", arguments: ["r\(i)", Self.people[0] + " \(i)", i])
                }
                try db.execute(sql: "INSERT INTO pairings VALUES (2026, 'EAST01-0001', 'PC-1001', 'STN-EAST-01', ?, ?, 'desk-li', 0)",
                               arguments: [Self.people[1], Self.people[2]])
                try db.execute(sql: "INSERT INTO visits VALUES ('v1', 2026, 'EAST01-0001', ?)", arguments: [try visit.serializedData()])
            }
            try q.close()
            let s = try Self.scheduler(dir, Self.k1)
            let p = Self.ask(s, .getProgramme(.with { $0.year = 2026 })).programme
            #expect(p.pairings.first?.householdName == Self.people[1] && p.pairings.first?.address == Self.people[2])
            #expect(p.pairings.first?.visits.first?.note == Self.people[3] && p.pairings.first?.visits.first?.outcome == visit.outcome)
            #expect(Self.ask(s, OpenWeekTests.register("r1", name: Self.people[0])).registration.state == "confirmed")
            #expect(Self.ask(s, OpenWeekTests.register("r1", name: "Someone Else")).error.code == .conflict)
            #expect(try s.log.store.pool.read { db in try PersonalData.census(db) } == ["k1": 303])
        }
        #expect(Self.holdsInTheClear(try Self.fileBytes(dir)) == [])
    }

    /// A rotation: k2 on top of k1 seals what comes next and reads the rest; the re-sealing seals
    /// the rest with k2 (once: again finds nothing); then k1 can go. Without k2 it names what it
    /// could not open.
    @Test func keysRotateAndTheOldOneCanGo() throws {
        let dir = try TempDir()
        Self.fill(try Self.scheduler(dir, Self.k1))
        do {
            let s = try Self.scheduler(dir, Self.k2k1)
            #expect(Self.ask(s, OpenWeekTests.register("r2", name: "Zhao Min")).registration.state == "confirmed")
            #expect(try s.log.store.pool.read { db in try PersonalData.census(db) } == ["k1": 4, "k2": 1])
            #expect(try PersonalData.reseal(s.log, vault: Self.k2k1) == .init(resealed: 4))
            #expect(try PersonalData.reseal(s.log, vault: Self.k2k1) == .init(resealed: 0))
            #expect(try s.log.store.pool.read { db in try PersonalData.census(db) } == ["k2": 5])
        }
        let s = try Self.scheduler(dir, Self.k2)
        let p = Self.ask(s, .getProgramme(.with { $0.year = 2026 })).programme
        #expect(p.pairings.first?.address == Self.people[2] && p.pairings.first?.visits.first?.note == Self.people[3])
        #expect(Self.ask(s, OpenWeekTests.register("r1", name: Self.people[0])).registration.state == "confirmed")
        // A key file that lacks k2: nothing opens, nothing is changed, each value counted.
        let k3 = try ContactVault(keys: [("k3", SymmetricKey(data: Data(repeating: 3, count: 32)))])
        #expect(try PersonalData.reseal(s.log, vault: k3) == .init(resealed: 0, keyMissing: ["k2": 5]))
        #expect(try s.log.store.pool.read { db in try PersonalData.census(db) } == ["k2": 5])
    }
}
