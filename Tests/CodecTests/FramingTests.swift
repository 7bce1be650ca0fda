import LiaisonCodec
import SwiftProtobuf
import Testing

@Suite struct FramingTests {
    let id: [UInt8] = [0, 1, 2, 3, 4]

    func body(_ build: (inout Liaison_V1_Request) -> Void) throws -> [UInt8] {
        var r = Liaison_V1_Request()
        build(&r)
        return try r.serializedBytes()
    }

    func error(_ frames: [[UInt8]]) -> WireError? {
        if case .failure(let e) = Framing.parseRequest(frames: frames).request { return e }
        return nil
    }

    @Test func wellFormedRequestKeepsEnvelope() throws {
        let b = try body { $0.requestID = "r1"; $0.getStatus = .init() }
        let inc = Framing.parseRequest(frames: [id, [], b])
        #expect(inc.envelope == [id, []])
        #expect(inc.requestID == "r1")
        let reply = Framing.replyFrames(envelope: inc.envelope, reply: .failure(.notFound("x", "y"), requestID: "r1"))
        #expect(reply.count == 3 && reply[0] == id && reply[1].isEmpty)
        let decoded = try Framing.decodeReply(frames: Array(reply.dropFirst()))
        #expect(decoded.error.code == .notFound && decoded.requestID == "r1")
    }

    /// Only a submission read in the plain shape is marked as one: the request loop then routes it
    /// without looking into its body, so nothing else may carry the mark.
    @Test func onlyPlainSubmissionsAreMarked() throws {
        let submission = try body { $0.requestID = "r1"; $0.submitFeedback.submissionID = "s1"; $0.submitFeedback.text = "A light is out." }
        #expect(Framing.parseRequest(frames: [id, [], submission]).isPlainSubmission)
        let status = try body { $0.requestID = "r2"; $0.getStatus = .init() }
        let replay = try body { $0.requestID = "r3"; $0.replay.afterSeq = 4 }
        let future = try body { $0.version = protocolVersion + 1; $0.submitFeedback.submissionID = "s2" }
        for frames in [[id, [], status], [id, [], replay], [id, [], future], [id, [], [0xFF, 0xFF]], [id, [1, 2]]] {
            #expect(!Framing.parseRequest(frames: frames).isPlainSubmission)
        }
    }

    @Test func missingDelimiterIsAnsweredOnTheRoutingID() throws {
        let inc = Framing.parseRequest(frames: [id, [1, 2, 3]])
        #expect(inc.envelope == [id, []])
        #expect(error([id, [1, 2, 3]])?.field == "frames")
    }

    @Test func extraBodyFramesAreRefused() throws {
        let b = try body { $0.getStatus = .init() }
        let e = try #require(error([id, [], b, b]))
        #expect(e.code == .invalidArgument && e.field == "frames")
        #expect(error([id, []])?.field == "frames")
    }

    @Test func aQuotedValueIsWholeWhenShortAndCutWhenLong() {
        #expect(WireError.quoted("STN-MOON-99") == "'STN-MOON-99'")
        #expect(WireError.quoted("") == "''")
        #expect(WireError.quoted(String(repeating: "警", count: 40)) == "'" + String(repeating: "警", count: 40) + "'")
        #expect(WireError.quoted(String(repeating: "警", count: 41)) == "'" + String(repeating: "警", count: 40) + "…' (41 characters)")
        // Cut by code points: one character of many combining marks is not sent back whole.
        let marks = WireError.quoted("S" + String(repeating: "\u{0301}", count: 10_000))
        #expect(marks.unicodeScalars.count < 80 && marks.hasSuffix("(10001 characters)"))
        #expect(WireError.quoted("abc"[...]) == "'abc'")
    }

    @Test func garbageBodyNamesTheRequest() {
        let e = error([id, [], [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]])
        #expect(e?.code == .invalidArgument && e?.field == "request")
    }

    @Test func invalidUTF8IsRefused() {
        // field 1 (request_id), length 2, bytes C3 28: not UTF-8
        let e = error([id, [], [0x0A, 0x02, 0xC3, 0x28]])
        #expect(e?.field == "request_id")
        #expect(e?.message.contains("UTF-8") == true)
        // Deep inside: submit_feedback (10) → contact (8) → name (1) = C3 28.
        let deep: [UInt8] = [0x52, 0x06, 0x42, 0x04, 0x0A, 0x02, 0xC3, 0x28]
        #expect(error([id, [], deep])?.field == "submit_feedback.contact.name")
        let text: [UInt8] = [0x52, 0x04, 0x22, 0x02, 0xFF, 0xFE]
        #expect(error([id, [], text])?.field == "submit_feedback.text")
    }

    /// Invalid UTF-8 in one submission of a batch is named with its place in the batch.
    @Test func invalidUTF8InABatchNamesTheSubmission() {
        // submit_batch (13) → submissions (1) ×3; the third's text (4) is FF FE.
        let good: [UInt8] = [0x0A, 0x04, 0x22, 0x02, 0x68, 0x69]
        let bad: [UInt8] = [0x0A, 0x04, 0x22, 0x02, 0xFF, 0xFE]
        let inner = good + good + bad
        let e = error([id, [], [0x6A, UInt8(inner.count)] + inner])
        #expect(e?.field == "submit_batch.submissions[2].text")
        #expect(e?.code == .invalidArgument)
    }

    /// A batch weighs as many submissions as it carries; anything else, and a refused batch, one.
    @Test func aBatchWeighsItsSubmissions() throws {
        let batch = try body { r in
            r.requestID = "b1"
            r.submitBatch.submissions = (0..<7).map { k in var s = Liaison_V1_SubmitFeedback(); s.submissionID = "s\(k)"; return s }
        }
        var inc = Framing.parseRequest(frames: [id, [], batch])
        #expect(inc.weight == 7 && !inc.isPlainSubmission)
        inc.refuse(.unauthorized("no"))
        #expect(inc.weight == 1 && inc.requestID == "b1")
        let empty = try body { $0.submitBatch = .init() }
        #expect(Framing.parseRequest(frames: [id, [], empty]).weight == 1)
        let one = try body { $0.submitFeedback.submissionID = "s1"; $0.submitFeedback.text = "A light is out." }
        #expect(Framing.parseRequest(frames: [id, [], one]).weight == 1)
    }

    /// The submissions a request carries, which the status counts one by one: a refused batch
    /// still carries its own (each is refused), a request that could not be read none.
    @Test func aRequestCountsTheSubmissionsItCarries() throws {
        let batch = try body { r in
            r.submitBatch.submissions = (0..<7).map { k in var s = Liaison_V1_SubmitFeedback(); s.submissionID = "s\(k)"; return s }
        }
        var inc = Framing.parseRequest(frames: [id, [], batch])
        #expect(inc.submissions == 7)
        inc.refuse(.unauthorized("no"))
        #expect(inc.submissions == 7)
        let one = try body { $0.submitFeedback.submissionID = "s1"; $0.submitFeedback.text = "A light is out." }
        #expect(Framing.parseRequest(frames: [id, [], one]).submissions == 1)
        // A submission read the long way (its body twice, merged: not the plain shape) is one too.
        let long = Framing.parseRequest(frames: [id, [], one + one])
        #expect(!long.isPlainSubmission && long.submissions == 1)
        let status = try body { $0.getStatus = .init() }
        let empty = try body { $0.submitBatch = .init() }
        for frames in [[id, [], status], [id, [], empty], [id, [], [0xFF, 0xFF]], [id, [1, 2]]] {
            #expect(Framing.parseRequest(frames: frames).submissions == 0)
        }
    }

    /// A reply's accepted and refused submissions, out of those its request carried.
    @Test func aReplyCountsTheSubmissionsItAcceptsAndRefuses() throws {
        typealias Counts = OutgoingReply.SubmissionCounts
        var accepted = Liaison_V1_Reply()
        accepted.feedbackAccepted.caseNumber = "L1-0000001"
        #expect(OutgoingReply.message(accepted).submissionCounts(of: 1) == Counts(accepted: 1))
        #expect(OutgoingReply.encoded([0x52, 0]).submissionCounts(of: 1) == Counts(accepted: 1))
        let refused = OutgoingReply.message(.failure(.invalidArgument("submit_feedback.text", "empty")))
        #expect(refused.submissionCounts(of: 1) == Counts(refused: 1))
        #expect(refused.submissionCounts(of: 9) == Counts(refused: 9), "a batch refused whole refuses each")
        // Shed or failed: neither, the client sends them again.
        #expect(OutgoingReply.message(.failure(.unavailable("full", retryAfterMs: 10))).submissionCounts(of: 5) == Counts())
        #expect(OutgoingReply.message(.failure(.internal("disk"))).submissionCounts(of: 5) == Counts())
        // No submissions, nothing counted, whatever the answer.
        #expect(OutgoingReply.message(accepted).submissionCounts(of: 0) == Counts())
        #expect(refused.submissionCounts(of: 0) == Counts())
        // A batch's items, one by one.
        var batch = Liaison_V1_Reply()
        batch.batchAccepted.items = [
            .with { $0.feedbackAccepted.caseNumber = "L1-0000002" },
            .with { $0.error = .with { $0.code = .conflict } },
            .with { $0.error = .with { $0.code = .internal } },
            .with { $0.feedbackAccepted.caseNumber = "L1-0000003" },
        ]
        #expect(OutgoingReply.message(batch).submissionCounts(of: 4) == Counts(accepted: 2, refused: 1))
        let encoded = OutgoingReply.encodedBatch([], firstRefusal: nil, counts: Counts(accepted: 3, refused: 4))
        #expect(encoded.submissionCounts(of: 7) == Counts(accepted: 3, refused: 4))
    }

    @Test func unknownVersionIsRefused() throws {
        let b = try body { $0.version = 99; $0.getStatus = .init() }
        let e = error([id, [], b])
        #expect(e?.field == "version")
    }

    @Test func missingOrUnknownBodyIsRefused() throws {
        let empty = try body { $0.requestID = "x" }
        #expect(error([id, [], empty])?.field == "body")
        // a body field number this version does not know (999, varint)
        let unknown: [UInt8] = [0xB8, 0x3E, 0x01]
        #expect(error([id, [], unknown])?.field == "body")
    }

    @Test func oversizedRequestIsRefused() {
        let big = [UInt8](repeating: 0x20, count: maxRequestBytes + 1)
        #expect(error([id, [], big])?.field == "request")
    }

    @Test func eventFramesRoundTripAndTopicMustMatch() throws {
        var e = Liaison_V1_Event()
        e.stream = "s"; e.seq = 3; e.topic = Topic.caseOpened
        e.caseOpened.caseNumber = "L1-1"
        let frames = try Framing.eventFrames(e)
        #expect(String(decoding: frames[0], as: UTF8.self) == "case.opened")
        #expect(try Framing.decodeEvent(frames: frames) == e)
        #expect(throws: WireError.self) { try Framing.decodeEvent(frames: [Array("feedback.received".utf8), frames[1]]) }
        #expect(throws: WireError.self) { try Framing.decodeEvent(frames: [frames[0]]) }
    }

    @Test func enumNamesRoundTrip() {
        for (name, k) in Liaison_V1_FeedbackKind.named { #expect(Liaison_V1_FeedbackKind(name: name) == k && k.name == name) }
        for (name, c) in Liaison_V1_Channel.named { #expect(Liaison_V1_Channel(name: name) == c && c.name == name) }
        #expect(Liaison_V1_FeedbackKind(name: "rumour") == nil)
        // As clerks type them.
        #expect(Liaison_V1_Channel(name: "Walk-In") == .walkIn && Liaison_V1_FeedbackKind(name: "HELP-REQUEST") == .helpRequest)
        // As a sheet's drop-down list writes them: a space for the underscore.
        #expect(Liaison_V1_Channel(name: "Walk in") == .walkIn && Liaison_V1_FeedbackKind(name: " Help request ") == .helpRequest)
        #expect(Liaison_V1_Channel(name: "walk  in") == nil && Liaison_V1_Channel(name: String(repeating: "-", count: 100_000)) == nil)
        #expect(WireError.unavailable("busy").codeName == "unavailable")
    }
}
