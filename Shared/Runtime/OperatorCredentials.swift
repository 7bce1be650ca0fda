import Foundation
import Logging
import Synchronization

/// Operators' credentials: secrets from the operator configuration, and over CURVE the client keys
/// the allow-list lets in as operators, which stand in for a secret (``operatorName(_:operatorKey:)``).
///
/// A line of the operators' file is a secret alone, or a name and a secret (`wang.li 9f3k…`), so
/// that what a secret opened can be put down to the person it was issued to: intake records the
/// name with every contact disclosure. A secret is one word: a line of two words whose first is a
/// name (letters, digits, `.`, `_`, `-`, `@`; at most 64) is a named secret.
public struct OperatorCredentials: Sendable {
    /// One operator's secret, with the name it was issued under ("" when the line gives none).
    public struct Operator: Sendable, Equatable {
        public let name: String
        public let secret: String

        public init(name: String = "", secret: String) {
            self.name = name
            self.secret = secret
        }
    }

    let operators: [Operator]

    /// Unnamed secrets (as `$LIAISON_OPERATOR_SECRET` gives one).
    public init(secrets: [String]) { self.init(operators: secrets.map { Operator(secret: $0) }) }

    public init(operators: [Operator]) { self.operators = operators.filter { !$0.secret.isEmpty } }

    /// Whether any operator secret is configured.
    public var isConfigured: Bool { !operators.isEmpty }

    /// The names the secrets were issued under, in file order (unnamed ones left out).
    public var names: [String] { operators.map(\.name).filter { !$0.isEmpty } }

    /// Fewer characters than this and a secret is worth a warning: anyone who reaches the service
    /// may try secrets (each refusal is logged, but a sampled log line is no lock).
    public static let advisedLength = 16

    /// What the operator should hear at start about the secrets: one line for each that is shorter
    /// than ``advisedLength`` (by its position and name, never its text).
    public var warnings: [String] {
        operators.enumerated().compactMap { i, o in
            o.secret.count >= Self.advisedLength ? nil
                : "operator secret \(i + 1) of \(operators.count)\(o.name.isEmpty ? "" : " (\(o.name))") has \(o.secret.count) character(s): one that short can be guessed by anyone who reaches the service; use \(Self.advisedLength) or more (e.g. openssl rand -base64 24)"
        }
    }

    /// `--operator-secret-file` (one secret per line, each may be named), else
    /// `$LIAISON_OPERATOR_SECRET` (read as one such line); none: nobody is an operator.
    public static func resolve(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> OperatorCredentials {
        if let p = path { return OperatorCredentials(operators: try operators(inFile: p)) }
        return OperatorCredentials(operators: [parse(environment["LIAISON_OPERATOR_SECRET"] ?? "")])
    }

    /// The operators in a file: one a line, trimmed, blank lines and `#` comments left out, any
    /// line end (a file saved on Windows holds the same secrets).
    public static func operators(inFile path: String) throws -> [Operator] {
        ConfigFiles.meaningful(try ConfigFiles.read(path, key: "operator-secrets")).map { parse($0.text) }
    }

    /// The secrets in a file, without their names: what the command line sends. The service reads
    /// its operators' file and the command line an operator's own file the same way, so the same
    /// line works for both.
    public static func secrets(inFile path: String) throws -> [String] {
        try operators(inFile: path).map(\.secret)
    }

    /// One line: `SECRET`, or `NAME SECRET`.
    public static func parse(_ line: String) -> Operator {
        let text = line.trimmingCharacters(in: .whitespaces)
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if words.count == 2, words[0].count <= 64,
           words[0].unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || ".-_@".unicodeScalars.contains($0)) }) {
            return Operator(name: String(words[0]), secret: String(words[1]))
        }
        return Operator(secret: text)
    }

    /// The name of the operator whose secret `credential` is ("" for an unnamed secret), or nil
    /// when it is nobody's. Every secret is compared, each in constant time.
    public func operatorName(_ credential: String) -> String? {
        guard !credential.isEmpty else { return nil }
        let given = Array(credential.utf8)
        var found: String?
        for o in operators {
            let want = Array(o.secret.utf8)
            guard want.count == given.count else { continue }
            var diff: UInt8 = 0
            for i in 0..<want.count { diff |= want[i] ^ given[i] }
            if diff == 0 && found == nil { found = o.name }
        }
        return found
    }

    /// Whether `credential` is an operator's.
    public func isOperator(_ credential: String) -> Bool { operatorName(credential) != nil }

    /// The name to record for a request that carries `credential` and came with the CURVE key
    /// `operatorKey` names (its allow-list name, when the key is let in as an operator; nil
    /// otherwise), or nil when neither makes it an operator's. A secret given must be valid, key or
    /// not; its name is recorded, or for an unnamed one the key's. Without a secret, an operator's
    /// key is the credential: ``keyName(_:)`` of its name.
    public func operatorName(_ credential: String, operatorKey: String?) -> String? {
        if credential.isEmpty { return operatorKey.map(Self.keyName) }
        guard let name = operatorName(credential) else { return nil }
        return name.isEmpty ? operatorKey.map(Self.keyName) ?? "" : name
    }

    /// How an operator's CURVE key is named where a secret's name would be (audit trail,
    /// disclosures): `curve:` and its allow-list name.
    public static func keyName(_ name: String) -> String { keyNamePrefix + name }
    public static let keyNamePrefix = "curve:"
}

extension OperatorCredentials {
    /// Logs what the operator should know of these secrets: each that is too short
    /// (``warnings``), and the names they were issued under. At start and at every reload.
    public func announce(to logger: Logger) {
        warnings.forEach { logger.warning("\($0)") }
        if !names.isEmpty { logger.info("operator secrets issued to: \(names.joined(separator: ", "))") }
    }
}

/// The operator secrets a running service checks, replaced whole when its operators' file is read
/// again (SIGHUP): a secret taken out of the file stops working at once, without a restart, and a
/// new clerk's works as soon as it is added.
public final class OperatorRoster: Sendable {
    private let current: Mutex<OperatorCredentials>

    public init(_ credentials: OperatorCredentials) { current = Mutex(credentials) }

    /// The secrets in force.
    public var credentials: OperatorCredentials { current.withLock { $0 } }

    /// Puts `next` in force. With `keepSomeone`, a file that names no secret at all is refused
    /// (``ConfigError`` at `operator-secrets`) when secrets are in force: for a service that takes
    /// anyone's requests when none is configured (the handler's case commands), an emptied file
    /// must not open it to everybody. Logs what is now in force.
    public func reload(_ next: OperatorCredentials, keepSomeone: Bool, logger: Logger) throws {
        try current.withLock { now in
            if keepSomeone && now.isConfigured && !next.isConfigured {
                throw ConfigError("operator-secrets", "the file names no operator secret: with none, anyone who reaches the service could give its commands; the \(now.operators.count) secret(s) in force stay")
            }
            now = next
        }
        next.announce(to: logger)
        logger.notice("operator secrets reloaded: \(next.operators.count) in force")
    }

    /// SIGHUP's reading of the operators' file at `path` (none given: nothing to read, since the
    /// environment of a running process does not change). A file that does not load, or that
    /// `keepSomeone` refuses, is logged, and the secrets in force stay.
    public func reload(path: String?, keepSomeone: Bool, logger: Logger) {
        guard let path else { return }
        do { try reload(OperatorCredentials.resolve(path: path), keepSomeone: keepSomeone, logger: logger) } catch {
            logger.error("operator secrets not reloaded; the previous ones stay", metadata: ["error": "\(error)"])
        }
    }
}
