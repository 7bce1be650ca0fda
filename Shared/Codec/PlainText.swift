/// What a free-text field from the public or an operator may hold, and how such text is shown
/// safely on a terminal or in a log line.
///
/// Control characters (C0 but tab, line feed and carriage return; DEL; C1) are refused at the
/// services: SQLite, bound through GRDB, stores a text up to its first NUL (the rest, acknowledged,
/// would be lost), and an escape sequence in a citizen's text would drive the terminal of the
/// operator who reads the case. What was stored before the rule, or reaches a terminal some other
/// way, is shown through ``escapingControls(_:keepingLineBreaks:)``.
public enum PlainText {
    /// A control character found in a field: the scalar and its place, counted in characters from 1.
    public struct Control: Equatable, Sendable {
        public let scalar: Unicode.Scalar
        public let character: Int

        /// `U+001B (escape) at character 7`.
        public var described: String {
            let hex = String(scalar.value, radix: 16, uppercase: true)
            let name = Self.names[scalar.value].map { " (\($0))" } ?? ""
            return "U+\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex)\(name) at character \(character)"
        }

        /// What a service answers for field `name` holding it: `text holds a control character,
        /// U+001B (escape) at character 7: remove it (tabs, line and page breaks may stay)`.
        public func refusal(_ name: String, lineBreaks: Bool) -> String {
            "\(name) holds a control character, \(described): remove it" + (lineBreaks ? " (tabs, line and page breaks may stay)" : "")
        }

        static let names: [UInt32: String] = [0x00: "NUL", 0x07: "bell", 0x08: "backspace", 0x09: "tab", 0x0A: "line feed",
                                              0x0B: "vertical tab", 0x0C: "form feed", 0x0D: "carriage return",
                                              0x1B: "escape", 0x7F: "delete", 0x85: "next line", 0x9B: "control sequence introducer"]
    }

    /// The offset of the first byte of a control character in `bytes` (C0 but, with `lineBreaks`,
    /// tab, line feed, vertical tab, form feed and carriage return; DEL; C1, whose UTF-8 starts with
    /// 0xC2 0x80–0x9F), or nil.
    /// Eight bytes at a time: a word with no byte under 0x20, no 0x7F and no 0xC2 (nearly every
    /// word of a text) is passed over in a few instructions.
    static func firstControlOffset(_ bytes: UnsafeBufferPointer<UInt8>, lineBreaks: Bool) -> Int? {
        let n = bytes.count
        guard let base = bytes.baseAddress else { return nil }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        /// Whether the eight bytes at `i` hold no byte under 0x20 (its high bit clear and under 0x20
        /// after the subtraction), no 0x7F and no 0xC2.
        @inline(__always) func plainWord(at i: Int) -> Bool {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            return (w &- ones &* 0x20) & ~w & highs == 0 && !hasZero(w ^ (ones &* 0x7F)) && !hasZero(w ^ (ones &* 0xC2))
        }
        var i = 0
        while i + 8 <= n && plainWord(at: i) { i += 8 }
        while i < n {
            let b = base[i]
            if b < 0x20 ? !(lineBreaks && b >= 0x09 && b <= 0x0D) : b == 0x7F { return i }
            if b == 0xC2 && i + 1 < n && base[i + 1] <= 0x9F { return i }
            i += 1
            // Back to whole words once past what stopped the fast loop (a letter's line breaks).
            if i & 7 == 0 { while i + 8 <= n && plainWord(at: i) { i += 8 } }
        }
        return nil
    }

    /// The first control character of `text`, or nil. With `lineBreaks`, tab, line feed, vertical
    /// tab, form feed and carriage return are allowed: a letter's lines, a line break copied from a
    /// word processor (vertical tab), the page break between the pages of a scanned letter (form
    /// feed, as OCR writes it). Over the contiguous bytes, a word at a
    /// time: it runs on every submission's text.
    public static func firstControl(in text: String, lineBreaks: Bool) -> Control? {
        var text = text
        guard let offset = text.withUTF8({ firstControlOffset($0, lineBreaks: lineBreaks) }) else { return nil }
        let utf8 = text.utf8
        let at = utf8.index(utf8.startIndex, offsetBy: offset)
        let scalar = text.unicodeScalars[at]
        return Control(scalar: scalar, character: text[..<at].count + 1)
    }

    /// Whether `text` holds something a reader can see: a character that is not white space, a
    /// control or a format character (zero-width space, word joiner, byte-order mark…). A text of
    /// zero-width spaces alone is as empty as one of spaces.
    public static func hasVisibleCharacter(_ text: Substring) -> Bool {
        // The usual case, read off the bytes: a printable ASCII character before any other.
        let ascii = text.utf8.withContiguousStorageIfAvailable { bytes -> Bool? in
            for b in bytes {
                if b > 0x20 && b < 0x7F { return true }
                if b >= 0x80 { return nil }
            }
            return false
        }
        if let found = ascii ?? nil { return found }
        for s in text.unicodeScalars {
            if s.value < 0x80 {
                if s.value > 0x20 && s.value < 0x7F { return true }
                continue
            }
            let p = s.properties
            if p.isWhitespace || p.isDefaultIgnorableCodePoint { continue }
            switch p.generalCategory {
            case .control, .format, .unassigned, .surrogate: continue
            default: return true
            }
        }
        return false
    }

    /// ``hasVisibleCharacter(_:)-(Substring)`` of a whole string.
    public static func hasVisibleCharacter(_ text: String) -> Bool { hasVisibleCharacter(text[...]) }

    /// `text` with every control character written as `\u001B` (what JSON writes too, so JSON
    /// output stays JSON): safe to put on a terminal or in a log line. With `keepingLineBreaks`,
    /// line feeds and tabs stay as they are (a letter printed in full); a carriage return, which
    /// would let a text write over the line before it, is always escaped. So are the bidirectional
    /// overrides and isolates (U+202A–U+202E, U+2066–U+2069), which intake takes inside a text but
    /// which would let it show its line in another order than it is stored (as compilers warn of
    /// "Trojan source"); the marks a right-to-left text uses (U+200E, U+200F) stay.
    public static func escapingControls(_ text: String, keepingLineBreaks: Bool = false) -> String {
        func unsafe(_ s: Unicode.Scalar) -> Bool {
            let v = s.value
            if keepingLineBreaks && (v == 0x0A || v == 0x09) { return false }
            return v < 0x20 || (v >= 0x7F && v <= 0x9F) || (v >= 0x202A && v <= 0x202E) || (v >= 0x2066 && v <= 0x2069)
        }
        var copy = text
        let clean = copy.withUTF8 { bytes in
            for (i, b) in bytes.enumerated() {
                if b < 0x20 && !(keepingLineBreaks && (b == 0x0A || b == 0x09)) { return false }
                if b == 0x7F || (b == 0xC2 && i + 1 < bytes.count && bytes[i + 1] <= 0x9F) { return false }
                // U+202A–U+202E are E2 80 AA–AE; U+2066–U+2069 are E2 81 A6–A9.
                if b == 0xE2 && i + 2 < bytes.count
                    && ((bytes[i + 1] == 0x80 && (0xAA...0xAE).contains(bytes[i + 2])) || (bytes[i + 1] == 0x81 && (0xA6...0xA9).contains(bytes[i + 2]))) {
                    return false
                }
            }
            return true
        }
        if clean { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for s in text.unicodeScalars {
            if unsafe(s) {
                let hex = String(s.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(s)
            }
        }
        return out
    }
}
