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

        static let names: [UInt32: String] = [0x00: "NUL", 0x07: "bell", 0x08: "backspace", 0x09: "tab", 0x0A: "line feed",
                                              0x0B: "vertical tab", 0x0C: "form feed", 0x0D: "carriage return",
                                              0x1B: "escape", 0x7F: "delete", 0x85: "next line", 0x9B: "control sequence introducer"]
    }

    /// Whether `b` is the first byte of a control character's UTF-8 (C0, DEL; C1 starts with 0xC2).
    @inline(__always) static func isControlByte(_ b: UInt8, lineBreaks: Bool) -> Bool {
        b < 0x20 ? !(lineBreaks && (b == 0x09 || b == 0x0A || b == 0x0D)) : b == 0x7F
    }

    /// The first control character of `text`, or nil. With `lineBreaks`, tab, line feed and
    /// carriage return are allowed (a letter's lines). Over the contiguous bytes: it runs on every
    /// submission's text, and a text of 4,000 characters takes a few microseconds at most.
    public static func firstControl(in text: String, lineBreaks: Bool) -> Control? {
        var text = text
        let found: Int? = text.withUTF8 { bytes in
            var i = 0
            let n = bytes.count
            while i < n {
                let b = bytes[i]
                if isControlByte(b, lineBreaks: lineBreaks) { return i }
                if b == 0xC2 && i + 1 < n && bytes[i + 1] >= 0x80 && bytes[i + 1] <= 0x9F { return i }
                i += 1
            }
            return nil
        }
        guard let offset = found else { return nil }
        let utf8 = text.utf8
        let at = utf8.index(utf8.startIndex, offsetBy: offset)
        let scalar = text.unicodeScalars[at]
        return Control(scalar: scalar, character: text[..<at].count + 1)
    }

    /// Whether `text` holds something a reader can see: a character that is not white space, a
    /// control or a format character (zero-width space, word joiner, byte-order mark…). A text of
    /// zero-width spaces alone is as empty as one of spaces.
    public static func hasVisibleCharacter(_ text: some StringProtocol) -> Bool {
        // The usual case, read off the bytes: a printable ASCII character.
        for b in text.utf8 where b > 0x20 && b < 0x7F { return true }
        for s in text.unicodeScalars where s.value >= 0x80 {
            let p = s.properties
            if p.isWhitespace || p.isDefaultIgnorableCodePoint { continue }
            switch p.generalCategory {
            case .control, .format, .unassigned, .surrogate: continue
            default: return true
            }
        }
        return false
    }

    /// `text` with every control character written as `\u001B` (what JSON writes too, so JSON
    /// output stays JSON): safe to put on a terminal or in a log line. With `keepingLineBreaks`,
    /// line feeds and tabs stay as they are (a letter printed in full); a carriage return, which
    /// would let a text write over the line before it, is always escaped.
    public static func escapingControls(_ text: String, keepingLineBreaks: Bool = false) -> String {
        func unsafe(_ s: Unicode.Scalar) -> Bool {
            let v = s.value
            if keepingLineBreaks && (v == 0x0A || v == 0x09) { return false }
            return v < 0x20 || (v >= 0x7F && v <= 0x9F)
        }
        var copy = text
        let clean = copy.withUTF8 { bytes in
            for (i, b) in bytes.enumerated() {
                if b < 0x20 && !(keepingLineBreaks && (b == 0x0A || b == 0x09)) { return false }
                if b == 0x7F || (b == 0xC2 && i + 1 < bytes.count && bytes[i + 1] <= 0x9F) { return false }
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
