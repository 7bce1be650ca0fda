import ArgumentParser
import Foundation
import LiaisonRuntime
import ZeroMQ

/// `liaison keygen`: a CURVE key pair for a service instance or a client.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CURVE key pair (transport security) for a service instance or a client.",
        discussion: """
            Writes the key pair to --out (mode 0600; never overwritten) and prints its public key. \
            A service instance serves over CURVE when the topology gives it that public key \
            ("curve_public_key") and it runs with --curve-key-file and --curve-clients. A client \
            (a desk, an operator, a consumer, another service) is let in when the instance's \
            --curve-clients file has a line 'ROLE PUBLIC-KEY [NAME]' with its public key.

              liaison keygen --out /etc/liaison/keys/intake-1.key
              liaison keygen --out ~/.liaison/desk-3.key --name desk-3

            A whole set at once: --topology FILE --into DIR writes a key pair for every instance \
            (DIR/STREAM.key), the topology with each instance's public key (DIR/topology.json), and an \
            allow-list letting every instance in as a service (DIR/curve-clients), to which the \
            desks', operators' and consumers' keys are added:

              liaison keygen --topology deploy/topology.json --into /etc/liaison/keys

            --client ROLE:NAME (again for each) also makes a client's key pair (DIR/NAME.key) and \
            lets it in: the operators' console, a hotline desk, a consumer. Later, --into DIR with \
            --client alone adds clients to the set's keys (the services read the allow-list again \
            within two seconds of the change).

              liaison keygen --topology deploy/topology.json --into /etc/liaison/keys \\
                  --client operator:console --client submitter:desk-1
              liaison keygen --into /etc/liaison/keys --client submitter:desk-2
            """)

    @Option(help: "Where to write the key pair (a new file, mode 0600).")
    var out: String?

    @Option(help: "With --into: make keys for every instance of this topology.")
    var topology: String?

    @Option(help: "With --topology: the directory for the set's key pairs, topology and allow-list (new files only). With --client alone: a set's directory to add clients to.")
    var into: String?

    @Option(help: "Whose key it is, for the file's comment and the allow-list line printed. Default: the file's name.")
    var name: String?

    @Option(help: "With --into: also a client's key pair, DIR/NAME.key, let in as ROLE (submitter, operator, consumer or service). Repeatable.")
    var client: [String] = []

    func validate() throws {
        switch (out, topology, into) {
        case (_?, nil, nil):
            if !client.isEmpty { throw ValidationError("--client goes with --into (a set's directory), not --out") }
        case (nil, _?, _?): break
        case (nil, nil, _?) where !client.isEmpty: break
        default:
            throw ValidationError("give --out FILE for one key pair, --topology FILE and --into DIR for a whole set, or --into DIR and --client ROLE:NAME to add clients to a set's keys")
        }
        _ = try clients()
    }

    /// `--client ROLE:NAME`, each checked: a known role, a name that makes a file name.
    func clients() throws -> [(role: CurveRole, name: String)] {
        var names = Set<String>()
        return try client.map { spec in
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let role = CurveRole(rawValue: parts[0]) else {
                throw ValidationError("--client \(spec): expected ROLE:NAME, ROLE one of \(CurveRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let name = parts[1]
            guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }), !name.hasPrefix(".") else {
                throw ValidationError("--client \(spec): the name makes a file name: letters, digits, '-', '_' and '.', at most 64")
            }
            guard names.insert(name).inserted else { throw ValidationError("--client \(spec): \(name) is named twice") }
            return (role, name)
        }
    }

    func run() throws {
        guard Curve.isAvailable else { throw ValidationError("this libzmq was built without CURVE (libsodium)") }
        guard let out else {
            if let topology { return try keySet(topology: topology, into: into!) }
            return try addClients(into: into!)
        }
        guard !FileManager.default.fileExists(atPath: out) else {
            throw ValidationError("\(out) exists already: a key pair is never overwritten (remove it first if it is to be replaced)")
        }
        let who = name ?? ((out as NSString).lastPathComponent as NSString).deletingPathExtension
        let keys = try CurveKeyPair.generate()
        try Self.writeNew(out, CurveKeyFile.text(keys, name: who), mode: 0o600)
        print("public key \(keys.publicKey)")
        print("allow it in a service's --curve-clients file as:  ROLE \(keys.publicKey) \(who)   (ROLE: submitter, operator, consumer or service)")
        print("or, for a service instance, put it in the topology as its \"curve_public_key\"")
    }

    /// Every instance of `topology` gets a key pair; the topology with their public keys and an
    /// allow-list of the set's own instances go beside them. Nothing existing is overwritten.
    func keySet(topology path: String, into dir: String) throws {
        var topo = try Topology.load(path: path)
        try ConfigFiles.makeDirectory(dir, key: "into")
        let streams = topo.services.values.flatMap { $0 }.map(\.stream)
        let clients = try self.clients()
        if let clash = clients.first(where: { streams.contains($0.name) }) {
            throw ValidationError("--client \(clash.role.rawValue):\(clash.name): \(clash.name) is an instance of the topology; name the client otherwise")
        }
        for name in (streams + clients.map(\.name)).map({ "\($0).key" }) + ["topology.json", "curve-clients"] where FileManager.default.fileExists(atPath: dir + "/" + name) {
            throw ValidationError("\(dir)/\(name) exists already: a set's keys are made into a directory without them")
        }
        var allowed = "# Who may connect over CURVE: ROLE PUBLIC-KEY NAME (roles: submitter, operator, consumer, service).\n# The set's own instances:\n"
        for service in Topology.serviceNames {
            for i in topo.instances(of: service).indices {
                let stream = topo.services[service]![i].stream
                let keys = try CurveKeyPair.generate()
                try Self.writeNew(dir + "/\(stream).key", CurveKeyFile.text(keys, name: stream), mode: 0o600)
                topo.services[service]![i].curvePublicKey = keys.publicKey
                allowed += "service \(keys.publicKey) \(stream)\n"
                print("\(stream): \(dir)/\(stream).key, public key \(keys.publicKey)")
            }
        }
        if !clients.isEmpty { allowed += "# Clients:\n" + (try Self.clientKeys(clients, in: dir)) }
        allowed += "# Add each desk, operator and consumer: liaison keygen --into \(dir) --client ROLE:NAME.\n"
        try Self.writeNew(dir + "/curve-clients", allowed, mode: 0o640)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Self.writeNew(dir + "/topology.json", String(decoding: try enc.encode(topo), as: UTF8.self) + "\n", mode: 0o644)
        print("the topology with every instance's public key: \(dir)/topology.json; the allow-list: \(dir)/curve-clients")
        print("start each instance with --topology \(dir)/topology.json --curve-key-dir \(dir) --curve-clients \(dir)/curve-clients")
    }

    /// A key pair for each client in `dir` (DIR/NAME.key), printed; their allow-list lines.
    static func clientKeys(_ clients: [(role: CurveRole, name: String)], in dir: String) throws -> String {
        var lines = ""
        for c in clients {
            let keys = try CurveKeyPair.generate()
            try writeNew(dir + "/\(c.name).key", CurveKeyFile.text(keys, name: c.name), mode: 0o600)
            lines += "\(c.role.rawValue) \(keys.publicKey) \(c.name)\n"
            print("\(c.name) (\(c.role.rawValue)): \(dir)/\(c.name).key, public key \(keys.publicKey)")
        }
        return lines
    }

    /// Key pairs for `--client`s of a set whose keys are already in `dir`, each let in by a line
    /// added to its allow-list (a name it has already, or a key file that exists, is refused
    /// before anything is written). The services read the list again when it changes.
    func addClients(into dir: String) throws {
        let listPath = dir + "/curve-clients"
        let text = try ConfigFiles.read(listPath, key: "into")
        let named = Set(try CurveClients.parse(text, source: listPath).byKey.values.map(\.name))
        let clients = try self.clients()
        for c in clients {
            if named.contains(c.name) { throw ValidationError("\(listPath) lets \(c.name) in already") }
            if FileManager.default.fileExists(atPath: dir + "/\(c.name).key") { throw ValidationError("\(dir)/\(c.name).key exists already") }
        }
        let lines = try Self.clientKeys(clients, in: dir)
        // Appended whole, with the file's line end before it if its last line has none.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: listPath))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(((text.isEmpty || text.hasSuffix("\n")) ? lines : "\n" + lines).utf8))
        try handle.synchronize()
        print("let in by \(listPath): the services read it again within two seconds (SIGHUP: at once; Kubernetes: apply again, which restarts the pods)")
    }

    /// Writes a new file (never an existing one) with `mode`, flushed; one that could not be
    /// written whole is removed, so that a second try is not refused for it.
    static func writeNew(_ path: String, _ text: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.synchronize()
        } catch {
            unlink(path)
            throw error
        }
    }
}
