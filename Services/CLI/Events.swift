import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime
import ZeroMQ

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Read the event streams.", subcommands: [Tail.self])

    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a stream's events, one JSON object a line: stored ones from --from, then live ones.",
            discussion: """
                Replays the stored events after --from from the stream's requests socket, then \
                follows the live events socket; a skipped sequence number is filled in by replaying \
                again, so the output has every event once and in order. Heartbeats are not printed.
                """)

        @OptionGroup var client: ClientOptions
        @Option(help: "The stream, e.g. intake-1, handler-1 (see liaison streams).")
        var stream: String = "intake-1"
        @Option(help: "Print events after this sequence number (0: from the start).")
        var from: UInt64 = 0
        @Option(help: "Only topics starting with this prefix, e.g. case. (repeatable).")
        var topic: [String] = []
        @Flag(inversion: .prefixedNo, help: "Keep following live events (default), or stop at the current head.")
        var follow = true
        @Option(help: "Stop after printing this many events.")
        var limit: Int?

        func run() throws {
            do { try tail() } catch { reportFailure(error) }
        }

        func tail() throws {
            let topo = try client.loadTopology()
            guard let inst = topo.services.values.flatMap({ $0 }).first(where: { $0.stream == stream }) else {
                throw ValidationError("no stream '\(stream)' in the topology; streams: \(topo.services.values.flatMap { $0 }.map(\.stream).sorted().joined(separator: ", "))")
            }
            let ctx = try client.context()
            defer { ctx.terminate() }
            let stop = StopFlag()
            signal(SIGPIPE, SIG_IGN)
            let live = try Socket(context: ctx, type: .sub, role: "events-in", receiveHighWaterMark: 100_000, linger: 0)
            defer { live.close() }
            try live.subscribe("")
            try live.secure(context: ctx, serverKey: inst.curvePublicKey, endpoint: inst.events)
            try live.connect(inst.events)
            let requests = client.requestClient(ctx, inst)
            defer { requests.reset() }

            var cursor = from
            var printed = 0
            func emit(_ e: Liaison_V1_Event) -> Bool {
                if topic.isEmpty || topic.contains(where: { e.topic.hasPrefix($0) }) {
                    // A reader that has had enough (`| head`) closes the pipe: SIGPIPE is ignored for
                    // libzmq's sake, so the write fails, and the tail ends there, quietly.
                    do { try FileHandle.standardOutput.write(contentsOf: Data((PlainText.escapingControls(Output.json(e)) + "\n").utf8)) } catch { return true }
                    printed += 1
                }
                return limit.map { printed >= $0 } ?? false
            }
            // Replay up to the head, then follow.
            var needReplay = true
            while !stop.isSet {
                if needReplay {
                    var r = Liaison_V1_Replay()
                    r.afterSeq = cursor
                    r.limit = 1_000
                    r.topicPrefixes = topic
                    let batch = try requests.call(.replay(r)).replayBatch
                    for e in batch.events where emit(e) { return }
                    cursor = max(cursor, batch.lastSeq)
                    needReplay = batch.more
                    if !needReplay && !follow { return }
                    continue
                }
                guard try live.waitReadable(timeout: 200) else {
                    // A reader gone while the stream is quiet (`| head -1` once it has its line):
                    // no write fails to tell, so ask the pipe.
                    if Events.outputClosed() { return }
                    continue
                }
                while let frames = try live.receiveMultipart(dontWait: true) {
                    guard let e = try? Framing.decodeEvent(frames: frames), e.stream == stream else { continue }
                    if e.topic == Topic.heartbeat {
                        if e.heartbeat.headSeq > cursor { needReplay = true }
                        continue
                    }
                    if e.seq <= cursor { continue }
                    if e.seq != cursor + 1 { needReplay = true; break }
                    cursor = e.seq
                    if emit(e) { return }
                }
            }
        }
    }

    /// Whether standard output is a pipe whose reader has gone (poll says POLLERR or POLLHUP).
    static func outputClosed() -> Bool {
        var p = pollfd(fd: STDOUT_FILENO, events: Int16(POLLOUT), revents: 0)
        return poll(&p, 1, 0) > 0 && p.revents & Int16(POLLERR | POLLHUP) != 0
    }
}

struct Streams: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each stream's head and each consumer's applied position (its lag).",
        discussion: """
            Asks every instance in the topology for its status. A service that does not answer is shown as DOWN.

            DATABASE and WAL are the sizes of its SQLite files. The WAL starts over every ~1,000 pages, so it \
            stays a few MiB; one that keeps growing means its checkpoints are failing (see the service's log). \
            DISK FREE is the free space on the disk of its database; under the service's warning level \
            (--disk-free-warning-mib, default 1 GiB) a line under the table says so, before a full disk fails \
            every write. \
            SHED counts the requests it answered `unavailable` because its queue was full, since it started. \
            REFUSED/MIN is how many of the requests it answered in the last minute it refused with the \
            caller's error (a field wrong, a case or token not found, no credential, a reused submission_id); \
            when that is half or more of at least 20, a line under the table names the latest refusal's \
            code and field, and each kind of refusal of the last minute with its count when there are several \
            (a web front's wrong unit and a status page's cut tokens at once): a client sending something \
            wrong since its last change, or tokens guessed. Fewer refusals are named by kind in a line of \
            their own. \
            A request of many submissions (a desk's file, 16 lines a request) counts once there, refused \
            when one of its lines is; a line under the table gives each intake's submissions one by one: \
            answered in the last minute, refused of them, and accepted and refused since it started. \
            COMMITS/MIN, MEAN and MAX are its write transactions over the last minute and how long they took, \
            fsync included: a MAX of many milliseconds is a disk that stalls, and every acknowledgement waits \
            for it. FAILED counts the write transactions SQLite failed since it started (a full disk \
            fails every one); the latest failure is printed under the table. Where an instance serves over \
            CURVE, a line under the table gives how many keys its allow-list lets in, when it was read, \
            and how many connections it refused since it started (a key not in the list). --json shows \
            everything, including how often the WAL started over.

            --check is for a monitoring system or cron: after the tables it prints one line for each \
            problem (an instance that does not answer, a disk under its warning level, a write that \
            failed in the last 10 minutes, a consumer more than --max-lag events behind or ahead of \
            its upstream, a consumer that has heard nothing from its upstream for --max-silence seconds, \
            a consumer that has failed to apply its upstream's events for as long, \
            a thread of an instance that has not gone round its loop for --max-silence seconds, \
            an instance whose request thread has waited as long for its disk, \
            an instance refusing half or more of what it answered in the last minute) \
            and exits 2 when there is any, 0 when all is well.

            Every thread of a service (its requests, each consumer, each timer) goes round its loop at \
            least every 200 ms when idle, and after each batch of work when busy. One that has not for seconds is stuck, on a lock or a disk that \
            does not answer: a line under the table names it. A stuck consumer stops the stream it applies \
            (no new cases, no reports), a stuck timer the deadlines. --exit-if-hung-seconds, systemd's \
            WatchdogSec= and liaison up's --hang-seconds restart such a service by themselves.

            An instance whose request thread is held up in a commit or a read that its disk does not \
            finish (a disk that stalls) still answers this status, from another thread: STATE says \
            WAITING FOR ITS DISK and for how long, and a line under the table says so. Meanwhile it \
            keeps one batch of requests for a second in case the commit is done by then, and answers the rest unavailable.

            HEARD is how long ago each consumer last heard its upstream (an event, the heartbeat an idle \
            upstream sends every second, or an answer to a replay). Seconds of silence mean the upstream \
            is down or the network between them is, even where this command reaches both: the \
            consumer replays what it missed once it hears the upstream again.
            """)

    @OptionGroup var client: ClientOptions
    @Flag(help: "Exit 2 and list the problems when anything needs the operator (see above); 0 when all is well.")
    var check = false
    @Option(help: "With --check: how many events a consumer may be behind its upstream before it is a problem.")
    var maxLag: UInt64 = 10_000
    @Option(help: "How many seconds a consumer may hear nothing from its upstream, or a thread go without turning, before it is said (with --check: a problem).")
    var maxSilence: Double = 10

    func run() throws {
        do {
            let topo = try client.loadTopology()
            let ctx = try client.context()
            defer { ctx.terminate() }
            var statuses: [(service: String, instance: Topology.Instance, status: Liaison_V1_ServiceStatus?, down: String)] = []
            for name in Topology.serviceNames {
                for inst in topo.instances(of: name) {
                    let c = client.requestClient(ctx, inst, timeoutMs: min(client.timeout, 1_500), attempts: 1)
                    defer { c.reset() }
                    // Why no status: nothing answers, a CURVE instance lets this key in nowhere, or this
                    // command has no key for it.
                    do {
                        statuses.append((name, inst, try c.call(.getStatus(.init())).serviceStatus, ""))
                    } catch is CurveKeyMissing {
                        statuses.append((name, inst, nil, "CURVE: NO KEY GIVEN (--curve-key-file)"))
                    } catch let e as ClientError where e.overCurve {
                        statuses.append((name, inst, nil, "DOWN, OR YOUR CURVE KEY NOT ALLOWED (\(inst.requests))"))
                    } catch {
                        statuses.append((name, inst, nil, "DOWN (\(inst.requests))"))
                    }
                }
            }
            let heads = Dictionary(statuses.compactMap { s in s.status.map { (s.instance.stream, $0.headSeq) } }, uniquingKeysWith: max)
            let positions = Self.positions(statuses.map { ($0.instance.stream, $0.status) }, heads: heads)
            let problems = check ? Self.problems(statuses.map { ($0.instance.stream, $0.status, $0.down) }, positions: positions, maxLag: maxLag,
                                                 maxSilence: maxSilence, now: Date()) : []
            if client.json {
                for s in statuses { if let st = s.status { print(Output.json(st)) } }
                // The statuses stay JSON on standard output; what --check found goes to standard error.
                for p in problems { printError("PROBLEM: \(p)\n") }
                if !problems.isEmpty { throw ExitCode(2) }
                return
            }
            print(Output.table(["STREAM", "SERVICE", "HEAD", "STATE", "DATABASE", "WAL", "DISK FREE", "SHED", "REFUSED/MIN", "FAILED", "COMMITS/MIN", "MEAN", "MAX"], statuses.map { s in
                guard let st = s.status else { return [s.instance.stream, s.service, "-", s.down, "-", "-", "-", "-", "-", "-", "-", "-", "-"] }
                let timed = st.commitsLastMinute > 0
                if st.requestThreadHeldMs > 0 {
                    return [s.instance.stream, s.service, "\(st.headSeq)", "WAITING FOR ITS DISK \(Self.seconds(st.requestThreadHeldMs)), pid \(st.pid)",
                            "-", "-", "-", "\(st.requestsShed)", "-", "-", "-", "-", "-"]
                }
                return [s.instance.stream, s.service, "\(st.headSeq)", "up, pid \(st.pid)", Output.bytes(st.databaseBytes),
                        Output.bytes(st.walBytes), st.diskTotalBytes > 0 ? Output.bytes(st.diskFreeBytes) : "-",
                        "\(st.requestsShed)", "\(st.refusedLastMinute) of \(st.requestsLastMinute)", "\(st.writeFailures)", "\(st.commitsLastMinute)",
                        timed ? Output.micros(st.commitMeanUsLastMinute) : "-", timed ? Output.micros(st.commitMaxUsLastMinute) : "-"]
            }))
            // Intake's submissions one by one: a desk's request of 50 lines is one request above.
            for s in statuses where s.service == "intake" {
                guard let st = s.status, st.requestThreadHeldMs == 0 else { continue }
                print(Self.submissions(s.instance.stream, st))
            }
            // What the refusals of the last minute were, where too few for a problem (below) to name them.
            for s in statuses {
                guard let st = s.status, !st.refusalsLastMinute.isEmpty, Self.refusing(s.instance.stream, st) == nil else { continue }
                print("\(s.instance.stream): refused in the last minute, by kind: "
                      + Self.refusalKinds(st))
            }
            // A request thread held up by its disk: every acknowledgement waits.
            for s in statuses {
                guard let st = s.status, st.requestThreadHeldMs > 0 else { continue }
                print(Self.heldUp(s.instance.stream, st))
            }
            // A disk nearly full, before it fails every write.
            for s in statuses {
                guard let st = s.status, st.diskTotalBytes > 0, st.diskFreeBytes < st.diskFreeWarningBytes else { continue }
                print("\(s.instance.stream): the disk of its database is nearly full: \(Output.bytes(st.diskFreeBytes)) free of \(Output.bytes(st.diskTotalBytes)) (it warns under \(Output.bytes(st.diskFreeWarningBytes))); when it is full, every write fails")
            }
            // Transport security, when any instance serves over CURVE: how many keys each lets in, since
            // when, and how many connections it refused (a desk that cannot connect shows here).
            if statuses.contains(where: { $0.status?.curve == true }) {
                for s in statuses {
                    guard let st = s.status else { continue }
                    print(st.curve
                          ? "\(s.instance.stream): CURVE, \(st.curveClients) key(s) let in (allow-list read \(Output.time(st.curveClientsReadAt))), \(st.curveRefused) connection(s) refused since it started"
                          : "\(s.instance.stream): plain ZMTP (the topology gives it no curve_public_key): anyone who reaches it is let in")
                }
            }
            // A thread that no longer turns: stuck.
            for s in statuses {
                for t in s.status?.threads ?? [] where Double(t.silentMs) >= maxSilence * 1000 { print(Self.stuck(s.instance.stream, t)) }
            }
            // Most of what an instance answers refused: a client sends something wrong.
            for s in statuses {
                guard let st = s.status, let refusing = Self.refusing(s.instance.stream, st) else { continue }
                print(refusing)
            }
            // What the operator must act on, in words: the latest failed write of each instance.
            for s in statuses {
                guard let st = s.status, st.writeFailures > 0 else { continue }
                let when = Output.time(st.lastWriteFailureAt)
                print("\(s.instance.stream): \(st.writeFailures) write(s) failed since it started; the latest at \(when): \(st.lastWriteFailure)")
            }
            print("")
            print(Output.table(["CONSUMER", "OF STREAM", "APPLIED", "HEAD", "LAG", "HEARD"], positions.map { p in
                [p.consumer, p.upstream, "\(p.applied)", "\(p.head)", p.isAhead ? "AHEAD \(p.applied - p.head)" : "\(p.lag)", Self.heard(p.silentMs)]
            }))
            for p in positions where p.hearsNothing(maxSilence) {
                print(Self.silence(p))
            }
            for p in positions where p.failingMs > 0 {
                print(Self.failing(p))
            }
            for p in positions where p.isAhead {
                print("\(p.consumer) has applied \(p.applied) events of \(p.upstream), whose head is \(p.head): \(p.upstream)'s database is older than \(p.consumer)'s, and the events it numbers again up to \(p.applied) are skipped there (liaison restore sets such cursors back)")
            }
            if check {
                print("")
                for p in problems { print("PROBLEM: \(p)") }
                print(problems.isEmpty ? "CHECK: all well" : "CHECK: \(problems.count) problem(s)")
                if !problems.isEmpty { throw ExitCode(2) }
            }
        } catch let exit as ExitCode { throw exit } catch { reportFailure(error) }
    }

    /// Where one consumer stands on the stream it follows.
    struct Position {
        let consumer: String
        let upstream: String
        let applied: UInt64
        /// The upstream's head; when the upstream reports one below `applied`, that one.
        let head: UInt64
        /// Beyond the head its upstream reports: the upstream's database is older than the
        /// consumer's (restored from another moment).
        let isAhead: Bool
        /// Milliseconds since the consumer last heard its upstream (an event, a heartbeat, a replay's answer).
        var silentMs: UInt64 = 0
        /// Milliseconds since the consumer's own thread last went round its loop, when its instance says.
        var threadSilentMs: UInt64?
        /// How long the consumer has failed to apply its upstream's events (0: it applies them), and why.
        var failingMs: UInt64 = 0
        var lastFailure = ""
        var lag: UInt64 { head > applied ? head - applied : 0 }

        /// Nothing heard from the upstream for `seconds`, while the consumer's thread turns: the
        /// upstream or the network is at fault. (A consumer whose own thread is stuck hears nothing
        /// either; that is said of the thread.)
        func hearsNothing(_ seconds: Double) -> Bool {
            Double(silentMs) >= seconds * 1000 && Double(threadSilentMs ?? 0) < seconds * 1000
        }
    }

    /// The HEARD column: "0.4 s ago", "2 min ago".
    static func heard(_ silentMs: UInt64) -> String {
        silentMs < 60_000 ? String(format: "%.1f s ago", Double(silentMs) / 1000) : "\(silentMs / 60_000) min ago"
    }

    /// A consumer that hears nothing from its upstream, in words.
    static func silence(_ p: Position) -> String {
        "\(p.consumer) has heard nothing from \(p.upstream) for \(p.silentMs / 1000) s (no event, no heartbeat): is \(p.upstream) running, and the network between them up? What it misses is replayed once it hears \(p.upstream) again"
    }

    /// A consumer that cannot apply its upstream's events, in words.
    static func failing(_ p: Position) -> String {
        "\(p.consumer) has failed to apply \(p.upstream)'s events for \(p.failingMs / 1000) s, after event \(p.applied): \(p.lastFailure) (it keeps its place and tries again, skipping nothing; see its log)"
    }

    /// An instance whose request thread is held up in a commit or a read of its database, in words.
    static func heldUp(_ stream: String, _ st: Liaison_V1_ServiceStatus) -> String {
        "\(stream): its request thread has been waiting \(seconds(st.requestThreadHeldMs)) for its database (a commit or a read the disk has not finished: a disk that stalls?); meanwhile it keeps one batch of requests for a second in case it is back by then, and answers the rest unavailable. Its database, disk and consumer figures come back with it (see its log, and the disk's: dmesg)"
    }

    /// Milliseconds as seconds to a tenth: "12.3 s".
    static func seconds(_ ms: UInt64) -> String { String(format: "%.1f s", Double(ms) / 1000) }

    /// A thread that has not gone round its loop for a while, in words.
    static func stuck(_ stream: String, _ t: Liaison_V1_ThreadPulse) -> String {
        "\(stream): \(t.thread) has not gone round its loop for \(t.silentMs / 1000) s: stuck on a lock or a disk that does not answer? (see its log; --exit-if-hung-seconds, WatchdogSec= or liaison up restart it)"
    }

    /// Every consumer's position, from the instances' statuses and the heads they report.
    static func positions(_ statuses: [(stream: String, status: Liaison_V1_ServiceStatus?)], heads: [String: UInt64]) -> [Position] {
        statuses.flatMap { s in
            (s.status?.consumers ?? []).map { c in
                let thread = Consumer.threadName(stream: s.stream, upstream: c.stream)
                let threadSilentMs = s.status?.threads.first { $0.thread == thread }?.silentMs
                if let upstreamHead = heads[c.stream], upstreamHead < c.appliedSeq {
                    return Position(consumer: s.stream, upstream: c.stream, applied: c.appliedSeq, head: upstreamHead, isAhead: true,
                                    silentMs: c.silentMs, threadSilentMs: threadSilentMs, failingMs: c.failingMs, lastFailure: c.lastFailure)
                }
                return Position(consumer: s.stream, upstream: c.stream, applied: c.appliedSeq, head: max(heads[c.stream] ?? 0, c.knownHeadSeq), isAhead: false,
                                silentMs: c.silentMs, threadSilentMs: threadSilentMs, failingMs: c.failingMs, lastFailure: c.lastFailure)
            }
        }
    }

    /// An intake's submissions in a line: the last minute's, and since it started.
    static func submissions(_ stream: String, _ st: Liaison_V1_ServiceStatus) -> String {
        let refused = st.submissionsRefusedLastMinute > 0 ? ", \(st.submissionsRefusedLastMinute) of them refused" : ""
        return "\(stream): \(st.submissionsLastMinute) submission(s) answered in the last minute\(refused); "
            + "since it started, \(st.submissionsAccepted) accepted and \(st.submissionsRefused) refused"
    }

    /// The last minute's refusals by kind with their counts: `25 invalid_argument submit_feedback.unit, 3 not_found`.
    static func refusalKinds(_ st: Liaison_V1_ServiceStatus) -> String {
        st.refusalsLastMinute.map { "\($0.requests) \($0.what)" }.joined(separator: ", ")
    }

    /// What needs the operator, one line each: for `--check`.
    /// Half or more of what an instance answered in the last minute (20 requests at least) refused
    /// with the caller's error: a client sending a field wrong after a change, an operator's
    /// credential gone stale, or tracking tokens being guessed. Nil when not so.
    /// The question is asked about the commonest kind of refusal (the latest when the status
    /// does not count kinds); with more than one kind, each is named with its count.
    static func refusing(_ stream: String, _ st: Liaison_V1_ServiceStatus) -> String? {
        guard st.refusedLastMinute >= 20, st.refusedLastMinute * 2 >= st.requestsLastMinute else { return nil }
        let latest = st.lastRefusal.isEmpty ? "" : " (the latest: \(st.lastRefusal), \(Output.time(st.lastRefusalAt)))"
        let kinds = st.refusalsLastMinute.count > 1
            ? "; by kind: " + refusalKinds(st) : ""
        let commonest = st.refusalsLastMinute.first { $0.what != RequestCounts.otherKinds }?.what ?? st.lastRefusal
        let words = commonest.split(separator: " ")
        let code = words.first.map(String.init) ?? ""
        let lookup = words.count > 1 && words[1].hasPrefix("get_feedback_status.")
        let ask = switch code {
        case _ where lookup: "citizens mistyping case numbers or tracking tokens, someone guessing them, or a status page sending them wrong?"
        case "invalid_argument": "is a client sending that field wrong (a web front or a desk's tool since its last change)?"
        case "not_found": "citizens mistyping, or someone guessing case numbers and tracking tokens?"
        case "unauthorized": "an operator credential or a client key that is no longer accepted?"
        case "conflict": "a client reusing one submission_id for different submissions?"
        default: "what is sending them?"
        }
        // Requests of many submissions (a desk's file) are refused for one bad line: say how many lines.
        let lines = st.submissionsLastMinute > st.refusedLastMinute
            ? " (\(st.submissionsRefusedLastMinute) of the \(st.submissionsLastMinute) submissions they carried)" : ""
        return "\(stream): refused \(st.refusedLastMinute) of the \(st.requestsLastMinute) requests it answered in the last minute\(lines)\(latest)\(kinds): \(ask)"
    }

    static func problems(_ statuses: [(stream: String, status: Liaison_V1_ServiceStatus?, down: String)], positions: [Position],
                         maxLag: UInt64, maxSilence: Double = 10, now: Date) -> [String] {
        var problems: [String] = []
        for s in statuses {
            guard let st = s.status else {
                problems.append("\(s.stream): \(s.down)")
                continue
            }
            if st.diskTotalBytes > 0 && st.diskFreeBytes < st.diskFreeWarningBytes {
                problems.append("\(s.stream): the disk of its database has \(Output.bytes(st.diskFreeBytes)) free, under its warning level of \(Output.bytes(st.diskFreeWarningBytes))")
            }
            if st.writeFailures > 0, now.timeIntervalSince(st.lastWriteFailureAt.date) < 600 {
                problems.append("\(s.stream): a write failed at \(Output.time(st.lastWriteFailureAt)): \(st.lastWriteFailure)")
            }
            for t in st.threads where Double(t.silentMs) >= maxSilence * 1000 { problems.append(stuck(s.stream, t)) }
            if Double(st.requestThreadHeldMs) >= maxSilence * 1000 { problems.append(heldUp(s.stream, st)) }
            if let refusing = refusing(s.stream, st) { problems.append(refusing) }
        }
        for p in positions {
            if p.isAhead {
                problems.append("\(p.consumer): has applied \(p.applied) events of \(p.upstream), whose head is \(p.head) (databases from different moments)")
            } else if p.lag > maxLag {
                problems.append("\(p.consumer): \(p.lag) events behind \(p.upstream) (more than \(maxLag))")
            }
            if p.hearsNothing(maxSilence) {
                problems.append(silence(p))
            }
            if Double(p.failingMs) >= maxSilence * 1000 {
                problems.append(failing(p))
            }
        }
        return problems
    }
}
