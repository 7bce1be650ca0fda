import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Testing
@testable import Reporting
@testable import Scheduler

@Suite struct SchedulerAndReportingLogicTests {
    func opened(_ number: String, respondBy: Date, seq: UInt64) -> Liaison_V1_Event {
        var e = Liaison_V1_Event()
        e.stream = "handler-1"; e.seq = seq; e.topic = Topic.caseOpened
        e.caseOpened.caseNumber = number
        e.caseOpened.unit = "STN-EAST-01"
        e.caseOpened.priority = "P1"
        e.caseOpened.respondBy = .init(date: respondBy)
        e.caseOpened.resolveBy = .init(date: respondBy.addingTimeInterval(3600))
        return e
    }

    func updated(_ number: String, _ action: Liaison_V1_CaseAction, at: Date, seq: UInt64) -> Liaison_V1_Event {
        var e = Liaison_V1_Event()
        e.stream = "handler-1"; e.seq = seq; e.topic = action.topic; e.occurredAt = .init(date: at)
        e.caseUpdated.caseNumber = number
        e.caseUpdated.action = action
        e.caseUpdated.unit = "STN-EAST-01"
        return e
    }

    @Test func followUpsFireOnceWhenDueAndSurviveRestart() throws {
        let dir = try TempDir()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = ManualClock(t0)
        func make() throws -> SchedulerService {
            let vault = ContactVault.throwaway()
            let store = try Store(path: dir.file("s.sqlite"), migrations: SchedulerService.migrations(vault: vault))
            return SchedulerService(log: try EventLog(store: store, stream: "scheduler-1"), clock: clock, vault: vault)
        }
        var s = try make()
        let day: TimeInterval = 24 * 3_600
        try s.log.write { db, out in
            // Opening a case schedules nothing; resolving it schedules the follow-up call a day later.
            try s.apply(db, out, opened("A", respondBy: t0.addingTimeInterval(60), seq: 1))
            try s.apply(db, out, updated("A", .resolve, at: t0.addingTimeInterval(60 - day), seq: 2))
            try s.apply(db, out, updated("B", .resolve, at: t0.addingTimeInterval(7200 - day), seq: 3))
            // C is confirmed before its call: the follow-up is cancelled.
            try s.apply(db, out, updated("C", .resolve, at: t0.addingTimeInterval(30 - day), seq: 4))
            try s.apply(db, out, updated("C", .confirmResolution, at: t0, seq: 5))
        }
        // Nothing due yet: the round only reads (no write transaction, no lock), and says when.
        let idleBefore = s.log.transactions
        let idle = try s.fireDue()
        #expect(idle.fired == 0 && idle.next == t0.addingTimeInterval(60) && s.log.transactions == idleBefore)
        clock.advance(by: 61)
        let first = try s.fireDue()
        #expect(first.fired == 1 && first.next == t0.addingTimeInterval(7200))
        #expect(try s.fireDue().fired == 0)
        s = try make()   // restart: the timer table is durable
        clock.advance(by: 3 * 3600)
        #expect(try s.fireDue().fired == 1)
        let events = try s.log.replay(after: 0, limit: 10, prefixes: []).events
        #expect(events.map(\.followupDue.caseNumber) == ["A", "B"])
        #expect(events.map(\.followupDue.late) == [false, true])
        let list = s.handle([request(.listFollowups(.init()))])[0].followupList
        #expect(list.followups.map(\.state).sorted() == ["cancelled", "due", "due"])
    }

    @Test func reportCountsEveryStream() throws {
        let dir = try TempDir()
        let store = try Store(path: dir.file("r.sqlite"), migrations: ReportingService.migrations)
        let log = try EventLog(store: store, stream: "reporting-1")
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = ManualClock(t0)
        let r = ReportingService(log: log, clock: clock)
        try log.write { db, out in
            for (i, k) in [Liaison_V1_FeedbackKind.complaint, .complaint, .praise].enumerated() {
                var e = Liaison_V1_Event()
                e.feedbackReceived.caseNumber = "C\(i)"
                e.feedbackReceived.feedback = feedback(kind: k)
                try r.apply(db, out, e)
                try r.apply(db, out, opened("C\(i)", respondBy: t0.addingTimeInterval(Double(i) * 3600 + 60), seq: UInt64(i + 1)))
            }
            try r.apply(db, out, opened("C0", respondBy: t0, seq: 1))   // a duplicate is not counted twice
            var due = Liaison_V1_Event()
            due.followupDue.caseNumber = "C0"
            try r.apply(db, out, due)
        }
        var rep = try r.report()
        #expect(rep.feedbackTotal == 3 && rep.casesTotal == 3 && rep.followupsDue == 1)
        #expect(rep.byKind.map { "\($0.key)=\($0.count)" } == ["complaint=2", "praise=1"])
        #expect(rep.byUnit.map { "\($0.key)=\($0.count)" } == ["STN-EAST-01=3"])
        #expect(rep.byState.map { "\($0.key)=\($0.count)" } == ["triaged=3"])
        #expect(rep.overdue.isEmpty)
        // Asked again with nothing applied within the same second: the same report, not made again.
        let made = r.reportsMade.load(ordering: .relaxed)
        for _ in 0..<100 { #expect(try r.report() == rep) }
        #expect(r.reportsMade.load(ordering: .relaxed) == made)
        clock.advance(by: 2 * 3600)
        rep = try r.report()
        #expect(rep.overdue.map(\.caseNumber) == ["C0", "C1"])
        // An event applied: made again at once, within the same second.
        try log.write { db, out in
            var e = Liaison_V1_Event()
            e.feedbackReceived.caseNumber = "C9"
            e.feedbackReceived.feedback = feedback(kind: .tip)
            try r.apply(db, out, e)
        }
        #expect(try r.report().feedbackTotal == 4)
        #expect(r.reportsMade.load(ordering: .relaxed) == made + 2)
    }
}
