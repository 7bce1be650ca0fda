import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Synchronization
import Testing
@testable import Reporting

/// Reporting's rates and opinion alerts, from events applied without sockets.
@Suite struct RatesAndAlertsTests {
    static let hour: TimeInterval = 3_600
    static let day: TimeInterval = 86_400
    /// 2026-11-30 20:00 UTC: already 1 December in Shanghai.
    static let t0 = Date(timeIntervalSince1970: 1_796_068_800)

    /// A reporting service on a fresh database in `dir`.
    final class Reporting {
        let dir: TempDir
        let clock: ManualClock
        let service: ReportingService
        var seq: UInt64 = 0

        init(now: Date, timeZone: TimeZone = ReportingService.defaultTimeZone, alerts: OpinionAlertSettings = .init(), dir: TempDir? = nil) throws {
            self.dir = try dir ?? TempDir()
            clock = ManualClock(now)
            let store = try Store(path: self.dir.file("r.sqlite"), migrations: ReportingService.migrations)
            service = ReportingService(log: try EventLog(store: store, stream: "reporting-1"), clock: clock, timeZone: timeZone, alerts: alerts)
        }

        func apply(_ events: [Liaison_V1_Event]) throws {
            try service.log.write { db, out in for e in events { try service.apply(db, out, e) } }
        }

        /// The events reporting appended to its own stream.
        func published() throws -> [Liaison_V1_Event] {
            try service.log.replay(after: 0, limit: 1_000, prefixes: []).events
        }
    }

    static func opened(_ number: String, _ kind: Liaison_V1_FeedbackKind, category: String = "", unit: String, at: Date,
                       respondIn: TimeInterval = day, resolveIn: TimeInterval = 5 * day) -> Liaison_V1_Event {
        var e = Liaison_V1_Event()
        e.topic = Topic.caseOpened
        e.occurredAt = .init(date: at)
        e.caseOpened.caseNumber = number
        e.caseOpened.kind = kind
        e.caseOpened.category = category
        e.caseOpened.unit = unit
        e.caseOpened.accountableUnit = unit
        e.caseOpened.priority = "P2"
        e.caseOpened.respondBy = .init(date: at.addingTimeInterval(respondIn))
        e.caseOpened.resolveBy = .init(date: at.addingTimeInterval(resolveIn))
        return e
    }

    /// A case command's event as the handler writes it: the state after, the unit responsible and
    /// accountable, the officer, and the deadlines as they stand.
    static func updated(_ number: String, _ action: Liaison_V1_CaseAction, to state: String, at: Date, unit: String,
                        officer: String = "", respondBy: Date, resolveBy: Date, satisfaction: UInt32 = 0) -> Liaison_V1_Event {
        var e = Liaison_V1_Event()
        e.topic = action.topic
        e.occurredAt = .init(date: at)
        e.caseUpdated.caseNumber = number
        e.caseUpdated.action = action
        e.caseUpdated.toState = state
        e.caseUpdated.unit = unit
        e.caseUpdated.accountableUnit = unit
        e.caseUpdated.officer = officer
        e.caseUpdated.respondBy = .init(date: respondBy)
        e.caseUpdated.resolveBy = .init(date: resolveBy)
        e.caseUpdated.satisfaction = satisfaction
        return e
    }

    /// Six cases through their life cycles, as the handler's stream would carry them.
    static func lifeCycles() -> [Liaison_V1_Event] {
        let t0 = Self.t0, h = Self.hour, d = Self.day
        func u(_ n: String, _ a: Liaison_V1_CaseAction, _ s: String, _ at: TimeInterval, _ unit: String, officer: String = "",
               opened: TimeInterval, resolveBy: TimeInterval? = nil, rating: UInt32 = 0) -> Liaison_V1_Event {
            updated(n, a, to: s, at: t0 + at, unit: unit, officer: officer, respondBy: t0 + opened + d,
                    resolveBy: t0 + (resolveBy ?? opened + 5 * d), satisfaction: rating)
        }
        return [
            // A: answered in an hour, resolved in two days, rated 5.
            opened("A", .complaint, category: "Officer conduct", unit: "SUPERVISION", at: t0),
            u("A", .assign, "assigned", h / 2, "SUPERVISION", officer: "PC-1", opened: 0),
            u("A", .accept, "in_progress", h / 2, "SUPERVISION", officer: "PC-1", opened: 0),
            u("A", .respond, "responded", h, "SUPERVISION", officer: "PC-1", opened: 0),
            u("A", .resolve, "resolved", 2 * d, "SUPERVISION", officer: "PC-1", opened: 0),
            u("A", .confirmResolution, "resolved", 3 * d, "SUPERVISION", officer: "PC-1", opened: 0, rating: 5),
            // B: answered after two days (late), never resolved: its resolution deadline passes.
            opened("B", .complaint, category: "noise", unit: "STN-EAST-01", at: t0 + h),
            u("B", .assign, "assigned", 2 * h, "STN-EAST-01", officer: "PC-2", opened: h),
            u("B", .accept, "in_progress", 2 * h, "STN-EAST-01", officer: "PC-2", opened: h),
            u("B", .respond, "responded", 2 * d, "STN-EAST-01", officer: "PC-2", opened: h),
            // C: praise, opened on 30 November in Shanghai, not yet due.
            opened("C", .praise, unit: "STN-EAST-01", at: t0 - 6 * h, respondIn: 30 * d, resolveIn: 60 * d),
            // D: a duplicate, merged: in no rate.
            opened("D", .complaint, category: "noise", unit: "STN-EAST-01", at: t0 + 3 * h),
            u("D", .merge, "merged", 4 * h, "STN-EAST-01", opened: 3 * h),
            // E: waiting on the citizen past its response deadline: not due while its clock stops.
            opened("E", .inquiry, unit: "STN-EAST-01", at: t0 + h),
            u("E", .assign, "assigned", 2 * h, "STN-EAST-01", officer: "PC-2", opened: h),
            u("E", .awaitCitizen, "awaiting_citizen", 3 * h, "STN-EAST-01", officer: "PC-2", opened: h),
            // F: resolved late and rated 2, reopened (rating and resolution gone), resolved again in time.
            opened("F", .complaint, category: "noise", unit: "STN-EAST-01", at: t0),
            u("F", .assign, "assigned", h, "STN-EAST-01", officer: "PC-2", opened: 0),
            u("F", .accept, "in_progress", h, "STN-EAST-01", officer: "PC-2", opened: 0),
            u("F", .resolve, "resolved", 6 * d, "STN-EAST-01", officer: "PC-2", opened: 0),
            u("F", .confirmResolution, "resolved", 6 * d + h, "STN-EAST-01", officer: "PC-2", opened: 0, rating: 2),
            u("F", .reopen, "reopened", 6 * d + 2 * h, "STN-EAST-01", officer: "PC-2", opened: 0, resolveBy: 11 * d),
            u("F", .accept, "in_progress", 6 * d + 3 * h, "STN-EAST-01", officer: "PC-2", opened: 0, resolveBy: 11 * d),
            u("F", .resolve, "resolved", 7 * d, "STN-EAST-01", officer: "PC-2", opened: 0, resolveBy: 11 * d),
        ]
    }

    static func text(_ r: Liaison_V1_Rate) -> String {
        "\(r.key) cases \(r.cases) answered \(r.respondedOnTime)/\(r.responseDue) of \(r.responded) resolved \(r.resolvedOnTime)/\(r.resolutionDue) of \(r.resolved) satisfied \(r.satisfied)/\(r.rated) mean \(r.meanRating)"
    }

    @Test func ratesByUnitCategoryOfficerAndMonth() throws {
        let r = try Reporting(now: Self.t0 + 10 * Self.day)
        try r.apply(Self.lifeCycles())
        let rep = try r.service.report()
        // A, B, C, E, F: D is merged. Due for an answer: A, B and F (answered); C is not yet due
        // and E's clock stopped. On time: A only (F's first answer was its resolution, days late).
        // Due for resolution: A, F (resolved) and B (past its deadline); on time A and F's second.
        #expect(Self.text(rep.ratesAll) == "all cases 5 answered 1/3 of 3 resolved 2/3 of 2 satisfied 1/1 mean 5.0")
        #expect(rep.ratesByUnit.map(Self.text) == [
            "STN-EAST-01 cases 4 answered 0/2 of 2 resolved 1/2 of 1 satisfied 0/0 mean 0.0",
            "SUPERVISION cases 1 answered 1/1 of 1 resolved 1/1 of 1 satisfied 1/1 mean 5.0",
        ])
        // Complaints first, their category as the rules compare it.
        #expect(rep.ratesByCategory.map(\.key) == ["complaint/noise", "complaint/officer-conduct", "inquiry", "praise"])
        #expect(rep.ratesByOfficer.map(Self.text) == [
            "PC-2 cases 3 answered 0/2 of 2 resolved 1/2 of 1 satisfied 0/0 mean 0.0",
            "PC-1 cases 1 answered 1/1 of 1 resolved 1/1 of 1 satisfied 1/1 mean 5.0",
        ])
        // Months in Shanghai, newest first: t0 is 1 December there, C's opening 30 November.
        #expect(rep.ratesByMonth.map { "\($0.key)=\($0.cases)" } == ["2026-12=4", "2026-11=1"])
        #expect(rep.timeZone == "Asia/Shanghai")
        // The 12 calendar months to December in Shanghai: from 1 January, 00:00 there.
        #expect(rep.ratesSince.date == Date(timeIntervalSince1970: 1_767_196_800))

        // The same events in UTC: every case opened in November.
        let utc = try Reporting(now: Self.t0 + 10 * Self.day, timeZone: TimeZone(identifier: "UTC")!)
        try utc.apply(Self.lifeCycles())
        #expect(try utc.service.report().ratesByMonth.map { "\($0.key)=\($0.cases)" } == ["2026-11=5"])
    }

    @Test func ratesFollowTheClockAndTheWindow() throws {
        let r = try Reporting(now: Self.t0 + 2 * Self.hour)
        try r.apply(Self.lifeCycles().filter { $0.caseOpened.caseNumber == "B" || $0.caseUpdated.caseNumber == "B" }.prefix(3).map { $0 })
        // B was opened, assigned and accepted; its day to answer has not passed.
        var all = try r.service.report().ratesAll
        #expect(all.cases == 1 && all.responseDue == 0 && all.resolutionDue == 0)
        r.clock.advance(by: 2 * Self.day)
        all = try r.service.report().ratesAll
        #expect(all.responseDue == 1 && all.respondedOnTime == 0 && all.resolutionDue == 0)
        // Twelve months later, in December 2027, the case of December 2026 is out of the rates'
        // 12 months (the counts keep it).
        r.clock.advance(by: 365 * Self.day)
        let rep = try r.service.report()
        #expect(rep.ratesAll.cases == 0 && rep.ratesByUnit.isEmpty && rep.casesTotal == 1)
    }

    @Test func aRebuildFromTheStreamsGivesTheSameRates() throws {
        let events = Self.lifeCycles()
        let first = try Reporting(now: Self.t0 + 10 * Self.day)
        try first.apply(events)
        // Applied in another split of transactions, at another moment, with the openings replayed twice.
        let second = try Reporting(now: Self.t0 + 10 * Self.day)
        for chunk in stride(from: 0, to: events.count, by: 4) { try second.apply(Array(events[chunk..<min(chunk + 4, events.count)])) }
        try second.apply(events.filter { $0.topic == Topic.caseOpened })
        let a = try first.service.report(), b = try second.service.report()
        #expect(a.ratesAll == b.ratesAll && a.ratesByUnit == b.ratesByUnit && a.ratesByCategory == b.ratesByCategory
                && a.ratesByOfficer == b.ratesByOfficer && a.ratesByMonth == b.ratesByMonth)
    }

    /// The counts kept as the events come equal the counts made again from the cases, whatever
    /// the order of answers, resolutions, ratings, reopenings, reassignments and merges.
    @Test func theKeptCountsEqualACountOfTheCases() throws {
        var random = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0..<UInt64.max, using: &random)
        var g = SplitMix(seed)
        let now = Self.t0 + 20 * Self.day
        let r = try Reporting(now: now)
        let actions: [(Liaison_V1_CaseAction, String)] = [(.assign, "assigned"), (.respond, "responded"), (.resolve, "resolved"),
                                                         (.confirmResolution, "resolved"), (.reopen, "reopened"), (.merge, "merged"),
                                                         (.awaitCitizen, "awaiting_citizen"), (.markNotPoliceResponsibility, "not_police_responsibility"),
                                                         (.close, "closed"), (.escalate, "escalated")]
        var events: [Liaison_V1_Event] = []
        for n in 0..<300 {
            let number = "R\(n)"
            let opened = Self.t0 - Double(g.next() % 90) * Self.day + Double(g.next() % 86_400)
            let kinds: [Liaison_V1_FeedbackKind] = [.complaint, .praise, .inquiry]
            events.append(Self.opened(number, kinds[Int(g.next() % 3)], category: ["", "noise", "conduct"][Int(g.next() % 3)],
                                      unit: ["STN-EAST-01", "SUPERVISION"][Int(g.next() % 2)], at: opened,
                                      respondIn: Double(g.next() % 4) * Self.day, resolveIn: Double(4 + g.next() % 10) * Self.day))
            var at = opened
            for _ in 0..<Int(g.next() % 6) {
                at += Double(g.next() % 3 * 86_400)
                let (action, state) = actions[Int(g.next() % UInt64(actions.count))]
                events.append(Self.updated(number, action, to: state, at: at, unit: "STN-EAST-01",
                                           officer: ["", "PC-1", "PC-2"][Int(g.next() % 3)],
                                           respondBy: opened + Self.day, resolveBy: opened + Double(5 + g.next() % 10) * Self.day,
                                           satisfaction: UInt32(g.next() % 6)))
            }
        }
        try r.apply(events)
        let rep = try r.service.report()
        // Made again from the cases themselves, as a report would without the kept counts.
        let first = r.service.rates.since(now).month
        let recount = try r.service.log.store.pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT accountable_unit AS key, COUNT(*) AS cases, SUM(responded_at IS NOT NULL) AS responded,
                  SUM(responded_at IS NOT NULL OR (respond_by < ? AND state NOT IN \(CaseRates.clockStopped))) AS response_due,
                  SUM(responded_at IS NOT NULL AND responded_on_time) AS responded_on_time, SUM(resolved_at IS NOT NULL) AS resolved,
                  SUM(resolved_at IS NOT NULL OR (resolve_by < ? AND state NOT IN \(CaseRates.clockStopped))) AS resolution_due,
                  SUM(resolved_at IS NOT NULL AND resolved_on_time) AS resolved_on_time, SUM(rating > 0) AS rated, SUM(rating >= 4) AS satisfied
                FROM cases WHERE month >= ? AND state != 'merged' GROUP BY key ORDER BY cases DESC, key
                """, arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, first]).map { row in
                ["key", "cases", "responded", "response_due", "responded_on_time", "resolved", "resolution_due", "resolved_on_time", "rated", "satisfied"]
                    .map { "\(row[$0] as DatabaseValue)" }.joined(separator: " ")
            }
        }
        let kept = rep.ratesByUnit.map { x in
            "\(x.key) \(x.cases) \(x.responded) \(x.responseDue) \(x.respondedOnTime) \(x.resolved) \(x.resolutionDue) \(x.resolvedOnTime) \(x.rated) \(x.satisfied)"
        }
        #expect(kept == recount.map { $0.replacingOccurrences(of: "'", with: "").replacingOccurrences(of: "\"", with: "") }, "seed \(seed)")
        #expect(rep.ratesAll.cases == rep.ratesByUnit.map(\.cases).reduce(0, +), "seed \(seed)")
        #expect(rep.ratesByMonth.map(\.cases).reduce(0, +) == rep.ratesAll.cases, "seed \(seed)")
        #expect(rep.ratesByCategory.map(\.rated).reduce(0, +) == rep.ratesAll.rated, "seed \(seed)")
    }

    /// A clock on which everything takes a tenth of a second: each reading of its monotonic time
    /// is 100 ms after the last.
    final class SlowClock: WallClock {
        let date: Date
        let instants = Mutex(SuspendingClock.now)
        init(_ date: Date) { self.date = date }
        func now() -> Date { date }
        func instant() -> SuspendingClock.Instant { instants.withLock { $0 += .milliseconds(100); return $0 } }
    }

    /// A report that costs much is made again no sooner than ten times its cost after it, however
    /// many events arrive and however often it is asked for; then it is current again.
    @Test func aCostlyReportIsMadeAgainAtMostOnceInTenTimesItsCost() throws {
        let dir = try TempDir()
        let clock = SlowClock(Self.t0)
        let service = ReportingService(log: try EventLog(store: Store(path: dir.file("r.sqlite"), migrations: ReportingService.migrations),
                                                         stream: "reporting-1"), clock: clock)
        func received(_ n: Int) throws {
            try service.log.write { db, out in try service.apply(db, out, Self.complaint("C\(n)", category: "c\(n)", at: Self.t0)) }
        }
        try received(0)
        #expect(try service.report().feedbackTotal == 1)   // made, costing 100 ms on this clock
        try received(1)
        var asked = 1
        while try service.report().feedbackTotal == 1, asked < 50 { asked += 1 }
        // 100 ms a reading: the report made at 0.2 s (from 0.1 s) is made again by the request that
        // starts a second after it, at 1.2 s: the tenth, the nine before answered the report made.
        #expect(asked == 10, "made again after \(asked) requests")
        #expect(service.reportsMade.load(ordering: .relaxed) == 2)
    }

    static func complaint(_ number: String, category: String = "Noise", unit: String = "STN-EAST-01", at: Date,
                          kind: Liaison_V1_FeedbackKind = .complaint, linkedTo: String = "") -> Liaison_V1_Event {
        var e = Liaison_V1_Event()
        e.topic = Topic.feedbackReceived
        e.occurredAt = .init(date: at)
        e.feedbackReceived.caseNumber = number
        e.feedbackReceived.linkedCaseNumber = linkedTo
        e.feedbackReceived.feedback.kind = kind
        e.feedbackReceived.feedback.category = category
        e.feedbackReceived.feedback.unit = unit
        e.feedbackReceived.feedback.channel = .hotline
        return e
    }

    @Test func aSurgeOfSimilarComplaintsRaisesOneAlert() throws {
        let now = Self.t0
        let dir = try TempDir()
        do {
        let r = try Reporting(now: now, dir: dir)
        // Four about the same unit and category in the day, with others that do not count: praise,
        // another unit, another category, and the same citizen again (a near-duplicate).
        try r.apply((1...4).map { Self.complaint("N\($0)", at: now - Double(5 - $0) * Self.hour) } + [
            Self.complaint("P1", at: now, kind: .praise),
            Self.complaint("W1", unit: "STN-WEST-01", at: now),
            Self.complaint("X1", category: "parking", at: now),
            Self.complaint("L1", at: now, linkedTo: "N1"),
            // Yesterday's, more than 24 hours before: outside the window, and too few to make a usual level.
            Self.complaint("Y1", at: now - 25 * Self.hour),
        ])
        #expect(try r.published().isEmpty)
        #expect(try r.service.report().opinionAlerts.isEmpty)
        // The fifth raises it: on reporting's own stream, with what the office needs to answer.
        try r.apply([Self.complaint("N5", category: "noise", at: now)])
        let events = try r.published()
        #expect(events.map(\.topic) == [Topic.opinionAlert])
        let alert = events[0].opinionAlert
        #expect(alert.category == "noise" && alert.area == "STN-EAST-01" && alert.count == 5 && alert.threshold == 5 && !alert.late)
        #expect(abs(alert.usual - 1.0 / 28) < 1e-9)   // Y1, a day before the window
        #expect(alert.caseNumbers == ["N5", "N4", "N3", "N2", "N1"])
        #expect(try r.service.report().opinionAlerts == [alert])
        // More of the same that day raise nothing more, even after a restart.
        try r.apply([Self.complaint("N6", at: now + Self.hour)])
        }
        let restarted = try Reporting(now: now + Self.hour, dir: dir)
        try restarted.apply([Self.complaint("N7", at: now + 2 * Self.hour)])
        #expect(try restarted.published().count == 1)
        // The next day's surge is a new alert.
        try restarted.apply((8...12).map { Self.complaint("N\($0)", at: now + 30 * Self.hour + Double($0) * 60) })
        #expect(try restarted.published().count == 2)
    }

    @Test func theUsualLevelRaisesTheThreshold() throws {
        let now = Self.t0
        let r = try Reporting(now: now, alerts: .init(minimum: 5, factor: 3))
        // Three a day for the 28 days before the window: usually 3, so 9 in a day raise an alert.
        var history: [Liaison_V1_Event] = []
        for d in 2...29 { for k in 0..<3 { history.append(Self.complaint("H\(d)-\(k)", at: now - Double(d) * Self.day + Self.hour + Double(k) * 60)) } }
        try r.apply(history)
        try r.apply((1...8).map { Self.complaint("S\($0)", at: now - Double($0) * 60) })
        #expect(try r.published().isEmpty)
        try r.apply([Self.complaint("S9", at: now)])
        let alert = try #require(try r.published().first).opinionAlert
        #expect(alert.count == 9 && alert.threshold == 9 && alert.usual == 3)
        #expect(OpinionAlertSettings(minimum: 5, factor: 3).threshold(usual: 0.2) == 5)
        #expect(OpinionAlertSettings(minimum: 5, factor: 2.5).threshold(usual: 3.1) == 8)
    }

    @Test func historyIsRecordedButNotRaisedAgain() throws {
        // Reporting rebuilding from the streams (or back after a week down) meets an old surge:
        // kept, not raised; one from yesterday is raised, marked late.
        let now = Self.t0
        let r = try Reporting(now: now)
        try r.apply((1...5).map { Self.complaint("OLD\($0)", at: now - 20 * Self.day + Double($0) * 60) })
        #expect(try r.published().isEmpty)
        try r.apply((1...5).map { Self.complaint("NEW\($0)", at: now - Self.day + Double($0) * 60) })
        let events = try r.published()
        #expect(events.count == 1 && events[0].opinionAlert.late && events[0].opinionAlert.caseNumbers.first == "NEW5")
        let stored = try r.service.log.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM opinion_alerts") }
        #expect(stored == 2)
        #expect(try r.service.report().opinionAlerts.map(\.caseNumbers.first) == ["NEW5"])
    }

    /// A reporting database of the version before the rates: its projections had no times, so the
    /// upgrade empties them and its consumers start again from each stream's first event.
    @Test func theUpgradeRebuildsTheProjectionsFromTheStreams() throws {
        let dir = try TempDir()
        let path = dir.file("r.sqlite")
        do {
            // What the previous version left: its schema, a case, counts, and where it was in each stream.
            let queue = try DatabaseQueue(path: path)
            var old = DatabaseMigrator()
            Store.runtimeMigrations(&old)
            ReportingService.migrations(&old)
            try old.migrate(queue, upTo: "reporting-v1")
            try queue.write { db in
                try db.execute(sql: "INSERT INTO cases (case_number, unit, priority, state, respond_by, resolve_by) VALUES ('A', 'X', 'P1', 'triaged', 0, 0)")
                try db.execute(sql: "INSERT INTO counters (dimension, key, count) VALUES ('total', 'feedback', 7)")
                try db.execute(sql: "INSERT INTO consumer_cursors (stream, applied_seq, updated_at) VALUES ('handler-1', 42, 0)")
            }
        }
        let r = try Reporting(now: Self.t0 + 10 * Self.day, dir: dir)
        let left = try r.service.log.store.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT (SELECT COUNT(*) FROM cases) + (SELECT COUNT(*) FROM counters) + (SELECT COUNT(*) FROM consumer_cursors)")
        }
        #expect(left == 0)
        try r.apply(Self.lifeCycles())
        #expect(try r.service.report().ratesAll.cases == 5)
    }

    @Test func openWeekRegistrationsAreCountedByVenue() throws {
        let r = try Reporting(now: Self.t0)
        func changed(_ id: String, _ venue: String, _ state: String, was: String = "", party: UInt32) -> Liaison_V1_Event {
            var e = Liaison_V1_Event()
            e.topic = Topic.registration
            e.registrationChanged = .with {
                $0.registrationID = id; $0.campaignID = "ow"; $0.venue = venue; $0.state = state; $0.was = was; $0.partySize = party
            }
            return e
        }
        try r.apply([changed("a", "DIST-EAST", "confirmed", party: 3), changed("b", "DIST-EAST", "waitlisted", party: 2),
                     changed("c", "DIST-WEST", "confirmed", party: 1), changed("a", "DIST-EAST", "cancelled", was: "confirmed", party: 3),
                     changed("b", "DIST-EAST", "confirmed", was: "waitlisted", party: 2),
                     changed("d", "DIST-WEST", "waitlisted", party: 4), changed("d", "DIST-WEST", "cancelled", was: "waitlisted", party: 4)])
        let counted = try r.service.report().openWeekConfirmed.map { "\($0.key)=\($0.count)" }
        #expect(counted == ["ow DIST-EAST=2", "ow DIST-WEST=1"])
        // Checked in at the door: attendance, the confirmed count unchanged.
        try r.apply([changed("b", "DIST-EAST", "attended", was: "confirmed", party: 1), changed("c", "DIST-WEST", "attended", was: "confirmed", party: 1)])
        let report = try r.service.report()
        #expect(report.openWeekConfirmed.map { "\($0.key)=\($0.count)" } == ["ow DIST-EAST=2", "ow DIST-WEST=1"])
        #expect(report.openWeekAttended.map { "\($0.key)=\($0.count)" } == ["ow DIST-EAST=1", "ow DIST-WEST=1"])
    }
}

/// A small seeded generator, so that a failing run names the seed that reproduces it.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
