import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import SwiftProtobuf
import Testing
@testable import Intake

/// `submit_batch`: several submissions in one request, each answered as if it had come alone.
extension IntakeLogicTests {
    func batch(_ submissions: [Liaison_V1_SubmitFeedback]) -> Liaison_V1_Request {
        var b = Liaison_V1_SubmitBatch()
        b.submissions = submissions
        return request(.submitBatch(b))
    }

    /// Valid submissions are stored, an invalid one gets its error naming its place, a retry inside
    /// the batch is a duplicate and a reused id a conflict; all in one transaction with the single
    /// submissions beside it.
    @Test func aBatchIsAnsweredSubmissionBySubmissionInOneTransaction() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var withContact = feedback("d-1")
        withContact.contact.phone = "13800000001"
        var badKind = feedback("d-4")
        badKind.kind = .UNRECOGNIZED(42)
        let before = intake.log.transactions
        let replies = intake.handle([
            request(.submitFeedback(feedback("single-1"))),
            batch([withContact, feedback("d-2", text: "  "), feedback("d-3", kind: .praise), badKind,
                   withContact,                                        // the same submission again
                   feedback("d-3", text: "another text entirely")]),   // its id, another body
        ])
        #expect(intake.log.transactions - before == 1, "one transaction for the batch and the single submission")
        #expect(replies[0].feedbackAccepted.caseNumber == "L1-0000001")
        let items = replies[1].batchAccepted.items
        try #require(items.count == 6, "\(replies[1])")
        #expect(items[0].feedbackAccepted.caseNumber == "L1-0000002" && !items[0].feedbackAccepted.duplicate)
        #expect(items[1].error.code == .invalidArgument && items[1].error.field == "submit_batch.submissions[1].text", "\(items[1])")
        #expect(items[2].feedbackAccepted.caseNumber == "L1-0000003")
        #expect(items[3].error.field == "submit_batch.submissions[3].kind" && items[3].error.message.contains("42"), "\(items[3])")
        #expect(items[4].feedbackAccepted.caseNumber == "L1-0000002" && items[4].feedbackAccepted.duplicate)
        #expect(items[5].error.code == .conflict && items[5].error.field == "submit_batch.submissions[5].submission_id", "\(items[5])")
        #expect(intake.log.head == 3)

        // Sent again whole (a lost reply): the same cases, each a duplicate; nothing new stored.
        let again = intake.handle([batch([withContact, feedback("d-2", text: "  "), feedback("d-3", kind: .praise)])])[0].batchAccepted.items
        #expect(again.map(\.feedbackAccepted.caseNumber) == ["L1-0000002", "", "L1-0000003"])
        #expect(again[0].feedbackAccepted.duplicate && again[2].feedbackAccepted.duplicate)
        #expect(intake.log.head == 3)
        // A submission of a batch is the same submission when it comes on its own.
        let alone = intake.handle([request(.submitFeedback(feedback("d-3", kind: .praise)))])[0].feedbackAccepted
        #expect(alone.caseNumber == "L1-0000003" && alone.duplicate)
        // Its contact is sealed and published nowhere, as a single submission's.
        let published = try intake.log.replay(after: 0, limit: 100, prefixes: [Topic.feedbackReceived]).events
        #expect(published.count == 3 && published.allSatisfy { !$0.feedbackReceived.feedback.hasContact })
    }

    /// A near-duplicate inside one batch (a desk that typed the same caller twice) is accepted as
    /// its own case and linked to the first, as two single submissions are; and one in a later
    /// batch links to the first of the chain.
    @Test func aNearDuplicateInsideABatchIsLinkedToTheFirst() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        func from(_ id: String, phone: String, text: String) -> Liaison_V1_SubmitFeedback {
            var f = feedback(id, text: text)
            f.contact.phone = phone
            return f
        }
        let text = "The patrol car has been parked on the pavement outside number 8 Lotus Lane all week."
        let items = intake.handle([batch([
            from("b1", phone: "138 1234 5678", text: text),
            from("b2", phone: "13900000000", text: text),                     // another caller
            from("b3", phone: "+86 13812345678", text: text + "!!"),          // the first caller again
        ])])[0].batchAccepted.items.map(\.feedbackAccepted)
        #expect(items.allSatisfy { !$0.caseNumber.isEmpty && !$0.duplicate })
        #expect(items[2].linkedCaseNumber == items[0].caseNumber && items[1].linkedCaseNumber.isEmpty, "\(items)")
        let later = intake.handle([batch([from("b4", phone: "13812345678", text: text + " Still there.")])])[0].batchAccepted.items[0].feedbackAccepted
        #expect(later.linkedCaseNumber == items[0].caseNumber)
        let events = try intake.log.replay(after: 0, limit: 20, prefixes: [Topic.feedbackReceived]).events
        #expect(events.map(\.feedbackReceived.linkedCaseNumber) == ["", "", items[0].caseNumber, items[0].caseNumber])
    }

    /// A batch with nothing in it, or more than a request may carry, is refused whole, naming the list.
    @Test func anEmptyOrOversizedBatchIsRefusedWhole() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let empty = intake.handle([batch([])])[0]
        #expect(empty.error.code == .invalidArgument && empty.error.field == "submit_batch.submissions")
        let tooMany = intake.handle([batch((0...maxBatchSubmissions).map { feedback("many-\($0)") })])[0]
        #expect(tooMany.error.code == .invalidArgument && tooMany.error.field == "submit_batch.submissions"
                && tooMany.error.message.contains("\(maxBatchSubmissions)"), "\(tooMany)")
        #expect(intake.log.head == 0, "nothing of either stored")
        let full = intake.handle([batch((0..<maxBatchSubmissions).map { feedback("full-\($0)") })])[0].batchAccepted.items
        #expect(full.count == maxBatchSubmissions && full.allSatisfy { !$0.feedbackAccepted.caseNumber.isEmpty })
    }

    /// A commit that fails answers the whole batch `unavailable` (to be sent again as it is), not
    /// item by item, and stores none of it.
    @Test func aBatchThatCannotBeStoredIsAnsweredUnavailableWhole() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        _ = intake.handle([request(.submitFeedback(feedback("first")))])
        try intake.log.store.pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count")!
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        let long = String(repeating: "The lights at the crossing are out again. ", count: 90)
        let submissions = (0..<40).map { feedback("full-\($0)", text: long) } + [feedback("bad", text: "")]
        let reply = intake.handle([batch(submissions)])[0]
        #expect(reply.error.code == .unavailable && reply.error.retryAfterMs > 0, "\(reply)")
        try intake.log.store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        let items = intake.handle([batch(submissions)])[0].batchAccepted.items
        #expect(items.prefix(40).allSatisfy { !$0.feedbackAccepted.caseNumber.isEmpty && !$0.feedbackAccepted.duplicate })
        #expect(items[40].error.field == "submit_batch.submissions[40].text")
        #expect(intake.log.head == 41)
    }

    /// The batch's reply, written by hand, is what swift-protobuf reads back, item for item, and
    /// what it writes for the same message.
    @Test func theBatchReplyIsTheProtobufEncoding() throws {
        var accepted = Liaison_V1_FeedbackAccepted()
        accepted.caseNumber = "L1-0000009"
        accepted.trackingToken = "ABCDEFGHJKLMNPQR"
        accepted.duplicate = true
        accepted.contactFromText = 2
        let items: [OutgoingReply] = [
            .encoded(WireWriter.acceptance(caseNumber: accepted.caseNumber, trackingToken: accepted.trackingToken, duplicate: true,
                                           linkedCaseNumber: "", contactFromText: 2)),
            .message(.failure(.invalidArgument("submit_feedback.text", "text must not be empty"), requestID: "not-carried")),
        ]
        let bytes = OutgoingReply.encoded(WireWriter.batchAccepted(items: items.map(\.itemBytes))).bytes(requestID: "r-7")
        var expected = Liaison_V1_Reply()
        expected.requestID = "r-7"
        var first = Liaison_V1_BatchItem()
        first.feedbackAccepted = accepted
        var second = Liaison_V1_BatchItem()
        second.error.code = .invalidArgument
        second.error.field = "submit_feedback.text"
        second.error.message = "text must not be empty"
        expected.batchAccepted.items = [first, second]
        #expect(try Liaison_V1_Reply(serializedBytes: bytes) == expected)
        #expect(bytes == (try expected.serializedBytes() as [UInt8]))
    }
}
