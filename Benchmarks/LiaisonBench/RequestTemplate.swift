import Foundation
import LiaisonCodec

/// The closed loop's submissions, made by writing digits into one encoded request.
///
/// The driver shares the machine's two cores with intake, so what it spends per request is taken
/// from the service it measures. Encoding each request anew (the message's setters, string
/// interpolation, `WireWriter`) and decoding each reply with swift-protobuf took 19,000 of its
/// 26,000 instructions a request. Every request still differs where intake looks: its request id,
/// its submission id and the caller's phone number (a different caller each time, as at a hotline
/// desk), each a fixed-width run of digits in the same bytes.
struct SubmissionTemplate {
    static let clientDigits = 6
    static let countDigits = 10
    static let phoneDigits = 8

    private let bytes: [UInt8]
    /// Where the digits of the request id, of the submission id and of the phone number start.
    private let requestIDAt: Int
    private let submissionIDAt: Int
    private let phoneAt: Int
    /// Where the encoded submission starts (after field 10's tag and length): ``submission(client:count:)``.
    private let submissionAt: Int
    private let seed: UInt64

    /// - Parameters:
    ///   - tag: makes the submission ids of this phase unique (`bench-<tag>-<client>-<count>`).
    ///   - base: the submission's other fields.
    init(tag: String, base: Liaison_V1_SubmitFeedback) throws {
        // Markers that occur nowhere else in the request, found and then overwritten per request.
        let requestMarker = String(repeating: "7", count: Self.clientDigits) + "-" + String(repeating: "7", count: Self.countDigits)
        let submissionMarker = String(repeating: "8", count: Self.clientDigits) + "-" + String(repeating: "8", count: Self.countDigits)
        let phoneMarker = String(repeating: "5", count: Self.phoneDigits)
        var s = base
        s.submissionID = "bench-\(tag)-\(submissionMarker)"
        s.contact.phone = "139" + phoneMarker
        var w = WireWriter()
        w.string(1, requestMarker)
        let submission = try WireWriter.submission(s)
        w.message(10, encoded: submission)
        let bytes = w.bytes
        submissionAt = bytes.count - submission.count
        func find(_ marker: String) throws -> Int {
            let m = Array(marker.utf8)
            var found: Int?
            for i in 0...(bytes.count - m.count) where bytes[i..<(i + m.count)].elementsEqual(m) {
                guard found == nil else { throw TemplateError(marker: marker) }
                found = i
            }
            guard let found else { throw TemplateError(marker: marker) }
            return found
        }
        requestIDAt = try find(requestMarker)
        submissionIDAt = try find(submissionMarker)
        phoneAt = try find(phoneMarker)
        self.bytes = bytes
        var h = Hasher()
        h.combine(tag)
        seed = UInt64(bitPattern: Int64(h.finalize()))
        try verify(tag: tag, base: s)
    }

    /// Checks, once per phase, that a made request reads back as the one meant (through
    /// swift-protobuf) and that a reply is read as swift-protobuf reads it.
    private func verify(tag: String, base: Liaison_V1_SubmitFeedback) throws {
        let made = try Liaison_V1_Request(serializedBytes: make(client: 12, count: 345))
        var expected = base
        expected.submissionID = "bench-\(tag)-000012-0000000345"
        expected.contact.phone = made.submitFeedback.contact.phone
        let phone = made.submitFeedback.contact.phone
        guard made.requestID == "000012-0000000345", made.submitFeedback == expected, phone.count == 11, phone.hasPrefix("139"),
              phone.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw TemplateError(marker: "(a made request reads back as \(made))")
        }
        var reply = Liaison_V1_Reply()
        reply.requestID = made.requestID
        reply.feedbackAccepted.caseNumber = "L1-0000001"
        var refused = Liaison_V1_Reply.failure(.unavailable("busy", retryAfterMs: 50))
        refused.requestID = "000007-0000000001"
        var batch = Liaison_V1_Reply()
        batch.requestID = "000009-0000000002"
        var item = Liaison_V1_BatchItem()
        item.feedbackAccepted.caseNumber = "L1-0000002"
        var failed = Liaison_V1_BatchItem()
        failed.error.code = .invalidArgument
        batch.batchAccepted.items = [item, failed, item]
        guard let a = Self.answer(try reply.serializedBytes()), a == (12, 1),
              let r = Self.answer(try refused.serializedBytes()), r == (7, 0),
              let b = Self.answer(try batch.serializedBytes()), b == (9, 2) else {
            throw TemplateError(marker: "(a reply is not read as swift-protobuf reads it)")
        }
        let batched = try Liaison_V1_Request(serializedBytes: makeBatch(client: 3, count: 4, size: 3))
        guard batched.requestID == "000003-0000000004", batched.submitBatch.submissions.map(\.submissionID)
                == (12...14).map({ "bench-\(tag)-000003-00000000\($0)" }) else {
            throw TemplateError(marker: "(a made batch reads back as \(batched))")
        }
    }

    struct TemplateError: Error, CustomStringConvertible {
        let marker: String
        var description: String { "the request template's marker \(marker) is not found exactly once" }
    }

    /// The encoded `Request` for request `count` of client `client`.
    func make(client: Int, count: Int) -> [UInt8] {
        var out = bytes
        out.withUnsafeMutableBufferPointer { b in
            // The request id and the submission id end alike (`<client>-<count>`); no array of the
            // two places, which would cost an allocation a request.
            func ids(at: Int) {
                Self.digits(UInt64(client), Self.clientDigits, into: b, at: at)
                Self.digits(UInt64(count), Self.countDigits, into: b, at: at + Self.clientDigits + 1)
            }
            ids(at: requestIDAt)
            ids(at: submissionIDAt)
            Self.digits(Self.mix(seed ^ (UInt64(client) << 40) ^ UInt64(count)) % 100_000_000, Self.phoneDigits, into: b, at: phoneAt)
        }
        return out
    }

    /// The encoded `SubmitFeedback` of submission `count` of client `client`, as ``make(client:count:)``
    /// writes it.
    func submission(client: Int, count: Int) -> ArraySlice<UInt8> {
        make(client: client, count: count)[submissionAt...]
    }

    /// The encoded `Request` carrying `size` submissions in one `submit_batch`: request `count` of
    /// client `client`, with submissions `count * size` to `count * size + size - 1`.
    func makeBatch(client: Int, count: Int, size: Int) -> [UInt8] {
        var items = WireWriter(capacity: size * (bytes.count + 4))
        for k in 0..<size { items.message(1, encoded: Array(submission(client: client, count: count * size + k))) }
        var w = WireWriter(capacity: items.bytes.count + 40)
        w.string(1, Self.padded(client, Self.clientDigits) + "-" + Self.padded(count, Self.countDigits))
        w.message(13, encoded: items.bytes)
        return w.bytes
    }

    private static func padded(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    /// Which client a reply is for (the digits its request id starts with) and how many submissions
    /// it acknowledges: read off the encoded `Reply` (field 1 the request id, field 10
    /// `feedback_accepted`: one; field 13 `batch_accepted`: its items with field 10), nil when it
    /// is not one this driver sent.
    static func answer(_ reply: [UInt8]) -> (client: Int, accepted: Int)? {
        var client: Int?
        var accepted = 0
        let bytes = reply[...]
        var i = 0
        while i < reply.count {
            guard let key = varint(bytes, &i) else { return nil }
            switch key & 7 {
            case 0:
                guard varint(bytes, &i) != nil else { return nil }
            case 2:
                guard let n = varint(bytes, &i), n <= UInt64(reply.count - i) else { return nil }
                let end = i + Int(n)
                switch key >> 3 {
                case 1:
                    var c = 0, digits = 0
                    while i + digits < end, case let b = reply[i + digits], b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                        c = c * 10 + Int(b - UInt8(ascii: "0"))
                        digits += 1
                    }
                    if digits > 0 { client = c }
                case 10:
                    accepted = 1
                case 13:
                    accepted = acceptedItems(bytes[i..<end])
                default:
                    break
                }
                i = end
            default:
                return nil
            }
        }
        return client.map { ($0, accepted) }
    }

    /// The items of an encoded `BatchAccepted` that carry `feedback_accepted` (field 10).
    private static func acceptedItems(_ b: ArraySlice<UInt8>) -> Int {
        var i = b.startIndex
        var accepted = 0
        while i < b.endIndex {
            // Each item: field 1, length-delimited; its first field says what it is.
            guard varint(b, &i) == (1 << 3) | 2, let n = varint(b, &i), n <= UInt64(b.endIndex - i) else { return accepted }
            let end = i + Int(n)
            if i < end, b[i] == (10 << 3) | 2 { accepted += 1 }
            i = end
        }
        return accepted
    }

    /// The varint at `i` in `b`, `i` moved past it; nil when `b` ends inside it.
    private static func varint(_ b: ArraySlice<UInt8>, _ i: inout Int) -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.endIndex, shift < 64 {
            let byte = b[i]
            i += 1
            v |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return v }
            shift += 7
        }
        return nil
    }

    private static func digits(_ value: UInt64, _ width: Int, into b: UnsafeMutableBufferPointer<UInt8>, at: Int) {
        var v = value
        for k in stride(from: at + width - 1, through: at, by: -1) {
            b[k] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
    }

    /// SplitMix64's finalizer: spreads the client and count over the phone numbers.
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
