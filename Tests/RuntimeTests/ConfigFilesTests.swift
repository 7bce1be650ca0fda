import Foundation
import LiaisonRuntime
import Testing

@Suite struct ConfigFilesTests {
    /// Every line end splits, numbers are an editor's, a byte-order mark goes, lines are trimmed.
    @Test func linesAreTheLinesAnEditorShows() {
        let lines = ConfigFiles.numbered("\u{FEFF}a \r\n\r\n\tb\rc\n# d\n")
        #expect(lines.map(\.number) == [1, 2, 3, 4, 5, 6] && lines.map(\.text) == ["a", "", "b", "c", "# d", ""])
        let meaningful = ConfigFiles.meaningful("\u{FEFF}# operators\r\n\r\n s1 \r\ns2\r\n")
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

    /// A file or directory that cannot be used is a configuration error naming the option and the
    /// reason, not Foundation's "Error Domain=NSCocoaErrorDomain Code=260".
    @Test func unreadableFilesAndDirectoriesSayWhy() throws {
        let dir = try TempDir()
        #expect { try ConfigFiles.read(dir.file("missing"), key: "operator-secrets") } throws: {
            "\($0)" == "configuration error at operator-secrets: cannot read \(dir.file("missing")): No such file or directory"
        }
        try Data([0xFF, 0xFE, 0x41]).write(to: URL(fileURLWithPath: dir.file("latin1")))
        #expect { try ConfigFiles.read(dir.file("latin1"), key: "policy") } throws: { "\($0)".hasSuffix("latin1 is not UTF-8 text") }
        #expect { try OperatorCredentials.resolve(path: dir.file("missing"), environment: [:]) } throws: { "\($0)".contains("No such file or directory") }
        try ConfigFiles.makeDirectory(dir.file("a/b/c"), key: "data-dir")
        try ConfigFiles.makeDirectory(dir.file("a/b/c"), key: "data-dir")   // there already: fine
        #expect(FileManager.default.fileExists(atPath: dir.file("a/b/c")))
        try Data().write(to: URL(fileURLWithPath: dir.file("plain")))
        #expect { try ConfigFiles.makeDirectory(dir.file("plain"), key: "data-dir") } throws: { "\($0)".hasSuffix("plain is not a directory") }
        #expect { try ConfigFiles.makeDirectory(dir.file("plain/sub"), key: "data-dir") } throws: { "\($0)".contains("Not a directory") }
    }
}
