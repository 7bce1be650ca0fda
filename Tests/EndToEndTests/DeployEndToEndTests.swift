import Foundation
import LiaisonRuntime
import Testing

/// deploy/'s compose file and Kubernetes manifests, run as written on this machine: no container
/// engine or cluster runs here, so the processes they start are started from their own command
/// lines, environments and mounts (`scripts/deploy-plan.py` reads them and stands local files in
/// for the container paths), with the keys `liaison keygen` makes as their instructions say. The
/// container network's names are stood in for by rewriting keygen's topology to loopback ports.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DeployFilesRunAsWrittenTests {
    /// The compose file's four services come up over CURVE with the keys of `liaison keygen
    /// --topology topology.json --into secrets/curve --client operator:console --client
    /// submitter:desk-1`, pass their health checks, take a desk's complaint; the console job lists
    /// the case; a stranger's key is let in nowhere; the backup job copies every database; and
    /// every service stops gracefully on SIGTERM.
    @Test func composeRunsTheSetOverCurveAsWritten() async throws {
        let set = try LiaisonSet()
        let run = DeployRun(dir: set.dir)
        defer { run.stopAll() }
        let sources = set.dir + "/compose", keys = sources + "/secrets/curve"
        try Self.operatorSecrets(in: sources + "/secrets")
        let made = try await run.liaison(["keygen", "--topology", LiaisonSet.repoRoot + "/deploy/container/topology.json", "--into", keys,
                                          "--client", "operator:console", "--client", "submitter:desk-1"])
        #expect(made.status == 0, "\(made.output)")
        let topology = try Self.onLoopback(keys + "/topology.json")

        let plan = try await run.plan(["compose", "--sources", sources, "--work", set.dir + "/work"])
        #expect(plan.processes.map(\.name).sorted() == ["handler", "intake", "reporting", "scheduler"])
        for p in plan.processes { try run.start(p) }
        try await run.waitHealthy(plan.processes)

        let number = try await Self.deskSubmits(run, topology: topology, key: keys + "/desk-1.key")
        let console = try #require(plan.jobs.first { $0.name == "console" })
        #expect(await eventually(30) {
            (try? await run.job(console, arguments: ["cases"]))?.output.contains(number) == true
        }, "the console did not list \(number)\n\(run.logs())")
        try await Self.strangerIsLetInNowhere(run, topology: topology, dir: set.dir)

        let backup = try #require(plan.jobs.first { $0.name == "backup" })
        let copied = try await run.job(backup, arguments: nil)
        #expect(copied.status == 0, "\(copied.output)")
        let backups = set.dir + "/work/volumes/liaison-backups"
        let made1 = try FileManager.default.contentsOfDirectory(atPath: backups).filter { $0.hasPrefix("liaison-") }
        #expect(made1.count == 1, "\(made1)")
        let files = try FileManager.default.contentsOfDirectory(atPath: backups + "/" + (made1.first ?? "")).filter { $0.hasSuffix(".sqlite") }
        #expect(files.sorted() == ["handler-1.sqlite", "intake-1.sqlite", "reporting-1.sqlite", "scheduler-1.sqlite"], "\(files)")

        #expect(run.terminateAll() == ["handler": 0, "intake": 0, "reporting": 0, "scheduler": 0], "\(run.logs())")
    }

    /// The Kubernetes manifests, as `kubectl kustomize` renders them: the four pods (pod 0 of each
    /// StatefulSet) come up over CURVE with the keys keygen made into curve/ (what the generators
    /// read) and the operator's liaison-secrets, pass their readiness and liveness probes, take a
    /// desk's complaint, which the console pod lists (and finds every stream well); a stranger's
    /// key is let in nowhere; each pod stops gracefully.
    @Test func kubernetesPodsRunTheSetOverCurveAsWritten() async throws {
        let set = try LiaisonSet()
        let run = DeployRun(dir: set.dir)
        defer { run.stopAll() }
        let sources = set.dir + "/kubernetes", keys = sources + "/curve"
        try Self.operatorSecrets(in: set.dir + "/liaison-secrets")
        let made = try await run.liaison(["keygen", "--topology", LiaisonSet.repoRoot + "/deploy/kubernetes/topology.json", "--into", keys,
                                          "--client", "operator:console", "--client", "submitter:desk-1"])
        #expect(made.status == 0, "\(made.output)")
        let topology = try Self.onLoopback(keys + "/topology.json")

        let plan = try await run.plan(["kubernetes", "--sources", sources, "--work", set.dir + "/work",
                                       "--secret", "liaison-secrets=" + set.dir + "/liaison-secrets"])
        #expect(plan.processes.map(\.name).sorted() == ["liaison-handler-0", "liaison-intake-0", "liaison-reporting-0", "liaison-scheduler-0"])
        #expect(plan.processes.allSatisfy { $0.probes.count == 2 }, "a readiness and a liveness probe each")
        for p in plan.processes { try run.start(p) }
        try await run.waitHealthy(plan.processes)

        let number = try await Self.deskSubmits(run, topology: topology, key: keys + "/desk-1.key")
        // kubectl exec deploy/liaison-console -- liaison cases: its key, its topology, from its mounts.
        let console = try #require(plan.jobs.first { $0.name == "liaison-console" })
        #expect(await eventually(30) {
            (try? await run.job(console, arguments: ["liaison", "cases"]))?.output.contains(number) == true
        }, "the console did not list \(number)\n\(run.logs())")
        let check = try await run.job(console, arguments: ["liaison", "streams", "--check"])
        #expect(check.status == 0, "\(check.output)")
        try await Self.strangerIsLetInNowhere(run, topology: topology, dir: set.dir)

        #expect(run.terminateAll() == ["liaison-handler-0": 0, "liaison-intake-0": 0, "liaison-reporting-0": 0, "liaison-scheduler-0": 0], "\(run.logs())")
    }

    /// The systemd units of liaison.target (instance 0 of each service), as written, with
    /// /etc/liaison as a host's would hold it: the shipped topology, units, policy and calendar, the
    /// contact keys and operator secrets, and the keys of `liaison keygen --topology
    /// /etc/liaison/topology.json --into /etc/liaison/keys` with curve.env copied to
    /// /etc/liaison/liaison.env, as the units say. Every unit serves over CURVE; a desk submits; the
    /// console lists the case; a stranger's key is let in nowhere; ExecReload's signal reads the
    /// allow-list again; the backup service copies every database; every unit stops with 0 on its
    /// KillSignal within its TimeoutStopSec.
    @Test func systemdUnitsRunTheSetOverCurveAsWritten() async throws {
        let set = try LiaisonSet()
        let run = DeployRun(dir: set.dir)
        defer { run.stopAll() }
        let etc = set.dir + "/etc-liaison", fm = FileManager.default
        try Self.operatorSecrets(in: etc)
        for file in ["topology.json", "units.json", "policy.conf", "calendar"] {
            try fm.copyItem(atPath: LiaisonSet.repoRoot + "/deploy/" + file, toPath: etc + "/" + file)
        }
        let made = try await run.liaison(["keygen", "--topology", etc + "/topology.json", "--into", etc + "/keys",
                                          "--client", "operator:console", "--client", "submitter:desk-1"])
        #expect(made.status == 0, "\(made.output)")
        try fm.copyItem(atPath: LiaisonSet.repoRoot + "/deploy/systemd/curve.env", toPath: etc + "/liaison.env")
        let topology = try Self.onLoopback(etc + "/keys/topology.json")
        // The plain one too, which a unit that did not read liaison.env would serve on (never the
        // fixed default ports in a test).
        try Self.onLoopback(etc + "/topology.json", keyed: false)

        let plan = try await run.plan(["systemd", "--etc", etc, "--work", set.dir + "/work"])
        #expect(plan.processes.map(\.name).sorted() == ["liaison-handler@0.service", "liaison-intake@0.service", "liaison-reporting@0.service", "liaison-scheduler@0.service"])
        #expect(plan.processes.allSatisfy { $0.env["LIAISON_CURVE_KEY_DIR"] == etc + "/keys" && $0.env["LIAISON_TOPOLOGY"] == topology }, "liaison.env is not read")
        for p in plan.processes { try run.start(p) }
        let console = ["--topology", topology, "--curve-key-file", etc + "/keys/console.key"]
        for service in Topology.serviceNames {
            var last: (status: Int32, output: String) = (-1, "")
            let up = await eventually(30) {
                last = (try? await run.liaison(["ping", service, "--timeout", "500"] + console)) ?? (-1, "")
                return last.status == 0
            }
            #expect(up, "\(service) does not answer over CURVE: \(last.output)\n\(run.logs())")
        }

        let number = try await Self.deskSubmits(run, topology: topology, key: etc + "/keys/desk-1.key")
        #expect(await eventually(30) { (try? await run.liaison(["cases"] + console))?.output.contains(number) == true },
                "the console did not list \(number)\n\(run.logs())")
        try await Self.strangerIsLetInNowhere(run, topology: topology, dir: set.dir)

        // systemctl reload: ExecReload's signal to the main process reads the allow-list again.
        let intake = try #require(plan.processes.first { $0.name == "liaison-intake@0.service" })
        #expect(intake.reloadSignal == "HUP")
        run.signal(intake.name, SIGHUP)
        #expect(await eventually(10) { run.logs().contains("CURVE clients reloaded") }, "\(run.logs())")

        let backup = try #require(plan.jobs.first)
        let copied = try await run.job(backup, arguments: nil)
        #expect(copied.status == 0, "\(copied.output)")
        let backups = set.dir + "/work/liaison-backups"
        let dirs = try fm.contentsOfDirectory(atPath: backups).filter { $0.hasPrefix("liaison-") }
        let files = try fm.contentsOfDirectory(atPath: backups + "/" + (dirs.first ?? "")).filter { $0.hasSuffix(".sqlite") }
        #expect(dirs.count == 1 && files.sorted() == ["handler-1.sqlite", "intake-1.sqlite", "reporting-1.sqlite", "scheduler-1.sqlite"], "\(dirs) \(files)")

        #expect(plan.processes.allSatisfy { $0.stopSignal == "SIGTERM" && ($0.stopTimeoutSeconds ?? 0) >= 10 })
        #expect(run.terminateAll().values.allSatisfy { $0 == 0 }, "\(run.logs())")
    }

    /// The contact keys and operator secrets, made as the instructions make them.
    static func operatorSecrets(in dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let key = (0..<32).map { _ in UInt8.random(in: 0...255) }
        try "k1 \(Data(key).base64EncodedString())\n".write(toFile: dir + "/contact-keys", atomically: true, encoding: .utf8)
        try "duty.officer \(UUID().uuidString)\n".write(toFile: dir + "/operator-secrets", atomically: true, encoding: .utf8)
    }

    /// keygen's topology with each instance's endpoints on free loopback ports (the container
    /// network's names, which only its members resolve); the public keys stay. Returns its path.
    @discardableResult
    static func onLoopback(_ path: String, keyed: Bool = true) throws -> String {
        var topology = try Topology.load(path: path)
        let endpoints: [WritableKeyPath<Topology.Instance, String>] = [\.requests, \.events]
        var ports = try distinctLoopbackPorts(topology.services.values.map { $0.count * endpoints.count }.reduce(0, +))
        for (service, list) in topology.services {
            if keyed { #expect(list.allSatisfy { $0.curvePublicKey != nil }, "keygen left \(service) without a key") }
            for i in list.indices {
                for endpoint in endpoints {
                    topology.services[service]![i][keyPath: endpoint] = "tcp://127.0.0.1:\(ports.removeLast())"
                }
            }
        }
        try topology.write(to: path)
        return path
    }

    /// A hotline desk submits a complaint with its key; returns the case number.
    static func deskSubmits(_ run: DeployRun, topology: String, key: String) async throws -> String {
        let submitted = try await run.liaison(["submit", "--kind", "complaint", "--channel", "hotline", "--unit", "STN-EAST-01",
                                               "--text", "Nobody answered the station's phone for an hour", "--submission-id", "deploy-desk-1",
                                               "--topology", topology, "--curve-key-file", key])
        #expect(submitted.status == 0 && submitted.output.hasPrefix("case L1-"), "\(submitted.output)\n\(run.logs())")
        return String(submitted.output.dropFirst("case ".count).prefix { $0 != " " })
    }

    /// A key made apart from the set's (not in its allow-list) gets no answer from any service.
    static func strangerIsLetInNowhere(_ run: DeployRun, topology: String, dir: String) async throws {
        let stranger = dir + "/stranger.key"
        #expect(try await run.liaison(["keygen", "--out", stranger]).status == 0)
        for service in Topology.serviceNames {
            let ping = try await run.liaison(["ping", service, "--timeout", "500", "--topology", topology, "--curve-key-file", stranger])
            #expect(ping.status == 3, "\(service) answered a key outside its allow-list: \(ping.output)")
        }
    }
}

/// The processes of a deploy plan (`scripts/deploy-plan.py`), started with their own arguments,
/// environment and working directory, their logs in `dir`; all stopped by ``stopAll()``, which
/// the tests defer, so that none outlives a failing test.
final class DeployRun: @unchecked Sendable {
    struct Planned: Decodable, Sendable {
        let name: String
        let argv: [String]
        let env: [String: String]
        let cwd: String
        let probes: [[String]]
        /// For a job with an entrypoint: how many of `argv` it is (the rest is its default command).
        let entrypoint: Int?
        /// systemd: the signal ExecReload sends the main process, KillSignal, TimeoutStopSec.
        let reloadSignal: String?
        let stopSignal: String?
        let stopTimeoutSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case name, argv, env, cwd, probes, entrypoint
            case reloadSignal = "reload_signal", stopSignal = "stop_signal", stopTimeoutSeconds = "stop_timeout_seconds"
        }
    }

    struct Plan: Decodable, Sendable {
        let processes: [Planned]
        let jobs: [Planned]
    }

    let dir: String
    private let lock = NSLock()
    private var running: [String: Process] = [:]

    init(dir: String) { self.dir = dir }

    /// What deploy-plan.py says the deploy files start.
    func plan(_ args: [String]) async throws -> Plan {
        let out = try await LiaisonSet.runProgram("/usr/bin/env", ["python3", LiaisonSet.repoRoot + "/scripts/deploy-plan.py"] + args)
        guard out.status == 0 else { throw SetupError("deploy-plan.py: \(out.output)") }
        return try JSONDecoder().decode(Plan.self, from: Data(out.output.utf8))
    }

    /// The executables of the image are this build's; a shell is the machine's. `PATH` leads to
    /// the build's, for the shell commands of the probes.
    func resolve(_ argv: [String], env: [String: String]) -> (path: String, args: [String], env: [String: String]) {
        var env = env
        env["PATH"] = LiaisonSet.binDir + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let exe = argv[0].hasPrefix("/") ? argv[0] : argv[0] == "sh" ? "/bin/sh" : LiaisonSet.binDir + "/" + argv[0]
        return (exe, Array(argv.dropFirst()), env)
    }

    func start(_ p: Planned) throws {
        let (path, args, env) = resolve(p.argv, env: p.env)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        process.environment = LiaisonSet.childEnvironment(env)
        process.currentDirectoryURL = URL(fileURLWithPath: p.cwd)
        let log = dir + "/\(p.name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardError = process.standardOutput
        try process.run()
        lock.withLock { running[p.name] = process }
    }

    /// Sends `sig` to the process `name`, if it runs.
    func signal(_ name: String, _ sig: Int32) {
        guard let p = lock.withLock({ running[name] }), p.isRunning else { return }
        kill(p.processIdentifier, sig)
    }

    /// Until every probe of every process passes (exit 0), at most 30 s each.
    func waitHealthy(_ processes: [Planned]) async throws {
        for p in processes {
            for probe in p.probes {
                let (path, args, env) = resolve(probe, env: p.env)
                var last: (status: Int32, output: String) = (-1, "")
                let passed = await eventually(30) {
                    last = (try? await LiaisonSet.runProgram(path, args, environment: env)) ?? (-1, "")
                    return last.status == 0
                }
                if !passed { throw SetupError("\(p.name)'s probe \(probe) did not pass: \(last.output)\n\(logs())") }
            }
        }
    }

    /// Runs a job of the plan to completion: its own command, or `arguments` after its entrypoint.
    func job(_ p: Planned, arguments: [String]?) async throws -> (status: Int32, output: String) {
        let argv = arguments.map { Array(p.argv.prefix(p.entrypoint ?? 1)) + $0 } ?? p.argv
        let (path, args, env) = resolve(argv, env: p.env)
        return try await LiaisonSet.runProgram(path, args, environment: env)
    }

    /// The command line from outside the set (a desk, an operator's machine).
    func liaison(_ args: [String]) async throws -> (status: Int32, output: String) {
        try await LiaisonSet.runProgram(LiaisonSet.binDir + "/liaison", args)
    }

    /// SIGTERM to every process; each one's exit status (nil: still running after 15 s, then killed).
    func terminateAll() -> [String: Int32?] {
        let all = lock.withLock { running }
        for p in all.values where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(15)
        var statuses: [String: Int32?] = [:]
        for (name, p) in all {
            while p.isRunning && Date() < deadline { usleep(10_000) }
            statuses[name] = p.isRunning ? nil : p.terminationStatus
        }
        stopAll()
        return statuses
    }

    func stopAll() { LiaisonSet.stop(lock.withLock { Array(running.values) }) }

    func logs() -> String {
        let names = lock.withLock { running.keys.sorted() }
        return names.map { "== \($0)\n" + ((try? String(contentsOfFile: dir + "/\($0).log", encoding: .utf8)) ?? "").suffix(2_000) }.joined(separator: "\n")
    }
}
