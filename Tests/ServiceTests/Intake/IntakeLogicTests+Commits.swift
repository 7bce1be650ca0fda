import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Testing
@testable import Intake

/// Idempotency and group commit: retries, conflicts, batches and transactions.
extension IntakeLogicTests {
    /// A full disk fails every commit: each submission is answered `unavailable` with a retry hint
    /// (nothing acknowledged), the log gets the first failure, then a line every ten seconds, and
    /// one line when commits work again; the same submissions then go in.
    @Test func aFullDiskIsAnsweredUnavailableAndLoggedWithoutFlooding() throws {
        let dir = try TempDir()
        let clock = ManualClock(Date(timeIntervalSince1970: 1_790_000_000))
        let captured = CapturedLog()
        let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
        let intake = try IntakeService(log: try EventLog(store: store, stream: "intake-1"), casePrefix: "L1",
                                       vault: try ContactVault(keys: [("k1", IntakeLogicTests.key)]), clock: clock, logger: captured.logger)
        #expect(intake.handle([request(.submitFeedback(feedback("before")))])[0].feedbackAccepted.caseNumber == "L1-0000001")
        // The database may not grow any more: what a full disk does to a commit.
        try store.pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count")!
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        let long = String(repeating: "The lights at the crossing are out again. ", count: 90)
        func batch(_ n: Int) -> [Liaison_V1_Request] { (0..<20).map { request(.submitFeedback(feedback("full-\(n)-\($0)", text: long))) } }
        for n in 0..<50 {
            for reply in intake.handle(batch(n)) {
                #expect(reply.error.code == .unavailable && reply.error.retryAfterMs > 0, "\(reply)")
            }
        }
        func errors() -> [String] { captured.lines.filter { $0.hasPrefix("error commit failed") } }
        #expect(errors().count == 1 && errors()[0].contains("1 in a row") && errors()[0].contains("full"), "\(captured.lines)")
        clock.advance(by: 11)
        _ = intake.handle(batch(50))
        #expect(errors().count == 2 && errors()[1].contains("failed; 51 in a row") && errors()[1].contains("similar_lines_left_out=49"), "\(errors())")
        try store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        let retried = intake.handle(batch(0)).map(\.feedbackAccepted)
        #expect(retried.allSatisfy { !$0.caseNumber.isEmpty && !$0.duplicate }, "nothing of the failed batches was stored")
        #expect(captured.lines.contains { $0.hasPrefix("notice commit works again after 51 failure(s)") }, "\(captured.lines)")
        #expect(intake.log.head == 21)
    }

    @Test func acceptsRetriesAndConflictsInOneBatch() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var withContact = feedback("a")
        withContact.contact.name = "Li Wei"
        withContact.contact.phone = "13800000000"
        let replies = intake.handle([
            request(.submitFeedback(withContact)),
            request(.submitFeedback(feedback("b", kind: .praise))),
            request(.submitFeedback(withContact)),                         // retry in the same batch
            request(.submitFeedback(feedback("a", text: "something else"))), // same id, other body
            request(.submitFeedback(feedback("c", text: ""))),              // invalid
        ])
        #expect(replies[0].feedbackAccepted.caseNumber == "L1-0000001" && !replies[0].feedbackAccepted.duplicate)
        #expect(replies[1].feedbackAccepted.caseNumber == "L1-0000002")
        #expect(replies[2].feedbackAccepted.caseNumber == "L1-0000001" && replies[2].feedbackAccepted.duplicate)
        #expect(replies[2].feedbackAccepted.trackingToken == replies[0].feedbackAccepted.trackingToken)
        #expect(replies[3].error.code == .conflict && replies[3].error.field == "submit_feedback.submission_id")
        #expect(replies[4].error.field == "submit_feedback.text")
        // Two events, in order, without contact data.
        let events = try intake.log.replay(after: 0, limit: 10, prefixes: []).events
        #expect(events.map(\.feedbackReceived.caseNumber) == ["L1-0000001", "L1-0000002"])
        #expect(events.allSatisfy { !$0.feedbackReceived.feedback.hasContact && $0.topic == Topic.feedbackReceived })
        // Written by hand around the stored body (WireWriter): the stored bytes are swift-protobuf's
        // own encoding of the event they decode to. The body is stored once, in the event: the
        // submission's row names the event and keeps no copy.
        let stored = try intake.log.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT e.data, s.body, s.event_seq, s.case_number FROM events e JOIN submissions s ON s.event_seq = e.seq ORDER BY e.seq")
        }
        #expect(stored.count == 2)
        for (row, event) in zip(stored, events) {
            #expect([UInt8](row["data"] as Data) == (try event.serializedBytes() as [UInt8]))
            #expect((row["body"] as Data).isEmpty && row["event_seq"] as UInt64 == event.seq)
            #expect(row["case_number"] as String == event.feedbackReceived.caseNumber)
            #expect(event.stream == "intake-1" && event.eventID.count == 36)
        }
        #expect(events[0].feedbackReceived.feedback.text == withContact.text && events[1].feedbackReceived.feedback.kind == .praise)
        // A retry after a restart gets the stored acknowledgement.
        let again = try makeIntake(dir).handle([request(.submitFeedback(withContact))])
        #expect(again[0].feedbackAccepted.caseNumber == "L1-0000001" && again[0].feedbackAccepted.duplicate)
    }

    @Test func submissionIdsThatShareAHashAreStillToldApart() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        // Every id hashes alike: each lookup finds another id's case first and must scan.
        intake.submissionKeys.withLock { $0.hash = { _ in 42 } }
        let a = feedback("a"), b = feedback("b", kind: .praise), c = feedback("c", kind: .inquiry)
        let first = intake.handle([request(.submitFeedback(a)), request(.submitFeedback(b))])
        #expect(first.map(\.feedbackAccepted.caseNumber) == ["L1-0000001", "L1-0000002"])
        #expect(first.allSatisfy { !$0.feedbackAccepted.duplicate })
        let second = intake.handle([request(.submitFeedback(b)), request(.submitFeedback(c)), request(.submitFeedback(a)),
                                    request(.submitFeedback(feedback("c", text: "another text")))])
        #expect(second[0].feedbackAccepted.caseNumber == "L1-0000002" && second[0].feedbackAccepted.duplicate)
        #expect(second[1].feedbackAccepted.caseNumber == "L1-0000003" && !second[1].feedbackAccepted.duplicate)
        #expect(second[2].feedbackAccepted.caseNumber == "L1-0000001" && second[2].feedbackAccepted.duplicate)
        #expect(second[3].error.code == .conflict)
        #expect(intake.log.head == 3)
    }

    @Test func submissionIdsAreReadBackAtStartAndForgottenWhenACommitRollsBack() throws {
        let dir = try TempDir()
        do {
            let intake = try makeIntake(dir)
            _ = intake.handle((0..<50).map { request(.submitFeedback(feedback("id-\($0)"))) })
        }
        let intake = try makeIntake(dir)
        #expect(intake.submissionKeys.withLock { $0.count } == 50)
        // A transaction that fails after its inserts leaves no id behind in memory.
        try intake.log.store.pool.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE TRIGGER fail_51 BEFORE INSERT ON events WHEN NEW.seq = 52 BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
        }
        let failed = intake.handle([request(.submitFeedback(feedback("id-50"))), request(.submitFeedback(feedback("id-51")))])
        #expect(failed.allSatisfy { $0.error.code == .unavailable })
        #expect(intake.submissionKeys.withLock { $0.count } == 50)
        try intake.log.store.pool.writeWithoutTransaction { db in try db.execute(sql: "DROP TRIGGER fail_51") }
        let retried = intake.handle([request(.submitFeedback(feedback("id-50"))), request(.submitFeedback(feedback("id-51")))])
        #expect(retried.map(\.feedbackAccepted.caseNumber) == ["L1-0000051", "L1-0000052"])
        #expect(retried.allSatisfy { !$0.feedbackAccepted.duplicate })
    }

    @Test func aLargeBatchWithRetriesInsideKeepsEveryContactWithItsOwnCase() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        func withContact(_ id: String, _ n: Int) -> Liaison_V1_SubmitFeedback {
            var f = feedback(id, text: "Case \(n): the street light on road \(n) has been out for weeks")
            f.contact.name = "Caller \(n)"
            f.contact.phone = "1380000\(String(format: "%04d", n))"
            return f
        }
        _ = intake.handle([request(.submitFeedback(withContact("early", 0)))])
        // A retry and a reused id early in the batch take no case number; every contact is sealed
        // for the case its submission does get.
        var batch = (1...20).map { request(.submitFeedback(withContact("b\($0)", $0))) }
        batch.insert(request(.submitFeedback(withContact("early", 0))), at: 2)
        batch.insert(request(.submitFeedback(withContact("b1", 99))), at: 5)
        let replies = intake.handle(batch)
        #expect(replies[2].feedbackAccepted.caseNumber == "L1-0000001" && replies[2].feedbackAccepted.duplicate)
        #expect(replies[5].error.code == .conflict)
        let fresh = replies.enumerated().filter { ![2, 5].contains($0.offset) }.map(\.element.feedbackAccepted)
        #expect(fresh.map(\.caseNumber) == (2...21).map { CaseNumber.format(prefix: "L1", sequence: Int64($0)) })
        for (n, accepted) in fresh.enumerated() {
            let q = contactQuery(accepted.caseNumber)
            var r = request(.getContact(q))
            r.credential = "op-secret"
            #expect(intake.handle([r])[0].contactInfo.contact.name == "Caller \(n + 1)")
        }
        // Retried as a whole, the batch gets its stored acknowledgements back.
        let again = intake.handle(batch)
        #expect(zip(again, replies).allSatisfy { $0.feedbackAccepted.caseNumber == $1.feedbackAccepted.caseNumber && $0.error.code == $1.error.code })
        #expect(again.filter { $0.feedbackAccepted.duplicate }.count == 21)
    }

    /// A batch as big as a busy minute's group commit: every event and every sealed contact stays
    /// with its own submission, and an id new in the batch that comes again later in it is that
    /// submission's retry (or a conflict), not a second case.
    @Test func aFullBatchKeepsEachSubmissionWithItsOwnCaseAndTakesRetriesInsideIt() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        func numbered(_ n: Int) -> Liaison_V1_SubmitFeedback {
            var f = feedback("p\(n)", text: "Report \(n): the bus shelter on stop \(n) is broken")
            f.contact.name = "Caller \(n)"
            f.contact.phone = "1390000\(String(format: "%04d", n))"
            return f
        }
        var batch = (0..<64).map { request(.submitFeedback(numbered($0))) }
        batch.append(request(.submitFeedback(numbered(3))))       // the same submission again: a retry
        var reused = numbered(7)
        reused.contact.name = "Someone else"                          // the same id, another contact
        batch.append(request(.submitFeedback(reused)))
        let replies = intake.handle(batch)
        #expect(intake.log.transactions == 1)
        #expect((0..<64).allSatisfy { replies[$0].feedbackAccepted.caseNumber == CaseNumber.format(prefix: "L1", sequence: Int64($0 + 1)) })
        #expect(replies[64].feedbackAccepted.caseNumber == "L1-0000004" && replies[64].feedbackAccepted.duplicate)
        #expect(replies[64].feedbackAccepted.trackingToken == replies[3].feedbackAccepted.trackingToken)
        #expect(replies[65].error.code == .conflict && replies[65].error.field == "submit_feedback.submission_id")
        let rows = try intake.log.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submissions") }
        #expect(rows == 64)
        let events = try intake.log.replay(after: 0, limit: 100, prefixes: []).events
        #expect(events.map(\.seq) == (1...64).map { UInt64($0) })
        #expect(events.enumerated().allSatisfy { n, e in
            e.feedbackReceived.caseNumber == CaseNumber.format(prefix: "L1", sequence: Int64(n + 1))
                && e.feedbackReceived.feedback.text.hasPrefix("Report \(n):") && !e.feedbackReceived.feedback.hasContact
        })
        for n in [0, 3, 7, 31, 63] {
            let q = contactQuery(CaseNumber.format(prefix: "L1", sequence: Int64(n + 1)))
            var r = request(.getContact(q))
            r.credential = "op-secret"
            #expect(intake.handle([r])[0].contactInfo.contact.name == "Caller \(n)")
        }
    }

    @Test func concurrentSubmissionsShareOneTransaction() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let before = intake.log.transactions
        let replies = intake.handle((0..<100).map { request(.submitFeedback(feedback("g\($0)"))) })
        #expect(replies.allSatisfy { !$0.feedbackAccepted.caseNumber.isEmpty })
        #expect(intake.log.transactions - before == 1)     // group commit: one fsync'd transaction
        #expect(intake.log.head == 100)
        // A lone submission is committed on its own, at once.
        _ = intake.handle([request(.submitFeedback(feedback("lone")))])
        #expect(intake.log.transactions - before == 2)
    }
}
