/// How many columns a text takes on a terminal: two for each East Asian wide or full-width
/// character (Chinese, Japanese, Korean; full-width forms; most emoji), one for the others. The
/// command line's tables are lined up by it, so a reason written in Chinese does not push the
/// columns after it out of line.
public enum TerminalWidth {
    /// The columns `text` takes (one character, as a person sees it, at a time).
    public static func columns(_ text: some StringProtocol) -> Int {
        var n = 0
        for c in text {
            guard let first = c.unicodeScalars.first else { continue }
            n += isWide(first) ? 2 : 1
        }
        return n
    }

    /// `text` with spaces after it up to `width` columns (nothing added when it is wider).
    public static func padded(_ text: String, to width: Int) -> String {
        let have = columns(text)
        return have >= width ? text : text + String(repeating: " ", count: width - have)
    }

    /// East Asian Wide and Fullwidth (Unicode 15, UAX #11), by ranges.
    static func isWide(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0, 0x23F3,
             0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F, 0x2693, 0x26A1, 0x26AA...0x26AB,
             0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE, 0x26D4, 0x26EA, 0x26F2...0x26F3, 0x26F5, 0x26FA,
             0x26FD, 0x2705, 0x270A...0x270B, 0x2728, 0x274C, 0x274E, 0x2753...0x2755, 0x2757,
             0x2795...0x2797, 0x27B0, 0x27BF, 0x2B1B...0x2B1C, 0x2B50, 0x2B55,
             0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
             0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F004, 0x1F0CF, 0x1F18E, 0x1F191...0x1F19A,
             0x1F200...0x1F251, 0x1F300...0x1F64F, 0x1F680...0x1F6FF, 0x1F900...0x1F9FF,
             0x1FA70...0x1FAFF, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            true
        default:
            false
        }
    }
}
