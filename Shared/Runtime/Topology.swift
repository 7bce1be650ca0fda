import Foundation
import LiaisonCodec
import ZeroMQ

/// Every service's endpoints, instances and streams, from one file that every service, the CLI and
/// any new consumer read (DESIGN §3).
///
/// The file is JSON:
/// ```json
/// { "services": {
///     "intake":    [ { "stream": "intake-1",    "requests": "tcp://127.0.0.1:7101", "events": "tcp://127.0.0.1:7102" } ],
///     "handler":   [ { "stream": "handler-1",   "requests": "tcp://127.0.0.1:7201", "events": "tcp://127.0.0.1:7202" } ],
///     "scheduler": [ { "stream": "scheduler-1", "requests": "tcp://127.0.0.1:7301", "events": "tcp://127.0.0.1:7302" } ],
///     "reporting": [ { "stream": "reporting-1", "requests": "tcp://127.0.0.1:7401", "events": "tcp://127.0.0.1:7402" } ] } }
/// ```
public struct Topology: Codable, Sendable, Equatable {
    /// One running instance of a service.
    public struct Instance: Codable, Sendable, Equatable {
        /// Its stream id; unique across the topology.
        public var stream: String
        /// The ROUTER endpoint for requests (and replay).
        public var requests: String
        /// The PUB endpoint for events.
        public var events: String
        /// The instance's CURVE public key (Z85), when it serves over CURVE: its clients and
        /// subscribers connect with a key pair of their own, which its `--curve-clients` file must
        /// allow. Absent: plain ZMTP.
        public var curvePublicKey: String?

        public init(stream: String, requests: String, events: String, curvePublicKey: String? = nil) {
            self.stream = stream
            self.requests = requests
            self.events = events
            self.curvePublicKey = curvePublicKey
        }

        enum CodingKeys: String, CodingKey {
            case stream, requests, events
            case curvePublicKey = "curve_public_key"
        }
    }

    /// The services by name: `intake`, `handler`, `scheduler`, `reporting`.
    public var services: [String: [Instance]]

    public init(services: [String: [Instance]]) { self.services = services }

    public static let serviceNames = ["intake", "handler", "scheduler", "reporting"]

    /// The local topology of DESIGN §3: one instance each on 127.0.0.1, ports 7101–7402.
    public static let local: Topology = {
        var s: [String: [Instance]] = [:]
        for (i, name) in serviceNames.enumerated() {
            let base = 7101 + 100 * i
            s[name] = [Instance(stream: "\(name)-1", requests: "tcp://127.0.0.1:\(base)", events: "tcp://127.0.0.1:\(base + 1)")]
        }
        return Topology(services: s)
    }()

    /// A topology with every endpoint an `ipc://` socket in `directory` (tests: no ports to collide).
    public static func ipc(in directory: String, instances: [String: Int] = [:]) -> Topology {
        var s: [String: [Instance]] = [:]
        for name in serviceNames {
            s[name] = (1...(instances[name] ?? 1)).map { i in
                Instance(stream: "\(name)-\(i)", requests: "ipc://\(directory)/\(name)-\(i).req",
                         events: "ipc://\(directory)/\(name)-\(i).pub")
            }
        }
        return Topology(services: s)
    }

    /// Instances of `service` (empty when the topology has none).
    public func instances(of service: String) -> [Instance] { services[service] ?? [] }

    /// Checks the topology and names the key at fault.
    public func validate() throws(ConfigError) {
        var streams = Set<String>()
        // One socket binds an endpoint: a second use of it would fail to bind at start, or (a
        // client's topology) send requests to the wrong service.
        var bound: [String: String] = [:]
        for name in services.keys.sorted() {
            guard Topology.serviceNames.contains(name) else {
                throw ConfigError("services.\(name)", "unknown service; expected one of \(Topology.serviceNames.joined(separator: ", "))")
            }
            for (i, inst) in (services[name] ?? []).enumerated() {
                let key = "services.\(name)[\(i)]"
                if inst.stream.isEmpty { throw ConfigError("\(key).stream", "must not be empty") }
                if !streams.insert(inst.stream).inserted { throw ConfigError("\(key).stream", "stream \(inst.stream) appears twice") }
                for (field, ep) in [("requests", inst.requests), ("events", inst.events)] {
                    if !(ep.hasPrefix("tcp://") || ep.hasPrefix("ipc://") || ep.hasPrefix("inproc://")) {
                        throw ConfigError("\(key).\(field)", "\(ep.isEmpty ? "empty" : "'\(ep)'") is not a tcp://, ipc:// or inproc:// endpoint")
                    }
                    if let first = bound.updateValue("\(key).\(field)", forKey: ep) {
                        throw ConfigError("\(key).\(field)", "\(ep) is already \(first): each endpoint is bound by one socket")
                    }
                }
                if let k = inst.curvePublicKey, !Curve.isKey(k) {
                    throw ConfigError("\(key).curve_public_key", "\(WireError.quoted(k)) is not a CURVE public key (40 Z85 characters, as liaison keygen prints)")
                }
            }
        }
    }

    /// Loads and validates a topology file.
    public static func load(path: String) throws -> Topology {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigError("topology", "cannot read \(path): \(error.localizedDescription)")
        }
        let t: Topology
        do { t = try JSONDecoder().decode(Topology.self, from: data) } catch {
            throw ConfigError(decoding: error, in: path, what: "topology")
        }
        try t.validate()
        return t
    }

    /// Resolves the topology: the file given, else `$LIAISON_TOPOLOGY`, else ``local``; then the
    /// environment overrides `LIAISON_<SERVICE>_REQUESTS` / `LIAISON_<SERVICE>_EVENTS` (first instance).
    public static func resolve(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Topology {
        var t: Topology
        if let p = path ?? environment["LIAISON_TOPOLOGY"], !p.isEmpty { t = try load(path: p) } else { t = .local }
        for name in serviceNames {
            guard var list = t.services[name], !list.isEmpty else { continue }
            if let r = environment["LIAISON_\(name.uppercased())_REQUESTS"] { list[0].requests = r }
            if let e = environment["LIAISON_\(name.uppercased())_EVENTS"] { list[0].events = e }
            t.services[name] = list
        }
        try t.validate()
        return t
    }

    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(self).write(to: URL(fileURLWithPath: path))
    }

    static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
}

extension ConfigError {
    /// A JSON configuration file that did not decode, as the key at fault (`units[1].name`) and what
    /// is wrong with it, instead of Foundation's description of its decoder.
    /// - Parameter what: the kind of file (`topology`, `units`), the key when no key is at fault.
    public init(decoding error: Error, in file: String, what: String) {
        switch error {
        case DecodingError.keyNotFound(let key, let ctx):
            self.init(Topology.path(ctx.codingPath + [key]), "required key is missing in \(file)")
        case DecodingError.valueNotFound(_, let ctx):
            self.init(Topology.path(ctx.codingPath), "must not be null in \(file)")
        case DecodingError.typeMismatch(let type, let ctx):
            let expected = type == String.self ? "a string" : type is any Numeric.Type ? "a number" : type == Bool.self ? "true or false"
                : "\(type)".hasPrefix("Array") ? "a list ([...])" : "an object ({...})"
            self.init(Topology.path(ctx.codingPath), "must be \(expected) in \(file)")
        case DecodingError.dataCorrupted(let ctx) where !ctx.codingPath.isEmpty:
            self.init(Topology.path(ctx.codingPath), "\(ctx.debugDescription) (\(file))")
        default:
            let detail = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.userInfo["NSDebugDescription"] as? String
            self.init(what, "\(file) is not valid JSON" + (detail.map { ": \($0)" } ?? ""))
        }
    }
}

/// A configuration error naming the key at fault.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var key: String
    public var message: String
    public init(_ key: String, _ message: String) {
        self.key = key
        self.message = message
    }
    public var description: String { "configuration error at \(key): \(message)" }
}
