import Foundation

/// A phone number, an e-mail address, a resident identity number or a bank card number written into
/// a submission's text ("call me back on 138 1234 5678", "my ID number is 11010519491231002X", "they
/// took 5,000 yuan from my card 6222 0212 3456 7894"). The text is read
/// by everyone who works the case and by every service that reads intake's stream; in the contact
/// the same number is sealed and read only by an operator, each reading recorded. Intake takes what
/// ``all(in:)`` finds out of the text into the sealed contact (`SealedContact.from_text`), leaving
/// ``marker(_:)`` in its place; `liaison submit --ask` first offers the clerk to make a phone or
/// address the contact's own.
public enum ContactInText {
    public enum Kind: String, Sendable, CaseIterable {
        case phone, email = "e-mail", idNumber = "ID number", cardNumber = "card number"
        /// The kinds a citizen can be reached by: what `liaison submit --ask` offers to make the
        /// contact's own.
        public var reaches: Bool { self == .phone || self == .email }
    }

    public struct Found: Sendable, Equatable {
        public let kind: Kind
        /// As written in the text.
        public let value: String
        /// Where, in the text's characters.
        public let range: Range<String.Index>
    }

    /// The first phone number, e-mail address, identity number or card number in `text`, or nil.
    ///
    /// - A phone: 7–15 digits, with single spaces, dashes, dots or brackets between them and a `+`
    ///   in front, standing apart from letters and other digits; not a date (`2026-12-05`,
    ///   `05.12.2026`) nor a time, and not a case number (`L1-0000042`: a letter before it).
    /// - An e-mail: a word with an `@` and a dot after it (`12345678@qq.com` is one, not a phone),
    ///   ending on a letter or a digit, as a domain does (`li@qq.com-`, `li@qq.com_` end before it).
    /// - A resident identity number (居民身份证号码): 17 digits and a check digit or `X`, standing
    ///   apart like a phone, whose birth date is a date and whose check digit is right (ISO 7064
    ///   MOD 11-2): a random run of 18 digits passes one time in several hundred.
    /// - A bank card number: 16–19 digits, standing apart like a phone (`6222 0212 3456 7894`, as a
    ///   card prints it, or in one run), beginning as a card network's do (``isCardNumber(_:)``),
    ///   whose last digit is the Luhn check digit. About one random run of that length in fifty
    ///   passes both, so an order or waybill number may be taken too (it is read back with the
    ///   contact). Not one of 18 digits that is an identity number.
    ///
    /// Any may be typed in full width with a Chinese input method (`１３８ １２３４ ５６７８`,
    /// `ｌｉ＠ｅｘａｍｐｌｅ．ｏｒｇ`); it is found as it is written.
    public static func first(in text: String) -> Found? {
        var found: Found?
        scan(text) { found = $0; return false }
        return found
    }

    /// Every phone number, e-mail address, identity number and card number in `text`, in order, none
    /// overlapping another: after each is replaced by ``marker(_:)``, ``first(in:)`` finds nothing
    /// in the text. In time linear in the text; a text with fewer than 7 digits and no `@` (most)
    /// is read as bytes (``mayHold(_:)``) and left at once.
    public static func all(in text: String) -> [Found] { all(in: text, reading: .current) }

    /// How an intake read texts: today's way, or an earlier one, which a retry of what an earlier
    /// intake stored is compared with.
    public enum Reading: Sendable {
        /// ``all(in:)``.
        case current
        /// As intakes read texts before 2026-12-06: an address took the dash or underscore written
        /// right after it along (`li@qq.com-`) and a typesetting dash with the words beyond it
        /// (`李伟@例子.中国—谢谢`), and a number apart from an address that begins with digits, right
        /// before it, was left in the text (`1764325 8@qq.com`).
        case before20261206
    }

    /// ``all(in:)`` as `reading` reads.
    public static func all(in text: String, reading: Reading) -> [Found] {
        guard mayHold(text) else { return [] }
        var found: [Found] = []
        scan(text, reading) { found.append($0); return true }
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

    /// Whether `text` could hold a phone (7 digits at least, ASCII or full width) or an address
    /// (an `@` or `＠`): its bytes counted, cheaply, before anything walks its characters. It may
    /// answer yes for a text that holds neither (a full-width digit is counted by its last two
    /// bytes, which some Chinese characters share), never no for one that holds either.
    package static func mayHold(_ text: String) -> Bool {
        // Sixteen bytes at a time, summed across lanes only at the end (every submission's text
        // is read so; byte by byte it took 9 instructions a byte). A full-width digit is
        // EF BC 90–99, `＠` EF BC A0: a 0xBC and the byte after it.
        func count(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            var digits = 0
            var i = 0
            if let base = bytes.baseAddress {
                let zero = SIMD16<UInt8>(repeating: UInt8(ascii: "0")), ten = SIMD16<UInt8>(repeating: 10)
                let at = SIMD16<UInt8>(repeating: UInt8(ascii: "@")), one = SIMD16<UInt8>(repeating: 1)
                let wide = SIMD16<UInt8>(repeating: 0xBC), wideZero = SIMD16<UInt8>(repeating: 0x90), wideAt = SIMD16<UInt8>(repeating: 0xA0)
                var lanes = SIMD16<UInt8>(), ats = SIMD16<UInt8>()
                var blocks = 0
                while i + 17 <= bytes.count {
                    let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<UInt8>.self)
                    let next = UnsafeRawPointer(base + i + 1).loadUnaligned(as: SIMD16<UInt8>.self)
                    let isWide = v .== wide
                    lanes &+= SIMD16<UInt8>().replacing(with: one, where: (v &- zero) .< ten)
                    lanes &+= SIMD16<UInt8>().replacing(with: one, where: isWide .& ((next &- wideZero) .< ten))
                    ats |= SIMD16<UInt8>().replacing(with: one, where: v .== at .| (isWide .& (next .== wideAt)))
                    i += 16
                    blocks += 1
                    if blocks == 127 || i + 17 > bytes.count {   // before a lane can wrap (two a block)
                        digits += Int(SIMD16<UInt16>(truncatingIfNeeded: lanes).wrappedSum())
                        if digits >= 7 || ats != SIMD16<UInt8>() { return true }
                        lanes = SIMD16<UInt8>()
                        blocks = 0
                    }
                }
            }
            while i < bytes.count {
                let b = bytes[i], next = i + 1 < bytes.count ? bytes[i + 1] : 0
                if b == UInt8(ascii: "@") || b == 0xBC && next == 0xA0 { return true }
                if b &- UInt8(ascii: "0") < 10 || b == 0xBC && next &- 0x90 < 10 { digits += 1 }
                i += 1
            }
            return digits >= 7
        }
        var text = text
        return text.withUTF8(count)
    }

    /// `c` as the ASCII character it spells when typed in full width (`１`, `＠`, `－`, the
    /// ideographic space) or as a dash (`‐`), else itself (``TypedText/plainASCII(_:)-(Unicode.Scalar)``):
    /// a number or an address typed with a Chinese input method is found as in ASCII, and taken as
    /// written.
    static func plain(_ c: Character) -> Character {
        guard !c.isASCII, c.unicodeScalars.count == 1, let scalar = c.unicodeScalars.first else { return c }
        return Character(TypedText.plainASCII(scalar))
    }

    /// Walks `text`, calling `found` with each one found in order until it returns false.
    static func scan(_ text: String, _ reading: Reading = .current, _ found: (Found) -> Bool) {
        let chars = Array(text.indices)
        let plain = chars.map { Self.plain(text[$0]) }
        var i = 0
        // Where the last one found ends: an address found next starts there at the earliest
        // (`13812345678.li@example.org` is a phone, then `li@example.org`).
        var floor = 0
        while i < chars.count {
            let c = plain[i]
            if c == "@" {
                if let (end, address) = email(around: i, after: floor, in: text, chars, plain, reading) {
                    guard found(address) else { return }
                    i = end
                    floor = end
                    continue
                }
            } else if c.isASCII && (c.isNumber || c == "+" || c == "(")
                        && (i == 0 || i == floor || !isWordCharacter(plain[i - 1]) && plain[i - 1] != "@") {
                // What stands before it is read as it will stand once what was found is marked: right
                // after one found, a marker's `]` (`li@qq.com-(021) 6543-2109` leaves the phone
                // standing apart), so that nothing is left for ``first(in:)`` to find in the marked text.
                if let (end, phone) = phone(from: i, in: text, chars, plain, reading) {
                    // After a code's dash, slash or dot (`L1-0000042`, `STN-EAST-01`): part of it.
                    let glued = i - 2 >= floor && "-./".contains(plain[i - 1]) && isWordCharacter(plain[i - 2])
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

    /// The run of digits and separators from `start` (and before `limit`): where it ends, and the
    /// phone it is if it is one. `plain`: the text's characters as ``plain(_:)`` reads them;
    /// `chars`: where each is.
    static func phone(from start: Int, in text: String, _ chars: [String.Index], _ plain: [Character], _ reading: Reading = .current,
                      limit: Int? = nil) -> (Int, Found?)? {
        let bound = limit ?? plain.count
        var i = start
        var digits = 0
        var groups: [Int] = []
        var group = 0
        var values: [UInt8] = []
        func isDigit(_ k: Int) -> Bool { k < bound && plain[k].isASCII && plain[k].isNumber }
        func isSeparator(_ k: Int) -> Bool { k < bound && " -.()".contains(plain[k]) }
        if plain[i] == "+" { i += 1 }
        while i < bound {
            if isDigit(i) {
                digits += 1
                group += 1
                if digits <= 19 { values.append(plain[i].asciiValue! &- UInt8(ascii: "0")) }
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
        // A resident identity number: 18 digits, or 17 and an `X`.
        if digits == 17, end < bound, plain[end] == "X" || plain[end] == "x",
           end + 1 == plain.count || !isWordCharacter(plain[end + 1]) && plain[end + 1] != "@", isIDNumber(values + [10]) {
            let range = chars[start]..<text.index(after: chars[end])
            return (end + 1, Found(kind: .idNumber, value: String(text[range]), range: range))
        }
        // Before an `@`, an address's first part (`12345678@qq.com`), which the `@` finds whole.
        // What stands before that part, apart from it (`1764325 8@qq.com`: a space, which no
        // address holds), is read on its own, as it stands once the address is marked.
        if end < bound, plain[end] == "@" {
            if reading == .current, limit == nil, let cut = (start..<end).last(where: { " ()".contains(plain[$0]) }), cut > start {
                return (cut, phone(from: start, in: text, chars, plain, limit: cut)?.1)
            }
            return (end, nil)
        }
        // Glued to a letter or another number after it: a code, a plate, an amount.
        if end < bound, isWordCharacter(plain[end]) || plain[end] == ":" { return (end, nil) }
        var kind = Kind.phone
        if digits == 18, isIDNumber(values) {
            kind = .idNumber
        } else if (16...19).contains(digits), plain[start] != "+", isCardNumber(values) {
            kind = .cardNumber
        } else if !(7...15).contains(digits) {
            return (end, nil)
        }
        // A date written with its separators.
        if groups == [4, 2, 2] || groups == [2, 2, 4] || groups == [4, 1, 1] || groups == [1, 1, 4] { return (end, nil) }
        var last = end - 1
        while last > start, !isDigit(last) { last -= 1 }
        let range = chars[start]..<text.index(after: chars[last])
        return (end, Found(kind: kind, value: String(text[range]), range: range))
    }

    /// Whether `digits` (18, the last 10 for `X`) are a resident identity number: a birth date
    /// (YYYYMMDD from 1900) in places 7–14, and the check digit ISO 7064 MOD 11-2 gives.
    static func isIDNumber(_ digits: [UInt8]) -> Bool {
        guard digits.count == 18, digits[..<17].allSatisfy({ $0 < 10 }) else { return false }
        func number(_ r: Range<Int>) -> Int { digits[r].reduce(0) { $0 * 10 + Int($1) } }
        let year = number(6..<10), month = number(10..<12), day = number(12..<14)
        guard (1900...2099).contains(year), (1...12).contains(month), (1...31).contains(day) else { return false }
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        let sum = zip(digits, weights).reduce(0) { $0 + Int($1.0) * $1.1 }
        return Int(digits[17]) == (12 - sum % 11) % 11
    }

    /// Whether `digits` (16–19 of them) are a bank card number: a card network's beginning
    /// (UnionPay 62, Visa 4, Mastercard 51–55 and 2221–2720, American Express 34 and 37, JCB 35,
    /// Discover 6011 and 65) and the Luhn check digit last (every second digit from the right
    /// doubled, the digits of the products summed: the total is a multiple of 10).
    static func isCardNumber(_ digits: [UInt8]) -> Bool {
        guard (16...19).contains(digits.count) else { return false }
        let two = Int(digits[0]) * 10 + Int(digits[1])
        let four = two * 100 + Int(digits[2]) * 10 + Int(digits[3])
        guard digits[0] == 4 || (51...55).contains(two) || (2221...2720).contains(four) || [34, 35, 37, 62, 65].contains(two) || four == 6011
        else { return false }
        var sum = 0
        for (k, d) in digits.reversed().enumerated() {
            let v = Int(d)
            sum += k % 2 == 0 ? v : (v * 2 > 9 ? v * 2 - 9 : v * 2)
        }
        return sum % 10 == 0
    }

    /// The e-mail address whose `@` is at `at`, and the index of the character after it; or nil.
    static func email(around at: Int, after floor: Int = 0, in text: String, _ chars: [String.Index], _ plain: [Character],
                      _ reading: Reading = .current) -> (Int, Found)? {
        func part(_ c: Character) -> Bool { (c.isLetter || c.isNumber || ".-_+%'".contains(c)) && !c.isWhitespace }
        // Letters and digits of one kind, ASCII or not, on each side: Chinese written against an
        // address (`邮箱li@example.org谢谢`) is not part of it, and `李伟@例子.中国` is one.
        func extends(_ c: Character, _ kind: inout Bool?) -> Bool {
            guard part(c) else { return false }
            if ".-_+%'".contains(c) { return true }
            if let k = kind, k != c.isASCII { return false }
            kind = c.isASCII
            return true
        }
        // A dash of typesetting (`—`, `‐`; read as `-` in a phone) is in no address: it stands
        // between the address and the words around it (`李伟@例子.中国—谢谢`).
        func typeset(_ k: Int) -> Bool {
            guard reading == .current, plain[k] == "-", let scalar = text[chars[k]].unicodeScalars.first else { return false }
            return (0x2010...0x2015).contains(scalar.value) || scalar.value == 0x2212
        }
        var start = at
        var kind: Bool? = nil
        while start > floor, !typeset(start - 1), extends(plain[start - 1], &kind) { start -= 1 }
        // No address starts with a dot: one before it ends what stood there (`5678.li@…`).
        while start < at, plain[start] == "." { start += 1 }
        var end = at + 1
        kind = nil
        while end < chars.count, !typeset(end), extends(plain[end], &kind) { end += 1 }
        // A domain ends on a letter or a digit: a sentence's full stop after it is not the
        // address's, nor a dash or an underscore before what follows (`li@qq.com-(021) 6543-2109`).
        if reading == .before20261206 {
            while end > at + 1, plain[end - 1] == "." { end -= 1 }
        } else {
            while end > at + 1, !plain[end - 1].isLetter && !plain[end - 1].isNumber { end -= 1 }
        }
        guard start < at, end > at + 1 else { return nil }
        let domain = plain[(at + 1)..<end]
        guard domain.contains("."), domain.first != "." else { return nil }
        let range = chars[start]..<(end < chars.count ? chars[end] : text.endIndex)
        return (end, Found(kind: .email, value: String(text[range]), range: range))
    }
}
