import Foundation

/// The lines of an operator's text file (a routing policy, a calendar year, contact keys, operator
/// secrets) as an editor shows them.
///
/// A Swift `String` holds a Windows line end (`\r\n`) as one `Character`, so splitting at `"\n"`
/// reads a file saved on Windows (or pasted from a password manager) as one long line and reports
/// a fault on line 1 that the operator cannot see. Here every line end splits (`\n`, `\r\n`, `\r`),
/// numbers count the lines an editor counts (blank ones included), a UTF-8 byte-order mark is
/// dropped, and each line is trimmed of the spaces and tabs around it.
public enum ConfigFileLines {
    /// Every line of `text` with its 1-based number, trimmed; blank lines included.
    public static func numbered(_ text: String) -> [(number: Int, text: String)] {
        var body = Substring(text)
        if body.first == "\u{FEFF}" { body = body.dropFirst() }
        return body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().map { i, line in
            (i + 1, line.trimmingCharacters(in: .whitespaces))
        }
    }

    /// The lines that say something: not blank and not a `#` comment, each with its number.
    public static func meaningful(_ text: String) -> [(number: Int, text: String)] {
        numbered(text).filter { !$0.text.isEmpty && !$0.text.hasPrefix("#") }
    }
}
