import Foundation
import LiaisonRuntime
import Testing

@Suite struct ConfigFileLinesTests {
    /// Every line end splits, numbers are an editor's, a byte-order mark goes, lines are trimmed.
    @Test func linesAreTheLinesAnEditorShows() {
        let lines = ConfigFileLines.numbered("\u{FEFF}a \r\n\r\n\tb\rc\n# d\n")
        #expect(lines.map(\.number) == [1, 2, 3, 4, 5, 6] && lines.map(\.text) == ["a", "", "b", "c", "# d", ""])
        let meaningful = ConfigFileLines.meaningful("\u{FEFF}# operators\r\n\r\n s1 \r\ns2\r\n")
        #expect(meaningful.map(\.number) == [3, 4] && meaningful.map(\.text) == ["s1", "s2"])
    }

    /// An operators' file saved on Windows holds the same secrets for the service and the command
    /// line; before, the whole file was one secret (`s1\r\ns2\r\n`) and the comment was the CLI's.
    @Test func operatorSecretsFromAWindowsFile() throws {
        let dir = try TempDir()
        let file = dir.path + "/operators"
        try Data("# the PR office's operators\r\ns1-long-enough-secret\r\n\r\ns2-long-enough-secret\r\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try OperatorCredentials.secrets(inFile: file) == ["s1-long-enough-secret", "s2-long-enough-secret"])
        let operators = try OperatorCredentials.resolve(path: file, environment: [:])
        #expect(operators.isOperator("s1-long-enough-secret") && operators.isOperator("s2-long-enough-secret"))
        #expect(!operators.isOperator("# the PR office's operators") && !operators.isOperator("s1-long-enough-secret\r"))
        #expect(operators.warnings.isEmpty)
        // A short secret is named by its place, never by its text.
        let weak = OperatorCredentials(secrets: ["s1-long-enough!!", "pr2026"])
        #expect(weak.warnings.count == 1 && weak.warnings[0].hasPrefix("operator secret 2 of 2 has 6 character(s)") && !weak.warnings[0].contains("pr2026"))
    }
}
