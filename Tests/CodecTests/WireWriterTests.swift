import Foundation
import LiaisonCodec
import SwiftProtobuf
import Testing

/// ``WireWriter`` writes the events intake appends by hand; every byte must be what swift-protobuf
/// writes for the same message, or consumers that compare or re-encode events would see a change.
@Suite struct WireWriterTests {
    static func received(caseNumber: String, linked: String, text: String) -> Liaison_V1_FeedbackReceived {
        var r = Liaison_V1_FeedbackReceived()
        r.caseNumber = caseNumber
        r.feedback = GoldenVectorTests.feedback(withContact: false)
        r.feedback.text = text
        r.linkedCaseNumber = linked
        return r
    }

    /// Edge values of every header field: empty strings and zeros (left out), varints at their
    /// byte boundaries, times before 1970 (negative seconds: ten-byte varints) and whole seconds
    /// (no nanos), multi-byte UTF-8.
    static let headers: [(String, UInt64, String, String, Date)] = [
        ("intake-1", 1, "6f1c2a3e-0b4d-4e5f-8a9b-0c1d2e3f4a5b", "feedback.received", Date(timeIntervalSince1970: 1_764_000_000.123456)),
        ("", 0, "", "", Date(timeIntervalSince1970: 0)),
        ("intake-2", 127, "e", "t", Date(timeIntervalSince1970: 1_764_000_000)),
        ("intake-3", 128, "e", "t", Date(timeIntervalSince1970: -1.5)),
        ("区-1", UInt64.max, "id", "feedback.received", Date(timeIntervalSince1970: -62_135_596_800)),
        ("s", 16_383, "x", "y", Date(timeIntervalSince1970: 253_402_300_799.999)),
        ("s", 16_384, "x", "y", Date(timeIntervalSinceReferenceDate: 0.000_000_5)),
    ]

    /// A valid `FeedbackReceived` encoding of `n` + 2 or 3 bytes (a case number of `n` characters),
    /// which swift-protobuf re-encodes to the same bytes; empty for 0.
    static func payload(_ n: Int) -> [UInt8] {
        var w = WireWriter()
        w.string(1, String(decoding: (0..<n).map { UInt8(0x21 + $0 % 0x5E) }, as: UTF8.self))
        return w.bytes
    }

    @Test func eventsAreTheBytesSwiftProtobufWrites() throws {
        // Payloads of 0, 127, 128 and 20,004 bytes: their length prefixes take 1, 1, 2 and 3 bytes.
        for payload in [0, 125, 125 + 1, 20_000].map(Self.payload) {
            for (stream, seq, eventID, topic, time) in Self.headers {
                var e = Liaison_V1_Event()
                e.stream = stream
                e.seq = seq
                e.eventID = eventID
                e.topic = topic
                e.occurredAt = .init(date: time)
                e.feedbackReceived = try Liaison_V1_FeedbackReceived(serializedBytes: payload)
                let expected: [UInt8] = try e.serializedBytes()
                let written = WireWriter.event(stream: stream, seq: seq, eventID: eventID, topic: topic, occurredAt: time,
                                               payloadField: 10, payload: payload)
                #expect(written == expected, "stream '\(stream)' seq \(seq) at \(time.timeIntervalSince1970), payload of \(payload.count) bytes")
            }
        }
    }

    @Test func aPayloadWrittenAroundItsEncodedBodyDecodesToTheSameEvent() throws {
        for (caseNumber, linked, text) in [("L1-0000001", "", "短"), ("L2-12345678", "L2-0000009", String(repeating: "x", count: 4_000)), ("", "", "t")] {
            let r = Self.received(caseNumber: caseNumber, linked: linked, text: text)
            let body: [UInt8] = try r.feedback.serializedBytes()
            var w = WireWriter()
            w.string(1, caseNumber)
            w.message(2, encoded: body)
            w.string(3, linked)
            #expect(w.bytes == (try r.serializedBytes() as [UInt8]))

            let time = Date(timeIntervalSince1970: 1_764_000_000.5)
            let bytes = WireWriter.event(stream: "intake-1", seq: 42, eventID: "id", topic: "feedback.received", occurredAt: time,
                                         payloadField: 10, payload: w.bytes)
            let decoded = try Liaison_V1_Event(serializedBytes: bytes)
            #expect(decoded.feedbackReceived == r)
            #expect(decoded.seq == 42 && decoded.stream == "intake-1" && decoded.topic == "feedback.received")
            #expect(decoded.occurredAt == Google_Protobuf_Timestamp(date: time))
        }
    }

    @Test func emptyValuesAreLeftOutAndSetMessagesKept() {
        var w = WireWriter()
        w.string(1, "")
        w.uint64(2, 0)
        w.int64(3, 0)
        w.int32(4, 0)
        #expect(w.bytes.isEmpty)
        w.message(5, encoded: [])
        #expect(w.bytes == [0x2A, 0x00])
        var n = WireWriter()
        n.int32(2, -1)
        #expect(n.bytes == [0x10] + Array(repeating: 0xFF, count: 9) + [0x01])
    }

    /// The stored body, the sealed contact's plaintext and the acceptance reply are written by hand
    /// on every submission: byte for byte what swift-protobuf writes, for thousands of generated
    /// messages (every field set or not, empty set messages, negative and unknown enum numbers,
    /// times before 1970, multi-byte text).
    @Test func submissionsContactsAndAcceptancesAreTheBytesSwiftProtobufWrites() async throws {
        var rng = WireReaderTests.Seeded(state: 42)
        for i in 0..<3_000 {
            if i % 100 == 0 { await Task.yield() }   // the other tests' turn on the cooperative pool
            let s = WireReaderTests.request(&rng).submitFeedback
            #expect(try WireWriter.submission(s) == (try s.serializedBytes() as [UInt8]), "\(s)")
            if s.hasContact {
                #expect(try WireWriter.contact(s.contact) == (try s.contact.serializedBytes() as [UInt8]))
            }
            // What intake seals: the contact's fields and what it took from the text (none, one
            // or several, multi-byte), wire-compatible with the contact alone.
            var sealed = Liaison_V1_SealedContact()
            sealed.name = s.contact.name
            sealed.phone = s.contact.phone
            sealed.email = s.contact.email
            sealed.fromText = (0..<Int.random(in: 0...3, using: &rng)).map { _ in WireReaderTests.text(&rng) + "1" }
            #expect(try WireWriter.sealedContact(sealed) == (try sealed.serializedBytes() as [UInt8]), "\(sealed)")
            if sealed.fromText.isEmpty { #expect(try WireWriter.sealedContact(sealed) == (try s.contact.serializedBytes() as [UInt8])) }
            var reply = Liaison_V1_Reply()
            reply.requestID = WireReaderTests.text(&rng)
            var a = Liaison_V1_FeedbackAccepted()
            a.caseNumber = WireReaderTests.maybe(&rng) ? "L1-\(UInt32.random(in: 0...UInt32.max, using: &rng))" : ""
            a.trackingToken = WireReaderTests.text(&rng)
            a.duplicate = WireReaderTests.maybe(&rng)
            a.linkedCaseNumber = WireReaderTests.maybe(&rng) ? WireReaderTests.text(&rng) : ""
            a.contactFromText = WireReaderTests.maybe(&rng) ? UInt32.random(in: 0...300, using: &rng) : 0
            reply.feedbackAccepted = a
            let encoded = OutgoingReply.encoded(WireWriter.acceptance(caseNumber: a.caseNumber, trackingToken: a.trackingToken,
                                                                      duplicate: a.duplicate, linkedCaseNumber: a.linkedCaseNumber,
                                                                      contactFromText: a.contactFromText))
            #expect(encoded.bytes(requestID: reply.requestID) == (try reply.serializedBytes() as [UInt8]))
            #expect(encoded.message(requestID: reply.requestID) == reply)
        }
    }

    /// Messages with unknown fields are left to swift-protobuf.
    @Test func messagesWithUnknownFieldsAreLeftToSwiftProtobuf() throws {
        var request = Liaison_V1_Request()
        request.submitFeedback = GoldenVectorTests.feedback(withContact: true)
        var withUnknown = WireWriter()
        withUnknown.message(10, encoded: try request.submitFeedback.serializedBytes() + [0xA0, 0x06, 0x01])
        let decoded = try Liaison_V1_Request(serializedBytes: withUnknown.bytes).submitFeedback
        #expect(!decoded.unknownFields.data.isEmpty)
        #expect(try WireWriter.submission(decoded) == (try decoded.serializedBytes() as [UInt8]))
        #expect(try WireWriter.submission(decoded).suffix(3) == [0xA0, 0x06, 0x01])
    }

    /// A reply message is sent with the id of the request it answers, whatever id it carried, and
    /// reads back as the same message; an encoded reply that does not decode reads back as an error.
    @Test func outgoingRepliesCarryTheirRequestsID() throws {
        var status = Liaison_V1_Reply()
        status.feedbackStatus.state = "resolved"
        let message = OutgoingReply.message(status)
        var expected = status
        expected.requestID = "r-7"
        #expect(message.bytes(requestID: "r-7") == (try expected.serializedBytes() as [UInt8]))
        #expect(try Liaison_V1_Reply(serializedBytes: message.bytes(requestID: "r-7")) == expected)
        #expect(message.message(requestID: "r-7") == expected)
        #expect(message.message() == status)
        let failure = OutgoingReply.message(.failure(.invalidArgument("text", "empty"), requestID: "old"))
        #expect(try Liaison_V1_Reply(serializedBytes: failure.bytes(requestID: "new")).requestID == "new")
        let broken = OutgoingReply.encoded([0x52, 0x05, 0x0A])
        #expect(broken.message(requestID: "r-8").error.code == .internal)
        #expect(broken.message(requestID: "r-8").requestID == "r-8")
    }
}
