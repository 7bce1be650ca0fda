import Foundation
import Synchronization
import LiaisonCodec
import LiaisonRuntime
import Testing
import ZeroMQ

/// The real executables, started as child processes on `ipc://` sockets in a temporary directory
/// of their own (no fixed ports), and stopped when the set is stopped or deallocated — also when
/// a test fails.
final class LiaisonSet: @unchecked Sendable {
    let dir: String
    let topologyPath: String
    let topology: Topology
    /// With `curve`: every instance serves over CURVE with a key pair of its own, and the test
    /// itself connects as an operator with this one (each key file in `dir/keys`).
    let clientKeys: CurveKeyPair?
    private let lock = NSLock()
    private var processes: [String: Process] = [:]
    /// The network namespace each service runs in (``TwoHosts``), by service name; none: this one's.
    private var namespaces: [String: String] = [:]

    /// Where `swift build` put the executables (override with LIAISON_BIN_DIR).
    static let binDir: String = {
        if let d = ProcessInfo.processInfo.environment["LIAISON_BIN_DIR"] { return d }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }()

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// `endpoints` may move instances off `ipc://` (TCP on the addresses of ``TwoHosts``) before the
    /// keys are made and the topology written.
    init(instances: [String: Int] = [:], curve: Bool = false, endpoints: ((inout Topology) -> Void)? = nil) throws {
        // Short path: ipc endpoint paths are limited to about 100 bytes.
        dir = "/tmp/lt-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var topology = Topology.ipc(in: dir, instances: instances)
        endpoints?(&topology)
        clientKeys = curve ? try CurveKeyPair.generate() : nil
        if let clientKeys {
            try FileManager.default.createDirectory(atPath: dir + "/keys", withIntermediateDirectories: true)
            var clients = "operator \(clientKeys.publicKey) test-harness\n"
            for (name, list) in topology.services {
                for i in list.indices {
                    let keys = try CurveKeyPair.generate()
                    topology.services[name]![i].curvePublicKey = keys.publicKey
                    try CurveKeyFile.text(keys, name: list[i].stream).write(toFile: dir + "/keys/\(list[i].stream).key", atomically: true, encoding: .utf8)
                    clients += "service \(keys.publicKey) \(list[i].stream)\n"
                }
            }
            try clients.write(toFile: dir + "/keys/clients", atomically: true, encoding: .utf8)
            try CurveKeyFile.text(clientKeys, name: "test-harness").write(toFile: dir + "/keys/test-harness.key", atomically: true, encoding: .utf8)
        }
        self.topology = topology
        topologyPath = dir + "/topology.json"
        try topology.write(to: topologyPath)
    }

    /// Writes `keys` to a key file of the set's and lets them in as `role` on every instance
    /// (before the instances start); returns the file's path.
    func allowCurveClient(_ role: CurveRole, _ keys: CurveKeyPair, name: String) throws -> String {
        let path = dir + "/keys/\(name).key"
        try CurveKeyFile.text(keys, name: name).write(toFile: path, atomically: true, encoding: .utf8)
        let clients = dir + "/keys/clients"
        try (try String(contentsOfFile: clients, encoding: .utf8) + "\(role.rawValue) \(keys.publicKey) \(name)\n").write(toFile: clients, atomically: true, encoding: .utf8)
        return path
    }

    deinit {
        stopAll()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func instance(_ service: String, _ i: Int = 0) -> Topology.Instance { topology.instances(of: service)[i] }

    /// Runs `service` (every instance started from now on) inside network namespace `namespace`.
    func place(_ service: String, in namespace: String) { lock.withLock { namespaces[service] = namespace } }

    /// Starts `liaison-<service>` (instance `i`) with its log in the set's directory; with
    /// `openFileLimit`, under that soft limit on open files (as a shell's `ulimit -Sn` sets it).
    func start(_ service: String, _ i: Int = 0, extra: [String] = [], environment: [String: String] = [:], openFileLimit: Int? = nil) throws {
        let exe = LiaisonSet.binDir + "/liaison-\(service)"
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw SetupError("\(exe) is missing: run `swift build` before the tests (make test does)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.environment = LiaisonSet.childEnvironment(environment)
        p.arguments = ["--topology", topologyPath, "--data-dir", dir + "/data", "--instance", "\(i)", "--log-level", "notice"] + extra
        if clientKeys != nil {
            p.arguments! += ["--curve-key-file", dir + "/keys/\(instance(service, i).stream).key", "--curve-clients", dir + "/keys/clients"]
        }
        if let openFileLimit {
            p.arguments = ["-c", "ulimit -Sn \(openFileLimit) && exec \"$0\" \"$@\"", exe] + p.arguments!
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
        }
        if let namespace = lock.withLock({ namespaces[service] }) {
            // `ip netns exec` enters the namespace and execs the service: the same process.
            p.arguments = ["netns", "exec", namespace, p.executableURL!.path] + p.arguments!
            p.executableURL = URL(fileURLWithPath: TwoHosts.ip)
        }
        let logPath = dir + "/\(service)-\(i).log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        p.standardError = log
        p.standardOutput = log
        try p.run()
        lock.withLock { processes["\(service)-\(i)"] = p }
    }

    func startAll(_ extra: [String: [String]] = [:]) throws {
        for name in Topology.serviceNames {
            for i in 0..<topology.instances(of: name).count { try start(name, i, extra: extra[name] ?? []) }
        }
    }

    private func process(_ service: String, _ i: Int) -> Process? { lock.withLock { processes["\(service)-\(i)"] } }

    /// How instance `i` of `service` ended; nil while it runs (or was never started).
    func exitStatus(_ service: String, _ i: Int = 0) -> Int32? {
        guard let p = process(service, i), !p.isRunning else { return nil }
        return p.terminationStatus
    }

    /// `kill -9`: no chance to flush or say goodbye.
    func kill9(_ service: String, _ i: Int = 0) {
        guard let p = process(service, i) else { return }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    /// SIGTERM and wait (at most `seconds`); returns the exit status, or nil if it had to be killed.
    @discardableResult
    func terminate(_ service: String, _ i: Int = 0, seconds: Double = 10) -> Int32? {
        guard let p = process(service, i), p.isRunning else { return process(service, i)?.terminationStatus }
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return nil
        }
        return p.terminationStatus
    }

    /// Sends `sig` to a running service.
    func signal(_ service: String, _ i: Int = 0, _ sig: Int32) {
        guard let p = process(service, i), p.isRunning else { return }
        kill(p.processIdentifier, sig)
    }

    /// SIGSTOP, then waits (at most `seconds`) until every thread of the service has stopped.
    /// `kill` returns before that: the stop begins when one thread takes the signal, and a thread
    /// in an fsync takes it only when the disk answers, so until then the others may still answer.
    /// Returns whether all stopped in time.
    func freeze(_ service: String, _ i: Int = 0, seconds: Double = 20) async -> Bool {
        guard let p = process(service, i), p.isRunning else { return false }
        kill(p.processIdentifier, SIGSTOP)
        return await eventually(seconds) { allThreadsStopped(p.processIdentifier) }
    }

    /// Runs the `liaison` command line against this set; returns its exit status and output.
    func cli(_ args: [String], environment: [String: String] = [:], in namespace: String? = nil) async throws -> (status: Int32, output: String) {
        let curve = clientKeys == nil ? [:] : ["LIAISON_CURVE_KEY_FILE": dir + "/keys/test-harness.key"]
        let environment = curve.merging(environment) { _, mine in mine }
        if let namespace {
            return try await Self.runProgram(TwoHosts.ip, ["netns", "exec", namespace, LiaisonSet.binDir + "/liaison"] + args + ["--topology", topologyPath],
                                             environment: environment)
        }
        return try await Self.runToCompletion("liaison", args + ["--topology", topologyPath], environment: environment)
    }

    /// Runs `liaison-<service>` (instance 0) to completion on the set's topology and data directory,
    /// with `args` (a one-off command such as `--reseal-contacts`); returns its status and output.
    func runOnce(_ service: String, _ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await Self.runToCompletion("liaison-\(service)", ["--topology", topologyPath, "--data-dir", dir + "/data", "--log-level", "warning"] + args,
                                       environment: environment)
    }

    /// Runs `executable` (in the build directory) with `args`, which should end on its own within
    /// `seconds`; if it does not, it is stopped (SIGTERM, then SIGKILL) and `ended` is false. Its
    /// exit status and its output and errors together.
    func runWithin(_ seconds: Double, _ executable: String, _ args: [String]) async throws -> (ended: Bool, status: Int32, output: String) {
        let logPath = dir + "/run-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/" + executable)
        p.arguments = args
        p.environment = LiaisonSet.childEnvironment([:])
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        p.standardError = p.standardOutput
        try p.run()
        let ended = await eventually(seconds) { !p.isRunning }
        if !ended {
            kill(p.processIdentifier, SIGTERM)
            _ = await eventually(15) { !p.isRunning }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        }
        p.waitUntilExit()
        return (ended, p.terminationStatus, (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
    }

    /// The environment of every process a test starts: this one's, with this process as the
    /// supervisor (``Supervision``), so that a service or a `liaison up` outlives no test run, even
    /// one that crashes before its `defer` stops them; then the test's own variables.
    static func childEnvironment(_ environment: [String: String]) -> [String: String] {
        ProcessInfo.processInfo.environment
            .merging([Supervision.supervisorVariable: "\(getpid())"]) { _, new in new }
            .merging(environment) { _, new in new }
    }

    /// Runs one of the executables on a thread of its own until it exits; its output and errors
    /// together.
    private static func runToCompletion(_ executable: String, _ args: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
        try await runProgram(LiaisonSet.binDir + "/" + executable, args, environment: environment)
    }

    /// Runs the program at `path` on a thread of its own until it exits; its output and errors
    /// together.
    static func runProgram(_ path: String, _ args: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await Threads.run(name: (path as NSString).lastPathComponent) { try runBlocking(path, args, environment: environment) }
    }

    /// ``runProgram(_:_:environment:)`` on the calling thread, for quick commands (`ip`).
    /// A program still running after `timeout` seconds is killed with its children (a shell's
    /// pipeline), and its output ends with a line saying so: a test fails instead of hanging.
    static func runBlocking(_ path: String, _ args: [String], environment: [String: String] = [:],
                            timeout: TimeInterval = 120) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.environment = LiaisonSet.childEnvironment(environment)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let timedOut = Mutex(false)
        let pid = p.processIdentifier
        let watchdog = DispatchWorkItem {
            timedOut.withLock { $0 = true }
            let children = Process()
            children.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
            children.arguments = ["-KILL", "-P", "\(pid)"]
            try? children.run()
            children.waitUntilExit()
            kill(pid, SIGKILL)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        watchdog.cancel()
        let output = String(decoding: data, as: UTF8.self)
        return timedOut.withLock { $0 } ? (-1, output + "\n[killed: still running after \(Int(timeout)) s]") : (p.terminationStatus, output)
    }

    func stopAll() { Self.stop(lock.withLock { Array(processes.values) }) }

    /// SIGTERM to each running process, SIGKILL to any still running 10 s later.
    static func stop(_ all: [Process]) {
        for p in all where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        for p in all {
            while p.isRunning && Date() < deadline { usleep(10_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        }
    }

    func logs() -> String {
        (try? FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted().map { name in
            "== \(name)\n" + ((try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "").suffix(3_000)
        }.joined(separator: "\n")) ?? ""
    }

    // MARK: talking to the set

    /// Runs blocking socket work on its own thread with its own context.
    func withClient<T: Sendable>(_ service: String, _ i: Int = 0, timeoutMs: Int32 = 3_000, attempts: Int = 3,
                                 _ body: @escaping @Sendable (RequestClient) throws -> T) async throws -> T {
        let target = instance(service, i)
        let keys = clientKeys
        return try await Threads.run(name: "test-client") {
            let ctx = try Context(curve: keys)
            defer { ctx.terminate() }
            let client = RequestClient(context: ctx, endpoint: target.requests, serverKey: target.curvePublicKey, timeoutMs: timeoutMs, attempts: attempts)
            defer { client.reset() }
            return try body(client)
        }
    }

    func call(_ service: String, _ body: Liaison_V1_Request.OneOf_Body, instance i: Int = 0, timeoutMs: Int32 = 3_000) async throws -> Liaison_V1_Reply {
        try await withClient(service, i, timeoutMs: timeoutMs) { try $0.call(body) }
    }

    func status(_ service: String, _ i: Int = 0) async -> Liaison_V1_ServiceStatus? {
        try? await withClient(service, i, timeoutMs: 500, attempts: 1) { try $0.call(.getStatus(.init())).serviceStatus }
    }

    /// Waits until every started service answers.
    func waitReady(_ services: [String] = Topology.serviceNames, seconds: Double = 20) async throws {
        for s in services {
            for i in 0..<topology.instances(of: s).count where process(s, i) != nil {
                let ok = await eventually(seconds) { await self.status(s, i) != nil }
                if !ok { throw SetupError("\(s)-\(i) did not answer within \(seconds) s\n\(logs())") }
            }
        }
    }

    func report() async throws -> Liaison_V1_Report { try await call("reporting", .getReport(.init())).report }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Whether every thread of `pid` is stopped (state `T` in /proc/<pid>/task/<tid>/stat).
func allThreadsStopped(_ pid: pid_t) -> Bool {
    guard let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !tasks.isEmpty else { return false }
    return tasks.allSatisfy { tid in
        // The state follows the command name in parentheses, which may itself hold spaces or parentheses.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }   // a thread that has just gone
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        return state == "T" || state == "t"
    }
}

/// Waits until `condition` holds, checking every 50 ms, for at most `seconds`.
func eventually(_ seconds: Double = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(nanoseconds: 50_000_000)
    }
    return try await condition()
}

let stations = ["STN-EAST-01", "STN-EAST-02", "STN-WEST-01", "STN-WEST-02", "STN-SOUTH-01"]
let kinds: [Liaison_V1_FeedbackKind] = [.complaint, .praise, .suggestion, .inquiry, .tip, .helpRequest, .mediationRequest]

func submission(_ n: Int, prefix: String = "e2e") -> Liaison_V1_SubmitFeedback {
    var f = Liaison_V1_SubmitFeedback()
    f.submissionID = "\(prefix)-\(n)"
    f.kind = kinds[n % kinds.count]
    f.channel = .hotline
    f.text = "Feedback number \(n) about the station"
    f.unit = stations[n % stations.count]
    if n % 10 == 0 { f.officerBadge = "PC-\(n)" }
    if n % 3 == 0 {
        f.contact.name = "Citizen \(n)"
        f.contact.phone = "1380000\(String(format: "%04d", n))"
    }
    return f
}

/// Submits `range` one after another on one connection; returns the acknowledgements.
func submitAll(_ set: LiaisonSet, _ range: Range<Int>, prefix: String = "e2e") async throws -> [Liaison_V1_FeedbackAccepted] {
    try await set.withClient("intake") { client in
        try range.map { n in try client.call(.submitFeedback(submission(n, prefix: prefix))).feedbackAccepted }
    }
}
