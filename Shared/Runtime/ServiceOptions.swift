import ArgumentParser
import Foundation
import GRDB
import Logging
import ZeroMQ

/// The options every service executable takes.
public struct ServiceOptions: ParsableArguments, Sendable {
    @Option(help: "Topology file (JSON) with every service's endpoints. Default: $LIAISON_TOPOLOGY, else the local defaults (ports 7101-7402).")
    public var topology: String?

    @Option(help: "Directory for this instance's SQLite database. Default: $LIAISON_DATA_DIR, else ./data.")
    public var dataDir: String?

    @Option(help: "Which instance of this service in the topology to run (0-based).")
    public var instance: Int = 0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    public var logLevel: String = ProcessInfo.processInfo.environment["LIAISON_LOG_LEVEL"] ?? "info"

    @Option(help: "Shift this service's clock by this many seconds (drills and tests: make deadlines and timers come due early).")
    public var clockOffset: Double = 0

    @Option(help: "Most requests handled together in one group commit, a submit_batch counting as its submissions.")
    public var maxBatch: Int = 512

    @Option(help: "Requests waiting beyond one batch that are answered 'unavailable' at once (0: never shed).")
    public var maxShed: Int = 4_096

    @Option(help: ArgumentHelp(
        "Under load, at most this long a batch waits for the clients the last one answered, so that they share one group commit (0: never). Intake only: the other services commit each request on its own and never wait.",
        discussion: "Clients that each keep a request in flight otherwise commit in two halves, each with its own fsync. The wait starts only when the last batch and what came meanwhile were 8 requests or more: a lone request, or a few, is never held back. A wait that runs out pauses the waits for a few batches (up to 64), so that callers who send once and leave, as a busy web front's do, are rarely held back.",
        valueName: "microseconds"))
    public var gatherMicroseconds: Int = 200

    @Option(help: ArgumentHelp(
        "When a commit (or a read of the database) has held the request thread up this long, another thread answers its socket meanwhile (0: never).",
        discussion: "A disk that stalls holds a commit's fsync for seconds. Meanwhile one batch of requests is kept for a second in case the commit is done by then, shared fairly between connections, and the rest are answered 'unavailable' at once with a retry hint, as an overload is: clients hear back instead of timing out, and what they send does not pile up in memory.",
        valueName: "milliseconds"))
    public var standInAfterMs: Int = 200

    @Option(help: "Warn in the log (and in liaison streams) when the disk of the database has less free space than this, in MiB.")
    public var diskFreeWarningMib: UInt64 = 1_024

    @Flag(help: ArgumentHelp(
        "Bind this instance's tcp:// endpoints on every interface, at the topology's ports.",
        discussion: "In a container or a Kubernetes pod the topology names each instance by a name the others resolve (tcp://intake:7101), which may not be an address of the instance's own (a Kubernetes Service's virtual address): the instance binds tcp://*:7101 and the others connect by the name."))
    public var bindAllInterfaces = false

    @Option(help: ArgumentHelp(
        "This process's CURVE key pair (liaison keygen). Default: $LIAISON_CURVE_KEY_FILE.",
        discussion: "Required when the topology gives this instance a curve_public_key (it must be this file's public key): the instance then serves over CURVE. With it the service also connects over CURVE to upstream instances that have one."))
    public var curveKeyFile: String?

    @Option(help: ArgumentHelp(
        "The directory of the set's key pairs (liaison keygen --topology FILE --into DIR): this instance's is DIR/STREAM.key. Default: $LIAISON_CURVE_KEY_DIR.",
        discussion: "Instead of --curve-key-file, where one command line serves every instance of a service (a systemd template, a Kubernetes StatefulSet): instance 0 of intake reads DIR/intake-1.key."))
    public var curveKeyDir: String?

    @Option(help: "The clients this instance lets in over CURVE: one 'ROLE PUBLIC-KEY [NAME]' a line, ROLE one of submitter, operator, consumer, service. Default: $LIAISON_CURVE_CLIENTS.")
    public var curveClients: String?

    @Option(help: ArgumentHelp(
        "Exit with status 70 when one of the service's threads (its requests, a consumer, a timer) has been silent for this many seconds (0: never). Default: $LIAISON_EXIT_IF_HUNG_SECONDS, else 0.",
        discussion: "For a process manager that restarts a service that exits but not one that hangs: Docker Compose, whose healthcheck only marks a container unhealthy (deploy/container/compose.yaml sets 30). A hang is a thread stuck on a lock or a disk that does not answer: the request thread stops the answers, a consumer the stream it applies (no new cases, no reports), a timer the deadlines. Exiting loses nothing acknowledged. systemd (WatchdogSec=) and liaison up (--hang-seconds) need none of this: the watchdog pings stop when a thread is silent.",
        valueName: "seconds"))
    public var exitIfHungSeconds: Double?

    /// The environment variable that gives ``exitIfHungSeconds`` when the flag is not given.
    public static let exitIfHungVariable = "LIAISON_EXIT_IF_HUNG_SECONDS"

    public init() {}

    public func validate() throws {
        _ = try hangLimit()
        guard (0...1_000_000).contains(gatherMicroseconds) else {
            throw ValidationError("--gather-microseconds must be 0 (never wait) to 1000000 (one second), not \(gatherMicroseconds)")
        }
        guard (0...600_000).contains(standInAfterMs) else {
            throw ValidationError("--stand-in-after-ms must be 0 (never) to 600000 (ten minutes), not \(standInAfterMs)")
        }
    }

    /// `--exit-if-hung-seconds`, else `$LIAISON_EXIT_IF_HUNG_SECONDS`, else 0.
    func hangLimit(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Double {
        if let exitIfHungSeconds {
            guard exitIfHungSeconds >= 0, exitIfHungSeconds.isFinite else {
                throw ValidationError("--exit-if-hung-seconds must be 0 (never) or a number of seconds, not \(exitIfHungSeconds)")
            }
            return exitIfHungSeconds
        }
        guard let text = environment[Self.exitIfHungVariable], !text.isEmpty else { return 0 }
        guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds >= 0, seconds.isFinite else {
            throw ValidationError("$\(Self.exitIfHungVariable) must be 0 (never) or a number of seconds, not '\(text)'")
        }
        return seconds
    }

    /// The request loop's tunables from the options.
    public var loopOptions: RequestLoopOptions {
        var o = RequestLoopOptions()
        o.maxBatch = max(1, maxBatch)
        o.maxShed = max(0, maxShed)
        o.gatherMicroseconds = gatherMicroseconds   // checked in validate()
        o.standInAfterMs = standInAfterMs           // checked in validate()
        o.exitIfHungSeconds = (try? hangLimit()) ?? 0   // checked in validate()
        return o
    }

    /// The service's clock: the system clock shifted by `--clock-offset`.
    public var clock: SystemClock { SystemClock(offset: clockOffset) }

    /// Resolves the topology and this instance's place in it.
    public func resolve(service: String) throws -> ServiceConfig {
        let topo = try Topology.resolve(path: topology)
        let list = topo.instances(of: service)
        guard instance >= 0, instance < list.count else {
            throw ConfigError("services.\(service)[\(instance)]", "the topology has \(list.count) instance(s) of \(service)")
        }
        let env = ProcessInfo.processInfo.environment
        let dir = dataDir ?? env["LIAISON_DATA_DIR"] ?? "data"
        let me = list[instance]
        var config = ServiceConfig(service: service, topology: topo, instance: me, index: instance,
                                   databasePath: (dir as NSString).appendingPathComponent("\(me.stream).sqlite"))
        config.diskFreeWarningBytes = diskFreeWarningMib.multipliedReportingOverflow(by: 1 << 20).overflow ? .max : diskFreeWarningMib << 20
        config.bindAllInterfaces = bindAllInterfaces
        if curveKeyDir != nil && curveKeyFile != nil {
            throw ConfigError("curve-key-dir", "give --curve-key-file or --curve-key-dir, not both")
        }
        // The flags, else $LIAISON_CURVE_KEY_DIR, else $LIAISON_CURVE_KEY_FILE (CurveKeyFile.resolve).
        let keyDir = curveKeyDir ?? (curveKeyFile == nil ? env["LIAISON_CURVE_KEY_DIR"].flatMap { $0.isEmpty ? nil : $0 } : nil)
        let keyFile = keyDir.map { ($0 as NSString).appendingPathComponent("\(me.stream).key") } ?? curveKeyFile
        let keys = try CurveKeyFile.resolve(path: keyFile, environment: env)
        config.curveKeys = keys
        config.curveKeyFilePath = keys == nil ? nil : keyFile ?? env["LIAISON_CURVE_KEY_FILE"]
        if let serverKey = me.curvePublicKey {
            let key = "services.\(service)[\(instance)].curve_public_key"
            guard let keys else {
                throw ConfigError(key, "\(me.stream) serves over CURVE: give its key pair with --curve-key-file, --curve-key-dir or $LIAISON_CURVE_KEY_FILE")
            }
            guard keys.publicKey == serverKey else {
                throw ConfigError(key, "is \(serverKey), but the key file's public key is \(keys.publicKey): the file is not \(me.stream)'s")
            }
            guard let clients = curveClients ?? env["LIAISON_CURVE_CLIENTS"], !clients.isEmpty else {
                throw ConfigError("curve-clients", "\(me.stream) serves over CURVE: name the clients it lets in with --curve-clients FILE or $LIAISON_CURVE_CLIENTS (lines 'ROLE PUBLIC-KEY [NAME]')")
            }
            config.curve = ServiceCurve(keys: keys, clients: try CurveClients.load(path: clients), path: clients)
        } else if curveClients != nil {
            throw ConfigError("curve-clients", "the topology gives \(me.stream) no curve_public_key, so it serves plain ZMTP and lets anyone in: add its public key to the topology")
        }
        return config
    }

    /// Sets up swift-log once for the process (to standard error) and returns a logger for `label`.
    public func bootstrapLogging(label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// What a service instance needs to know about where it runs.
public struct ServiceConfig: Sendable {
    public var service: String
    public var topology: Topology
    public var instance: Topology.Instance
    public var index: Int
    public var databasePath: String
    /// Under this much free space on the database's disk the service warns (``DiskWatch``).
    public var diskFreeWarningBytes: UInt64 = 1 << 30
    /// Bind tcp:// endpoints on every interface at their ports (``bindEndpoint(_:)``).
    public var bindAllInterfaces = false
    /// This process's CURVE key pair, if it has one (upstream connections, and serving), and the
    /// file it came from.
    public var curveKeys: CurveKeyPair?
    public var curveKeyFilePath: String?
    /// Set when this instance serves over CURVE (the topology gives it a public key).
    public var curve: ServiceCurve?

    /// What this instance binds for its endpoint `endpoint`: the endpoint itself, or with
    /// ``bindAllInterfaces`` a tcp:// endpoint's port on every interface (`tcp://intake:7101` →
    /// `tcp://*:7101`). Other transports are bound as named.
    public func bindEndpoint(_ endpoint: String) -> String {
        guard bindAllInterfaces, endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":"),
              colon > endpoint.index(endpoint.startIndex, offsetBy: 5) else { return endpoint }
        return "tcp://*" + endpoint[colon...]
    }

    public init(service: String, topology: Topology, instance: Topology.Instance, index: Int, databasePath: String) {
        self.service = service
        self.topology = topology
        self.instance = instance
        self.index = index
        self.databasePath = databasePath
    }

    /// Opens this instance's database (runtime tables plus the service's `migrations`) and its event
    /// log, after taking the database for this process (``DatabaseOwnership``), making a failed disk
    /// I/O stop the process (``DiskFailure/stopOnIOErrors(logger:)``) and writing the WAL back to
    /// the disk (``DiskFailure/writeBackWAL(databasePath:)``).
    public func openLog(migrations: (inout DatabaseMigrator) -> Void) throws -> EventLog {
        try DatabaseOwnership.claim(databasePath)
        DiskFailure.stopOnIOErrors(logger: Logger(label: "liaison." + service))
        // What the last process left in the WAL is made durable before anything is built on it.
        do { try DiskFailure.writeBackWAL(databasePath: databasePath) } catch let failed as DiskFailure.Failed { DiskFailure.stop(failed.description) }
        // A damaged file is named, with the way back, instead of SQLite's bare "malformed".
        return try DamagedDatabase.naming(databasePath) {
            try EventLog(store: Store(path: databasePath, migrations: migrations), stream: instance.stream)
        }
    }
}
