import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Testing
@testable import Intake

/// What a citizen sees by case number and token.
extension IntakeLogicTests {
    @Test func statusNeedsTheRightToken() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let a = intake.handle([request(.submitFeedback(feedback("x")))])[0].feedbackAccepted
        var q = Liaison_V1_GetFeedbackStatus()
        q.caseNumber = a.caseNumber
        q.trackingToken = a.trackingToken
        let ok = intake.handle([request(.getFeedbackStatus(q))])[0]
        #expect(ok.feedbackStatus.state == "received" && ok.feedbackStatus.caseNumber == a.caseNumber)
        // As read out over the phone: lower case, stray spaces.
        q.caseNumber = " " + a.caseNumber.lowercased() + " "
        q.trackingToken = a.trackingToken.lowercased() + " "
        let typed = intake.handle([request(.getFeedbackStatus(q))])[0]
        #expect(typed.feedbackStatus.state == "received" && typed.feedbackStatus.caseNumber == a.caseNumber, "\(typed)")
        // The token in groups of four, as it is read out or written down.
        let t = Array(a.trackingToken)
        let groups: [String] = stride(from: 0, to: 16, by: 4).map { String(t[$0..<($0 + 4)]) }
        for grouped in [groups.joined(separator: " "), groups.joined(separator: "-").lowercased()] {
            q.trackingToken = grouped
            #expect(intake.handle([request(.getFeedbackStatus(q))])[0].feedbackStatus.caseNumber == a.caseNumber, "\(grouped)")
        }
        // Typed with a full-width input method (a web form in Chinese): number and token both.
        func fullWidth(_ s: String) -> String {
            String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value > 0x20 && $0.value < 0x7F ? Unicode.Scalar($0.value + 0xFEE0)! : $0 }))
        }
        q.caseNumber = fullWidth(a.caseNumber.replacingOccurrences(of: "-000000", with: "-"))
        q.trackingToken = fullWidth(groups.joined(separator: "-")).replacingOccurrences(of: "－", with: "\u{3000}")
        #expect(q.caseNumber.unicodeScalars.allSatisfy { $0.value > 0xFF00 } && q.trackingToken.utf8.count > 40)
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].feedbackStatus.caseNumber == a.caseNumber, "\(q)")
        q.caseNumber = a.caseNumber
        q.trackingToken = "WRZNGWRZNGWRZNG2"
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].error.code == .notFound)
        // Read out without its zeros, it is the same case.
        q.trackingToken = a.trackingToken
        q.caseNumber = "l1-1"
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].feedbackStatus.caseNumber == a.caseNumber)
        // Found by its sequence, but only under its whole number: not another instance's prefix,
        // not with more zeros, not garbage.
        for other in ["L2-0000001", "L2-1", "L1-00000001"] {
            q.caseNumber = other
            #expect(intake.handle([request(.getFeedbackStatus(q))])[0].error.code == .notFound, "\(other)")
        }
        // Not the form of a case number: the citizen is told to read it again, and what it looks like.
        for other in ["L1-0000001x", "L1-", "0000001", "my complaint", "L1-00000000000000000000001"] {
            q.caseNumber = other
            let e = intake.handle([request(.getFeedbackStatus(q))])[0].error
            #expect(e.code == .invalidArgument && e.field == "get_feedback_status.case_number" && e.message.contains("as L1-0000042"), "\(other): \(e)")
        }
        // A token of the wrong form: what is wrong with it, not "no case". A token of the right
        // form that is not the case's: not found, as an unknown case (the token is the key).
        q.caseNumber = a.caseNumber
        for (typed, says) in [(String(a.trackingToken.dropLast()), "this one has 15"), (a.trackingToken + "A", "this one has 17"),
                              (String(a.trackingToken.dropLast()) + "0", "no '0' (character 16)"),
                              ("O" + String(a.trackingToken.dropFirst()).lowercased(), "no 'O' (character 1)")] {
            q.trackingToken = typed
            let e = intake.handle([request(.getFeedbackStatus(q))])[0].error
            #expect(e.code == .invalidArgument && e.field == "get_feedback_status.tracking_token" && e.message.contains(says), "\(typed): \(e)")
        }
        q.trackingToken = a.trackingToken.first == "2" ? "3" + a.trackingToken.dropFirst() : "2" + a.trackingToken.dropFirst()
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].error.code == .notFound)
        #expect(CaseNumber.sequence(of: "L1-0000042") == 42 && CaseNumber.sequence(of: "L12-12345678") == 12_345_678)
        #expect(CaseNumber.sequence(of: "L1-12a") == nil && CaseNumber.sequence(of: "L1-") == nil && CaseNumber.sequence(of: "42") == nil)
        q.caseNumber = a.caseNumber
        q.trackingToken = ""
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].error.field == "get_feedback_status.tracking_token")
        #expect(TrackingToken.make().count == 16)
        // Far longer than any case number or token (one of them 100,000 combining marks): not
        // found, and only the start of it sent back. The token read out with its spaces still fits.
        for (caseNumber, token) in [(String(repeating: "L1-", count: 30_000), a.trackingToken),
                                    (a.caseNumber, "A" + String(repeating: "\u{0301}", count: 100_000)),
                                    ("L" + String(repeating: "\u{0301}", count: 100_000), a.trackingToken)] {
            q.caseNumber = caseNumber
            q.trackingToken = token
            let refused = intake.handle([request(.getFeedbackStatus(q))])[0]
            #expect(refused.error.code == .notFound && refused.error.field == "get_feedback_status.case_number")
            #expect(refused.error.message.utf8.count < 300)
        }
        q.caseNumber = "  " + a.caseNumber.lowercased() + "  "
        q.trackingToken = "  " + groups.joined(separator: " - ") + "  "
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].feedbackStatus.caseNumber == a.caseNumber)
    }

    @Test func statusFollowsTheCaseWithPublicStateAndPublicNotesOnly() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let a = intake.handle([request(.submitFeedback(feedback("follow")))])[0].feedbackAccepted
        func status() -> Liaison_V1_FeedbackStatus {
            intake.handle([request(.getFeedbackStatus(.with { $0.caseNumber = a.caseNumber; $0.trackingToken = a.trackingToken }))])[0].feedbackStatus
        }
        func apply(_ action: Liaison_V1_CaseAction, to state: String, note: String = "", into: String = "") throws {
            var e = Liaison_V1_Event()
            e.topic = action.topic
            e.occurredAt = .init(date: Date())
            e.caseUpdated.caseNumber = a.caseNumber
            e.caseUpdated.action = action
            e.caseUpdated.toState = state
            e.caseUpdated.publicNote = note
            e.caseUpdated.mergedInto = into
            try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, e, ownPrefix: "L1") }
        }
        var opened = Liaison_V1_Event()
        opened.caseOpened.caseNumber = a.caseNumber
        try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, opened, ownPrefix: "L1") }
        #expect(status().state == "being_handled")
        try apply(.transfer, to: "transferred")          // internal movement: still just "being handled"
        #expect(status().state == "being_handled" && status().publicNote.isEmpty)
        try apply(.respond, to: "responded", note: "We are on it")
        try apply(.note, to: "responded")                // an internal note carries no text
        #expect(status().state == "responded" && status().publicNote == "We are on it")
        try apply(.awaitCitizen, to: "awaiting_citizen")
        #expect(status().state == "waiting_for_you")
        try apply(.merge, to: "merged", into: "L1-0000001")
        #expect(status().state == "merged" && status().publicNote.contains("L1-0000001"))
        #expect(IntakeService.publicState("not_police_responsibility") == "referred_elsewhere")
    }

    /// The citizen of a duplicate holds no token for the case it was merged into: their status
    /// follows that case's state (through a chain of merges, and for a case of another intake),
    /// with their own case's note, never the other citizen's.
    @Test func aMergedCaseShowsItsCitizenHowTheCaseItJoinedGoes() throws {
        let dir = try TempDir()
        var intake = try makeIntake(dir)
        let acks = intake.handle((1...4).map { request(.submitFeedback(feedback("dup-\($0)"))) }).map(\.feedbackAccepted)
        let (a, b, c, d) = (acks[0], acks[1], acks[2], acks[3])
        func status(_ x: Liaison_V1_FeedbackAccepted) -> Liaison_V1_FeedbackStatus {
            intake.handle([request(.getFeedbackStatus(.with { $0.caseNumber = x.caseNumber; $0.trackingToken = x.trackingToken }))])[0].feedbackStatus
        }
        func apply(_ number: String, _ action: Liaison_V1_CaseAction, to state: String, note: String = "", into: String = "") throws {
            var e = Liaison_V1_Event()
            e.topic = action.topic
            e.occurredAt = .init(date: Date())
            e.caseUpdated.caseNumber = number
            e.caseUpdated.action = action
            e.caseUpdated.toState = state
            e.caseUpdated.publicNote = note
            e.caseUpdated.mergedInto = into
            try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, e, ownPrefix: "L1") }
        }
        for x in acks {
            var opened = Liaison_V1_Event()
            opened.caseOpened.caseNumber = x.caseNumber
            try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, opened, ownPrefix: "L1") }
        }
        try apply(a.caseNumber, .respond, to: "responded", note: "Mr Wang, we spoke to the bar owner")
        // c joins b while b is being handled; then b joins a, which has been answered.
        try apply(c.caseNumber, .merge, to: "merged", into: b.caseNumber)
        #expect(status(c).state == "being_handled" && status(c).publicNote.contains("joined with case \(b.caseNumber)"), "\(status(c))")
        try apply(b.caseNumber, .merge, to: "merged", into: a.caseNumber)
        #expect(status(b).state == "responded", "\(status(b))")
        #expect(status(b).publicNote == IntakeService.mergedNote(a.caseNumber))
        // a goes on: b and c (now following a) see its state, never a's notes to its own citizen.
        try apply(a.caseNumber, .resolve, to: "resolved", note: "Mr Wang, the bar now closes at 22:00")
        for x in [b, c] {
            #expect(status(x).state == "resolved" && !status(x).publicNote.contains("Wang"), "\(status(x))")
        }
        #expect(status(a).publicNote == "Mr Wang, the bar now closes at 22:00")
        // The office may write to a merged case's citizen: a public note on it.
        try apply(b.caseNumber, .note, to: "merged", note: "Thank you: the bar's hours have changed.")
        #expect(status(b).state == "resolved" && status(b).publicNote == "Thank you: the bar's hours have changed.")
        // A case that came in through another intake: its events reach every intake. It was answered
        // before d joined it (its events heard first, on its own partition's stream): d shows that
        // at once, then each of its moves.
        var other = Liaison_V1_Event()
        other.caseOpened.caseNumber = "L2-0000009"
        try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, other, ownPrefix: "L1") }
        try apply("L2-0000009", .respond, to: "responded", note: "Ms Zhao, we are looking into it")
        try apply(d.caseNumber, .merge, to: "merged", into: "L2-0000009")
        #expect(status(d).state == "responded" && status(d).publicNote == IntakeService.mergedNote("L2-0000009"), "\(status(d))")
        try apply("L2-0000009", .close, to: "closed")
        #expect(status(d).state == "closed")
        // A case of this intake joining a case of another, which then joins a third: its followers
        // take the third's state as heard, not wait for its next move.
        let e = intake.handle([request(.submitFeedback(feedback("dup-5")))])[0].feedbackAccepted
        for (number, state) in [("L2-0000010", "assigned"), ("L3-0000004", "resolved")] {
            other.caseOpened.caseNumber = number
            try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, other, ownPrefix: "L1") }
            try apply(number, .assign, to: state)
        }
        try apply(e.caseNumber, .merge, to: "merged", into: "L2-0000010")
        #expect(status(e).state == "being_handled")
        try apply("L2-0000010", .merge, to: "merged", into: "L3-0000004")
        #expect(status(e).state == "resolved", "\(status(e))")
        // A case number of another instance whose prefix starts like this one's is not this one's.
        #expect(!IntakeService.isOwn("L10-0000001", prefix: "L1") && IntakeService.isOwn("L1-0000001", prefix: "L1") && !IntakeService.isOwn("L1-", prefix: "L1"))
        // Kept across a restart.
        intake = try makeIntake(dir)
        #expect(status(c).state == "resolved" && status(d).state == "closed" && status(e).state == "resolved")
        try apply(a.caseNumber, .close, to: "closed")
        #expect(status(b).state == "closed" && status(c).state == "closed")
        // The merged case's own row still says merged: its contact's retention counts from the merge.
        let own = try intake.log.store.pool.read { db in try String.fetchOne(db, sql: "SELECT state FROM submissions WHERE case_number = ?", arguments: [b.caseNumber]) }
        #expect(own == "merged")
        // A restore that set one handler partition's stream back forgets what that stream told of the
        // other intakes' cases; it is heard again as the stream is applied again.
        let others = ["L2-0000009", "L2-0000010", "L3-0000004"]
        let handlers = ["handler-1", "handler-2"]
        let setBack = CasePartition.owner(of: "L2-0000009", count: 2)
        try intake.log.store.pool.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS cursor_setbacks (stream TEXT PRIMARY KEY, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, at REAL NOT NULL)")
            try db.execute(sql: "INSERT INTO cursor_setbacks VALUES (?, 9, 5, 0)", arguments: [handlers[setBack]])
        }
        try intake.rebuildStatusesAfterRestore(handlers: handlers)
        let kept = try intake.log.store.pool.read { db in try String.fetchAll(db, sql: "SELECT case_number FROM other_case_states ORDER BY case_number") }
        #expect(kept == others.filter { CasePartition.owner(of: $0, count: 2) != setBack })
    }
}
