import Foundation
import SwiftProtobuf

/// Protobuf's binary wire format read by hand, for the one request every submission brings: a
/// `Request` carrying a `SubmitFeedback` (``WireReader/submission(_:)``).
///
/// swift-protobuf decodes through a generic decoder, one protocol call per field and a decoder per
/// nested message; on intake's request thread that was 17,000 instructions of a submission's
/// 127,000 (callgrind, `scripts/count-instructions.sh`). This reader takes only the plain shape
/// clients send: every field it knows at most once with its declared wire type, nothing it does
/// not know, valid UTF-8, well-formed lengths and varints. Anything else (an unknown or repeated
/// field, another body, a malformed byte) it leaves to swift-protobuf by answering nil, so every
/// input gets swift-protobuf's answer, its errors included; whenever it does answer, the message is
/// equal to what swift-protobuf decodes from the same bytes, which `WireReaderTests` checks on
/// generated and mutated inputs.
public enum WireReader {
    /// The request in `bytes` if it is a submission in the plain shape; nil for anything else,
    /// which swift-protobuf must then decode.
    public static func submission(_ bytes: [UInt8]) -> Liaison_V1_Request? {
        bytes.withUnsafeBytes { raw in
            var cursor = WireCursor(raw, from: 0, to: raw.count)
            return cursor.request()
        }
    }
}

/// A position in an encoded message, and where the message ends.
struct WireCursor {
    let buffer: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ buffer: UnsafeRawBufferPointer, from: Int, to: Int) {
        self.buffer = buffer
        position = from
        end = to
    }

    static let varint = 0
    static let lengthDelimited = 2

    /// A varint of at most ten bytes whose value fits in 64 bits; nil when truncated or longer.
    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = buffer[position]
            position += 1
            if shift == 63 && byte > 1 { return nil }   // past 64 bits: left to swift-protobuf
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    /// The next field's number and wire type; nil for a malformed key.
    mutating func key() -> (field: Int, wireType: Int)? {
        guard let key = varint(), key <= UInt64(UInt32.max), key >> 3 != 0 else { return nil }
        return (Int(key >> 3), Int(key & 7))
    }

    /// A length-delimited value: a cursor over its bytes, this one moved past them.
    mutating func delimited() -> WireCursor? {
        guard let length = varint(), length <= UInt64(end - position) else { return nil }
        let value = WireCursor(buffer, from: position, to: position + Int(length))
        position += Int(length)
        return value
    }

    /// A length-delimited value as a string; nil when it is not valid UTF-8.
    mutating func string() -> String? {
        guard let value = delimited() else { return nil }
        if value.position == value.end { return "" }
        let bytes = UnsafeBufferPointer(rebasing: buffer.assumingMemoryBound(to: UInt8.self)[value.position..<value.end])
        return Self.validUTF8(bytes)
    }

    /// The string the bytes spell, or nil when they are not valid UTF-8.
    ///
    /// `String(decoding:as:)` is the standard library's fast path (`String(validating:as:)` runs
    /// generic code here, about 1,000 instructions a field); it replaces what is invalid with
    /// U+FFFD, so the bytes were valid exactly when the string's are the same bytes.
    static func validUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let string = String(decoding: bytes, as: UTF8.self)
        let same = string.utf8.withContiguousStorageIfAvailable { decoded in
            decoded.count == bytes.count && memcmp(decoded.baseAddress!, bytes.baseAddress!, bytes.count) == 0
        } ?? string.utf8.elementsEqual(bytes)
        return same ? string : nil
    }

    /// Marks `field` (1–63) seen; false when it was seen before (a repeated field is left to
    /// swift-protobuf, which keeps the last value or merges messages).
    static func first(_ field: Int, _ seen: inout UInt64) -> Bool {
        let bit: UInt64 = 1 << UInt64(field)
        if seen & bit != 0 { return false }
        seen |= bit
        return true
    }

    /// `Request` with `request_id` (1), `version` (2), `credential` (3) and `submit_feedback` (10).
    mutating func request() -> Liaison_V1_Request? {
        var request = Liaison_V1_Request()
        var seen: UInt64 = 0
        var hasSubmission = false
        while position < end {
            guard let (field, wireType) = key(), field < 64, Self.first(field, &seen) else { return nil }
            switch (field, wireType) {
            case (1, Self.lengthDelimited):
                guard let v = string() else { return nil }
                request.requestID = v
            case (2, Self.varint):
                guard let v = varint() else { return nil }
                request.version = UInt32(truncatingIfNeeded: v)
            case (3, Self.lengthDelimited):
                guard let v = string() else { return nil }
                request.credential = v
            case (10, Self.lengthDelimited):
                // Set in place (seen at most once): an optional held apart was copied and destroyed.
                guard var body = delimited(), let v = body.submitFeedback() else { return nil }
                request.submitFeedback = consume v
                hasSubmission = true
            default:
                return nil
            }
        }
        return hasSubmission ? request : nil
    }

    /// `SubmitFeedback`, fields 1–11.
    mutating func submitFeedback() -> Liaison_V1_SubmitFeedback? {
        var s = Liaison_V1_SubmitFeedback()
        var seen: UInt64 = 0
        while position < end {
            guard let (field, wireType) = key(), field < 64, Self.first(field, &seen) else { return nil }
            switch (field, wireType) {
            case (1, Self.lengthDelimited):
                guard let v = string() else { return nil }
                s.submissionID = v
            case (2, Self.varint):
                guard let v = varint() else { return nil }
                s.kind = Liaison_V1_FeedbackKind(rawValue: Int(Int32(truncatingIfNeeded: v))) ?? .UNRECOGNIZED(Int(Int32(truncatingIfNeeded: v)))
            case (3, Self.varint):
                guard let v = varint() else { return nil }
                s.channel = Liaison_V1_Channel(rawValue: Int(Int32(truncatingIfNeeded: v))) ?? .UNRECOGNIZED(Int(Int32(truncatingIfNeeded: v)))
            case (4, Self.lengthDelimited):
                guard let v = string() else { return nil }
                s.text = v
            case (5, Self.lengthDelimited):
                guard let v = string() else { return nil }
                s.unit = v
            case (6, Self.lengthDelimited):
                guard let v = string() else { return nil }
                s.address = v
            case (7, Self.lengthDelimited):
                guard let v = string() else { return nil }
                s.officerBadge = v
            case (8, Self.lengthDelimited):
                guard var contact = delimited(), let v = contact.contact() else { return nil }
                s.contact = v
            case (9, Self.lengthDelimited):
                guard let v = string() else { return nil }
                s.language = v
            case (10, Self.lengthDelimited):
                guard var time = delimited(), let v = time.timestamp() else { return nil }
                s.occurredAt = v
            case (11, Self.lengthDelimited):
                guard let v = string() else { return nil }
                s.category = v
            default:
                return nil
            }
        }
        return s
    }

    /// `Contact`: name (1), phone (2), e-mail (3).
    mutating func contact() -> Liaison_V1_Contact? {
        var c = Liaison_V1_Contact()
        var seen: UInt64 = 0
        while position < end {
            guard let (field, wireType) = key(), field < 64, Self.first(field, &seen), wireType == Self.lengthDelimited else { return nil }
            guard let v = string() else { return nil }
            switch field {
            case 1: c.name = v
            case 2: c.phone = v
            case 3: c.email = v
            default: return nil
            }
        }
        return c
    }

    /// `google.protobuf.Timestamp`: seconds (1, int64), nanos (2, int32).
    mutating func timestamp() -> Google_Protobuf_Timestamp? {
        var t = Google_Protobuf_Timestamp()
        var seen: UInt64 = 0
        while position < end {
            guard let (field, wireType) = key(), field < 64, Self.first(field, &seen), wireType == Self.varint,
                  let v = varint() else { return nil }
            switch field {
            case 1: t.seconds = Int64(bitPattern: v)
            case 2: t.nanos = Int32(truncatingIfNeeded: v)
            default: return nil
            }
        }
        return t
    }
}
