import Foundation
import LiaisonCodec
import Logging
import Synchronization
import ZeroMQ

/// What a client allowed over CURVE may ask for (DESIGN §5: submitter, operator, consumer, service).
public enum CurveRole: String, CaseIterable, Sendable {
    /// A desk, the web front, the app: submits feedback and looks up a citizen's status.
    case submitter
    /// The office: every request; the key stands in for an operator secret (contact data, case
    /// commands).
    case `operator`
    /// A new consumer of the streams: replay, status, the report.
    case consumer
    /// Another service of the set: replay and status.
    case service

    /// Whether a client of this role may subscribe to a stream (a submitter may not: the desks
    /// and the web front have no business reading every citizen's feedback).
    public var maySubscribe: Bool { self != .submitter }

    /// Whether a client of this role may make a request with `body` (`plainSubmission`: a
    /// submission read in the plain shape, whose body is not looked into).
    /// What the role may send, as the proto names the requests, for a refusal.
    public var maySend: String {
        switch self {
        case .operator: "anything"
        case .submitter: "submit_feedback, submit_batch, get_feedback_status, get_status"
        case .consumer: "replay, get_report, get_status"
        case .service: "replay, get_status"
        }
    }

    public func permits(_ body: Liaison_V1_Request.OneOf_Body?, plainSubmission: Bool = false) -> Bool {
        if plainSubmission { return self == .submitter || self == .operator }
        switch (self, body) {
        case (.operator, _): return true
        case (_, .getStatus?): return true
        case (.submitter, .submitFeedback?), (.submitter, .submitBatch?), (.submitter, .getFeedbackStatus?): return true
        case (.consumer, .replay?), (.consumer, .getReport?): return true
        case (.service, .replay?): return true
        default: return false
        }
    }

    /// How a request refused for its client's CURVE key begins (the command line tells it apart
    /// from a refused operator secret by it).
    public static let refusalPrefix = "this client's CURVE key"

    /// The error for a request of `kind` from `client` (nil: a key no longer allowed).
    static func refusal(_ client: CurveClients.Client?, kind: String) -> WireError {
        .unauthorized(client.map { "\(refusalPrefix) is allowed as \($0.role.rawValue), which may not send \(kind) (\($0.role.rawValue) sends \($0.role.maySend))" }
                      ?? "\(refusalPrefix) is no longer in the service's --curve-clients file")
    }

    /// The request's kind as the proto names it (`list_cases`, not Swift's `listCases`), for a refusal.
    static func kind(_ body: Liaison_V1_Request.OneOf_Body?) -> String {
        guard let body else { return "(none)" }
        var name = ""
        for c in "\(body)".prefix(while: { $0 != "(" }) {
            if c.isUppercase { name += "_" + c.lowercased() } else { name.append(c) }
        }
        return name
    }
}

/// The clients a service lets in over CURVE: its `--curve-clients` file, one client a line,
/// `ROLE PUBLIC-KEY [NAME]` (`submitter rq:…Z85… desk-3`), `#` comments.
public struct CurveClients: Sendable {
    public struct Client: Sendable, Equatable {
        public let role: CurveRole
        public let publicKey: String
        public let name: String
    }

    /// By the Z85 public key (the `User-Id` each request of a let-in client carries; the ZAP
    /// handler encodes the 32 bytes it is given).
    public let byKey: [String: Client]

    public init(_ clients: [Client]) {
        byKey = Dictionary(clients.map { ($0.publicKey, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// Reads an allow-list; an unknown role, a key that is not one, or a key listed twice is an
    /// error naming its line.
    public static func parse(_ text: String, source: String) throws(ConfigError) -> CurveClients {
        var clients: [Client] = []
        var seen: [String: Int] = [:]
        for line in ConfigFiles.meaningful(text) {
            let words = line.text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let at = "\(source) line \(line.number)"
            guard words.count == 2 || words.count == 3 else {
                throw ConfigError("curve-clients", "\(at): expected 'ROLE PUBLIC-KEY [NAME]', got \(words.count) word(s)")
            }
            guard let role = CurveRole(rawValue: words[0]) else {
                throw ConfigError("curve-clients", "\(at): role \(WireError.quoted(words[0])) is not one of \(CurveRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard Curve.isKey(words[1]) else {
                throw ConfigError("curve-clients", "\(at): \(WireError.quoted(words[1])) is not a CURVE public key (40 Z85 characters, as liaison keygen prints)")
            }
            if let first = seen.updateValue(line.number, forKey: words[1]) {
                throw ConfigError("curve-clients", "\(at): the key is already on line \(first); one role a key")
            }
            clients.append(Client(role: role, publicKey: words[1], name: words.count == 3 ? words[2] : ""))
        }
        return CurveClients(clients)
    }

    public static func load(path: String) throws(ConfigError) -> CurveClients {
        try parse(try ConfigFiles.read(path, key: "curve-clients"), source: path)
    }
}

/// A key pair in a file, as `liaison keygen` writes it: `public Z85` and `secret Z85` lines.
public enum CurveKeyFile {
    public static func parse(_ text: String, source: String) throws(ConfigError) -> CurveKeyPair {
        var fields: [String: String] = [:]
        for line in ConfigFiles.meaningful(text) {
            let words = line.text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard words.count == 2, words[0] == "public" || words[0] == "secret" else {
                throw ConfigError("curve-key-file", "\(source) line \(line.number): expected 'public KEY' or 'secret KEY'")
            }
            fields[words[0]] = words[1]
        }
        guard let pub = fields["public"], let sec = fields["secret"] else {
            throw ConfigError("curve-key-file", "\(source) needs a 'public' and a 'secret' line (liaison keygen writes one)")
        }
        guard let keys = CurveKeyPair(publicKey: pub, secretKey: sec) else {
            throw ConfigError("curve-key-file", "\(source): a key is not 40 Z85 characters")
        }
        guard keys.isConsistent else {
            throw ConfigError("curve-key-file", "\(source): the public key is not the secret key's")
        }
        return keys
    }

    public static func load(path: String) throws(ConfigError) -> CurveKeyPair {
        try parse(try ConfigFiles.read(path, key: "curve-key-file"), source: path)
    }

    /// `--curve-key-file`, else `$LIAISON_CURVE_KEY_FILE`; nil when neither is given.
    public static func resolve(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> CurveKeyPair? {
        guard let p = path ?? environment["LIAISON_CURVE_KEY_FILE"], !p.isEmpty else { return nil }
        return try load(path: p)
    }

    /// The file's text for `keys`, named `name` in its comment.
    public static func text(_ keys: CurveKeyPair, name: String) -> String {
        """
        # Liaison CURVE key pair: \(name). Keep this file secret (mode 0600); give out the public line only.
        public \(keys.publicKey)
        secret \(keys.secretKey)

        """
    }
}

/// A service instance that serves over CURVE: its key pair, and the clients it lets in.
public struct ServiceCurve: Sendable {
    public let keys: CurveKeyPair
    public let clients: CurveAllowList

    public init(keys: CurveKeyPair, clients: CurveClients, path: String? = nil) {
        self.keys = keys
        self.clients = CurveAllowList(clients, path: path)
    }
}

/// The allow-list in force, read again from its file on SIGHUP or when the file changes. A key
/// taken out is refused from that moment: new connections by the ZAP handler, and every request of
/// a connection it let in before, since each request is checked against the list in force by its
/// client's key.
public final class CurveAllowList: Sendable {
    /// The list in force, when it was read, and the file as it was then (or as it was last found
    /// not to load), to see it change.
    private struct State {
        var clients: CurveClients
        var readAt: Date
        var stamp: FileStamp?
    }
    private let state: Mutex<State>
    private let revocationCount = Atomic<Int>(0)
    private let refusedCount = Atomic<UInt64>(0)
    /// The `--curve-clients` file it was read from.
    public let path: String?

    public init(_ clients: CurveClients, path: String?) {
        state = Mutex(State(clients: clients, readAt: Date(), stamp: path.flatMap(FileStamp.init(path:))))
        self.path = path
    }

    /// When the list in force was read.
    public var lastReadAt: Date { state.withLock { $0.readAt } }

    /// Connections the ZAP handler refused since start (``ZAPHandler`` counts them).
    public var refused: UInt64 { refusedCount.load(ordering: .relaxed) }
    func noteRefusal() { refusedCount.add(1, ordering: .relaxed) }

    /// A file's identity and last change, as `stat` gives them (through a symbolic link: a
    /// Kubernetes ConfigMap volume swaps a link to a new file).
    struct FileStamp: Equatable, Sendable {
        let device: UInt64, inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int

        init?(path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            seconds = st.st_mtim.tv_sec
            nanoseconds = st.st_mtim.tv_nsec
        }
    }

    /// Reads the file again if it changed since it was last read (``ZAPHandler`` looks every
    /// ``watchInterval``): an edit, or a new ConfigMap, is in force without a SIGHUP. A file that
    /// does not load is logged once, and the list in force stays until the file changes again.
    /// Returns whether the list was read again.
    @discardableResult
    public func reloadIfChanged(logger: Logger) -> Bool {
        guard let path, let now = FileStamp(path: path), state.withLock({ $0.stamp }) != now else { return false }
        do {
            try reload(logger: logger)
            return true
        } catch {
            state.withLock { $0.stamp = now }
            logger.error("CURVE clients file changed but does not load; the previous list stays", metadata: ["error": "\(error)"])
            return false
        }
    }

    /// How often the ZAP handler looks whether the file changed.
    public static let watchInterval: Double = 2

    /// The clients in force.
    public var clients: CurveClients { state.withLock { $0.clients } }

    /// The client in force with the Z85 public key `key`, if it is let in.
    public func client(withKey key: String) -> CurveClients.Client? { state.withLock { $0.clients.byKey[key] } }

    /// How many reloads so far took a key out or changed its role. ZAP is asked at a connection's
    /// handshake only, so a subscriber let in before would go on hearing the events stream: the
    /// request loop binds its events socket again when this moves, and every subscriber connects
    /// again through the list in force (requests are checked one by one, and need no such step).
    public var revocations: Int { revocationCount.load(ordering: .acquiring) }

    /// Reads the file again; a file that does not load is refused whole and the list in force stays.
    public func reload(logger: Logger) throws {
        guard let path else { return }
        let stamp = FileStamp(path: path)   // before reading: a change while it is read is seen next time
        let next = try CurveClients.load(path: path)
        let revoked = state.withLock { now -> Int in
            let revoked = now.clients.byKey.filter { key, client in next.byKey[key]?.role != client.role }.count
            now = State(clients: next, readAt: Date(), stamp: stamp)
            return revoked
        }
        logger.notice("CURVE clients reloaded: \(next.byKey.count) in force")
        if revoked > 0 {
            revocationCount.add(1, ordering: .releasing)
            logger.notice("\(revoked) CURVE key(s) taken out or given another role: their requests are refused from now on, and the events socket is bound again so that their subscriptions end")
        }
    }
}

/// The ZAP handler of a service serving over CURVE (RFC 27): libzmq asks it about every client's
/// handshake on `inproc://zeromq.zap.01`, and it lets in the keys of the allow-list, giving each
/// connection its client's key as the `User-Id` every request from it carries.
///
/// It binds its socket on its own thread, and the service starts its CURVE sockets only once it
/// has (``waitUntilBound()``): without a handler, libzmq would let every client in.
public final class ZAPHandler: ThreadLoop, Sendable {
    public let name: String
    public let pulse: Pulse
    /// The ZAP domains a service's sockets give (``Socket/setCurveServer(_:domain:)``), so that a
    /// key may be let into one and not the other.
    public static let requestsDomain = "liaison.requests"
    public static let eventsDomain = "liaison.events"
    private let allowList: CurveAllowList
    private let logger: Logger
    private let refusals = Mutex(SampledLogs(interval: 10))

    private enum Binding {
        case waiting([CheckedContinuation<Void, Error>])
        case done(Result<Void, Error>)
    }
    private let binding = Mutex(Binding.waiting([]))

    public init(clients: CurveAllowList, name: String, logger: Logger) {
        self.name = name
        self.pulse = Pulse(what: "the \(name) thread (CURVE authentication)")
        self.allowList = clients
        self.logger = logger
    }

    /// Returns once the handler's socket is bound (throws if binding failed).
    public func waitUntilBound() async throws {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, Error>) in
            let done: Result<Void, Error>? = binding.withLock { state in
                switch state {
                case .waiting(var waiters):
                    waiters.append(cont)
                    state = .waiting(waiters)
                    return nil
                case .done(let result):
                    return result
                }
            }
            if let done { cont.resume(with: done) }
        }
    }

    private func bound(_ result: Result<Void, Error>) {
        let waiters: [CheckedContinuation<Void, Error>] = binding.withLock { state in
            guard case .waiting(let waiters) = state else { return [] }
            state = .done(result)
            return waiters
        }
        for w in waiters { w.resume(with: result) }
    }

    public func run(context: Context, stop: StopFlag) throws {
        let s: Socket
        do {
            s = try Socket(context: context, type: .rep, role: "zap", linger: 0)
            try s.bind("inproc://zeromq.zap.01")
        } catch {
            bound(.failure(error))
            throw error
        }
        bound(.success(()))
        defer { s.close() }
        // On the monotonic clock: with the wall clock stepped back, a key taken out of the
        // allow-list was let in for as long as the step.
        var lookedAt = SuspendingClock.now
        while !stop.isSet {
            pulse.beat()
            if SuspendingClock.now - lookedAt >= .seconds(CurveAllowList.watchInterval) {
                allowList.reloadIfChanged(logger: logger)
                lookedAt = .now
            }
            guard try s.waitReadable(timeout: 100), let request = try s.receiveMultipart() else { continue }
            try s.send(multipart: answer(request))
        }
    }

    /// The reply to one ZAP request: `[version, request id, status, text, user id, metadata]`.
    func answer(_ r: [[UInt8]]) -> [[UInt8]] {
        let version = Array("1.0".utf8)
        guard r.count >= 6, r[0] == version else {
            return [version, r.count > 1 ? r[1] : [], Array("400".utf8), Array("malformed ZAP request".utf8), [], []]
        }
        let mechanism = String(decoding: r[5], as: UTF8.self)
        guard mechanism == "CURVE", r.count >= 7, let client = Curve.encode(r[6]).flatMap(allowList.client(withKey:)) else {
            allowList.noteRefusal()
            let key = r.count >= 7 ? (Curve.encode(r[6]) ?? "?") : "none"
            let address = String(decoding: r[3], as: UTF8.self)
            refusals.withLock {
                $0.log("refused", .warning, "CURVE client refused: its key is not in the --curve-clients file",
                       metadata: ["public_key": "\(key)", "mechanism": "\(mechanism)", "address": "\(address)"], logger: logger)
            }
            return [version, r[1], Array("400".utf8), Array("key not allowed".utf8), [], []]
        }
        let domain = String(decoding: r[2], as: UTF8.self)
        if domain == Self.eventsDomain && !client.role.maySubscribe {
            allowList.noteRefusal()
            refusals.withLock {
                $0.log("no-subscribe", .warning, "CURVE client refused on the events socket: its role may not subscribe",
                       metadata: ["client": "\(client.role.rawValue):\(client.name)"], logger: logger)
            }
            return [version, r[1], Array("400".utf8), Array("role may not subscribe".utf8), [], []]
        }
        // The key itself: each request is checked against the list in force by it (``CurveAllowList``).
        return [version, r[1], Array("200".utf8), Array("OK".utf8), Array(client.publicKey.utf8), []]
    }
}

/// Which of a service's bound endpoints other machines can reach while it serves plain ZMTP: said
/// once at start, so that the operator of a set spread over hosts learns from the log that
/// submissions, contact data and operator secrets cross the network unencrypted, to anyone who
/// reaches the port, until the set has CURVE keys (`liaison keygen`).
public enum PlainExposure {
    /// The endpoints among `bound` (as bound: `tcp://*:7101`, `tcp://10.0.0.5:7101`, `ipc://…`)
    /// that another machine may reach: TCP on every interface (`*`, `0.0.0.0`, `::`), on a host
    /// name or on an address outside loopback. `ipc://` and `inproc://` stay on this machine, and so
    /// does TCP on `127.0.0.0/8`, `::1`, `localhost` or the interface `lo`.
    public static func reachableFromOtherHosts(_ bound: [String]) -> [String] {
        bound.filter { endpoint in
            guard endpoint.hasPrefix("tcp://") else { return false }
            var host = String(endpoint.dropFirst("tcp://".count))
            if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
            // `tcp://eth0;10.0.0.5:7101` names a source interface first: the address is what counts.
            if let semicolon = host.lastIndex(of: ";") { host = String(host[host.index(after: semicolon)...]) }
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let lower = host.lowercased()
            if lower == "localhost" || lower == "::1" || lower == "lo" { return false }  // `lo`: the loopback interface by name
            let octets = lower.split(separator: ".", omittingEmptySubsequences: false)
            if octets.count == 4, octets[0] == "127", octets.allSatisfy({ UInt8($0) != nil }) { return false }
            return true
        }
    }

    /// The warning for a service that serves plain ZMTP on `bound`, or nil when none of those
    /// endpoints is reachable from another machine.
    public static func warning(bound: [String]) -> String? {
        let reachable = reachableFromOtherHosts(bound)
        guard !reachable.isEmpty else { return nil }
        return "serving plain ZMTP on \(reachable.joined(separator: ", ")), which other machines can reach: "
            + "anyone who reaches these ports is let in, and submissions, contact data and operator secrets cross the network unencrypted. "
            + "Give the set CURVE keys (liaison keygen; docs/PROTOCOL.md, \"CURVE\") unless this network is closed to everyone else"
    }
}
