import Foundation

/// Operators' credentials: a shared secret from the operator configuration (to be replaced by
/// CURVE client keys with roles when transport authentication lands).
public struct OperatorCredentials: Sendable {
    let secrets: [String]

    public init(secrets: [String]) { self.secrets = secrets.filter { !$0.isEmpty } }

    /// Whether any operator secret is configured.
    public var isConfigured: Bool { !secrets.isEmpty }

    /// Fewer characters than this and a secret is worth a warning: anyone who reaches the service
    /// may try secrets (each refusal is logged, but a sampled log line is no lock).
    public static let advisedLength = 16

    /// What the operator should hear at start about the secrets: one line for each that is shorter
    /// than ``advisedLength`` (by its position, never its text).
    public var warnings: [String] {
        secrets.enumerated().compactMap { i, s in
            s.count >= Self.advisedLength ? nil
                : "operator secret \(i + 1) of \(secrets.count) has \(s.count) character(s): one that short can be guessed by anyone who reaches the service; use \(Self.advisedLength) or more (e.g. openssl rand -base64 24)"
        }
    }

    /// `--operator-secret-file` (one secret per line), else `$LIAISON_OPERATOR_SECRET`; none: nobody is an operator.
    public static func resolve(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> OperatorCredentials {
        if let p = path { return OperatorCredentials(secrets: try secrets(inFile: p)) }
        return OperatorCredentials(secrets: [environment["LIAISON_OPERATOR_SECRET"] ?? ""])
    }

    /// The secrets in a file: one a line, trimmed, blank lines and `#` comments left out, any line
    /// end (a file saved on Windows holds the same secrets). The service reads its operators' file
    /// and the command line an operator's own file the same way, so the same file works for both.
    public static func secrets(inFile path: String) throws -> [String] {
        ConfigFiles.meaningful(try ConfigFiles.read(path, key: "operator-secrets")).map(\.text)
    }

    /// Whether `credential` is an operator's (compared in constant time).
    public func isOperator(_ credential: String) -> Bool {
        guard !credential.isEmpty else { return false }
        let given = Array(credential.utf8)
        var ok = false
        for s in secrets {
            let want = Array(s.utf8)
            guard want.count == given.count else { continue }
            var diff: UInt8 = 0
            for i in 0..<want.count { diff |= want[i] ^ given[i] }
            if diff == 0 { ok = true }
        }
        return ok
    }
}
