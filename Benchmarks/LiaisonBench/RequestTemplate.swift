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
        w.message(10, encoded: try WireWriter.submission(s))
        let bytes = w.bytes
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
        guard let a = Self.answer(try reply.serializedBytes()), a == (12, true),
              let r = Self.answer(try refused.serializedBytes()), r == (7, false) else {
            throw TemplateError(marker: "(a reply is not read as swift-protobuf reads it)")
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

    /// Which client a reply is for (the digits its request id starts with) and whether it is an
    /// acceptance: read off the encoded `Reply` (field 1 the request id, field 10
    /// `feedback_accepted`), nil when it is not one this driver sent.
    static func answer(_ reply: [UInt8]) -> (client: Int, accepted: Bool)? {
        var client: Int?
        var accepted = false
        var i = 0
        func varint() -> UInt64? {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while i < reply.count, shift < 64 {
                let b = reply[i]
                i += 1
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return v }
                shift += 7
            }
            return nil
        }
        while i < reply.count {
            guard let key = varint() else { return nil }
            switch key & 7 {
            case 0:
                guard varint() != nil else { return nil }
            case 2:
                guard let n = varint(), n <= UInt64(reply.count - i) else { return nil }
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
                    accepted = true
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
