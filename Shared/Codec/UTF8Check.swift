/// Finds the string field with invalid UTF-8 in an encoded `Request`, so the error can name it
/// (swift-protobuf only says that some string was invalid).
public enum UTF8Check {
    /// Message shapes: field number → (name, nested message shape or nil for a string).
    typealias Shape = [UInt64: (String, String?)]
    static let shapes: [String: Shape] = [
        "Request": [1: ("request_id", nil), 10: ("submit_feedback", "SubmitFeedback"), 11: ("get_feedback_status", "GetFeedbackStatus"),
                    12: ("replay", "Replay"), 13: ("submit_batch", "SubmitBatch"), 21: ("get_case", "GetCase"), 22: ("list_cases", "ListCases")],
        // A name ending in "[]" is a repeated field: named with the element's index.
        "SubmitBatch": [1: ("submissions[]", "SubmitFeedback")],
        "SubmitFeedback": [1: ("submission_id", nil), 4: ("text", nil), 5: ("unit", nil), 6: ("address", nil), 7: ("officer_badge", nil),
                           8: ("contact", "Contact"), 9: ("language", nil), 11: ("category", nil)],
        "Contact": [1: ("name", nil), 2: ("phone", nil), 3: ("email", nil)],
        "GetFeedbackStatus": [1: ("case_number", nil), 2: ("tracking_token", nil)],
        "Replay": [1: ("stream", nil), 4: ("topic_prefixes", nil)],
        "GetCase": [1: ("case_number", nil)],
        "ListCases": [1: ("unit", nil), 2: ("state", nil), 5: ("after_case_number", nil)],
    ]

    /// The dotted path of the first string field that is not valid UTF-8 (`submit_feedback.contact.name`), if any.
    public static func invalidField(inRequest bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { find($0, shape: "Request", prefix: "") }
    }

    static func find(_ b: UnsafeBufferPointer<UInt8>, shape: String, prefix: String) -> String? {
        guard let fields = shapes[shape] else { return nil }
        var i = 0
        var seen: [UInt64: Int] = [:]   // elements of each repeated field so far
        func varint() -> UInt64? {
            var v: UInt64 = 0, s: UInt64 = 0
            while i < b.count && s < 64 {
                let byte = b[i]; i += 1
                v |= UInt64(byte & 0x7F) << s
                if byte & 0x80 == 0 { return v }
                s += 7
            }
            return nil
        }
        while i < b.count {
            guard let key = varint() else { return nil }
            switch key & 7 {
            case 0: guard varint() != nil else { return nil }
            case 1: i += 8
            case 5: i += 4
            case 2:
                guard let len = varint(), len <= UInt64(b.count - i) else { return nil }
                let start = i
                i += Int(len)
                guard let (shapeName, nested) = fields[key >> 3] else { continue }
                var name = shapeName
                if name.hasSuffix("[]") {
                    let index = seen[key >> 3, default: 0]
                    seen[key >> 3] = index + 1
                    name = "\(name.dropLast(2))[\(index)]"
                }
                let slice = UnsafeBufferPointer(rebasing: b[start..<i])
                if let nested {
                    if let found = find(slice, shape: nested, prefix: prefix + name + ".") { return found }
                } else if String(validating: slice, as: UTF8.self) == nil {
                    return prefix + name
                }
            default: return nil
            }
        }
        return nil
    }
}
