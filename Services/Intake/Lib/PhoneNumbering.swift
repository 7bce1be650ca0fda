import LiaisonCodec
import LiaisonRuntime

/// How the force's citizens write their phone numbers, so that one number is one caller however a
/// clerk or a web form typed it: with the country code (`+86 138 1234 5678`, `0086 13812345678`) or
/// without (`138 1234 5678`), a landline with its trunk prefix (`010-6552 1234`) or after the
/// country code without it (`+86 10 6552 1234`).
///
/// Near-duplicates compare callers by a fingerprint of ``key(of:into:)``: the number as dialled
/// within the country (its national significant number) for the force's own numbers, and `+` and
/// every digit for another country's. Numbers dialled abroad are recognised by a leading `+` or the
/// international prefix `00` (ITU-T E.164's recommendation; a country whose prefix differs, as
/// `011` in North America, has such numbers compared as typed).
public struct PhoneNumbering: Sendable, Equatable, CustomStringConvertible {
    /// The country calling code of the force's own numbers (`86`); empty: numbers are compared by
    /// their digits alone, as typed.
    public let countryCode: [UInt8]
    /// What a number dialled at home starts with and leaves out after the country code (`0`);
    /// empty in a country without one (Italy keeps the `0` after `+39`).
    public let trunkPrefix: [UInt8]

    /// China's: country code 86, trunk prefix 0 (the demo city's).
    public static let standard = PhoneNumbering(digits: "86", trunkPrefix: "0")
    /// No national numbering: every number's digits as typed (`+86 138…` and `138…` differ).
    public static let digitsOnly = PhoneNumbering(digits: "", trunkPrefix: "")

    private init(digits: String, trunkPrefix: String) {
        countryCode = Array(digits.utf8)
        self.trunkPrefix = Array(trunkPrefix.utf8)
    }

    /// - Parameters:
    ///   - countryCode: 1–3 digits, an optional `+` before them; `none` (or empty) for no national numbering.
    ///   - trunkPrefix: 0–2 digits; `none` (or empty) for none.
    /// - Throws: ``ConfigError`` naming `phone_country_code` or `phone_trunk_prefix`.
    public init(countryCode: String, trunkPrefix: String) throws(ConfigError) {
        func digits(_ s: String) -> String {
            let t = s.trimmedWhitespace
            return t.lowercased() == "none" ? "" : String(t)
        }
        var code = digits(countryCode)
        if code.hasPrefix("+") { code.removeFirst() }
        let trunk = digits(trunkPrefix)
        let isDigits: (String) -> Bool = { $0.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
        guard isDigits(code), code.utf8.count <= 3, code.first != "0" else {
            throw ConfigError("phone_country_code", "\(WireError.quoted(countryCode)) is not a country calling code (1-3 digits, as 86 or 44; 'none' for none)")
        }
        guard isDigits(trunk), trunk.utf8.count <= 2 else {
            throw ConfigError("phone_trunk_prefix", "\(WireError.quoted(trunkPrefix)) is not a trunk prefix (0-2 digits, as 0; 'none' for none)")
        }
        self.init(digits: code, trunkPrefix: trunk)
    }

    public var description: String {
        countryCode.isEmpty ? "digits as typed"
            : "+\(String(decoding: countryCode, as: UTF8.self)), trunk prefix \(trunkPrefix.isEmpty ? "none" : String(decoding: trunkPrefix, as: UTF8.self))"
    }

    /// Appends the number's key to `out`: its digits, less the country code and the trunk prefix
    /// of the force's own numbers; `+` and the digits after the international prefix for another
    /// country's. An extension is left out: it is the same line, and a caller who gives it once
    /// and not the next time is the same caller.
    /// - Parameter phone: a phone as ``isPlausible(_:)`` lets it through.
    /// - Returns: how many digits the key holds.
    @discardableResult
    public func key(of phone: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Int {
        let start = out.count
        var plus = false
        for b in phone {
            if Self.isDigit(b) { out.append(b) } else if b == UInt8(ascii: "+") { plus = true } else if !Self.isSeparator(b) { break }
        }
        guard !countryCode.isEmpty else { return out.count - start }
        func starts(_ prefix: [UInt8], at i: Int) -> Bool {
            out.count - i >= prefix.count && out[i..<(i + prefix.count)].elementsEqual(prefix)
        }
        let international = Self.internationalPrefix
        if plus || starts(international, at: start) {
            let code = plus ? start : start + international.count
            if starts(countryCode, at: code) {
                out.removeSubrange(start..<(code + countryCode.count))
                // Written "+44 (0)20 …": the trunk prefix kept after the code, in brackets or not.
                if !trunkPrefix.isEmpty && starts(trunkPrefix, at: start) { out.removeSubrange(start..<(start + trunkPrefix.count)) }
            } else {
                out.replaceSubrange(start..<code, with: CollectionOfOne(UInt8(ascii: "+")))
                return out.count - start - 1
            }
        } else if !trunkPrefix.isEmpty && starts(trunkPrefix, at: start) {
            out.removeSubrange(start..<(start + trunkPrefix.count))
        }
        return out.count - start
    }

    /// The key as a string, for tests and tools.
    public func key(of phone: String) -> String {
        var out: [UInt8] = []
        var p = phone
        _ = p.withUTF8 { key(of: $0, into: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    static let internationalPrefix = Array("00".utf8)

    /// Whether `phone` is written as a phone number: 5–20 digits, with spaces, dashes, dots,
    /// slashes and brackets between them and a `+` only in front (`+86 (0)10 6552-1234`,
    /// `01.23.45.67.89`, `030/1234567`); then, if any, an extension of 1–6 digits after `ext`,
    /// `extn`, `extension`, `x` (any case, a dot or colon after it), `#`, `转`, `分机` or `内线`
    /// (`0755-8123 4567 转 8012`, `+44 20 7946 0958 ext. 12`). ASCII only: full-width forms are
    /// made ASCII first.
    public static func isPlausible(_ phone: UnsafeBufferPointer<UInt8>) -> Bool {
        var digits = 0
        var i = 0
        while i < phone.count {
            let b = phone[i]
            if isDigit(b) {
                digits += 1
            } else if b == UInt8(ascii: "+") {
                if i != 0 { return false }
            } else if !isSeparator(b) {
                break
            }
            i += 1
        }
        guard (5...20).contains(digits) else { return false }
        if i == phone.count { return true }
        // The extension: a marker, then digits, white space around them.
        guard let marker = extensionMarkers.first(where: { m in
            phone.count - i >= m.count && zip(m, phone[i..<(i + m.count)]).allSatisfy { $0 == ($1 >= 0x41 && $1 <= 0x5A ? $1 | 0x20 : $1) }
        }) else { return false }
        i += marker.count
        while i < phone.count, phone[i] == UInt8(ascii: " ") || phone[i] == UInt8(ascii: ".") || phone[i] == UInt8(ascii: ":") { i += 1 }
        var ext = 0
        while i < phone.count, isDigit(phone[i]) { ext += 1; i += 1 }
        while i < phone.count, phone[i] == UInt8(ascii: " ") { i += 1 }
        return (1...6).contains(ext) && i == phone.count
    }

    /// ``isPlausible(_:)`` of a string.
    public static func isPlausible(_ phone: String) -> Bool {
        var p = phone
        return p.withUTF8 { isPlausible($0) }
    }

    /// What may start an extension, in lower case, longest first where one begins another.
    static let extensionMarkers: [[UInt8]] = ["extension", "extn", "ext", "x", "#", "转", "分机", "内线"].map { Array($0.utf8) }

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    /// What may stand between a number's digits.
    static func isSeparator(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "/")
            || b == UInt8(ascii: "(") || b == UInt8(ascii: ")")
    }
}
