import Foundation
import SwiftProtobuf

/// Protobuf's binary wire format written by hand, for the one message built on every submission:
/// the `Event` intake appends (``WireWriter/event(stream:seq:eventID:topic:occurredAt:payloadField:payload:)``).
///
/// swift-protobuf encodes a message by visiting it twice (sizes, then bytes) and encodes a nested
/// message again inside its parent; intake already holds the submission's body encoded (it stores
/// it), so the event is written around those bytes. Fields are written in field-number order and
/// proto3 defaults (empty strings, zeros) are left out, as swift-protobuf does: the bytes are the
/// same as `serializedBytes()` of the equivalent message, which `WireWriterTests` checks.
public struct WireWriter {
    /// What has been written so far.
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    /// The protobuf wire types this writer uses.
    enum WireType: UInt64 {
        case varint = 0
        case lengthDelimited = 2
    }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ field: Int, _ type: WireType) {
        varint(UInt64(field) << 3 | type.rawValue)
    }

    /// A `uint64` field; left out when 0.
    public mutating func uint64(_ field: Int, _ value: UInt64) {
        guard value != 0 else { return }
        tag(field, .varint)
        varint(value)
    }

    /// An `int64` field; left out when 0 (negative values take ten bytes, as in protobuf).
    public mutating func int64(_ field: Int, _ value: Int64) {
        uint64(field, UInt64(bitPattern: value))
    }

    /// An `int32` field; left out when 0 (negative values are sign-extended to ten bytes).
    public mutating func int32(_ field: Int, _ value: Int32) {
        uint64(field, UInt64(bitPattern: Int64(value)))
    }

    /// A `string` field; left out when empty.
    public mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }
        tag(field, .lengthDelimited)
        varint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// A message field that is set, given as its encoded bytes: written even when they are empty.
    /// (An array, not a generic collection: a generic called from another module runs
    /// unspecialized, looking up type metadata for every append.)
    public mutating func message(_ field: Int, encoded: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(encoded.count))
        bytes.append(contentsOf: encoded)
    }

    /// The bytes a varint of `value` takes.
    static func varintSize(_ value: UInt64) -> Int {
        (64 - (value | 1).leadingZeroBitCount + 6) / 7
    }

    /// An encoded `Event` whose payload is already encoded: `payload` is the message in oneof field
    /// `payloadField` (10: `feedback_received`, …). The same bytes as swift-protobuf writes for the
    /// event with those fields set.
    public static func event(stream: String, seq: UInt64, eventID: String, topic: String, occurredAt: Date,
                             payloadField: Int, payload: [UInt8]) -> [UInt8] {
        let time = Google_Protobuf_Timestamp(date: occurredAt)
        let seconds = UInt64(bitPattern: time.seconds), nanos = UInt64(bitPattern: Int64(time.nanos))   // as int64/int32 write them
        // The timestamp's length is known from its two values: it is written in place, not built apart.
        let timestampLength = (seconds == 0 ? 0 : 1 + varintSize(seconds)) + (nanos == 0 ? 0 : 1 + varintSize(nanos))
        var out = WireWriter(capacity: stream.utf8.count + eventID.utf8.count + topic.utf8.count + timestampLength + payload.count + 24)
        out.string(1, stream)
        out.uint64(2, seq)
        out.string(3, eventID)
        out.string(4, topic)
        out.tag(5, .lengthDelimited)
        out.varint(UInt64(timestampLength))
        out.int64(1, time.seconds)
        out.int32(2, time.nanos)
        out.message(payloadField, encoded: payload)
        return out.bytes
    }
}
