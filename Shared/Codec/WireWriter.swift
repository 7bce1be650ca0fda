import Foundation
import SwiftProtobuf

/// Protobuf's binary wire format written by hand, for the messages built on every submission: the
/// `Event` intake appends (``WireWriter/event(stream:seq:eventID:topic:occurredAt:payloadField:payload:)``),
/// the submission's stored body (``WireWriter/submission(_:)``) and its acceptance
/// (``WireWriter/acceptance(caseNumber:trackingToken:duplicate:linkedCaseNumber:)``).
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
        // Through the string's own buffer: one copy, where appending its UTF-8 view goes byte by byte.
        var value = value
        value.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// A message field that is set, given as its encoded bytes: written even when they are empty.
    /// (An array, not a generic collection: a generic called from another module runs
    /// unspecialized, looking up type metadata for every append.)
    public mutating func message(_ field: Int, encoded: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(encoded.count))
        bytes.append(contentsOf: encoded)
    }

    /// A `bool` field; left out when false.
    public mutating func bool(_ field: Int, _ value: Bool) {
        uint64(field, value ? 1 : 0)
    }

    /// An enum field, by its number; left out when 0 (negative numbers are sign-extended to ten bytes).
    public mutating func enumValue(_ field: Int, _ rawValue: Int) {
        uint64(field, UInt64(bitPattern: Int64(rawValue)))
    }

    /// The bytes a `string` field takes (0 when empty: left out).
    static func stringSize(_ field: Int, _ value: String) -> Int {
        let count = value.utf8.count
        return count == 0 ? 0 : varintSize(UInt64(field) << 3) + varintSize(UInt64(count)) + count
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
        // 48: the keys and lengths, the sequence (at most 10 bytes) and the timestamp (at most 19).
        var out = WireWriter(capacity: stream.utf8.count + eventID.utf8.count + topic.utf8.count + payload.count + 48)
        out.string(1, stream)
        out.uint64(2, seq)
        out.string(3, eventID)
        out.string(4, topic)
        out.timestamp(5, Google_Protobuf_Timestamp(date: occurredAt))
        out.message(payloadField, encoded: payload)
        return out.bytes
    }

    /// A `google.protobuf.Timestamp` field, its two values written in place (its length is known
    /// from them, so it is not built apart).
    mutating func timestamp(_ field: Int, _ time: Google_Protobuf_Timestamp) {
        let seconds = UInt64(bitPattern: time.seconds), nanos = UInt64(bitPattern: Int64(time.nanos))   // as int64/int32 write them
        tag(field, .lengthDelimited)
        varint(UInt64((seconds == 0 ? 0 : 1 + Self.varintSize(seconds)) + (nanos == 0 ? 0 : 1 + Self.varintSize(nanos))))
        uint64(1, seconds)
        uint64(2, nanos)
    }

    /// An encoded `SubmitFeedback`: the same bytes as swift-protobuf's `serializedBytes()` (fields in
    /// number order, defaults left out, set messages kept even when empty), without its generic
    /// visitor, which encodes the message twice (sizes, then bytes). A message carrying unknown
    /// fields is left to swift-protobuf.
    public static func submission(_ s: Liaison_V1_SubmitFeedback) throws -> [UInt8] {
        let contact = s.hasContact ? s.contact : nil
        let time = s.hasOccurredAt ? s.occurredAt : nil
        guard s.unknownFields.data.isEmpty, contact?.unknownFields.data.isEmpty ?? true, time?.unknownFields.data.isEmpty ?? true else {
            return try s.serializedBytes()
        }
        var w = WireWriter(capacity: s.submissionID.utf8.count + s.text.utf8.count + s.unit.utf8.count + s.address.utf8.count
                           + s.officerBadge.utf8.count + s.language.utf8.count + s.category.utf8.count + 96)
        w.string(1, s.submissionID)
        w.enumValue(2, s.kind.rawValue)
        w.enumValue(3, s.channel.rawValue)
        w.string(4, s.text)
        w.string(5, s.unit)
        w.string(6, s.address)
        w.string(7, s.officerBadge)
        if let contact {
            w.tag(8, .lengthDelimited)
            w.varint(UInt64(stringSize(1, contact.name) + stringSize(2, contact.phone) + stringSize(3, contact.email)))
            w.contactFields(contact)
        }
        w.string(9, s.language)
        if let time { w.timestamp(10, time) }
        w.string(11, s.category)
        return w.bytes
    }

    /// An encoded `Contact`, the same bytes as swift-protobuf writes (left to it when the contact
    /// carries unknown fields).
    public static func contact(_ c: Liaison_V1_Contact) throws -> [UInt8] {
        guard c.unknownFields.data.isEmpty else { return try c.serializedBytes() }
        var w = WireWriter(capacity: c.name.utf8.count + c.phone.utf8.count + c.email.utf8.count + 9)
        w.contactFields(c)
        return w.bytes
    }

    /// An encoded `SealedContact` (what intake seals), the same bytes as swift-protobuf writes
    /// (left to it when the contact carries unknown fields). A contact with nothing taken from the
    /// text is the same bytes as its `Contact`.
    public static func sealedContact(_ c: Liaison_V1_SealedContact) throws -> [UInt8] {
        guard c.unknownFields.data.isEmpty else { return try c.serializedBytes() }
        var w = WireWriter(capacity: c.name.utf8.count + c.phone.utf8.count + c.email.utf8.count + 9
                           + c.fromText.reduce(0) { $0 + $1.utf8.count + 3 })
        w.string(1, c.name)
        w.string(2, c.phone)
        w.string(3, c.email)
        // Repeated: each written, even empty (none is: what is taken has digits or an `@`).
        for value in c.fromText {
            w.tag(4, .lengthDelimited)
            w.varint(UInt64(value.utf8.count))
            var value = value
            value.withUTF8 { w.bytes.append(contentsOf: $0) }
        }
        return w.bytes
    }

    mutating func contactFields(_ c: Liaison_V1_Contact) {
        string(1, c.name)
        string(2, c.phone)
        string(3, c.email)
    }

    /// A `Reply`'s `feedback_accepted` result (field 10) and nothing else, the same bytes as
    /// swift-protobuf writes for it: what ``OutgoingReply/encoded(_:)`` carries for an accepted
    /// submission, the `request_id` written before it when it is sent.
    public static func acceptance(caseNumber: String, trackingToken: String, duplicate: Bool, linkedCaseNumber: String,
                                  contactFromText: UInt32 = 0) -> [UInt8] {
        let length = stringSize(1, caseNumber) + stringSize(2, trackingToken) + (duplicate ? 2 : 0) + stringSize(4, linkedCaseNumber)
            + (contactFromText == 0 ? 0 : 1 + varintSize(UInt64(contactFromText)))
        var w = WireWriter(capacity: length + 3)
        w.tag(10, .lengthDelimited)
        w.varint(UInt64(length))
        w.string(1, caseNumber)
        w.string(2, trackingToken)
        w.bool(3, duplicate)
        w.string(4, linkedCaseNumber)
        w.uint64(5, UInt64(contactFromText))
        return w.bytes
    }

    /// A `Reply`'s `batch_accepted` result (field 13) and nothing else: one `BatchItem` for each of
    /// `items`, in order. An item is an answer to one submission as a `Reply`'s fields without its
    /// `request_id` (``OutgoingReply/itemBytes``): `BatchItem` numbers its `error` and
    /// `feedback_accepted` as `Reply` does, so those bytes are the item, byte for byte.
    public static func batchAccepted(items: [[UInt8]]) -> [UInt8] {
        var inner = 0
        for item in items { inner += 1 + varintSize(UInt64(item.count)) + item.count }
        var w = WireWriter(capacity: inner + 6)
        w.tag(13, .lengthDelimited)
        w.varint(UInt64(inner))
        for item in items { w.message(1, encoded: item) }
        return w.bytes
    }

    /// A whole `Reply`: its `request_id` (field 1), then `fields`, the reply's other fields already
    /// encoded in field-number order.
    public static func reply(requestID: String, fields: [UInt8]) -> [UInt8] {
        var w = WireWriter(capacity: requestID.utf8.count + fields.count + 3)
        w.string(1, requestID)
        w.bytes.append(contentsOf: fields)
        return w.bytes
    }
}
