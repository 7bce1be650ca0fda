import Foundation

/// A phone number or an e-mail address written into a submission's text ("call me back on
/// 138 1234 5678"). The text is read by everyone who works the case and by every service that
/// reads intake's stream; in the contact's fields the same number is sealed and read only by an
/// operator, each reading recorded. `liaison submit --ask` offers to move what it finds.
///
/// A nudge for a clerk, not a rule: what it finds is shown before anything changes.
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
    /// - An e-mail: a word with an `@` and a dot after it.
    public static func first(in text: String) -> Found? {
        let chars = Array(text.indices)
        var i = 0
        while i < chars.count {
            let c = text[chars[i]]
            if c == "@" {
                if let found = email(around: i, in: text, chars) { return found }
            } else if c.isASCII && (c.isNumber || c == "+" || c == "(") && (i == 0 || !isWordCharacter(text[chars[i - 1]])) {
                if let (end, found) = phone(from: i, in: text, chars) {
                    // After a code's dash, slash or dot (`L1-0000042`, `STN-EAST-01`): part of it.
                    let glued = i >= 2 && "-./".contains(text[chars[i - 1]]) && isWordCharacter(text[chars[i - 2]])
                    if let found, !glued { return found }
                    i = end
                    continue
                }
            }
            i += 1
        }
        return nil
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
        // Glued to a letter or another number after it: a code, a plate, an amount.
        if end < chars.count, isWordCharacter(text[chars[end]]) || text[chars[end]] == ":" { return (end, nil) }
        guard (7...15).contains(digits) else { return (end, nil) }
        // A date written with its separators.
        if groups == [4, 2, 2] || groups == [2, 2, 4] || groups == [4, 1, 1] || groups == [1, 1, 4] { return (end, nil) }
        var last = end - 1
        while last > start, !text[chars[last]].isNumber { last -= 1 }
        let range = chars[start]..<text.index(after: chars[last])
        return (end, Found(kind: .phone, value: String(text[range]), range: range))
    }

    /// The e-mail address whose `@` is at `at`, or nil.
    static func email(around at: Int, in text: String, _ chars: [String.Index]) -> Found? {
        func part(_ c: Character) -> Bool { (c.isLetter || c.isNumber || ".-_+%'".contains(c)) && !c.isWhitespace }
        var start = at
        while start > 0, part(text[chars[start - 1]]) { start -= 1 }
        var end = at + 1
        while end < chars.count, part(text[chars[end]]) { end += 1 }
        // A sentence's full stop after it is not the address's.
        while end > at + 1, text[chars[end - 1]] == "." { end -= 1 }
        guard start < at, end > at + 1 else { return nil }
        let domain = text[chars[at + 1]..<(end < chars.count ? chars[end] : text.endIndex)]
        guard domain.contains("."), !domain.hasPrefix(".") else { return nil }
        let range = chars[start]..<(end < chars.count ? chars[end] : text.endIndex)
        return Found(kind: .email, value: String(text[range]), range: range)
    }
}
