/// Text as people type it, made into what the system compares.
public enum TypedText {
    /// `text` with what an input method or a word processor puts in place of ASCII made ASCII
    /// again: full-width letters, digits and signs (`Ｌ１－４２`, typed with a Chinese input
    /// method in full-width mode), the ideographic space, and the dashes U+2010–U+2015, U+2212
    /// (a case number pasted from a letter). Used on case numbers, tracking tokens, unit codes,
    /// badges, phone numbers and e-mail addresses, never on what a citizen wrote. Text that is
    /// ASCII already is returned as it is.
    public static func plainASCII(_ text: String) -> String {
        if isASCII(text) { return text }
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars { out.append(plainASCII(s)) }
        return String(out)
    }

    /// `s` as ``plainASCII(_:)-(String)`` makes it: the ASCII character a full-width form, the
    /// ideographic space or a dash stands for, else `s` itself.
    public static func plainASCII(_ s: Unicode.Scalar) -> Unicode.Scalar {
        switch s.value {
        case 0xFF01...0xFF5E: Unicode.Scalar(s.value - 0xFEE0)!
        case 0x3000: " "
        case 0x2010...0x2015, 0x2212, 0xFE58, 0xFE63: "-"
        default: s
        }
    }

    /// An officer's badge number as the system keeps it, however it was typed: without surrounding
    /// white space, full-width forms made ASCII, in capitals (`ｐｃ－１０４７２ ` is `PC-10472`).
    /// Intake keeps the badge a complaint names the same way, and the handler the officer a case is
    /// assigned to, so that one officer's cases are counted and found under one spelling.
    public static func badge(_ typed: String) -> String {
        let trimmed = typed.trimmingCharacters(in: .whitespacesAndNewlines)
        return plainASCII(trimmed).uppercased()
    }

    /// Whether `text` is all ASCII: over its contiguous bytes (walking `utf8` one index at a time
    /// costs tens of instructions a byte, and intake asks for every unit, badge, phone and e-mail).
    @inlinable
    public static func isASCII(_ text: some StringProtocol) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { bytes in
            var any: UInt8 = 0
            for b in bytes { any |= b }
            return any < 0x80
        } ?? text.utf8.allSatisfy { $0 < 0x80 }
    }
}
