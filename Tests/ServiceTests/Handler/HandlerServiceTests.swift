import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Logging
import Testing
@testable import Handler

/// The handler in-process on a temporary database, with a clock the test moves.
final class HandlerFixture: @unchecked Sendable {
    let dir: TempDir
    let clock: ManualClock
    var log: EventLog
    var handler: HandlerService
    let partition: CasePartition
    var seq: UInt64 = 0

    init(at start: Date = shanghai(2026, 12, 1, 9), partition: CasePartition = .init(index: 0, count: 1), policy: Policy? = nil) throws {
        dir = try TempDir()
        clock = ManualClock(start)
        self.partition = partition
        let settings = HandlerSettings(policy: try policy ?? Policy.load(path: nil, units: .demo, environment: [:]), calendar: try .demo())
        log = try EventLog(store: Store(path: dir.file("h.sqlite"), migrations: HandlerService.migrations), stream: "handler-1")
        handler = HandlerService(log: log, settings: settings, partition: partition, clock: clock)
    }

    /// A new process on the same database (a restart).
    func restart() throws {
        log = try EventLog(store: Store(path: dir.file("h.sqlite"), migrations: HandlerService.migrations), stream: "handler-1")
        handler = HandlerService(log: log, settings: handler.settings.withLock { $0 }, partition: partition, clock: clock)
    }

    @discardableResult
    func open(_ number: String, _ f: Liaison_V1_SubmitFeedback = feedback(), at: Date? = nil) throws -> Liaison_V1_Event {
        seq += 1
        var e = Liaison_V1_Event()
        e.stream = "intake-1"; e.seq = seq; e.topic = Topic.feedbackReceived; e.occurredAt = .init(date: at ?? clock.now())
        e.feedbackReceived.caseNumber = number
        e.feedbackReceived.feedback = f
        try log.write { db, out in try handler.apply(db, out, e) }
        return e
    }

    func run(_ number: String, _ action: Liaison_V1_CaseAction, actor: String = "op-li", _ fill: (inout Liaison_V1_CaseCommand) -> Void = { _ in }) -> Liaison_V1_Reply {
        var c = Liaison_V1_CaseCommand()
        c.caseNumber = number
        c.action = action
        c.actor = actor
        fill(&c)
        return handler.handle([request(.caseCommand(c))])[0]
    }

    func show(_ number: String) -> Liaison_V1_CaseInfo {
        handler.handle([request(.getCase(.with { $0.caseNumber = number }))])[0].caseInfo
    }

    func events(after: UInt64 = 0) throws -> [Liaison_V1_Event] { try log.replay(after: after, limit: 5_000, prefixes: []).events }
}

/// A command with the fields its action needs.
func validCommand(_ action: Liaison_V1_CaseAction, mergeInto: String = "L1-TARGET", transferTo: String = "STN-NORTH-01") -> (inout Liaison_V1_CaseCommand) -> Void {
    { c in
        switch action {
        case .assign: c.unit = "STN-WEST-01"
        case .note: c.text = "Called the station"
        case .respond: c.text = "We are looking into it"
        case .resolve: c.text = "The officer apologised"
        case .confirmResolution: c.satisfaction = 4
        case .transfer: c.unit = transferTo; c.reason = "wrong district"
        case .merge: c.mergeInto = mergeInto; c.reason = "same incident"
        case .escalate, .reopen, .markNotPoliceResponsibility, .awaitCitizen: c.reason = "because"
        default: break
        }
    }
}

@Suite(.serialized) struct HandlerServiceTests {
    /// The commands that bring a new case (triaged) to each state.
    static let paths: [String: [Liaison_V1_CaseAction]] = [
        "triaged": [], "assigned": [.assign], "in_progress": [.assign, .accept], "responded": [.assign, .accept, .respond],
        "resolved": [.assign, .accept, .resolve], "closed": [.assign, .accept, .resolve, .close],
        "awaiting_citizen": [.assign, .awaitCitizen], "escalated": [.escalate], "transferred": [.transfer], "merged": [.merge],
        "not_police_responsibility": [.markNotPoliceResponsibility], "reopened": [.assign, .accept, .resolve, .reopen],
    ]

    @Test func everyCommandInEveryStateOverTheRequestInterface() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-TARGET", feedback(kind: .inquiry))
        var pairs = 0, accepted = 0, refused = 0
        for state in CaseState.allCases {
            for action in Liaison_V1_CaseAction.all {
                pairs += 1
                let number = "L1-\(state.rawValue)-\(action.name)"
                try fx.open(number, feedback(kind: .complaint, unit: "STN-EAST-01"))
                for step in Self.paths[state.rawValue]! {
                    let r = fx.run(number, step, validCommand(step, transferTo: "STN-WEST-02"))
                    #expect(r.error.code == .unspecified, "path to \(state.rawValue): \(step.name): \(r.error.message)")
                }
                #expect(fx.show(number).state == state.rawValue)
                let auditBefore = fx.show(number).audit.count
                let reply = fx.run(number, action, validCommand(action))
                let want = expectedLifecycle[state.rawValue]![action.name]
                if let want {
                    accepted += 1
                    let info = reply.caseInfo
                    #expect(reply.error.code == .unspecified, "\(state.rawValue) + \(action.name): \(reply.error.message)")
                    let target = want == "=" ? state.rawValue : (want == "<back>" ? "assigned" : want)
                    #expect(info.state == target, "\(state.rawValue) + \(action.name)")
                    #expect(info.audit.count == auditBefore + 1 && info.audit.last?.action == action.name && info.audit.last?.actor == "op-li")
                } else {
                    refused += 1
                    #expect(reply.error.code == .conflict, "\(state.rawValue) + \(action.name) should be refused")
                    #expect(reply.error.field == "case_command.action" && reply.error.message.contains(state.rawValue))
                    #expect(fx.show(number).state == state.rawValue && fx.show(number).audit.count == auditBefore)
                }
            }
        }
        #expect(pairs == 168 && accepted == expectedLifecycle.values.reduce(0) { $0 + $1.count } && accepted + refused == 168)
    }

    @Test func openingRoutesByPolicyOnTheWorkingCalendar() throws {
        // Wed 30 Sep 2026 16:00, the eve of the National Day week.
        let fx = try HandlerFixture(at: shanghai(2026, 9, 30, 16))
        let e = try fx.open("L1-0000001", feedback(officer: "PC-9"))
        try fx.log.write { db, out in try fx.handler.apply(db, out, e) }   // applied twice: still one case
        let events = try fx.events()
        #expect(events.count == 1)
        let opened = events[0].caseOpened
        #expect(opened.unit == "SUPERVISION" && opened.accountableUnit == "SUPERVISION" && opened.priority == "P1")
        #expect(opened.policyRule == "officer-complaint" && opened.officerBadge == "PC-9")
        // 1 working day = 7 working hours: 1.5 h on 30 Sep, then Thursday 8 Oct after the holiday.
        #expect(opened.respondBy.date == shanghai(2026, 10, 8, 16))
        let info = fx.show("L1-0000001")
        #expect(info.state == "triaged" && info.audit.first?.action == "opened" && info.audit.first?.actor == "policy")
        #expect(info.allowedActions.contains("assign") && !info.allowedActions.contains("resolve"))
        #expect(fx.handler.handle([request(.getCase(.with { $0.caseNumber = "nope" }))])[0].error.code == .notFound)
    }

    @Test func transfersKeepTheAccountableUnitAndNeverReachTheOfficersStation() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001", feedback(unit: "STN-EAST-01", officer: "PC-9"))
        // Not to the officer's station, nor its community office.
        for unit in ["STN-EAST-01", "CPO-EAST-03"] {
            let r = fx.run("L1-0000001", .assign) { $0.unit = unit }
            #expect(r.error.code == .conflict && r.error.field == "case_command.unit" && r.error.message.contains("own unit"))
        }
        #expect(fx.run("L1-0000001", .transfer) { $0.unit = "STN-EAST-01"; $0.reason = "x" }.error.code == .conflict)
        let moved = fx.run("L1-0000001", .transfer) { $0.unit = "DIST-EAST"; $0.reason = "the district investigates" }.caseInfo
        #expect(moved.unit == "DIST-EAST" && moved.accountableUnit == "SUPERVISION" && moved.state == "transferred")
        let trail = fx.show("L1-0000001").audit.last!
        #expect(trail.actor == "op-li" && trail.action == "transfer" && trail.detail == "from SUPERVISION to DIST-EAST" && trail.reason == "the district investigates")
        // Unit lists show the case to both the accountable and the responsible unit.
        for unit in ["SUPERVISION", "DIST-EAST"] {
            #expect(fx.handler.handle([request(.listCases(.with { $0.unit = unit }))])[0].caseList.total == 1)
        }
    }

    @Test func unitsAndBadgesAreKeptAsTheDirectorySpellsThemHoweverTyped() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001", feedback(unit: "STN-NORTH-01"))
        // Any letter case, white space around, full width: the directory's code and the badge in capitals.
        let assigned = fx.run("L1-0000001", .assign) { $0.unit = " dist-east "; $0.officer = "pc-1001" }.caseInfo
        #expect(assigned.unit == "DIST-EAST" && assigned.officer == "PC-1001", "\(assigned)")
        #expect(fx.show("L1-0000001").audit.last?.detail == "unit DIST-EAST, officer PC-1001")
        // Lists find the case however the badge is typed.
        for officer in ["PC-1001", "pc-1001", " Pc-1001"] {
            #expect(fx.handler.handle([request(.listCases(.with { $0.officer = officer }))])[0].caseList.total == 1, "\(officer)")
        }
        #expect(fx.handler.handle([request(.listCases(.with { $0.officer = "PC-1002" }))])[0].caseList.total == 0)
        let moved = fx.run("L1-0000001", .transfer) { $0.unit = "ｓｔｎ－ｗｅｓｔ－０１"; $0.reason = "nearer" }.caseInfo
        #expect(moved.unit == "STN-WEST-01", "\(moved)")
        // A code the directory lacks is refused by name, with the codes it may have meant.
        let refused = fx.run("L1-0000001", .assign) { $0.unit = "DIST-EST" }
        #expect(refused.error.code == .invalidArgument && refused.error.field == "case_command.unit"
                && refused.error.message.contains("nearest: DIST-EAST (East District Bureau)"), "\(refused.error)")
        // A unit by its name is that unit; part of a name is answered with the unit and its name.
        #expect(fx.run("L1-0000001", .transfer) { $0.unit = "harbour police station"; $0.reason = "their beat" }.caseInfo.unit == "STN-EAST-02")
        let named = fx.run("L1-0000001", .assign) { $0.unit = "Old Town" }
        #expect(named.error.field == "case_command.unit" && named.error.message.hasSuffix("(nearest: STN-WEST-02 (Old Town Police Station))"), "\(named.error)")
        _ = fx.run("L1-0000001", .transfer) { $0.unit = "STN-WEST-01"; $0.reason = "back" }
        // And however the unit is typed (a transfer leaves the case with no officer).
        for unit in ["STN-WEST-01", "stn-west-01", "ＳＴＮ－ＷＥＳＴ－０１"] {
            #expect(fx.handler.handle([request(.listCases(.with { $0.unit = unit }))])[0].caseList.total == 1, "\(unit)")
        }
        // A state as an operator types it; a slip names the state meant.
        for state in ["transferred", "Transferred", " TRANSFERRED "] {
            #expect(fx.handler.handle([request(.listCases(.with { $0.state = state }))])[0].caseList.total == 1, "\(state)")
        }
        _ = fx.run("L1-0000001", .assign) { $0.officer = "PC-1001" }
        _ = fx.run("L1-0000001", .accept)
        #expect(fx.handler.handle([request(.listCases(.with { $0.state = "in-progress" }))])[0].caseList.total == 1)
        let slip = fx.handler.handle([request(.listCases(.with { $0.state = "triage" }))])[0]
        #expect(slip.error.field == "list_cases.state" && slip.error.message.hasPrefix("'triage' is not a state (did you mean triaged?): triaged, "), "\(slip.error)")
        // A case assigned before badges were kept in capitals is found too.
        try fx.open("L1-0000002", feedback(unit: "STN-NORTH-01"))
        _ = fx.run("L1-0000002", .assign) { $0.officer = "PC-77" }
        try fx.log.store.pool.write { try $0.execute(sql: "UPDATE cases SET officer = 'pc-77' WHERE case_number = 'L1-0000002'") }
        #expect(fx.handler.handle([request(.listCases(.with { $0.officer = "PC-77" }))])[0].caseList.total == 1)
        // The officer's own station typed in lower case is still the officer's own station.
        try fx.open("L1-0000003", feedback(unit: "STN-EAST-01", officer: "PC-9"))
        let own = fx.run("L1-0000003", .assign) { $0.unit = "stn-east-01" }
        #expect(own.error.code == .conflict && own.error.message.contains("own unit"), "\(own.error)")
    }

    @Test(arguments: [
        (Liaison_V1_CaseAction.unspecified, "case_command.action"),
        (.transfer, "case_command.unit"),
        (.merge, "case_command.merge_into"),
        (.escalate, "case_command.reason"),
        (.note, "case_command.text"),
        (.resolve, "case_command.text"),
        (.assign, "case_command.unit"),
        (.UNRECOGNIZED(99), "case_command.action"),
    ])
    func missingFieldsAreNamed(action: Liaison_V1_CaseAction, field: String) throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001")
        let r = fx.run("L1-0000001", action)
        #expect(r.error.code == .invalidArgument && r.error.field == field)
        #expect(fx.run("L1-0000001", .note, actor: "") { $0.text = "x" }.error.field == "case_command.actor")
        #expect(fx.run("L1-9999999", .note) { $0.text = "x" }.error.code == .notFound)
        #expect(fx.run("L1-0000001", .assign) { $0.unit = "NOWHERE" }.error.field == "case_command.unit")
    }

    /// Too long by characters or by bytes (one character of many combining marks): named, refused,
    /// and only its start sent back.
    @Test func overLongFieldsAreNamedAndNotStored() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001")
        let marks = "e" + String(repeating: "\u{0301}", count: 20_000)
        let cases: [(String, (inout Liaison_V1_CaseCommand) -> Void)] = [
            ("case_command.text", { $0.text = marks }),
            ("case_command.text", { $0.text = String(repeating: "警", count: 4_001) }),
            ("case_command.reason", { $0.text = "x"; $0.reason = marks }),
            ("case_command.actor", { $0.text = "x"; $0.actor = String(repeating: "a", count: 100_000) }),
        ]
        for (field, change) in cases {
            let r = fx.run("L1-0000001", .note) { $0.text = "x"; change(&$0) }
            #expect(r.error.code == .invalidArgument && r.error.field == field, "\(field)")
            #expect(r.error.message.utf8.count < 200)
        }
        // Nothing of them reached the audit trail: only the one note that fits does.
        #expect(fx.run("L1-0000001", .note) { $0.text = "fits" }.error.code == .unspecified)
        #expect(fx.show("L1-0000001").audit.filter { $0.action == "note" }.count == 1)
        // A list's state filter likewise: refused without the whole of it sent back; a real one works.
        let listed = fx.handler.handle([request(.listCases(.with { $0.state = marks }))])[0]
        #expect(listed.error.field == "list_cases.state" && listed.error.message.utf8.count < 300)
        #expect(fx.handler.handle([request(.listCases(.with { $0.state = "triaged" }))])[0].caseList.total == 1)
    }

    /// A command's words may not hold control characters (a NUL would cut the stored text short, an
    /// escape sequence would act on the terminal that shows the audit trail), and a text of
    /// invisible characters is no text.
    @Test func controlCharactersInACommandAreNamed() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001")
        let cases: [(String, (inout Liaison_V1_CaseCommand) -> Void)] = [
            ("case_command.text", { $0.text = "called\u{0} back" }),
            ("case_command.text", { $0.text = "\u{1B}]0;owned\u{7}" }),
            ("case_command.text", { $0.text = "\u{200B}\u{FEFF}" }),
            ("case_command.actor", { $0.text = "x"; $0.actor = "desk\r7" }),
        ]
        for (field, change) in cases {
            let r = fx.run("L1-0000001", .note) { change(&$0) }
            #expect(r.error.code == .invalidArgument && r.error.field == field, "\(r.error)")
            #expect(!r.error.message.unicodeScalars.contains { $0.value < 0x20 })
        }
        let escalate = fx.run("L1-0000001", .escalate) { $0.reason = "see\u{9B}2J" }
        #expect(escalate.error.field == "case_command.reason")
        // A note's lines and tabs stay.
        #expect(fx.run("L1-0000001", .note) { $0.text = "called back:\n\tno answer" }.error.code == .unspecified)
        #expect(fx.show("L1-0000001").audit.filter { $0.action == "note" }.count == 1)
    }

    @Test func notesResponsesAndConfirmation() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001")
        for (a, f) in [(Liaison_V1_CaseAction.assign, validCommand(.assign)), (.accept, validCommand(.accept))] {
            #expect(fx.run("L1-0000001", a, f).error.code == .unspecified)
        }
        #expect(fx.run("L1-0000001", .note) { $0.text = "suspect the officer's shift log" }.caseInfo.publicNote.isEmpty)
        #expect(fx.run("L1-0000001", .note) { $0.text = "We have spoken to the station"; $0.public = true }.caseInfo.publicNote == "We have spoken to the station")
        fx.clock.advance(by: 3_600)
        let responded = fx.run("L1-0000001", .respond) { $0.text = "We are on it" }.caseInfo
        #expect(responded.state == "responded" && responded.firstResponseAt.date == fx.clock.now())
        #expect(fx.run("L1-0000001", .resolve) { $0.text = "Apology given" }.caseInfo.state == "resolved")
        #expect(fx.run("L1-0000001", .confirmResolution) { $0.satisfaction = 6 }.error.field == "case_command.satisfaction")
        #expect(fx.show("L1-0000001").allowedActions.contains("confirm_resolution"))
        let confirmed = fx.run("L1-0000001", .confirmResolution) { $0.satisfaction = 5 }.caseInfo
        // Confirmed once: the next steps no longer offer a confirmation the handler would refuse.
        #expect(confirmed.resolutionConfirmed && confirmed.allowedActions == ["close", "reopen", "note"])
        let again = fx.run("L1-0000001", .confirmResolution)
        #expect(again.error.code == .conflict && again.error.message.contains("already confirmed"))
        // The stream: internal note text never; public texts yes; every change one event.
        let updates = try fx.events().filter { $0.topic.hasPrefix("case.") && $0.topic != "case.opened" }
        #expect(updates.map(\.topic) == ["case.assigned", "case.accepted", "case.noted", "case.noted", "case.responded", "case.resolved", "case.resolution_confirmed"])
        #expect(updates[2].caseUpdated.publicNote.isEmpty && updates[3].caseUpdated.publicNote == "We have spoken to the station")
        let bytes = try fx.events().map { try $0.serializedBytes() as [UInt8] }.flatMap { $0 }
        #expect(!String(decoding: bytes, as: UTF8.self).contains("suspect the officer"))
        let trail = fx.show("L1-0000001").audit
        #expect(trail.contains { $0.action == "note" && $0.detail == "internal: suspect the officer's shift log" })
    }

    /// Waiting on the citizen, the office can say what it needs in words for them: their status shows
    /// it (the reason stays the audit trail's), and what they are told on resuming replaces it.
    @Test func whatTheCitizenIsAskedForIsPublic() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001")
        for (a, f) in [(Liaison_V1_CaseAction.assign, validCommand(.assign)), (.accept, validCommand(.accept))] {
            #expect(fx.run("L1-0000001", a, f).error.code == .unspecified)
        }
        let waiting = fx.run("L1-0000001", .awaitCitizen) { $0.reason = "receipt missing from the file"; $0.text = "Please send us a photo of the receipt." }.caseInfo
        #expect(waiting.state == "awaiting_citizen" && waiting.publicNote == "Please send us a photo of the receipt.")
        let resumed = fx.run("L1-0000001", .resume) { $0.text = "Thank you, we have the receipt." }.caseInfo
        #expect(resumed.publicNote == "Thank you, we have the receipt.")
        // Without words for the citizen, nothing public changes; a blank ask is none.
        let again = fx.run("L1-0000001", .awaitCitizen) { $0.reason = "witness to call back"; $0.text = "  " }.caseInfo
        #expect(again.publicNote == "Thank you, we have the receipt.")
        #expect(fx.run("L1-0000001", .resume).caseInfo.publicNote == "Thank you, we have the receipt.")
        // Asked, then resumed without words: the question they answered gives way to thanks.
        _ = fx.run("L1-0000001", .awaitCitizen) { $0.reason = "date unclear"; $0.text = "Which day was it?" }
        #expect(fx.run("L1-0000001", .resume).caseInfo.publicNote == HandlerService.answeredNote)
        let updates = try fx.events().filter { $0.topic == Liaison_V1_CaseAction.awaitCitizen.topic || $0.topic == Liaison_V1_CaseAction.resume.topic }
        #expect(updates.map(\.caseUpdated.publicNote) == ["Please send us a photo of the receipt.", "Thank you, we have the receipt.", "", "",
                                                         "Which day was it?", HandlerService.answeredNote])
        #expect(!updates.contains { $0.caseUpdated.publicNote.contains("receipt missing") })
    }

    @Test func mergeNeedsALiveTarget() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001")
        try fx.open("L1-0000002")
        #expect(fx.run("L1-0000002", .merge) { $0.mergeInto = "L1-0000404"; $0.reason = "dup" }.error.code == .notFound)
        #expect(fx.run("L1-0000002", .merge) { $0.mergeInto = "L1-0000002"; $0.reason = "dup" }.error.field == "case_command.merge_into")
        let merged = fx.run("L1-0000002", .merge) { $0.mergeInto = "L1-0000001"; $0.reason = "same incident" }.caseInfo
        #expect(merged.state == "merged" && merged.mergedInto == "L1-0000001")
        #expect(fx.show("L1-0000001").audit.last?.action == "merged_in")
        try fx.open("L1-0000003")
        #expect(fx.run("L1-0000003", .merge) { $0.mergeInto = "L1-0000002"; $0.reason = "dup" }.error.code == .conflict)
    }

    /// A case another partition owns cannot be looked up here; a merge into it is refused unless
    /// its intake has numbered it (every handler hears every feedback.received). Before, a typo in
    /// the number merged a complaint into nothing, and a merged case takes no command again.
    @Test func aMergeIntoAnotherPartitionsCaseNeedsANumberTheIntakeGave() throws {
        let fx = try HandlerFixture(partition: .init(index: 0, count: 2))
        let numbers = (1...40).map { "L1-" + String(repeating: "0", count: 5 - String($0).count) + "00" + String($0) }
        for n in numbers.prefix(20) { try fx.open(n) }
        let ours = try #require(numbers.prefix(20).first { CasePartition.owner(of: $0, count: 2) == 0 })
        let heard = try #require(numbers.prefix(20).first { CasePartition.owner(of: $0, count: 2) == 1 })
        let unheard = try #require(numbers.dropFirst(20).first { CasePartition.owner(of: $0, count: 2) == 1 })
        for target in [unheard, "L2-0000001", "X-1"] where CasePartition.owner(of: target, count: 2) == 1 {
            let refused = fx.run(ours, .merge) { $0.mergeInto = target; $0.reason = "dup" }
            #expect(refused.error.code == .notFound && refused.error.field == "case_command.merge_into" && refused.error.message.contains("check the number"),
                    "\(target): \(refused.error)")
        }
        #expect(fx.show(ours).state == "triaged")
        let merged = fx.run(ours, .merge) { $0.mergeInto = heard; $0.reason = "same incident" }.caseInfo
        #expect(merged.state == "merged" && merged.mergedInto == heard)
        #expect(CaseOrigin.parse("L2-0000042")! == (1, 42) && CaseOrigin.parse("L2-") == nil && CaseOrigin.parse("L2-4x") == nil)
    }

    /// A database from before the intake heads gets them from its own cases: the last case number
    /// of each intake it owns a case of.
    @Test func theIntakeHeadsOfAnOlderDatabaseComeFromItsCases() throws {
        let fx = try HandlerFixture()
        for n in ["L1-0000003", "L1-0000009", "L2-0000004"] { try fx.open(n) }
        // As the database was before the migration.
        try fx.log.store.pool.write { db in
            try db.execute(sql: "DROP TABLE intake_heads")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'handler-v4-intake-heads'")
        }
        try fx.restart()
        let heads = try fx.log.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT instance, last_case_seq FROM intake_heads ORDER BY instance").map { [$0["instance"] as Int64, $0["last_case_seq"] as Int64] }
        }
        #expect(heads == [[0, 9], [1, 4]])
    }

    @Test func deadlinesWarnAtEightyPercentBreachAndPause() throws {
        // Tue 1 Dec 2026 09:00: a help request (2 plain hours to respond, 24 to resolve).
        let fx = try HandlerFixture(at: shanghai(2026, 12, 1, 9))
        try fx.open("L1-0000001", feedback(kind: .helpRequest))
        #expect(try fx.handler.fireDeadlines() == 0)
        fx.clock.advance(by: 96 * 60)   // 80 % of 2 h
        #expect(try fx.handler.fireDeadlines() == 1)
        fx.clock.advance(by: 24 * 60 + 1)
        #expect(try fx.handler.fireDeadlines() == 1)
        #expect(try fx.handler.fireDeadlines() == 0)   // each fires once
        let alerts = try fx.events().filter { $0.topic.hasPrefix("case.deadline") }
        #expect(alerts.map(\.topic) == ["case.deadline_warning", "case.deadline_breached"])
        #expect(alerts.allSatisfy { $0.deadlineAlert.deadline == "respond" && !$0.deadlineAlert.late })
        #expect(alerts[1].deadlineAlert.due.date == shanghai(2026, 12, 1, 11))
        #expect(fx.handler.handle([request(.listCases(.with { $0.overdueOnly = true }))])[0].caseList.total == 1)

        // Waiting on the citizen stops the resolution clock; resuming gives back what was left.
        _ = fx.run("L1-0000001", .assign, validCommand(.assign))
        let paused = fx.run("L1-0000001", .awaitCitizen) { $0.reason = "need the licence plate" }.caseInfo
        #expect(paused.paused && paused.state == "awaiting_citizen")
        #expect(fx.handler.handle([request(.listCases(.with { $0.overdueOnly = true }))])[0].caseList.total == 0)
        let resolveBy = paused.resolveBy.date
        let left = resolveBy.timeIntervalSince(fx.clock.now())
        fx.clock.advance(by: 48 * 3_600)   // two days pass: nothing fires while paused
        #expect(try fx.handler.fireDeadlines() == 0)
        let resumed = fx.run("L1-0000001", .resume).caseInfo
        #expect(resumed.state == "assigned" && !resumed.paused)
        #expect(abs(resumed.resolveBy.date.timeIntervalSince(fx.clock.now()) - left) < 1)
    }

    @Test func aBreachWhileDownIsRaisedLateAfterRestart() throws {
        let fx = try HandlerFixture(at: shanghai(2026, 12, 1, 9))
        try fx.open("L1-0000001", feedback(kind: .helpRequest))
        // The handler goes down; 3 hours later it comes back.
        fx.clock.advance(by: 3 * 3_600)
        try fx.restart()
        #expect(try fx.handler.fireDeadlines() == 2)
        let alerts = try fx.events().filter { $0.topic.hasPrefix("case.deadline") }
        #expect(alerts.count == 2 && alerts.allSatisfy(\.deadlineAlert.late))
        #expect(fx.show("L1-0000001").audit.contains { $0.action == "deadline_breached" && $0.detail.contains("raised late") })
        try fx.restart()
        #expect(try fx.handler.fireDeadlines() == 0)   // raised once, across restarts
    }

    /// Intake's `contact.disclosed` becomes a line of the case's audit trail in the partition that
    /// owns it, and nowhere else; a case this handler does not have gets nothing, and nothing fails.
    @Test func contactDisclosuresJoinTheOwnersAuditTrailOnly() throws {
        let numbers = (1...12).map { "L1-\(String(format: "%07d", $0))" }
        for k in 0..<2 {
            let fx = try HandlerFixture(partition: .init(index: k, count: 2))
            for n in numbers { try fx.open(n) }
            _ = fx.run(numbers[0], .assign) { $0.officer = "PC-1001" }
            for n in numbers + ["L1-0009999"] {
                var e = Liaison_V1_Event()
                e.stream = "intake-1"; e.seq = 100; e.topic = Topic.contactDisclosed; e.occurredAt = .init(date: fx.clock.now())
                e.contactDisclosed = .with { $0.caseNumber = n; $0.actor = "desk-li"; $0.reason = "follow-up call" }
                try fx.log.write { db, out in try fx.handler.apply(db, out, e) }
            }
            for n in numbers {
                let info = fx.show(n)
                let owns = CasePartition(index: k, count: 2).owns(n)
                let line = info.audit.last
                #expect(owns == (line?.action == "contact_disclosed"), "\(n) in partition \(k): \(info.audit.map(\.action))")
                if owns {
                    #expect(line?.actor == "desk-li" && line?.reason == "follow-up call" && line?.fromState == info.state && line?.toState == info.state)
                }
            }
            // A look is not a step: no event on the handler's stream beyond the opening and the assignment.
            #expect(try fx.events().filter { $0.topic != Topic.caseOpened }.map(\.topic) == (CasePartition(index: k, count: 2).owns(numbers[0]) ? ["case.assigned"] : []))
        }
    }

    @Test func aPartitionOpensOnlyItsCasesAndPointsAtTheOwner() throws {
        let numbers = (1...60).map { "L1-\(String(format: "%07d", $0))" }
        var owned: [Int: Int] = [:]
        for k in 0..<3 {
            let fx = try HandlerFixture(partition: .init(index: k, count: 3))
            for n in numbers { try fx.open(n) }
            let total = Int(fx.handler.handle([request(.listCases(.with { $0.limit = 1_000 }))])[0].caseList.total)
            owned[k] = total
            for n in numbers where !CasePartition(index: k, count: 3).owns(n) {
                let r = fx.run(n, .note) { $0.text = "x" }
                let owner = CasePartition.owner(of: n, count: 3)
                #expect(r.error.code == .notFound && r.error.message.contains("partition \(owner + 1)/3"))
            }
        }
        #expect(owned.values.reduce(0, +) == 60 && owned.values.allSatisfy { $0 > 5 })
        #expect(throws: PartitionError.self) { try CasePartition(parsing: "4/3") }
        #expect(try CasePartition(parsing: "2/3") == CasePartition(index: 1, count: 3))
    }

    @Test func reloadChangesRoutingForNewCasesAndRefusesABadFile() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001", feedback(kind: .suggestion))
        #expect(fx.show("L1-0000001").unit == "STN-EAST-01")
        let path = fx.dir.file("policy.conf")
        try ("rule suggestions\n  when kind=suggestion\n  route PR-OFFICE\n  priority P3\n  respond 1 working day\n  resolve 5 working days\n" + PolicyTests.base)
            .write(toFile: path, atomically: true, encoding: .utf8)
        try fx.handler.reload(policyPath: path, calendarDir: nil)
        try fx.open("L1-0000002", feedback(kind: .suggestion))
        #expect(fx.show("L1-0000002").unit == "PR-OFFICE" && fx.show("L1-0000001").unit == "STN-EAST-01")
        try "rule broken\n  route $unit\n  priority P7\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try fx.handler.reload(policyPath: path, calendarDir: nil) } throws: { ($0 as? ConfigError)?.key == "\(path):3 priority" }
        try fx.open("L1-0000003", feedback(kind: .suggestion))
        #expect(fx.show("L1-0000003").unit == "PR-OFFICE")   // the last good policy stays
    }

    /// A station that opens: the policy may route to it once the handler has reloaded the unit
    /// directory with it (SIGHUP reads the three files again); without it the policy is refused.
    @Test func reloadReadsTheUnitDirectoryAgain() throws {
        let fx = try HandlerFixture()
        let policyPath = fx.dir.file("policy.conf"), unitsPath = fx.dir.file("units.json")
        try ("rule suggestions\n  when kind=suggestion\n  route STN-EAST-09\n  priority P3\n  respond 1 working day\n  resolve 5 working days\n" + PolicyTests.base)
            .write(toFile: policyPath, atomically: true, encoding: .utf8)
        #expect { try fx.handler.reload(policyPath: policyPath, calendarDir: nil, environment: [:]) } throws: { ($0 as? ConfigError)?.key == "\(policyPath):3 route" }
        try writeUnits(unitsPath, adding: [("STN-EAST-09", "station", "DIST-EAST")])
        try fx.handler.reload(policyPath: policyPath, calendarDir: nil, unitsPath: unitsPath, environment: [:])
        try fx.open("L1-0000001", feedback(kind: .suggestion))
        #expect(fx.show("L1-0000001").unit == "STN-EAST-09")
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: unitsPath))
        #expect(throws: ConfigError.self) { try fx.handler.reload(policyPath: policyPath, calendarDir: nil, unitsPath: unitsPath, environment: [:]) }
        try fx.open("L1-0000002", feedback(kind: .suggestion))
        #expect(fx.show("L1-0000002").unit == "STN-EAST-09")   // the last good directory and policy stay
    }

    @Test func operatorCredentialIsRequiredWhenConfigured() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001")
        let captured = CapturedLog()
        let guarded = HandlerService(log: fx.log, settings: fx.handler.settings.withLock { $0 }, operators: .init(secrets: ["s3cret"]),
                                     clock: fx.clock, logger: captured.logger)
        var c = Liaison_V1_CaseCommand()
        c.caseNumber = "L1-0000001"; c.action = .note; c.actor = "op"; c.text = "x"
        var req = request(.caseCommand(c))
        #expect(guarded.handle([req])[0].error.code == .unauthorized)
        req.credential = "guess"
        #expect(guarded.handle([req])[0].error.code == .unauthorized)
        // Each refusal is a warning naming the case, never the credential tried.
        let refusals = captured.lines.filter { $0.contains("case command refused") && $0.contains("L1-0000001") }
        #expect(refusals.count == 2 && refusals.allSatisfy { $0.hasPrefix("warning") }, "\(captured.lines)")
        #expect(!captured.lines.joined().contains("guess"))
        // Someone trying secrets by the hundred does not fill the log: a line a second at most.
        for k in 0..<200 {
            req.credential = "guess-\(k)"
            #expect(guarded.handle([req])[0].error.code == .unauthorized)
        }
        #expect(captured.lines.filter { $0.contains("case command refused") }.count < 10, "\(captured.lines.count) lines")
        req.credential = "s3cret"
        let accepted = guarded.handle([req])[0].caseInfo
        #expect(accepted.state == "triaged" && accepted.audit.last?.credentialName == "")
        // A named secret: the audit line says whose secret gave the command, beside the actor.
        let named = HandlerService(log: fx.log, settings: fx.handler.settings.withLock { $0 },
                                   operators: .init(operators: [.init(name: "wang.li", secret: "wang-li-secret-2026")]), clock: fx.clock, logger: captured.logger)
        req.credential = "wang-li-secret-2026"
        let line = named.handle([req])[0].caseInfo.audit.last
        #expect(line?.actor == "op" && line?.credentialName == "wang.li", "\(String(describing: line))")
    }

    /// The operators' file read again (SIGHUP): a secret taken out stops giving commands at once,
    /// a new one gives them; a file emptied is refused, since with no secret at all the handler
    /// takes commands from anyone.
    @Test func reloadedOperatorSecretsTakeEffectAndAnEmptiedFileIsRefused() throws {
        let fx = try HandlerFixture()
        try fx.open("L1-0000001")
        let captured = CapturedLog()
        let guarded = HandlerService(log: fx.log, settings: fx.handler.settings.withLock { $0 },
                                     operators: .init(operators: [.init(name: "wang.li", secret: "wang-li-secret-2026")]), clock: fx.clock, logger: captured.logger)
        var c = Liaison_V1_CaseCommand()
        c.caseNumber = "L1-0000001"; c.action = .note; c.actor = "op"; c.text = "x"
        var req = request(.caseCommand(c))
        req.credential = "wang-li-secret-2026"
        #expect(guarded.handle([req])[0].caseInfo.audit.last?.credentialName == "wang.li")
        try guarded.operators.reload(.init(operators: [.init(name: "zhao.min", secret: "zhao-min-secret-2026")]), keepSomeone: true, logger: captured.logger)
        #expect(guarded.handle([req])[0].error.code == .unauthorized, "the secret taken out still works")
        req.credential = "zhao-min-secret-2026"
        #expect(guarded.handle([req])[0].caseInfo.audit.last?.credentialName == "zhao.min")
        #expect(captured.lines.contains { $0.contains("operator secrets reloaded: 1 in force") } && captured.lines.contains { $0.contains("issued to: zhao.min") },
                "\(captured.lines)")
        #expect { try guarded.operators.reload(.init(secrets: []), keepSomeone: true, logger: captured.logger) } throws: {
            ($0 as? ConfigError)?.key == "operator-secrets" && "\($0)".contains("anyone")
        }
        req.credential = ""
        #expect(guarded.handle([req])[0].error.code == .unauthorized, "an emptied file opened the case commands")
    }
}
