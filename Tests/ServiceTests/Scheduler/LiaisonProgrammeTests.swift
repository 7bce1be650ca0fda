import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Testing
@testable import Scheduler

/// The household liaison programme at the scheduler, without sockets: pairings within the limit,
/// one officer a household a year, visits recorded by the household's officer, visits owed, and
/// the stream without names or addresses.
@Suite struct LiaisonProgrammeTests {
    /// 2026-07-01 00:00 UTC: half the year gone, two of four visits due.
    static let july = Date(timeIntervalSince1970: 1_782_864_000)

    static func pair(_ household: String, officer: String = "PC-1001", station: String = "stn-east-01",
                     year: UInt32 = 2026) -> Liaison_V1_Request.OneOf_Body {
        .pairHousehold(.with {
            $0.year = year; $0.officer = officer; $0.station = station; $0.householdID = household
            $0.householdName = "Wang family"; $0.address = "No. 8 Lotus Lane, 3-402"; $0.actor = "desk-li"
        })
    }

    static func visit(_ id: String, _ household: String, officer: String = "PC-1001", daysIn: Double,
                      outcome: Liaison_V1_VisitOutcome = .education, caseNumber: String = "") -> Liaison_V1_Request.OneOf_Body {
        .recordVisit(.with {
            $0.visitID = id; $0.year = 2026; $0.householdID = household; $0.officer = officer
            $0.visitedAt = .init(date: Date(timeIntervalSince1970: 1_767_196_800 + daysIn * 86_400))   // 2026-01-01 00:00 Shanghai
            $0.outcome = outcome; $0.note = "Anti-fraud leaflet; checked the door lock"; $0.feedbackCaseNumber = caseNumber; $0.actor = "PC-1001"
        })
    }

    final class Scheduler {
        let service: SchedulerService
        let dir: TempDir
        init(dir: TempDir? = nil) throws {
            self.dir = try dir ?? TempDir()
            let store = try Store(path: self.dir.file("s.sqlite"), migrations: SchedulerService.migrations(vault: OpenWeekTests.vault))
            service = SchedulerService(log: try EventLog(store: store, stream: "scheduler-1"), clock: ManualClock(LiaisonProgrammeTests.july),
                                       vault: OpenWeekTests.vault)
        }
        func ask(_ body: Liaison_V1_Request.OneOf_Body) -> Liaison_V1_Reply {
            var r = Liaison_V1_Request()
            r.body = body
            return service.handle([r])[0]
        }
    }

    @Test func twoHouseholdsAnOfficerOneOfficerAHousehold() throws {
        let s = try Scheduler()
        let first = s.ask(Self.pair("EAST01-0001")).programme
        #expect(first.pairings.map(\.station) == ["STN-EAST-01"] && first.pairings[0].planned.count == 4)
        #expect(s.ask(Self.pair("EAST01-0001")).programme == first)   // again: nothing changes
        _ = s.ask(Self.pair("EAST01-0002"))
        let third = s.ask(Self.pair("EAST01-0003"))
        #expect(third.error.code == .conflict && third.error.field == "pair_household.officer" && third.error.message.contains("EAST01-0001, EAST01-0002"))
        let taken = s.ask(Self.pair("EAST01-0001", officer: "PC-2002"))
        #expect(taken.error.code == .conflict && taken.error.field == "pair_household.household_id" && taken.error.message.contains("PC-1001"))
        // Another year is another pairing.
        #expect(s.ask(Self.pair("EAST01-0003", year: 2027)).programme.pairings.count == 1)
        // Refusals name their field.
        #expect(s.ask(Self.pair("X", station: "DIST-EAST")).error.field == "pair_household.station")
        #expect(s.ask(Self.pair("X", year: 1999)).error.field == "pair_household.year")
        #expect(s.ask(Self.pair("", officer: "PC-3")).error.field == "pair_household.household_id")
        var noAddress = Liaison_V1_PairHousehold()
        if case .pairHousehold(let p) = Self.pair("X", officer: "PC-3") { noAddress = p }
        noAddress.address = ""
        #expect(s.ask(.pairHousehold(noAddress)).error.field == "pair_household.address")
    }

    /// Where the unit directory keeps a station's roster (the demo's Hillside: PC-0101-0103), an
    /// officer pairs households of the unit they serve at, and the coverage names the officers
    /// still short of households, a station none of whose officers is paired yet included.
    @Test func aStationsRosterIsCoveredOfficerByOfficer() throws {
        let s = try Scheduler()
        let empty = s.ask(.getProgramme(.with { $0.year = 2026 })).programme
        #expect(empty.coverage.map { "\($0.station) \($0.officers)/\($0.roster) \($0.shortOfHouseholds)" } == ["STN-WEST-01 0/3 [\"PC-0101\", \"PC-0102\", \"PC-0103\"]"])
        let stranger = s.ask(Self.pair("WEST01-0001", officer: "PC-9999", station: "STN-WEST-01")).error
        #expect(stranger.field == "pair_household.officer" && stranger.message.contains("not on STN-WEST-01's roster"), "\(stranger)")
        let elsewhere = s.ask(Self.pair("EAST01-0009", officer: "pc-0101", station: "STN-EAST-01")).error
        #expect(elsewhere.field == "pair_household.officer" && elsewhere.message.contains("serves at STN-WEST-01"), "\(elsewhere)")
        _ = s.ask(Self.pair("WEST01-0001", officer: "PC-0101", station: "STN-WEST-01"))
        _ = s.ask(Self.pair("WEST01-0002", officer: "PC-0101", station: "STN-WEST-01"))
        _ = s.ask(Self.pair("WEST01-0003", officer: "PC-0102", station: "STN-WEST-01"))
        _ = s.ask(Self.pair("EAST01-0001"))
        let year = s.ask(.getProgramme(.with { $0.year = 2026 })).programme
        #expect(year.coverage.map { "\($0.station) \($0.officers)/\($0.roster) \($0.shortOfHouseholds)" }
                == ["STN-EAST-01 1/0 []", "STN-WEST-01 2/3 [\"PC-0102\", \"PC-0103\"]"])
        // One officer's view leaves the roster's other stations out.
        #expect(s.ask(.getProgramme(.with { $0.year = 2026; $0.officer = "PC-1001" })).programme.coverage.map(\.station) == ["STN-EAST-01"])
        #expect(s.ask(.getProgramme(.with { $0.year = 2027; $0.station = "stn-west-01" })).programme.coverage.first?.shortOfHouseholds.count == 3)
    }

    @Test func visitsAreRecordedByTheHouseholdsOfficerAndOwedOnesCounted() throws {
        let dir = try TempDir()
        do {
            let s = try Scheduler(dir: dir)
            _ = s.ask(Self.pair("EAST01-0001"))
            // By July two of the four planned visits are due (mid-February, mid-May).
            #expect(s.ask(.getProgramme(.with { $0.year = 2026 })).programme.pairings[0].owed == 2)
            #expect(s.ask(Self.visit("v1", "EAST01-0001", daysIn: 40)).programme.pairings[0].owed == 1)
            // Nobody home: recorded, still owed.
            #expect(s.ask(Self.visit("v2", "EAST01-0001", daysIn: 130, outcome: .nobodyHome)).programme.pairings[0].owed == 1)
            let met = s.ask(Self.visit("v3", "EAST01-0001", daysIn: 131, outcome: .issueRaised, caseNumber: "L1-0000042")).programme
            #expect(met.pairings[0].owed == 0 && met.pairings[0].visits.map(\.visitID) == ["v1", "v2", "v3"])
            #expect(met.coverage.map { "\($0.station) \($0.officers) \($0.households) \($0.householdsVisited) \($0.visits)" } == ["STN-EAST-01 1 1 1 3"])
        }
        let s = try Scheduler(dir: dir)   // after a restart
        #expect(s.ask(Self.visit("v1", "EAST01-0001", daysIn: 40)).programme.pairings[0].visits.count == 3)   // again: nothing changes
        #expect(s.ask(Self.visit("v1", "EAST01-0001", daysIn: 41)).error.field == "record_visit.visit_id")
        let wrongOfficer = s.ask(Self.visit("v4", "EAST01-0001", officer: "PC-2002", daysIn: 150))
        #expect(wrongOfficer.error.code == .conflict && wrongOfficer.error.field == "record_visit.officer")
        #expect(s.ask(Self.visit("v4", "NOBODY", daysIn: 150)).error.code == .notFound)
        #expect(s.ask(Self.visit("v4", "EAST01-0001", daysIn: 250)).error.field == "record_visit.visited_at")      // in the future
        #expect(s.ask(Self.visit("v4", "EAST01-0001", daysIn: 400)).error.field == "record_visit.visited_at")      // another year
        #expect(s.ask(Self.visit("v4", "EAST01-0001", daysIn: 150, outcome: .unspecified)).error.field == "record_visit.outcome")
        #expect(s.ask(Self.visit("v4", "EAST01-0001", daysIn: 150, outcome: .UNRECOGNIZED(9))).error.field == "record_visit.outcome")
        #expect(s.ask(Self.visit("v4", "EAST01-0001", daysIn: 150, outcome: .issueRaised)).error.field == "record_visit.feedback_case_number")
        // The stream: who, which household, what outcome; never the name, the address or the note.
        let events = try s.service.log.replay(after: 0, limit: 100, prefixes: []).events
        #expect(events.map(\.topic) == [Topic.liaisonPaired, Topic.liaisonVisited, Topic.liaisonVisited, Topic.liaisonVisited])
        #expect(events.last?.liaisonVisited.outcome == .issueRaised && events.last?.liaisonVisited.feedbackCaseNumber == "L1-0000042")
        for e in events {
            let text = String(decoding: try e.serializedBytes() as [UInt8], as: UTF8.self)
            #expect(!text.contains("Wang") && !text.contains("Lotus") && !text.contains("leaflet"))
        }
    }
}
