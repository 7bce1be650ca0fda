import ArgumentParser
import Foundation
import GRDB
import Histogram
import Intake
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Logging
import Synchronization
import ZeroMQ

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-bench",
        abstract: "Liaison benchmarks: each prints its figures beside the raw limits measured in the same run.",
        subcommands: [IntakeBench.self, HandlerBench.self, ReportingBench.self, EchoServer.self])
}

/// `liaison-bench echo`: the raw round trip's other end, started by `liaison-bench intake` in a
/// process of its own. Binds a ROUTER on an ephemeral port of 127.0.0.1, prints its endpoint on
/// one line, and sends every message back until its parent goes away. With `--commit-to`, it
/// first commits the message's last frame as one row in its own fsync'd transaction (the raw
/// one-row transaction): the least any service that stores a request before answering can do.
struct EchoServer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo", abstract: "The raw echo (started by `intake`).",
                                                    shouldDisplay: false)

    @Option(help: "Commit every message as one row of this SQLite database before echoing it.")
    var commitTo: String?

    func run() throws {
        let parent = getppid()
        let store = try commitTo.map(RawRows.open)
        let ctx = try Context()
        defer { ctx.terminate() }
        let router = try Socket(context: ctx, type: .router, role: "echo", linger: 0)
        defer { router.close() }
        try router.bind("tcp://127.0.0.1:*")
        FileHandle.standardOutput.write(Data((try router.lastEndpoint + "\n").utf8))
        while getppid() == parent {
            guard try router.waitReadable(timeout: 100) else { continue }
            while let frames = try router.receiveMultipart(dontWait: true) {
                if let store, let body = frames.last { try RawRows.commitOne(store, body) }
                _ = try router.send(multipart: frames)
            }
        }
    }
}

/// The raw SQLite figures' table of same-size rows, written through ``Store`` as every service
/// writes: the same WAL handling (restarts) as intake's.
enum RawRows {
    static let insert = "INSERT INTO rows (body) VALUES (?)"

    static func open(_ path: String) throws -> Store {
        try Store(path: path) { m in
            m.registerMigration("raw") { db in try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)") }
        }
    }

    /// One row in a transaction of its own, fsync'd: the raw one-row transaction.
    static func commitOne(_ store: Store, _ body: [UInt8]) throws { try commit(store, body, count: 1) }

    /// `count` rows in one transaction, fsync'd. Bound straight to SQLite as intake binds its own
    /// (``GRDB/Database/executeBound(_:_:)``): through GRDB's `execute(arguments:)`, which boxes
    /// and converts every value, the same rows went in at 0.66–0.77 of the rate (three runs,
    /// 2026-12-07), a raw limit that flattered intake.
    static func commit(_ store: Store, _ body: [UInt8], count: Int) throws {
        try store.write { db in
            try db.inTransaction {
                let st = try db.cachedStatement(sql: insert)
                for _ in 0..<count { try db.executeBound(st) { $0.blob(body) } }
                return .commit
            }
        }
    }
}

/// A running `liaison-bench echo` child.
struct EchoProcess {
    let process: Process
    let endpoint: String

    /// - Parameter commitTo: a database the echo commits every message to before answering.
    static func start(commitTo: String? = nil) throws -> EchoProcess {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        p.arguments = ["echo"] + (commitTo.map { ["--commit-to", $0] } ?? [])
        let out = Pipe()
        p.standardOutput = out
        try Leftovers.run(p, name: "liaison-bench echo")
        // The first line is the endpoint it bound (an ephemeral port, so no race for a probed one).
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let endpoint = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard endpoint.hasPrefix("tcp://") else {
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            Leftovers.stopped(p)
            throw ValidationError("the raw echo process did not report its endpoint")
        }
        return EchoProcess(process: p, endpoint: endpoint)
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        Leftovers.stopped(process)
    }
}

/// `liaison-bench intake`: acknowledged submissions per second and latency of a real
/// `liaison-intake`, beside raw libzmq and SQLite figures of the same run.
struct IntakeBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intake",
        abstract: "Drive a real liaison-intake over real sockets; print throughput, latency, peak RSS and the raw limits.",
        discussion: """
            Starts liaison-intake (next to this executable, or --intake-bin) on a free TCP port of \
            127.0.0.1 with its database in a temporary directory. Measures, in this order and each \
            --runs times:

            raw: libzmq DEALER/ROUTER round trip of a same-size message to an echo in a process of \
            its own; the same --clients closed loop against that bare echo (the transport's ceiling \
            on this machine); SQLite WAL synchronous=FULL inserts of same-size rows, one per \
            transaction and 1,000 per transaction.

            low load: one client, one request in flight (p50 against raw round trip + one fsync).

            closed loop: --clients clients, one request in flight each, for --seconds (one driver \
            thread, the clients sharing --connections DEALER sockets, so they do not take the \
            service's CPU); then the same with --more-clients (bigger group commits); from the two, \
            the time one submission costs and the time one transaction costs (fitted: 1/rate = c + \
            T/batch).

            batched: the --clients closed loop again, each request a submit_batch of --batch-size \
            submissions (a desk sending its file): submissions per second, the request's latency.

            open loop: --rate submissions/s offered on a schedule for --seconds (latency from the \
            intended send time).

            Prints medians over the runs. Build with -c release for figures worth quoting.
            """)

    @Option(help: "Concurrent clients in the closed loop.") var clients = 32
    @Option(help: "Concurrent clients in the second closed loop (bigger group commits); 0 skips it.") var moreClients = 128
    @Option(help: "DEALER connections the closed-loop clients share.") var connections = 4
    @Option(help: "Submissions in each request of the batched closed loop (--clients clients, each request a submit_batch, as a desk sends its file); 0 skips it.") var batchSize = 16
    @Option(help: "Seconds per closed-loop and open-loop phase.") var seconds = 5.0
    @Option(help: "Offered submissions per second in the open loop.") var rate = 2_000
    @Option(help: "Sequential requests for the low-load latency.") var lowLoad = 500
    @Option(help: "Repeat the whole measurement this many times and print medians.") var runs = 3
    @Option(help: "Path of liaison-intake. Default: next to this executable.") var intakeBin: String?
    @Flag(help: "A short smoke run (CI): 1 run, 1 s phases, small raw samples.") var quick = false
    @Flag(help: "Only the in-process figure (intake's logic without sockets), --runs times: for profiling.") var logicOnly = false
    @Flag(help: "Only intake's request loop on a thread of this process over ipc (sockets included, no intake process), --runs times: for profiling.") var loopOnly = false
    @Flag(help: "Also measure a second intake that serves over CURVE (transport security): its low-load p50 and closed loop beside the plain one's, each run.") var curve = false

    func validate() throws {
        // A closed-loop request id carries the client's number in six digits (``SubmissionTemplate``).
        for (flag, n, least) in [("--clients", clients, 1), ("--more-clients", moreClients, 0)] where n < least || n > 999_999 {
            throw ValidationError("\(flag) must be \(least) to 999,999, not \(n)")
        }
    }

    func run() throws {
        let runs = quick ? 1 : max(1, self.runs)
        let seconds = quick ? 1.0 : self.seconds
        Leftovers.cleanUpOnInterruption()
        let dir = NSTemporaryDirectory() + "liaison-bench-" + UUID().uuidString.prefix(8)
        try Leftovers.directory(dir)
        defer { Leftovers.removed(dir) }
        if loopOnly {
            for r in 1...runs {
                print("run \(r): intake's request loop in-process over ipc, \(clients) clients: \(Int(try loopInProcess(dir: dir, quick: quick)))/s")
            }
            return
        }
        if logicOnly {
            for r in 1...runs {
                let lone = try loneInProcess(dir: dir, count: quick ? 50 : 2_000)
                print("run \(r): intake logic in-process \(Int(try inProcess(dir: dir, quick: quick).rate))/s; a lone submission p50 \(Int(lone.submission)) µs (CPU \(Int(lone.submissionCPU)) µs), one-row transaction beside it p50 \(Int(lone.oneRow)) µs (CPU \(Int(lone.oneRowCPU)) µs)")
            }
            return
        }
        let bin = intakeBin ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("liaison-intake").path

        let ctx = try Context()
        defer { ctx.terminate() }
        let port = try freePort(ctx)
        // Only intake runs: the handler it follows points at a socket nobody binds, so a set running
        // on the default ports of this machine cannot feed the benchmark's intake.
        let topo = Topology(services: [
            "intake": [.init(stream: "intake-1", requests: "tcp://127.0.0.1:\(port)", events: "tcp://127.0.0.1:\(try freePort(ctx))")],
            "handler": [.init(stream: "handler-1", requests: "ipc://\(dir)/no-handler-requests", events: "ipc://\(dir)/no-handler-events")],
        ])
        let topoPath = dir + "/topology.json"
        try topo.write(to: topoPath)
        let endpoint = topo.instances(of: "intake")[0].requests

        let intake = Process()
        intake.executableURL = URL(fileURLWithPath: bin)
        intake.arguments = ["--topology", topoPath, "--data-dir", dir + "/data", "--log-level", "error"]
        try Leftovers.run(intake, name: "liaison-intake")
        defer {
            if intake.isRunning { kill(intake.processIdentifier, SIGTERM); intake.waitUntilExit() }
            Leftovers.stopped(intake)
        }
        try waitReady(ctx, endpoint)

        // The same intake over CURVE, in a process and directory of its own (--curve).
        let curveRun = curve ? try CurveIntake(bin: bin, dir: dir + "/curve", port: try freePort(ctx), eventsPort: try freePort(ctx)) : nil
        defer { curveRun?.stop() }
        if let curveRun { try waitReady(curveRun.context, curveRun.endpoint, serverKey: curveRun.serverKey) }

        let sample = try sampleRequestBytes()
        let version = Context.libraryVersion
        print("liaison-bench intake: \(runs) run(s); \(clients) clients x \(seconds) s closed loop; \(rate)/s open loop; request \(sample) bytes; libzmq \(version.major).\(version.minor).\(version.patch)")
        var rows: [String: [Double]] = [:]
        func note(_ k: String, _ v: Double) { rows[k, default: []].append(v) }
        for r in 1...runs {
            let raw = try rawFigures(ctx, payload: sample, quick: quick, dir: dir)
            note("raw.rtt.p50", raw.rttP50); note("raw.rtt.p99", raw.rttP99)
            note("raw.sqlite.1", raw.perTxn1); note("raw.sqlite.1000", raw.perTxn1000)
            note("raw.fsync", 1_000_000 / raw.perTxn1); note("raw.closed", raw.closedLoop)
            note("raw.durable.p50", raw.durableP50); note("raw.durable.p99", raw.durableP99)
            note("raw.rttfsync", raw.rttP50 + 1_000_000 / raw.perTxn1)
            let logic = try inProcess(dir: dir, quick: quick)
            note("logic.rate", logic.rate)
            note("storage.rate", try storageAlone(from: logic.database, dir: dir, quick: quick))
            // Every phase that measures latency starts on a quiet disk: the pages the previous one
            // left dirty (30 MB of raw rows, the in-process databases) are flushed first, not
            // during it.
            sync()
            let low = try closedLoop(ctx, endpoint, clients: 1, requests: quick ? 100 : lowLoad, seconds: nil, tag: "low\(r)")
            note("low.p50", low.p(50)); note("low.p99", low.p(99))
            sync()
            let countsBefore = try commitCounts(ctx, endpoint)
            let cpuBefore = cpuSeconds(intake.processIdentifier)
            let closed = try closedLoop(ctx, endpoint, clients: clients, requests: nil, seconds: seconds, tag: "closed\(r)")
            note("closed.cpu", (cpuSeconds(intake.processIdentifier) - cpuBefore) * 1e6 / Double(max(1, closed.acked)))
            let countsAfter = try commitCounts(ctx, endpoint)
            note("closed.batch", Double(closed.acked) / Double(max(1, countsAfter.transactions - countsBefore.transactions)))
            note("closed.runout", countsAfter.runOutPercent(since: countsBefore))
            note("closed.rate", closed.rate); note("closed.p50", closed.p(50)); note("closed.p99", closed.p(99)); note("closed.p999", closed.p(99.9))
            if moreClients > 0 {
                sync()
                let before = try commitCounts(ctx, endpoint).transactions
                let more = try closedLoop(ctx, endpoint, clients: moreClients, requests: nil, seconds: seconds, tag: "more\(r)")
                let batch = Double(more.acked) / Double(max(1, try commitCounts(ctx, endpoint).transactions - before))
                note("more.rate", more.rate); note("more.batch", batch); note("more.p50", more.p(50)); note("more.p99", more.p(99))
                // 1/rate = c + T/batch through both points: the request thread's time per submission
                // (c) and per transaction (T), each in µs.
                let b1 = rows["closed.batch"]!.last!, r1 = closed.rate
                if batch > b1 * 1.2, r1 > 0, more.rate > 0 {
                    let t = (1 / r1 - 1 / more.rate) / (1 / b1 - 1 / batch)
                    note("fit.T", t * 1e6); note("fit.c", (1 / more.rate - t / batch) * 1e6)
                }
            }
            if batchSize > 0 {
                sync()
                let before = try commitCounts(ctx, endpoint).transactions
                let cpuBefore = cpuSeconds(intake.processIdentifier)
                let batched = try batchedLoop(ctx, endpoint, clients: clients, size: min(batchSize, maxBatchSubmissions), seconds: seconds, tag: "batched\(r)")
                note("batched.cpu", (cpuSeconds(intake.processIdentifier) - cpuBefore) * 1e6 / Double(max(1, batched.acked)))
                note("batched.batch", Double(batched.acked) / Double(max(1, try commitCounts(ctx, endpoint).transactions - before)))
                note("batched.rate", batched.rate); note("batched.p50", batched.p(50)); note("batched.p99", batched.p(99))
            }
            sync()
            let open = try openLoop(ctx, endpoint, rate: rate, seconds: seconds, tag: "open\(r)")
            note("open.rate", open.rate); note("open.p50", open.p(50)); note("open.p99", open.p(99)); note("open.p999", open.p(99.9))
            if let c = curveRun {
                sync()
                let low = try closedLoop(c.context, c.endpoint, serverKey: c.serverKey, clients: 1, requests: quick ? 100 : lowLoad, seconds: nil, tag: "curve-low\(r)")
                note("curve.low.p50", low.p(50))
                sync()
                let countsBefore = try commitCounts(c.context, c.endpoint, serverKey: c.serverKey)
                let cpuBefore = cpuSeconds(c.process.processIdentifier)
                let closed = try closedLoop(c.context, c.endpoint, serverKey: c.serverKey, clients: clients, requests: nil, seconds: seconds, tag: "curve-closed\(r)")
                note("curve.closed.cpu", (cpuSeconds(c.process.processIdentifier) - cpuBefore) * 1e6 / Double(max(1, closed.acked)))
                let countsAfter = try commitCounts(c.context, c.endpoint, serverKey: c.serverKey)
                note("curve.closed.batch", Double(closed.acked) / Double(max(1, countsAfter.transactions - countsBefore.transactions)))
                note("curve.closed.runout", countsAfter.runOutPercent(since: countsBefore))
                note("curve.closed.rate", closed.rate)
            }
            FileHandle.standardError.write(Data("run \(r): low-load p50 \(Int(low.p(50))) µs; closed \(Int(closed.rate))/s (\(String(format: "%.1f", rows["closed.batch"]!.last!)) per transaction, \(String(format: "%.0f", rows["closed.runout"]!.last!)) % of waits ran out) p50 \(Int(closed.p(50))) µs; \(moreClients) clients \(Int(rows["more.rate"]?.last ?? 0))/s (\(String(format: "%.1f", rows["more.batch"]?.last ?? 0)) per transaction); batched \(Int(rows["batched.rate"]?.last ?? 0))/s; open p99 \(Int(open.p(99))) µs; raw 1/txn \(Int(raw.perTxn1))/s, 1000/txn \(Int(raw.perTxn1000))/s, rtt \(Int(raw.rttP50)) µs, echo committing \(Int(raw.durableP50)) µs\n".utf8))
        }
        let rss = peakRSSKiB(intake.processIdentifier)
        func m(_ k: String) -> Double { median(rows[k] ?? [0]) }
        // A ratio is the median of each run's own ratio: both figures of a run come from the same
        // minutes of this machine, whose speed drifts between runs.
        func ratio(_ a: String, _ b: String) -> Double {
            guard let xs = rows[a], let ys = rows[b], xs.count == ys.count else { return m(a) / m(b) }
            return median(zip(xs, ys).map { $1 > 0 ? $0 / $1 : 0 })
        }
        let f = { (v: Double) in String(format: "%.0f", v) }
        let r2 = { (v: Double) in String(format: "%.2f", v) }
        let moreLines = moreClients <= 0 ? "" : """

            closed loop, \(moreClients) clients                     \(pad(f(m("more.rate")) + "/s", 20))  SQLite 1000/txn             \(r2(ratio("more.rate", "raw.sqlite.1000")));  SQLite 1/txn  \(r2(ratio("more.rate", "raw.sqlite.1")))
              submissions per transaction, p50 / p99   \(String(format: "%.1f", m("more.batch"))), \(f(m("more.p50"))) / \(f(m("more.p99"))) µs
            fitted cost (1/rate = c + T/batch)           \(rows["fit.c"] == nil ? "n/a (the two batch sizes were too close)" : "c = \(f(m("fit.c"))) µs a submission, T = \(f(m("fit.T"))) µs a transaction")
              10 x SQLite 1/txn needs c <=              \(f(1e6 / (10 * m("raw.sqlite.1")))) µs even with unbounded batches; 0.5 x SQLite 1000/txn needs c <= \(String(format: "%.1f", 1e6 / (0.5 * m("raw.sqlite.1000")))) µs
            """
        let batchedLines = batchSize <= 0 ? "" : """

            closed loop, \(clients) clients x \(min(batchSize, maxBatchSubmissions)) a request   \(pad(f(m("batched.rate")) + "/s", 20))  SQLite 1000/txn             \(r2(ratio("batched.rate", "raw.sqlite.1000")));  SQLite 1/txn  \(r2(ratio("batched.rate", "raw.sqlite.1")))
              (submit_batch, as a desk sends its file)   \(String(format: "%.1f", m("batched.batch"))) submissions a transaction; a request's p50 / p99 \(f(m("batched.p50"))) / \(f(m("batched.p99"))) µs; intake CPU \(String(format: "%.1f", m("batched.cpu"))) µs a submission
            """
        print("""

            figure (median of \(runs))                       liaison-intake        raw limit              ratio (median of each run's)
            acknowledged submissions/s, closed loop     \(pad(f(m("closed.rate")) + "/s", 20))  SQLite 1000/txn \(pad(f(m("raw.sqlite.1000")) + "/s", 10))  \(r2(ratio("closed.rate", "raw.sqlite.1000"))) (target >= 0.5)
                                                                               SQLite 1/txn    \(pad(f(m("raw.sqlite.1")) + "/s", 10))  \(r2(ratio("closed.rate", "raw.sqlite.1"))) (target >= 10)
                                                                               libzmq echo     \(pad(f(m("raw.closed")) + "/s", 10))  \(r2(ratio("closed.rate", "raw.closed"))) (transport alone, same clients)
            intake logic alone (in-process, batches of 32, no sockets)  \(pad(f(m("logic.rate")) + "/s", 10))  \(r2(ratio("logic.rate", "raw.sqlite.1000"))) of SQLite 1000/txn
            intake's two rows alone (SQLite, 1000 a txn)                \(pad(f(m("storage.rate")) + "/s", 10))  \(r2(ratio("storage.rate", "raw.sqlite.1000"))) of SQLite 1000/txn (a submission's row and its event's; nothing else)
            latency at low load, p50                    \(pad(f(m("low.p50")) + " µs", 20))  rtt+fsync       \(pad(f(m("raw.rttfsync")) + " µs", 10))  \(r2(ratio("low.p50", "raw.rttfsync"))) (target <= 1)
                                                                               echo committing \(pad(f(m("raw.durable.p50")) + " µs", 10))  \(r2(ratio("low.p50", "raw.durable.p50"))) (each round trip with a one-row transaction inside)
            latency at low load, p99                    \(pad(f(m("low.p99")) + " µs", 20))  libzmq rtt p99  \(f(m("raw.rtt.p99"))) µs; echo committing p99 \(f(m("raw.durable.p99"))) µs
            closed loop submissions per transaction     \(String(format: "%.1f", m("closed.batch"))) (group commit, \(clients) clients; of the batches' waits for the clients coming back, \(String(format: "%.1f", m("closed.runout"))) % ran out)
            intake CPU per acknowledged submission      \(f(m("closed.cpu"))) µs (all its threads, kernel included, closed loop; \(ProcessInfo.processInfo.activeProcessorCount) cores here)
            closed loop p50 / p99 / p99.9               \(f(m("closed.p50"))) / \(f(m("closed.p99"))) / \(f(m("closed.p999"))) µs
            open loop \(rate)/s: achieved, p50 / p99 / p99.9   \(f(m("open.rate")))/s, \(f(m("open.p50"))) / \(f(m("open.p99"))) / \(f(m("open.p999"))) µs
            raw libzmq REQ/ROUTER round trip p50        \(f(m("raw.rtt.p50"))) µs (one fsync ~ \(f(m("raw.fsync"))) µs)
            intake peak RSS                             \(rss / 1024) MiB\(moreLines)\(batchedLines)
            """)
        if curveRun != nil {
            print("""
                over CURVE, closed loop \(clients) clients        \(pad(f(m("curve.closed.rate")) + "/s", 20))  plain intake    \(pad(f(m("closed.rate")) + "/s", 10))  \(r2(ratio("curve.closed.rate", "closed.rate")))
                over CURVE, latency at low load, p50        \(pad(f(m("curve.low.p50")) + " µs", 20))  plain intake    \(pad(f(m("low.p50")) + " µs", 10))  \(r2(ratio("curve.low.p50", "low.p50")))
                over CURVE, submissions per transaction     \(pad(String(format: "%.1f", m("curve.closed.batch")), 20))  plain intake    \(String(format: "%.1f", m("closed.batch")))
                over CURVE, waits for the clients run out   \(pad(String(format: "%.1f", m("curve.closed.runout")) + " %", 20))  plain intake    \(String(format: "%.1f", m("closed.runout"))) %
                over CURVE, intake CPU per submission       \(pad(f(m("curve.closed.cpu")) + " µs", 20))  plain intake    \(pad(f(m("closed.cpu")) + " µs", 10))  \(r2(ratio("curve.closed.cpu", "closed.cpu")))
                """)
        }
    }

    // MARK: phases

    struct Phase {
        var histogram = Histogram<UInt64>(highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: .three)
        var acked = 0
        var elapsed = 0.0
        var rate: Double { elapsed > 0 ? Double(acked) / elapsed : 0 }
        func p(_ q: Double) -> Double { Double(histogram.valueAtPercentile(q)) }
    }

    /// `clients` concurrent clients, each with one request in flight (closed loop), driven by one
    /// thread over `--connections` DEALER sockets that the clients share (client `c` uses socket
    /// `c % connections`; its request id says which client an answer is for): on 2 cores, a thread or
    /// a polled socket per client would take the CPU the service under test needs. Stops after
    /// `requests` per client or `seconds`.
    func closedLoop(_ ctx: Context, _ endpoint: String, serverKey: String? = nil, clients: Int, requests: Int?, seconds: Double?, tag: String) throws -> Phase {
        // The driver shares the machine's two cores with intake: each request is one template
        // with its digits written in, each reply read for its request id and result only.
        let template = try SubmissionTemplate(tag: tag, base: submission("template"))
        return try drive(ctx, endpoint, serverKey: serverKey, clients: clients, requests: requests, seconds: seconds) { c, n in
            [[], template.make(client: c, count: n)]
        } answer: { frames in
            guard frames.count == 2, frames[0].isEmpty else { return nil }
            return SubmissionTemplate.answer(frames[1])
        }
    }

    /// ``closedLoop(_:_:serverKey:clients:requests:seconds:tag:)`` with each request a `submit_batch`
    /// of `size` submissions (a desk sending its file): latency is the request's, the rate counts
    /// submissions.
    func batchedLoop(_ ctx: Context, _ endpoint: String, clients: Int, size: Int, seconds: Double, tag: String) throws -> Phase {
        let template = try SubmissionTemplate(tag: tag, base: submission("template"))
        return try drive(ctx, endpoint, clients: clients, requests: nil, seconds: seconds) { c, n in
            [[], template.makeBatch(client: c, count: n, size: size)]
        } answer: { frames in
            guard frames.count == 2, frames[0].isEmpty else { return nil }
            return SubmissionTemplate.answer(frames[1])
        }
    }

    /// The closed-loop driver: sends the frames `make(client, n)` (with the empty delimiter) on the
    /// client's socket, and for each answer asks `answer` which client it is for and whether it was
    /// accepted; records the latency of accepted ones and sends that client's next request.
    func drive(_ ctx: Context, _ endpoint: String, serverKey: String? = nil, clients: Int, requests: Int?, seconds: Double?,
               make: (Int, Int) throws -> [[UInt8]], answer: ([[UInt8]]) -> (client: Int, accepted: Int)?) throws -> Phase {
        var sockets: [Socket] = []
        defer { for s in sockets { s.close() } }
        for _ in 0..<max(1, min(clients, connections)) {
            let s = try Socket(context: ctx, type: .dealer, role: "bench-client", linger: 0)
            try s.secure(context: ctx, serverKey: serverKey, endpoint: endpoint)
            try s.connect(endpoint)
            sockets.append(s)
        }
        var phase = Phase()
        var sentAt = [UInt64](repeating: 0, count: clients)
        var count = [Int](repeating: 0, count: clients)
        var waiting = [Bool](repeating: false, count: clients)
        var inFlight = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        let stopAt = seconds.map { t0 + UInt64($0 * 1e9) } ?? UInt64.max
        func sendNext(_ c: Int) throws {
            if let requests, count[c] >= requests { return }
            if DispatchTime.now().uptimeNanoseconds >= stopAt { return }
            let frames = try make(c, count[c])   // built before the clock starts: the service's time is measured
            sentAt[c] = DispatchTime.now().uptimeNanoseconds
            _ = try sockets[c % sockets.count].send(multipart: frames)
            count[c] += 1
            waiting[c] = true
            inFlight += 1
        }
        for c in 0..<clients { try sendNext(c) }
        var lastProgress = DispatchTime.now().uptimeNanoseconds
        while inFlight > 0 {
            let ready = try Poller.poll(sockets, timeout: 1_000)
            let now = DispatchTime.now().uptimeNanoseconds
            if !ready.contains(true) && now - lastProgress > 20_000_000_000 {
                throw ValidationError("no answer for 20 s with \(inFlight) requests in flight")
            }
            for k in sockets.indices where ready[k] {
                while let frames = try sockets[k].receiveMultipart(dontWait: true) {
                    guard let (c, accepted) = answer(frames), c >= 0, c < clients, waiting[c] else { continue }
                    waiting[c] = false
                    inFlight -= 1
                    lastProgress = now
                    if accepted > 0 {
                        _ = phase.histogram.record((DispatchTime.now().uptimeNanoseconds - sentAt[c]) / 1_000)
                        phase.acked += accepted
                    }
                    try sendNext(c)
                }
            }
        }
        phase.elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return phase
    }

    /// One thread offers `rate` submissions per second on a schedule over one DEALER and reads the
    /// acknowledgements as they come; latency counts from the intended send time.
    func openLoop(_ ctx: Context, _ endpoint: String, rate: Int, seconds: Double, tag: String) throws -> Phase {
        let s = try Socket(context: ctx, type: .dealer, role: "bench-open", sendHighWaterMark: 1_000_000, receiveHighWaterMark: 1_000_000, linger: 0)
        defer { s.close() }
        try s.connect(endpoint)
        var phase = Phase()
        let total = Int(Double(rate) * seconds)
        let interval = 1_000_000_000 / UInt64(max(1, rate))
        let t0 = DispatchTime.now().uptimeNanoseconds
        var intended: [String: UInt64] = [:]
        var sent = 0
        var answered = 0
        let deadline = t0 + UInt64((seconds + 30) * 1e9)
        while answered < total && DispatchTime.now().uptimeNanoseconds < deadline {
            let now = DispatchTime.now().uptimeNanoseconds
            while sent < total && t0 + UInt64(sent) * interval <= now {
                var r = Liaison_V1_Request()
                r.requestID = "\(sent)"
                r.submitFeedback = submission("\(tag)-\(sent)")
                intended[r.requestID] = t0 + UInt64(sent) * interval
                try s.send(multipart: Framing.requestFrames(r))
                sent += 1
            }
            // Until the next send is due (to the microsecond: a millisecond poll would spin, and a
            // spinning client takes a core from the service on this machine).
            let next = sent < total ? t0 + UInt64(sent) * interval : now + 10_000_000
            let wait = UInt64(max(0, min(10_000_000, Int64(next) - Int64(DispatchTime.now().uptimeNanoseconds))))
            if try s.waitReadable(nanoseconds: wait) {
                while let frames = try s.receiveMultipart(dontWait: true) {
                    let reply = try Framing.decodeReply(frames: frames)
                    guard let at = intended.removeValue(forKey: reply.requestID) else { continue }
                    answered += 1
                    if case .feedbackAccepted? = reply.result {
                        _ = phase.histogram.record((DispatchTime.now().uptimeNanoseconds - at) / 1_000)
                        phase.acked += 1
                    }
                }
            }
        }
        phase.elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return phase
    }

    /// Intake's own work without sockets: validation, idempotency, near-duplicates, sealing, the
    /// group commit and its events, on batches of 32 as the request loop hands them over; and the
    /// database it wrote.
    func inProcess(dir: String, quick: Bool) throws -> (rate: Double, database: String) {
        let path = dir + "/inproc-\(UUID().uuidString.prefix(6)).sqlite"
        let store = try Store(path: path, migrations: IntakeService.migrations)
        let log = try EventLog(store: store, stream: "intake-bench")
        let service = try IntakeService(log: log, casePrefix: "B", vault: try ContactVault(keys: [("bench", .init(size: .bits256))]),
                                    logger: Logger(label: "bench"))
        let batches = (0..<(quick ? 20 : 200)).map { b in
            (0..<32).map { i in
                var r = Liaison_V1_Request()
                r.submitFeedback = submission("inproc-\(b)-\(i)-\(UUID().uuidString.prefix(8))")
                return r
            }
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        for b in batches { _ = service.answer(b) }
        return (Double(batches.count * 32) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9), path)
    }

    /// Binds a value read back from a row as what it is.
    static func bind(_ value: DatabaseValue, _ row: inout RowBinder) {
        switch value.storage {
        case .null: row.null()
        case .int64(let v): row.int(v)
        case .double(let v): row.double(v)
        case .string(let v): row.text(v)
        case .blob(let v): row.blob(v)
        }
    }

    /// What SQLite alone makes of what intake stores for each submission: its row and its
    /// `feedback.received` event's row (the body, the sealed contact, the fingerprints, the ids),
    /// 1,000 submissions a transaction, fsync'd, bound as intake and the raw figures bind them
    /// (``GRDB/Database/executeBound(_:_:)``), with no checking, sealing or sockets. The rows are
    /// the real ones the in-process run stored in `source`, written again under new keys. The
    /// 1,000-row figure writes one row of a request's size; a submission costs intake two, so this
    /// is the ceiling of intake's storage, in submissions a second.
    func storageAlone(from source: String, dir: String, quick: Bool) throws -> Double {
        let stored = try DatabaseQueue(path: source).read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.submission_id, s.case_number, s.tracking_token, s.body, s.contact, s.received_at, s.state,
                       s.public_note, s.updated_at, s.linked_case_number, s.contact_prints,
                       e.event_id, e.topic, e.occurred_at, e.data
                FROM submissions s JOIN events e ON e.seq = s.event_seq ORDER BY s.case_seq LIMIT 1000
                """).map { Array($0.databaseValues) }
        }
        guard !stored.isEmpty else { throw ValidationError("the in-process run stored no submission to write again") }
        // Each row's values but its keys (its sequence, and the submission's event), bound below.
        let events = stored.map { Array($0[11...14]) }
        let submissions = stored.map { Array($0[0...10]) }
        let store = try Store(path: dir + "/storage-\(UUID().uuidString.prefix(6)).sqlite", migrations: IntakeService.migrations)
        let batches = quick ? 5 : 30
        var seq: Int64 = 0
        sync()
        let t0 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<batches {
            try store.write { db in
                try db.inTransaction {
                    let event = try db.cachedStatement(sql: "INSERT INTO events (seq, event_id, topic, occurred_at, data) VALUES (?, ?, ?, ?, ?)")
                    let submission = try db.cachedStatement(sql: """
                        INSERT INTO submissions (case_seq, submission_id, case_number, tracking_token, body, contact, received_at, state,
                                                 public_note, updated_at, linked_case_number, contact_prints, event_seq)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """)
                    for i in 0..<1_000 {
                        seq += 1
                        let e = events[i % events.count], s = submissions[i % submissions.count]
                        try db.executeBound(event) { row in
                            row.int(seq)
                            for v in e { Self.bind(v, &row) }
                        }
                        try db.executeBound(submission) { row in
                            row.int(seq)
                            for v in s { Self.bind(v, &row) }
                            row.int(seq)
                        }
                    }
                    return .commit
                }
            }
        }
        return Double(batches * 1_000) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }

    /// Intake's request loop (reading, decoding, handling, committing, answering, publishing) on a
    /// thread of this process, behind a ROUTER on an `ipc://` endpoint, driven by `--clients`
    /// closed-loop clients for a fixed number of requests: what a submission costs the request
    /// thread, sockets included, where valgrind can count it (it cannot run liaison-intake itself).
    func loopInProcess(dir: String, quick: Bool) throws -> Double {
        let ctx = try Context()
        defer { ctx.terminate() }
        let name = "loop-\(UUID().uuidString.prefix(6))"
        let topo = Topology(services: ["intake": [.init(stream: "intake-bench", requests: "ipc://\(dir)/\(name).req", events: "ipc://\(dir)/\(name).ev")]])
        let instance = topo.instances(of: "intake")[0]
        let config = ServiceConfig(service: "intake", topology: topo, instance: instance, index: 0, databasePath: "\(dir)/\(name).sqlite")
        let log = try EventLog(store: Store(path: config.databasePath, migrations: IntakeService.migrations), stream: instance.stream)
        var quiet = Logger(label: "bench")
        quiet.logLevel = .error
        let service = try IntakeService(log: log, casePrefix: "B", vault: try ContactVault(keys: [("bench", .init(size: .bits256))]),
                                        logger: quiet)
        let loop = RequestLoop(config: config, log: log, handler: service, logger: quiet, status: { .init() })
        let stop = StopFlag()
        let finished = DispatchSemaphore(value: 0)
        let failure = Mutex<Error?>(nil)
        let thread = Thread {
            do { try loop.run(context: ctx, stop: stop) } catch { failure.withLock { $0 = error } }
            finished.signal()
        }
        thread.start()
        defer { stop.set(); finished.wait() }
        // A loop that failed (its endpoint taken, say) is the error to report, not the silence after it.
        do {
            try waitReady(ctx, instance.requests)
        } catch {
            throw failure.withLock({ $0 }) ?? error
        }
        let phase = try closedLoop(ctx, instance.requests, clients: clients, requests: quick ? 20 : 200, seconds: nil, tag: name)
        if let error = failure.withLock({ $0 }) { throw error }
        return Double(phase.acked) / phase.elapsed
    }

    /// One submission at a time in-process: the median time intake's logic and its commit take for
    /// a lone submission (the low-load latency less the sockets), in µs; and, alternating with it
    /// (so that both see the same disk), a one-row transaction of the same size in a store of its own;
    /// and the mean CPU time of each.
    func loneInProcess(dir: String, count: Int) throws -> (submission: Double, oneRow: Double, submissionCPU: Double, oneRowCPU: Double) {
        let store = try Store(path: dir + "/lone-\(UUID().uuidString.prefix(6)).sqlite", migrations: IntakeService.migrations)
        let log = try EventLog(store: store, stream: "intake-bench")
        let service = try IntakeService(log: log, casePrefix: "B", vault: try ContactVault(keys: [("bench", .init(size: .bits256))]),
                                        logger: Logger(label: "bench"))
        let raw = try RawRows.open(dir + "/lone-raw-\(UUID().uuidString.prefix(6)).sqlite")
        let row = [UInt8](repeating: 0x42, count: try sampleRequestBytes())
        var times: [Double] = [], rawTimes: [Double] = []
        // CPU time of this thread, kernel included: on a virtual machine an fsync is mostly CPU
        // (the notifications to the virtual disk), not waiting.
        var cpuA = 0.0, cpuB = 0.0
        func cpuNow() -> Double { var ts = timespec(); clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); return Double(ts.tv_sec) * 1e6 + Double(ts.tv_nsec) / 1e3 }
        for i in 0..<count {
            var r = Liaison_V1_Request()
            r.submitFeedback = submission("lone-\(i)-\(UUID().uuidString.prefix(8))")
            var t0 = DispatchTime.now().uptimeNanoseconds
            var c0 = cpuNow()
            _ = service.answer([r])
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1_000)
            cpuA += cpuNow() - c0
            t0 = DispatchTime.now().uptimeNanoseconds
            c0 = cpuNow()
            try RawRows.commitOne(raw, row)
            rawTimes.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1_000)
            cpuB += cpuNow() - c0
        }
        return (median(times), median(rawTimes), cpuA / Double(count), cpuB / Double(count))
    }

    struct Raw { var rttP50: Double; var rttP99: Double; var perTxn1: Double; var perTxn1000: Double; var closedLoop: Double; var durableP50: Double; var durableP99: Double }

    /// The raw limits, same machine, same run: libzmq round trip of a same-size message over TCP
    /// loopback to an echoing ROUTER in another process; SQLite inserts of same-size rows.
    func rawFigures(_ ctx: Context, payload: Int, quick: Bool, dir: String) throws -> Raw {
        // The echo runs in a process of its own, as intake does: a round trip within one process
        // would share one libzmq I/O thread between both ends and skip two thread wake-ups that
        // every request to a service pays.
        let echo = try EchoProcess.start()
        defer { echo.stop() }
        let endpoint = echo.endpoint
        // The transport alone under the same closed load: the ceiling any service reached over
        // libzmq with these clients on this machine could approach.
        let body = [UInt8](repeating: 0x41, count: payload)
        let ceiling = try drive(ctx, endpoint, clients: clients, requests: nil, seconds: quick ? 0.5 : min(seconds, 3)) { c, _ in
            [[], withUnsafeBytes(of: UInt32(c).littleEndian, Array.init), body]
        } answer: { frames in
            guard frames.count == 3, frames[1].count == 4 else { return nil }
            return (Int(frames[1].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian), 1)
        }
        // A REQ socket, as the issue names the raw figure (its envelope is the empty delimiter the
        // DEALER clients above add by hand: the same bytes on the wire).
        let req = try Socket(context: ctx, type: .req, role: "raw", linger: 0)
        defer { req.close() }
        try req.connect(endpoint)
        let h = try roundTrips(req, body: body, count: quick ? 500 : 5_000)
        // The same round trips to an echo that commits each message (one row, fsync'd) before it
        // answers: the raw figure of a request that must be durable, in which the threads on both
        // sides sleep as long as they do around a lone submission (they wake more slowly after a
        // longer sleep here, which a round trip plus a separately timed fsync does not show).
        sync()
        let committing = try EchoProcess.start(commitTo: dir + "/echo-\(UUID().uuidString.prefix(6)).sqlite")
        defer { committing.stop() }
        let durable = try Socket(context: ctx, type: .req, role: "raw", linger: 0)
        defer { durable.close() }
        try durable.connect(committing.endpoint)
        let d = try roundTrips(durable, body: body, count: quick ? 100 : lowLoad)

        let store = try RawRows.open(dir + "/raw-\(UUID().uuidString.prefix(6)).sqlite")
        let row = [UInt8](repeating: 0x42, count: payload)
        let single = quick ? 300 : 2_000
        var t0 = Date()
        sync()
        for _ in 0..<single { try RawRows.commitOne(store, row) }
        let perTxn1 = Double(single) / Date().timeIntervalSince(t0)
        let batches = quick ? 5 : 30
        sync()
        t0 = Date()
        for _ in 0..<batches { try RawRows.commit(store, row, count: 1_000) }
        let perTxn1000 = Double(batches * 1_000) / Date().timeIntervalSince(t0)
        return Raw(rttP50: Double(h.valueAtPercentile(50)), rttP99: Double(h.valueAtPercentile(99)), perTxn1: perTxn1, perTxn1000: perTxn1000,
                   closedLoop: ceiling.rate, durableP50: Double(d.valueAtPercentile(50)), durableP99: Double(d.valueAtPercentile(99)))
    }

    /// `count` sequential round trips of `body` on a REQ socket; the first 50 warm up and are not recorded.
    func roundTrips(_ req: Socket, body: [UInt8], count: Int) throws -> Histogram<UInt64> {
        var h = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for i in 0..<(count + 50) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try req.send(multipart: [body])
            guard try req.waitReadable(timeout: 5_000) else { throw ValidationError("raw echo did not answer within 5 s") }
            _ = try req.receiveMultipart()
            if i >= 50 { _ = h.record((DispatchTime.now().uptimeNanoseconds - t0) / 1_000) }
        }
        return h
    }

    // MARK: helpers

    func submission(_ id: String) -> Liaison_V1_SubmitFeedback {
        var f = Liaison_V1_SubmitFeedback()
        f.submissionID = "bench-\(id)"
        f.kind = .complaint
        f.channel = .hotline
        f.text = "The officer at the front desk refused to register my report about a stolen bicycle and was rude to my elderly mother."
        f.unit = "STN-EAST-01"
        f.category = "service-attitude"
        f.language = "en"
        f.contact.name = "Citizen"
        // A different caller each time, as at a hotline desk (a repeated caller costs a near-duplicate check).
        // (Digits by hand: `String(format:)` took a third of the driver's time per request.)
        let digits = String(UInt32(truncatingIfNeeded: id.hashValue) % 100_000_000)
        f.contact.phone = "139" + String(repeating: "0", count: 8 - digits.count) + digits
        f.occurredAt = .init(date: Date())
        return f
    }

    func sampleRequestBytes() throws -> Int {
        var r = Liaison_V1_Request()
        r.requestID = UUID().uuidString
        r.submitFeedback = submission("sample-0000-0000")
        let b: [UInt8] = try r.serializedBytes()
        return b.count
    }

    func freePort(_ ctx: Context) throws -> Int {
        let s = try Socket(context: ctx, type: .router, role: "probe", linger: 0)
        defer { s.close() }
        try s.bind("tcp://127.0.0.1:*")
        return Int(try s.lastEndpoint.split(separator: ":").last.map(String.init) ?? "0") ?? 0
    }

    func waitReady(_ ctx: Context, _ endpoint: String, serverKey: String? = nil) throws {
        let client = RequestClient(context: ctx, endpoint: endpoint, serverKey: serverKey, timeoutMs: 500, attempts: 1)
        defer { client.reset() }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? client.call(.getStatus(.init()))) != nil { return }
        }
        throw ValidationError("liaison-intake did not answer on \(endpoint)")
    }

    /// Intake's counts of its commits so far (its status): write transactions, batches that waited
    /// to gather the clients the last one answered, and of them the waits that ran out.
    struct CommitCounts {
        var transactions: UInt64, gatherWaits: UInt64, gatherWaitsRunOut: UInt64
        /// The share of the waits since `before` that ran out, in percent (0 when none waited).
        func runOutPercent(since before: CommitCounts) -> Double {
            let waits = gatherWaits - before.gatherWaits
            return waits == 0 ? 0 : 100 * Double(gatherWaitsRunOut - before.gatherWaitsRunOut) / Double(waits)
        }
    }

    func commitCounts(_ ctx: Context, _ endpoint: String, serverKey: String? = nil) throws -> CommitCounts {
        let client = RequestClient(context: ctx, endpoint: endpoint, serverKey: serverKey, timeoutMs: 5_000, attempts: 2)
        defer { client.reset() }
        let s = try client.call(.getStatus(.init())).serviceStatus
        return CommitCounts(transactions: s.writeTransactions, gatherWaits: s.gatherWaits, gatherWaitsRunOut: s.gatherWaitsRunOut)
    }

    /// CPU time (user and system, all threads) a process has used, in seconds (Linux).
    func cpuSeconds(_ pid: Int32) -> Double {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = s.lastIndex(of: ")") else { return 0 }
        // Fields after the command name: state is field 3, utime 14 and stime 15 (clock ticks).
        let fields = s[s.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func peakRSSKiB(_ pid: Int32) -> Int { Figures.peakRSSKiB(pid) }

    func median(_ xs: [Double]) -> Double { Figures.median(xs) }

    func pad(_ s: String, _ n: Int) -> String { s.padding(toLength: max(n, s.count), withPad: " ", startingAt: 0) }
}


/// A second liaison-intake serving over CURVE, for `--curve`: its own key pair, the benchmark's
/// key allowed as an operator, a database of its own.
struct CurveIntake {
    let process: Process
    let context: Context
    let endpoint: String
    let serverKey: String

    init(bin: String, dir: String, port: Int, eventsPort: Int) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let server = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        try CurveKeyFile.text(server, name: "intake-1").write(toFile: dir + "/intake.key", atomically: true, encoding: .utf8)
        try "operator \(client.publicKey) liaison-bench\n".write(toFile: dir + "/clients", atomically: true, encoding: .utf8)
        let topo = Topology(services: [
            "intake": [.init(stream: "intake-1", requests: "tcp://127.0.0.1:\(port)", events: "tcp://127.0.0.1:\(eventsPort)", curvePublicKey: server.publicKey)],
            "handler": [.init(stream: "handler-1", requests: "ipc://\(dir)/no-handler-requests", events: "ipc://\(dir)/no-handler-events")],
        ])
        try topo.write(to: dir + "/topology.json")
        endpoint = topo.instances(of: "intake")[0].requests
        serverKey = server.publicKey
        context = try Context(curve: client)
        process = Process()
        process.executableURL = URL(fileURLWithPath: bin)
        process.arguments = ["--topology", dir + "/topology.json", "--data-dir", dir + "/data", "--log-level", "error",
                             "--curve-key-file", dir + "/intake.key", "--curve-clients", dir + "/clients"]
        try Leftovers.run(process, name: "liaison-intake (CURVE)")
    }

    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        Leftovers.stopped(process)
        context.terminate()
    }
}
