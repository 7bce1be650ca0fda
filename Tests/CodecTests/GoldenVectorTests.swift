import Foundation
import LiaisonCodec
import SwiftProtobuf
import Testing

/// The committed golden vectors were written by Python's protobuf (Fixtures/make_fixtures.py);
/// the Swift encoding of the same messages must match them byte for byte, and decode back.
@Suite struct GoldenVectorTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".bin")))
    }

    static func feedback(withContact: Bool = true) -> Liaison_V1_SubmitFeedback {
        var f = Liaison_V1_SubmitFeedback()
        f.submissionID = "sub-0001"
        f.kind = .complaint
        f.channel = .hotline
        f.text = "The officer at the desk was rude — 态度恶劣"
        f.unit = "STN-01"
        f.officerBadge = "PC-10472"
        f.language = "zh-CN"
        f.category = "conduct"
        f.occurredAt = .with { $0.seconds = 1_764_000_000; $0.nanos = 500 }
        if withContact {
            f.contact.name = "Li Wei"
            f.contact.phone = "13800000000"
        }
        return f
    }

    static var vectors: [(String, any SwiftProtobuf.Message)] {
        var submit = Liaison_V1_Request()
        submit.requestID = "req-1"
        submit.version = 1
        submit.submitFeedback = feedback()

        var accepted = Liaison_V1_Reply()
        accepted.requestID = "req-1"
        accepted.feedbackAccepted.caseNumber = "L1-0000001"
        accepted.feedbackAccepted.trackingToken = "ABCDEFGHJKLMNPQR"

        let error = Liaison_V1_Reply.failure(.invalidArgument("submit_feedback.text", "text must not be empty"), requestID: "req-2")

        var replay = Liaison_V1_Request()
        replay.requestID = "req-3"
        replay.replay.stream = "handler-1"
        replay.replay.afterSeq = 41
        replay.replay.limit = 100
        replay.replay.topicPrefixes = ["case."]

        var batch = Liaison_V1_Request()
        batch.requestID = "req-4"
        batch.version = 1
        var second = feedback(withContact: false)
        second.submissionID = "sub-0002"
        second.text = ""
        batch.submitBatch.submissions = [feedback(), second]

        var batchAccepted = Liaison_V1_Reply()
        batchAccepted.requestID = "req-4"
        var item = Liaison_V1_BatchItem()
        item.feedbackAccepted.caseNumber = "L1-0000002"
        item.feedbackAccepted.trackingToken = "BCDEFGHJKLMNPQRS"
        item.feedbackAccepted.contactFromText = 1
        var refused = Liaison_V1_BatchItem()
        refused.error = WireError.invalidArgument("submit_batch.submissions[1].text", "text must not be empty").proto
        batchAccepted.batchAccepted.items = [item, refused]

        var received = Liaison_V1_Event()
        received.stream = "intake-1"
        received.seq = 1
        received.eventID = "e-0001"
        received.topic = Topic.feedbackReceived
        received.occurredAt.seconds = 1_764_000_001
        received.feedbackReceived.caseNumber = "L1-0000001"
        received.feedbackReceived.feedback = feedback(withContact: false)

        var opened = Liaison_V1_Event()
        opened.stream = "handler-1"
        opened.seq = 7
        opened.eventID = "e-0007"
        opened.topic = Topic.caseOpened
        opened.occurredAt.seconds = 1_764_000_001
        opened.caseOpened.caseNumber = "L1-0000001"
        opened.caseOpened.unit = "SUPERVISION"
        opened.caseOpened.priority = "P1"
        opened.caseOpened.respondBy.seconds = 1_764_086_401
        opened.caseOpened.resolveBy.seconds = 1_764_604_801
        opened.caseOpened.kind = .complaint
        opened.caseOpened.channel = .hotline
        opened.caseOpened.category = "conduct"
        opened.caseOpened.sourceStream = "intake-1"
        opened.caseOpened.sourceSeq = 1

        return [("submit_feedback_request", submit), ("feedback_accepted_reply", accepted), ("error_reply", error),
                ("replay_request", replay), ("feedback_received_event", received), ("case_opened_event", opened),
                ("submit_batch_request", batch), ("batch_accepted_reply", batchAccepted)]
    }

    @Test(arguments: vectors.map(\.0))
    func swiftEncodingMatchesGoldenVector(name: String) throws {
        let message = try #require(Self.vectors.first { $0.0 == name }?.1)
        let bytes: [UInt8] = try message.serializedBytes()
        #expect(bytes == (try fixture(name)), "Swift encoding of \(name) differs from the committed vector")
        let decoded = try type(of: message).init(serializedBytes: try fixture(name))
        #expect(decoded.isEqualTo(message: message))
    }

    /// Intake writes a batch's reply by hand (``WireWriter/batchAccepted(items:)``), each item from
    /// the reply it would give the submission alone: Python's bytes, byte for byte.
    @Test func aBatchReplyWrittenByHandIsPythonsEncoding() throws {
        let items: [OutgoingReply] = [
            .encoded(WireWriter.acceptance(caseNumber: "L1-0000002", trackingToken: "BCDEFGHJKLMNPQRS", duplicate: false,
                                           linkedCaseNumber: "", contactFromText: 1)),
            .message(.failure(.invalidArgument("submit_batch.submissions[1].text", "text must not be empty"))),
        ]
        let bytes = OutgoingReply.encoded(WireWriter.batchAccepted(items: items.map(\.itemBytes))).bytes(requestID: "req-4")
        #expect(bytes == (try fixture("batch_accepted_reply")))
        // And the request reads as a batch of two, weighing two.
        let incoming = Framing.parseRequest(frames: [[1], [], try fixture("submit_batch_request")])
        #expect(incoming.weight == 2 && (try? incoming.request.get().submitBatch.submissions.count) == 2)
    }

    @Test func feedbackReceivedVectorCarriesNoContact() throws {
        let e = try Liaison_V1_Event(serializedBytes: try fixture("feedback_received_event"))
        #expect(!e.feedbackReceived.feedback.hasContact)
        #expect(e.feedbackReceived.feedback.text.contains("态度恶劣"))
    }
}
