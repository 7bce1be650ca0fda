import Foundation

/// A phone number or an e-mail address written into a submission's text ("call me back on
/// 138 1234 5678"). The text is read by everyone who works the case and by every service that
/// reads intake's stream; in the contact the same number is sealed and read only by an operator,
/// each reading recorded. Intake takes what ``all(in:)`` finds out of the text into the sealed
/// contact (`Contact.from_text`), leaving ``marker(_:)`` in its place; `liaison submit --ask`
/// first offers the clerk to make it the contact's own phone or address.
public enum ContactInText {
    public enum Kind: String, Sendable { case phone, email = "e-mail" }

    public struct Found: Sendable, Equatable {
        public let kind: Kind
        /// As written in the text.
        public let value: String
        /// Where, in the text's characters.
        public let range: Range<String.Index>
    }

    /// The first phone number or e-mail address in `text`, or nil.
    ///
    /// - A phone: 7–15 digits, with single spaces, dashes, dots or brackets between them and a `+`
    ///   in front, standing apart from letters and other digits; not a date (`2026-12-05`,
    ///   `05.12.2026`) nor a time, and not a case number (`L1-0000042`: a letter before it).
    /// - An e-mail: a word with an `@` and a dot after it (`12345678@qq.com` is one, not a phone).
    public static func first(in text: String) -> Found? {
        var found: Found?
        scan(text) { found = $0; return false }
        return found
    }

    /// Every phone number and e-mail address in `text`, in order, none overlapping another: after
    /// each is replaced by ``marker(_:)``, ``first(in:)`` finds nothing in the text. In time
    /// linear in the text; a text with fewer than 7 ASCII digits and no `@` (most) is read as bytes
    /// and left at once.
    public static func all(in text: String) -> [Found] {
        guard mayHold(text) else { return [] }
        var found: [Found] = []
        scan(text) { found.append($0); return true }
        return found
    }

    /// What stands in a text where intake took `kind` out: `[phone: in the contact]`.
    public static func marker(_ kind: Kind) -> String { "[\(kind.rawValue): in the contact]" }

    /// `text` with each of `found` (from ``all(in:)`` on it) replaced by its ``marker(_:)``.
    public static func withMarkers(_ text: String, replacing found: [Found]) -> String {
        guard !found.isEmpty else { return text }
        // In one pass: replacing in place moved the rest of the text once for each (a text of
        // 4,000 characters may hold 500).
        var out = ""
        out.reserveCapacity(text.utf8.count + 24 * found.count)
        var from = text.startIndex
        for f in found {
            out += text[from..<f.range.lowerBound]
            out += marker(f.kind)
            from = f.range.upperBound
        }
        out += text[from...]
        return out
    }

    /// Whether `text` could hold a phone (7 ASCII digits at least) or an address (an `@`): its
    /// bytes counted, cheaply, before anything walks its characters.
    package static func mayHold(_ text: String) -> Bool {
        // Sixteen bytes at a time, summed across lanes only at the end (every submission's text
        // is read so; byte by byte it took 9 instructions a byte).
        func count(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            var digits = 0
            var i = 0
            if let base = bytes.baseAddress {
                let zero = SIMD16<UInt8>(repeating: UInt8(ascii: "0")), ten = SIMD16<UInt8>(repeating: 10)
                let at = SIMD16<UInt8>(repeating: UInt8(ascii: "@")), one = SIMD16<UInt8>(repeating: 1)
                var lanes = SIMD16<UInt8>(), ats = SIMD16<UInt8>()
                var blocks = 0
                while i + 16 <= bytes.count {
                    let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<UInt8>.self)
                    lanes &+= SIMD16<UInt8>().replacing(with: one, where: (v &- zero) .< ten)
                    ats |= SIMD16<UInt8>().replacing(with: one, where: v .== at)
                    i += 16
                    blocks += 1
                    if blocks == 255 || i + 16 > bytes.count {   // before a lane can wrap
                        digits += Int(SIMD16<UInt16>(truncatingIfNeeded: lanes).wrappedSum())
                        if digits >= 7 || ats != SIMD16<UInt8>() { return true }
                        lanes = SIMD16<UInt8>()
                        blocks = 0
                    }
                }
            }
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "@") { return true }
                if b &- UInt8(ascii: "0") < 10 { digits += 1 }
                i += 1
            }
            return digits >= 7
        }
        var text = text
        return text.withUTF8(count)
    }

    /// Walks `text`, calling `found` with each phone or address in order until it returns false.
    static func scan(_ text: String, _ found: (Found) -> Bool) {
        let chars = Array(text.indices)
        var i = 0
        // Where the last one found ends: an address found next starts there at the earliest
        // (`13812345678.li@example.org` is a phone, then `li@example.org`).
        var floor = 0
        while i < chars.count {
            let c = text[chars[i]]
            if c == "@" {
                if let (end, address) = email(around: i, after: floor, in: text, chars) {
                    guard found(address) else { return }
                    i = end
                    floor = end
                    continue
                }
            } else if c.isASCII && (c.isNumber || c == "+" || c == "(") && (i == 0 || !isWordCharacter(text[chars[i - 1]]) && text[chars[i - 1]] != "@") {
                if let (end, phone) = phone(from: i, in: text, chars) {
                    // After a code's dash, slash or dot (`L1-0000042`, `STN-EAST-01`): part of it.
                    let glued = i >= 2 && "-./".contains(text[chars[i - 1]]) && isWordCharacter(text[chars[i - 2]])
                    if let phone, !glued {
                        guard found(phone) else { return }
                        floor = end
                    }
                    i = end
                    continue
                }
            }
            i += 1
        }
    }

    /// What a number glued to is a code, a plate or an amount (`L1`, `B12345`, `10km`); a Chinese
    /// character is not (`请回电13812345678`: written without spaces).
    static func isWordCharacter(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }

    /// The run of digits and separators from `start`: where it ends, and the phone it is if it
    /// is one.
    static func phone(from start: Int, in text: String, _ chars: [String.Index]) -> (Int, Found?)? {
        var i = start
        var digits = 0
        var groups: [Int] = []
        var group = 0
        func isDigit(_ k: Int) -> Bool { k < chars.count && text[chars[k]].isASCII && text[chars[k]].isNumber }
        func isSeparator(_ k: Int) -> Bool { k < chars.count && " -.()".contains(text[chars[k]]) }
        if text[chars[i]] == "+" { i += 1 }
        while i < chars.count {
            if isDigit(i) {
                digits += 1
                group += 1
                i += 1
            } else if isSeparator(i) {
                // One or two between digits (`) `, ` - `, `(` in front): then a digit, or the run ends here.
                var k = i
                while k < i + 3, isSeparator(k) { k += 1 }
                guard isDigit(k), k - i <= 2 else { break }
                if group > 0 { groups.append(group) }
                group = 0
                i = k
            } else {
                break
            }
        }
        if group > 0 { groups.append(group) }
        guard digits > 0 else { return nil }
        let end = i
        // Glued to a letter or another number after it: a code, a plate, an amount; before an `@`,
        // an address's first part (`12345678@qq.com`), which the `@` finds whole.
        if end < chars.count, isWordCharacter(text[chars[end]]) || text[chars[end]] == ":" || text[chars[end]] == "@" { return (end, nil) }
        guard (7...15).contains(digits) else { return (end, nil) }
        // A date written with its separators.
        if groups == [4, 2, 2] || groups == [2, 2, 4] || groups == [4, 1, 1] || groups == [1, 1, 4] { return (end, nil) }
        var last = end - 1
        while last > start, !text[chars[last]].isNumber { last -= 1 }
        let range = chars[start]..<text.index(after: chars[last])
        return (end, Found(kind: .phone, value: String(text[range]), range: range))
    }

    /// The e-mail address whose `@` is at `at`, and the index of the character after it; or nil.
    static func email(around at: Int, after floor: Int = 0, in text: String, _ chars: [String.Index]) -> (Int, Found)? {
        func part(_ c: Character) -> Bool { (c.isLetter || c.isNumber || ".-_+%'".contains(c)) && !c.isWhitespace }
        var start = at
        while start > floor, part(text[chars[start - 1]]) { start -= 1 }
        // No address starts with a dot: one before it ends what stood there (`5678.li@…`).
        while start < at, text[chars[start]] == "." { start += 1 }
        var end = at + 1
        while end < chars.count, part(text[chars[end]]) { end += 1 }
        // A sentence's full stop after it is not the address's.
        while end > at + 1, text[chars[end - 1]] == "." { end -= 1 }
        guard start < at, end > at + 1 else { return nil }
        let domain = text[chars[at + 1]..<(end < chars.count ? chars[end] : text.endIndex)]
        guard domain.contains("."), !domain.hasPrefix(".") else { return nil }
        let range = chars[start]..<(end < chars.count ? chars[end] : text.endIndex)
        return (end, Found(kind: .email, value: String(text[range]), range: range))
    }
}
