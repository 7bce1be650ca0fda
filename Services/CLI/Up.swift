import ArgumentParser
import Dispatch
import Foundation
import LiaisonRuntime

struct Up: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the whole set on this machine: intake, handler, scheduler and reporting.",
        discussion: """
            Starts the four service executables (found next to this one) as child processes, \
            restarts one that dies (with a growing pause if it keeps dying) or hangs (one of its \
            threads, requests, consumers or timers, silent for --hang-seconds: killed, then restarted), and on Ctrl-C, \
            SIGTERM or a hang-up (its terminal closed) stops them all gracefully; if it is itself \
            killed, they notice within half a second and stop. Each keeps its own database in --data-dir. Logs go \
            to standard error. Nothing starts when an endpoint of the topology or a database in \
            --data-dir is already in use (another set running): each one is named.
            """)

    @Option(help: "Directory for the services' databases.")
    var dataDir: String = ProcessInfo.processInfo.environment["LIAISON_DATA_DIR"] ?? "data"
    @Option(help: "Topology file (JSON). Default: $LIAISON_TOPOLOGY, else the local defaults (ports 7101-7402).")
    var topology: String?
    @Option(help: "Directory with the liaison-* executables. Default: the directory of this executable.")
    var binDir: String?
    @Option(help: "Log level passed to every service.")
    var logLevel: String = "info"
    @Option(help: ArgumentHelp(
        "Run the set over CURVE with the keys `liaison keygen --topology FILE --into DIR` made in DIR.",
        discussion: "Its topology (DIR/topology.json, unless --topology names another), each instance's key pair DIR/STREAM.key and the allow-list DIR/curve-clients. Make your own key with them (liaison keygen ... --client operator:NAME) or add its line to the allow-list, and give it to the other commands with --curve-key-file."))
    var curveKeys: String?
    @Option(help: ArgumentHelp(
        "Seconds a service may go without telling `up` it is alive before `up` kills it and starts it again (0: never).",
        discussion: "Each service pings `up` from its request thread (systemd's watchdog protocol, on a socket of up's own) a third of this apart, and stops while any of its threads (requests, consumers, timers) has been silent for two thirds of it; one that stops, hung on a lock or a disk that does not answer, is killed (SIGKILL) and restarted like one that died."))
    var hangSeconds: Double = 30

    func run() throws {
        let topologyPath = topology ?? curveKeys.map { ($0 as NSString).appendingPathComponent("topology.json") }
        let topo = try Topology.resolve(path: topologyPath)
        let bin = binDir ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        try ConfigFiles.makeDirectory(dataDir, key: "data-dir")
        var commonArgs = ["--data-dir", dataDir, "--log-level", logLevel]
        if let t = topologyPath { commonArgs += ["--topology", t] }

        var children: [Child] = []
        for name in Topology.serviceNames {
            let path = (bin as NSString).appendingPathComponent("liaison-\(name)")
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw ValidationError("cannot find \(path): build first (swift build) or pass --bin-dir")
            }
            for (i, inst) in topo.instances(of: name).enumerated() {
                let curve = curveKeys.map { dir in ["--curve-key-dir", dir, "--curve-clients", (dir as NSString).appendingPathComponent("curve-clients")] } ?? []
                children.append(Child(name: inst.stream, path: path, arguments: commonArgs + ["--instance", "\(i)"] + curve,
                                      hangSeconds: hangSeconds))
            }
        }

        // A set already running on these endpoints or databases: say so once and start nothing,
        // rather than four services that fail to bind and are restarted for ever.
        let problems = Preflight.problems(topology: topo, dataDir: dataDir)
        guard problems.isEmpty else {
            for p in problems { log("cannot start \(p)") }
            log("nothing was started. Stop the other set (Ctrl-C where it runs, or kill its pid), or give this one --topology with other endpoints and a --data-dir of its own.")
            throw ExitCode(1)
        }

        let stopping = StopFlag()
        signal(SIGPIPE, SIG_IGN)   // see say(_:)
        // A closed terminal hangs up `up` (its children are in process groups of their own and do
        // not hear it): `up` stops the set in order. See Supervision for `up` itself dying. The
        // children start with the three at their defaults (StopSignals), as from a shell.
        let sources = StopSignals.take([SIGINT, SIGTERM, SIGHUP]) { _ in stopping.set() }

        log("starting \(children.map(\.name).joined(separator: ", ")) (data in \(dataDir))")
        for c in children { c.start() }
        for inst in Topology.serviceNames.flatMap({ topo.instances(of: $0) }) {
            log("  \(inst.stream.padding(toLength: 12, withPad: " ", startingAt: 0)) requests \(inst.requests)  events \(inst.events)")
        }
        // `up` itself started by a supervisor (a test run, a process manager) stops the set when
        // that supervisor is gone, as its own children do when `up` is.
        let supervisor = Supervision.supervisor
        while !stopping.isSet {
            if let supervisor, getppid() != supervisor {
                log("the process that started liaison up (pid \(supervisor)) is gone: stopping the set")
                break
            }
            for c in children { c.superviseOnce() }
            Thread.sleep(forTimeInterval: 0.2)   // supervision tick, not synchronisation
        }
        log("stopping")
        for c in children { c.terminate() }
        let deadline = SuspendingClock.now + .seconds(10)
        while children.contains(where: \.isRunning) && SuspendingClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        for c in children where c.isRunning {
            log("\(c.name) did not stop in 10 s; killing it")
            c.kill()
        }
        _ = sources
        log("stopped")
    }

    func log(_ s: String) { Up.say("liaison up: \(s)\n") }

    /// What a service's own exit status means, for the line that says it exited: the statuses the
    /// services choose (``HangWatch/exitStatus``, ``DiskFailure/exitStatus``); nil for any other.
    static func exitMeaning(_ status: Int32) -> String? {
        switch status {
        case HangWatch.exitStatus: return "a thread of it hung; see its log"
        case DiskFailure.exitStatus: return "its disk failed an I/O; see its log, and check the disk"
        default: return nil
        }
    }

    /// Writes to standard error, never ending `up` for it: with SIGPIPE ignored (in `run`), a reader of
    /// the log that went away makes the write fail, where `FileHandle.write` would trap. The set
    /// goes on without its log rather than stop because nobody reads it.
    static func say(_ text: String) { try? FileHandle.standardError.write(contentsOf: Data(text.utf8)) }
}

/// One supervised child process.
final class Child {
    let name: String
    let path: String
    let arguments: [String]
    private var process: Process?
    private var restarts = 0
    // Intervals on the monotonic clock: a wall clock stepped forward (NTP putting a slow clock
    // right) made every child look silent past --hang-seconds, and `up` killed the whole set; one
    // stepped back held a dead child's restart for as long as the step.
    private var startedAt = SuspendingClock.now
    private var nextStart: SuspendingClock.Instant?
    /// Where the child says it is ready and alive (sd_notify's messages), when hangs are watched.
    private let watch: NotifyReceiver?
    private let hangSeconds: Double
    /// The child said READY=1 (since it last started), and when it last said anything.
    private var ready = false
    private var lastHeard = SuspendingClock.now

    init(name: String, path: String, arguments: [String], hangSeconds: Double = 0) {
        self.name = name
        self.path = path
        self.arguments = arguments
        self.hangSeconds = hangSeconds
        watch = hangSeconds > 0 ? NotifyReceiver(address: "@liaison-up-\(getpid())-\(name)") : nil
        if hangSeconds > 0 && watch == nil {
            Up.say("liaison up: cannot make \(name)'s notify socket (errno \(errno)): a hang of it will not be noticed\n")
        }
    }

    var isRunning: Bool { process?.isRunning ?? false }

    func start() {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        // The child stops by itself if `up` is gone (Supervision), and leaves a hang-up to `up`.
        var environment = [Supervision.supervisorVariable: "\(getpid())"]
        if let watch {
            // The child pings at half the interval: three pings a hang limit.
            environment["NOTIFY_SOCKET"] = watch.address
            environment["WATCHDOG_USEC"] = "\(UInt64(hangSeconds * 2 / 3 * 1_000_000))"
            environment["WATCHDOG_PID"] = nil
        }
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        do {
            _ = watch?.drain()   // a dead child's last words are not the new one's
            try p.run()
            process = p
            startedAt = .now
            ready = false
        } catch {
            Up.say("liaison up: cannot start \(name): \(error)\n")
        }
    }

    /// Restarts the child if it died, waiting longer after each quick death (1 s … 30 s).
    func superviseOnce() {
        if isRunning {
            watchForHang()
            return
        }
        if let at = nextStart {
            if SuspendingClock.now >= at { nextStart = nil; start() }
            return
        }
        let status = process?.terminationStatus ?? -1
        if SuspendingClock.now - startedAt > .seconds(60) { restarts = 0 }
        restarts += 1
        let pause = min(30, pow(2, Double(restarts - 1)))
        let meaning = process?.terminationReason == .exit ? Up.exitMeaning(status) : nil
        Up.say("liaison up: \(name) exited (status \(status)\(meaning.map { ": " + $0 } ?? "")); restarting in \(Int(pause)) s\n")
        nextStart = .now + .seconds(pause)
    }

    /// Kills a child that said it was ready and has since been silent for longer than `hangSeconds`;
    /// the next look restarts it.
    private func watchForHang() {
        guard let watch else { return }
        for message in watch.drain() {
            for line in message.split(separator: "\n") where line == "READY=1" || line == "WATCHDOG=1" {
                if line == "READY=1" { ready = true }
                lastHeard = .now
            }
        }
        let silent = (SuspendingClock.now - lastHeard) / .seconds(1)
        guard ready, silent > hangSeconds, let p = process, p.isRunning else { return }
        Up.say("liaison up: \(name) has not said it is alive for \(Int(silent)) s (one of its threads hangs): killing it\n")
        // Not waited for here: a process stuck in the kernel (a disk that does not answer) may take
        // its time to go, and `up` goes on supervising the others; a later look restarts it.
        Foundation.kill(p.processIdentifier, SIGKILL)
        ready = false
    }

    func terminate() { if let p = process, p.isRunning { Foundation.kill(p.processIdentifier, SIGTERM) } }
    func kill() { if let p = process, p.isRunning { Foundation.kill(p.processIdentifier, SIGKILL) } }
}

