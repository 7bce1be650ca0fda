import Foundation
import LiaisonCodec
import SwiftProtobuf
import Testing

/// ``WireReader`` reads submissions by hand and leaves everything else to swift-protobuf. Whenever
/// it answers, its message must be the one swift-protobuf decodes from the same bytes; whenever the
/// input is anything but the plain shape, it must not answer, so the input gets swift-protobuf's
/// answer (and its error) as before.
@Suite struct WireReaderTests {
    /// A seeded generator (SplitMix64), so a failure can be replayed.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let texts = ["", "a", "Noise from the bar on Elm Street every night after 23:00.", "派出所民警态度很好，谢谢！",
                        "emoji 🚓👮‍♀️ and combining é", String(repeating: "x", count: 200), String(repeating: "长", count: 1_000),
                        "tab\tnew\nline\r\n", "\u{0}nul inside", " padded  "]
    static let enumValues = [0, 1, 2, 3, 4, 5, 6, 7, 99, -1, Int(Int32.max), Int(Int32.min)]

    static func text(_ rng: inout Seeded) -> String { texts.randomElement(using: &rng)! }
    static func maybe(_ rng: inout Seeded) -> Bool { Bool.random(using: &rng) }

    /// A request with a submission, a random subset of its fields set to random values.
    static func request(_ rng: inout Seeded) -> Liaison_V1_Request {
        var s = Liaison_V1_SubmitFeedback()
        if maybe(&rng) { s.submissionID = text(&rng) }
        if maybe(&rng) { s.kind = Liaison_V1_FeedbackKind(rawValue: enumValues.randomElement(using: &rng)!)! }
        if maybe(&rng) { s.channel = Liaison_V1_Channel(rawValue: enumValues.randomElement(using: &rng)!)! }
        if maybe(&rng) { s.text = text(&rng) }
        if maybe(&rng) { s.unit = text(&rng) }
        if maybe(&rng) { s.address = text(&rng) }
        if maybe(&rng) { s.officerBadge = text(&rng) }
        if maybe(&rng) {
            var c = Liaison_V1_Contact()   // sometimes present but empty
            if maybe(&rng) { c.name = text(&rng) }
            if maybe(&rng) { c.phone = text(&rng) }
            if maybe(&rng) { c.email = text(&rng) }
            s.contact = c
        }
        if maybe(&rng) { s.language = text(&rng) }
        if maybe(&rng) {
            var t = Google_Protobuf_Timestamp()
            if maybe(&rng) { t.seconds = [0, 1, -1, 1_764_000_000, Int64.min, Int64.max].randomElement(using: &rng)! }
            if maybe(&rng) { t.nanos = [0, 1, 999_999_999, -1, Int32.max].randomElement(using: &rng)! }
            s.occurredAt = t
        }
        if maybe(&rng) { s.category = text(&rng) }
        var r = Liaison_V1_Request()
        if maybe(&rng) { r.requestID = text(&rng) }
        if maybe(&rng) { r.version = [0, 1, 2, UInt32.max].randomElement(using: &rng)! }
        if maybe(&rng) { r.credential = text(&rng) }
        r.submitFeedback = s
        return r
    }

    /// What swift-protobuf decodes from `bytes`, or nil when it refuses them.
    static func library(_ bytes: [UInt8]) -> Liaison_V1_Request? {
        try? Liaison_V1_Request(serializedBytes: bytes)
    }

    @Test func everySubmissionSwiftProtobufWritesIsReadAsSwiftProtobufReadsIt() async throws {
        var rng = Seeded(state: 20261202)
        for i in 0..<3_000 {
            if i % 100 == 0 { await Task.yield() }   // the other tests' turn on the cooperative pool
            let request = Self.request(&rng)
            let bytes: [UInt8] = try request.serializedBytes()
            let read = try #require(WireReader.submission(bytes), "the plain shape must be read by hand: \(request)")
            #expect(read == request)
            #expect(read == Self.library(bytes))
        }
    }

    /// Random damage to valid submissions (bytes changed, cut, inserted; fields repeated by
    /// concatenation, which protobuf reads as a merge): the reader answers only with what
    /// swift-protobuf decodes, and Framing's answer is the one swift-protobuf alone gives.
    @Test func damagedInputIsReadAsSwiftProtobufReadsItOrLeftToIt() async throws {
        var rng = Seeded(state: 7)
        var readByHand = 0, leftToLibrary = 0
        for i in 0..<8_000 {
            if i % 100 == 0 { await Task.yield() }   // the other tests' turn on the cooperative pool
            var bytes: [UInt8] = try Self.request(&rng).serializedBytes()
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !bytes.isEmpty:
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            case 2:
                let at = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: (0..<Int.random(in: 1...4, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
            case 3:
                bytes += try Self.request(&rng).serializedBytes()
            default:
                bytes[Int.random(in: 0..<max(1, bytes.count), using: &rng) % max(1, bytes.count)] ^= 0x80
            }
            let library = Self.library(bytes)
            if let read = WireReader.submission(bytes) {
                readByHand += 1
                #expect(read == library, "bytes \(bytes)")
            } else {
                leftToLibrary += 1
            }
        }
        // Both paths were exercised (about one damaged input in sixteen is still the plain shape).
        #expect(readByHand > 200 && leftToLibrary > 200, "read by hand \(readByHand), left \(leftToLibrary)")
    }

    @Test func anythingButThePlainShapeIsLeftToSwiftProtobuf() throws {
        var request = Liaison_V1_Request()
        request.requestID = "r-1"
        request.submitFeedback = GoldenVectorTests.feedback(withContact: true)
        let plain: [UInt8] = try request.serializedBytes()
        #expect(WireReader.submission(plain) == request)

        // A field repeated (here the request id: swift-protobuf keeps the last).
        #expect(WireReader.submission(plain + [0x0A, 0x01, 0x78]) == nil)
        // An unknown field, at the top and inside the submission.
        #expect(WireReader.submission(plain + [0xF8, 0x01, 0x01]) == nil)
        var withUnknown = WireWriter()
        withUnknown.message(10, encoded: try request.submitFeedback.serializedBytes() + [0xA0, 0x06, 0x01])
        #expect(Self.library(withUnknown.bytes) != nil)
        #expect(WireReader.submission(withUnknown.bytes) == nil)
        // A known field with another wire type (the request id as a varint).
        #expect(WireReader.submission([0x08, 0x01] + plain) == nil)
        // Another body, and no body.
        var status = Liaison_V1_Request()
        status.getStatus = .init()
        #expect(WireReader.submission(try status.serializedBytes()) == nil)
        #expect(WireReader.submission([0x0A, 0x01, 0x78]) == nil)
        // A varint past ten bytes, a length past the end.
        #expect(WireReader.submission([0x10] + [UInt8](repeating: 0xFF, count: 10) + [0x01] + plain) == nil)
        #expect(WireReader.submission([0x0A, 0x7F, 0x78]) == nil)
        // Invalid UTF-8 in the text: left to swift-protobuf, and Framing still names the field.
        var bad = request
        bad.submitFeedback.text = "PLACEHOLDER"
        var badBytes: [UInt8] = try bad.serializedBytes()
        let at = try #require(badBytes.indices.first { badBytes[$0...].starts(with: Array("PLACEHOLDER".utf8)) })
        badBytes[at] = 0xC3
        badBytes[at + 1] = 0x28   // C3 28: a lead byte without its continuation
        #expect(WireReader.submission(badBytes) == nil)
        guard case .failure(let error) = Framing.decodeRequest(badBytes) else { Issue.record("invalid UTF-8 accepted"); return }
        #expect(error.field == "submit_feedback.text")
    }

    @Test func framingGivesTheSameAnswersThroughTheReader() throws {
        var request = Liaison_V1_Request()
        request.submitFeedback = GoldenVectorTests.feedback(withContact: false)
        request.version = 2
        guard case .failure(let error) = Framing.decodeRequest(try request.serializedBytes()) else {
            Issue.record("a newer protocol version accepted"); return
        }
        #expect(error.field == "version")
        request.version = 1
        request.requestID = "r-7"
        guard case .success(let read) = Framing.decodeRequest(try request.serializedBytes()) else {
            Issue.record("a plain submission refused"); return
        }
        #expect(read == request)
        // A negative enum number takes ten bytes and reads as swift-protobuf reads it.
        request.submitFeedback.kind = .UNRECOGNIZED(-3)
        let bytes: [UInt8] = try request.serializedBytes()
        #expect(WireReader.submission(bytes) == Self.library(bytes))
        #expect(WireReader.submission(bytes)?.submitFeedback.kind == .UNRECOGNIZED(-3))
    }
}
