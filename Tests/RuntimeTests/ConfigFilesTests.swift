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

    /// A secret may carry the name it was issued under, so that what it opened can be put down to
    /// a person; a line that is not exactly a name and one word stays one secret.
    @Test func operatorSecretsMayBeNamed() throws {
        let dir = try TempDir()
        let file = dir.path + "/operators"
        try Data("""
            # name, then the secret; or the secret alone
            wang.li   9f3kQ2mZ7xT1vB8nL4pR
            zhou_min@pr	A7c9E2g4I6k8M0o1Q3s5
            unnamed-secret-long-enough
            correct horse battery staple
            王芳 Zq8Wv6Xt4Yr2Us0Tp9Oq
            """.utf8).write(to: URL(fileURLWithPath: file))
        let parsed = try OperatorCredentials.operators(inFile: file)
        #expect(parsed.map(\.name) == ["wang.li", "zhou_min@pr", "", "", ""])
        #expect(parsed.map(\.secret) == ["9f3kQ2mZ7xT1vB8nL4pR", "A7c9E2g4I6k8M0o1Q3s5", "unnamed-secret-long-enough",
                                         "correct horse battery staple", "王芳 Zq8Wv6Xt4Yr2Us0Tp9Oq"])
        // What the command line sends from the same file: the secret, never the name.
        #expect(try OperatorCredentials.secrets(inFile: file).first == "9f3kQ2mZ7xT1vB8nL4pR")
        let operators = try OperatorCredentials.resolve(path: file, environment: [:])
        #expect(operators.operatorName("9f3kQ2mZ7xT1vB8nL4pR") == "wang.li" && operators.operatorName("A7c9E2g4I6k8M0o1Q3s5") == "zhou_min@pr")
        #expect(operators.operatorName("unnamed-secret-long-enough") == "" && operators.operatorName("wang.li 9f3kQ2mZ7xT1vB8nL4pR") == nil)
        #expect(operators.operatorName("wang.li") == nil && operators.operatorName("") == nil)
        #expect(operators.names == ["wang.li", "zhou_min@pr"])
        // Over CURVE an operator's key stands in for a secret; a secret given beside it must be valid.
        #expect(operators.operatorName("", operatorKey: "console") == "curve:console")
        #expect(operators.operatorName("", operatorKey: nil) == nil)
        #expect(operators.operatorName("9f3kQ2mZ7xT1vB8nL4pR", operatorKey: "console") == "wang.li")
        #expect(operators.operatorName("unnamed-secret-long-enough", operatorKey: "console") == "curve:console")
        #expect(operators.operatorName("unnamed-secret-long-enough", operatorKey: nil) == "")
        #expect(operators.operatorName("a guess", operatorKey: "console") == nil)
        #expect(OperatorCredentials(secrets: []).operatorName("", operatorKey: "console") == "curve:console", "with no secrets configured at all")
        // The environment's secret is read as one such line.
        let fromEnvironment = try OperatorCredentials.resolve(path: nil, environment: ["LIAISON_OPERATOR_SECRET": "night.shift night-shift-secret-2026"])
        #expect(fromEnvironment.operatorName("night-shift-secret-2026") == "night.shift")
        // A short secret's warning names its place and its name, never its text.
        let weak = OperatorCredentials(operators: [.init(name: "desk-3", secret: "pr2026")])
        #expect(weak.warnings.count == 1 && weak.warnings[0].hasPrefix("operator secret 1 of 1 (desk-3) has 6 character(s)") && !weak.warnings[0].contains("pr2026"))
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

    /// In a container the topology names an instance by a name the others resolve; with
    /// --bind-all-interfaces it binds the port on every interface instead.
    @Test func bindAllInterfacesBindsTheTopologysPortsOnEveryInterface() throws {
        let topo = Topology.local
        var config = ServiceConfig(service: "intake", topology: topo, instance: .init(stream: "intake-1", requests: "tcp://intake:7101", events: "tcp://[fd00::1]:7102"),
                                   index: 0, databasePath: "/tmp/x.sqlite")
        #expect(config.bindEndpoint("tcp://intake:7101") == "tcp://intake:7101", "bound as named unless asked")
        config.bindAllInterfaces = true
        #expect(config.bindEndpoint("tcp://intake:7101") == "tcp://*:7101")
        #expect(config.bindEndpoint("tcp://[fd00::1]:7102") == "tcp://*:7102")
        #expect(config.bindEndpoint("ipc:///run/liaison/intake.req") == "ipc:///run/liaison/intake.req")
        #expect(config.bindEndpoint("tcp://") == "tcp://")
    }

    /// A file of secrets that every user may read is worth a warning at start (not a refusal).
    @Test func secretFilesOthersMayReadAreNamed() throws {
        let dir = try TempDir()
        let open = dir.file("operator-secrets"), closed = dir.file("contact-keys")
        for p in [open, closed] { try "x\n".write(toFile: p, atomically: true, encoding: .utf8) }
        chmod(open, 0o644)
        chmod(closed, 0o640)
        let warnings = SecretFiles.warnings([("the operator secrets", open), ("the contact keys", closed), ("the CURVE key pair", nil),
                                            ("a file that is not there", dir.file("none"))])
        #expect(warnings == ["the operator secrets \(open) may be read by every user of this machine (mode 644): chmod o-r \(open) (600 or 640)"])
    }
}
