import Foundation
import LiaisonCodec
import LiaisonRuntime
import Synchronization
import Testing
import ZeroMQ

/// Intake under concurrency and overload, over real sockets.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct IntakeLoadTests {
    @Test func concurrentClientsAreGroupCommitted() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let before = try #require(await set.status("intake")).writeTransactions
        let clients = 32, each = 20
        let acks = try await withThrowingTaskGroup(of: [Liaison_V1_FeedbackAccepted].self) { group in
            for c in 0..<clients { group.addTask { try await submitAll(set, (c * each)..<((c + 1) * each), prefix: "gc") } }
            var all: [Liaison_V1_FeedbackAccepted] = []
            for try await part in group { all += part }
            return all
        }
        #expect(Set(acks.map(\.caseNumber)).count == clients * each)
        let status = try #require(await set.status("intake"))
        let transactions = status.writeTransactions - before
        // Every acknowledgement waited for its commit, and commits were shared.
        #expect(status.headSeq == UInt64(clients * each))
        #expect(transactions < UInt64(clients * each), "\(transactions) transactions for \(clients * each) submissions")
    }

    /// Clients that each keep one request in flight share one commit a round, where they would
    /// otherwise commit in two halves or worse (``BatchGathering``), and a lone client is never held
    /// back for them. The wait is long here (a second), so that a slow test machine still gathers
    /// every request: it ends as soon as they are all in.
    @Test func requestsInFlightTogetherShareOneCommitAndALoneOneIsNotHeldBack() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake", extra: ["--gather-microseconds", "1000000"])
        try await set.waitReady(["intake"])

        // One client, ten submissions one after another: one held back would take the whole second.
        let lone = try await set.withClient("intake") { client in
            try (0..<10).map { n in
                let started = ContinuousClock.now
                _ = try client.call(.submitFeedback(submission(n, prefix: "lone"))).feedbackAccepted
                return ContinuousClock.now - started
            }
        }
        #expect(lone.allSatisfy { $0 < .milliseconds(900) }, "\(lone)")

        // 24 requests in flight on one connection, each sent again as soon as it is answered, as a
        // web front or the benchmark's clients do: 40 rounds.
        let atStart = try #require(await set.status("intake"))
        let before = atStart.writeTransactions
        let inFlight = 24, rounds = 40, total = inFlight * rounds
        let replies = try await keepInFlight(set.instance("intake").requests, inFlight, total: total) { n in
            .submitFeedback(submission(100 + n, prefix: "round"))
        }
        #expect(replies.filter { if case .feedbackAccepted? = $0.result { true } else { false } }.count == total)
        // Every wait for the 24 coming back ended when they were in, but for one at most: the last,
        // when the client has fewer than 24 left to send (its first 24 may reach intake in parts, and
        // then the rounds do not end on a whole one). Before, requests of clients answered already
        // were counted again as "came meanwhile", and a batch waited for more than were in flight:
        // two to four waits in twenty rounds ran out, each a whole second.
        let afterRounds = try #require(await set.status("intake"))
        #expect(afterRounds.gatherWaitsRunOut - atStart.gatherWaitsRunOut <= 1,
                "\(afterRounds.gatherWaitsRunOut - atStart.gatherWaitsRunOut) of \(afterRounds.gatherWaits - atStart.gatherWaits) waits ran out")

        // The load has ended. A lone submission more than the wait after the last answer is not one of its clients coming back, and does not wait for them (the
        // pause is the case under test, not a stand-in for a condition; nothing else is sent in it).
        try await Task.sleep(for: .milliseconds(1_100))
        let after = try await ContinuousClock().measure { _ = try await submitAll(set, 1_000..<1_001, prefix: "after") }
        #expect(after < .milliseconds(900), "a lone submission after the load took \(after)")

        let atEnd = try #require(await set.status("intake"))
        #expect(atEnd.gatherWaits == afterRounds.gatherWaits, "the lone submission after the load waited")
        let transactions = atEnd.writeTransactions - before
        // One commit a round, a few more while the first round comes in (on a loaded machine the
        // client's first 24 arrive in several parts), and the lone one; without the wait, each
        // commit takes what has come back so far (41 to 52 seen in twenty rounds).
        #expect(transactions <= UInt64(rounds + 6), "\(transactions) transactions for \(rounds) rounds of \(inFlight) and one alone")
    }

    /// A service that commits each request on its own (the handler) never waits to gather a batch:
    /// after a load of 24 requests in flight stops, a lone request is answered at once, where
    /// intake, expecting the 24 back, would wait for them.
    @Test func aServiceThatCommitsEachRequestAloneNeverWaits() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("handler", extra: ["--gather-microseconds", "1000000"])
        try await set.waitReady(["handler"])
        let replies = try await keepInFlight(set.instance("handler").requests, 24, total: 24 * 5) { n in
            .getCase(.with { $0.caseNumber = "L1-\(String(format: "%07d", 9_000_000 + n))" })
        }
        #expect(replies.count == 24 * 5)
        #expect(replies.allSatisfy { if case .error(let e)? = $0.result { e.code == .notFound } else { false } })
        let clock = ContinuousClock()
        let lone = await clock.measure {
            // Answered not_found (no such case), which call throws: a timeout would take 3 s.
            _ = try? await set.call("handler", .getCase(.with { $0.caseNumber = "L1-0000001" }))
        }
        #expect(lone < .milliseconds(900), "a lone request after the load took \(lone)")
    }

    /// `kill -9` while eight clients keep submitting: every acknowledged submission is there after
    /// the restart (a retry gets its case back, marked duplicate), and nothing is stored twice.
    @Test func killedMidStreamKeepsEveryAcknowledgedSubmissionAndStoresNoneTwice() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let endpoint = set.instance("intake").requests
        let clients = 8, stride = 100_000
        let acks = Acknowledged()
        // Each client submits its own numbers, one in flight, until intake stops answering; it
        // returns how many it sent (the last one's fate unknown).
        async let attempted: [Int: Int] = withThrowingTaskGroup(of: (Int, Int).self) { group in
            for c in 0..<clients {
                group.addTask {
                    try await Threads.run(name: "stream-\(c)") {
                        let ctx = try Context()
                        defer { ctx.terminate() }
                        // A stall of seconds (a loaded test machine) only ends a client early; the kill ends them all.
                        let client = RequestClient(context: ctx, endpoint: endpoint, timeoutMs: 2_000, attempts: 1)
                        defer { client.reset() }
                        var k = 0
                        while k < stride {
                            let n = c * stride + k
                            k += 1
                            guard let reply = try? client.call(.submitFeedback(submission(n, prefix: "kill"))) else { break }
                            acks.record(n, reply.feedbackAccepted.caseNumber)
                        }
                        return (c, k)
                    }
                }
            }
            var sent: [Int: Int] = [:]
            for try await (c, k) in group { sent[c] = k }
            return sent
        }
        #expect(await eventually(60) { acks.count >= 300 })
        set.kill9("intake")                      // in the middle of the stream
        let sentPerClient = try await attempted
        let before = acks.all
        try #require(before.count >= 300)

        try set.start("intake")
        try await set.waitReady(["intake"])
        // Everything sent is sent again: the acknowledged ones must come back as they were; the
        // ones whose answer was lost are stored now if the crash took them, else come back too.
        var again: [Int: Liaison_V1_FeedbackAccepted] = [:]
        for (c, sent) in sentPerClient {
            let replies = try await submitAll(set, (c * stride)..<(c * stride + sent), prefix: "kill")
            for (k, r) in replies.enumerated() { again[c * stride + k] = r }
        }
        for (n, caseNumber) in before {
            #expect(again[n]?.caseNumber == caseNumber, "acknowledged submission \(n) lost or changed")
            #expect(again[n]?.duplicate == true)
        }
        #expect(Set(again.values.map(\.caseNumber)).count == again.count, "a case number given twice")
        // One event per stored submission: no submission was stored twice.
        #expect(await set.status("intake")?.headSeq == UInt64(again.count))
    }

    /// scripts/soak-kill.py, briefly: two intakes, two handler partitions, the scheduler and
    /// reporting, all over CURVE, killed with SIGKILL at random moments while four desks (pyzmq,
    /// Lazy Pirate, submitter keys) keep submitting, and a fifth sends file after file with
    /// `liaison submit --file`, each of which must end well; afterwards every submission is stored once
    /// with the case number it was acknowledged with, exactly one partition opened one case for
    /// each, reporting counted each once, and no file the services wrote (databases, write-ahead
    /// logs, logs) holds a desk's phone, e-mail or name in the clear. (Run for minutes with the release build, it is the soak in docs/PERFORMANCE.md.)
    @Test func randomKillsWhileDesksSubmitLoseAndDoubleNothing() async throws {
        let (status, output) = try await Self.soak([
            "--seconds", "6", "--clients", "4", "--intakes", "2", "--handlers", "2", "--curve", "--mean-interval", "0.4", "--seed", "20261205",
        ])
        #expect(status == 0, "\(output)")
        #expect(output.contains("passed"))
        // Every file the services wrote was read for the desks' phones, e-mails and names in the clear.
        #expect(output.contains("checked: no contact in the clear in "), "\(output)")
        // Enough kills to mean something: the seed's intervals give about fifteen in six seconds.
        let kills = output.split(separator: "\n").first { $0.hasPrefix("kills: ") }
        let total = kills.flatMap { Int($0.dropFirst("kills: ".count).prefix { $0.isNumber }) }
        #expect((total ?? 0) >= 8, "\(kills ?? "no kill line")")
        #expect((Self.filesSent(output) ?? 0) >= 1, "\(output)")
    }

    /// How many files the soak's file desks sent through with `liaison submit --file`, from its output.
    static func filesSent(_ output: String) -> Int? {
        let prefix = "file desks (liaison submit --file): "
        return output.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.dropFirst(prefix.count).prefix { $0.isNumber }) }
    }

    /// The same soak over a bad line: intake on one host and the rest on another (network
    /// namespaces, TCP over CURVE), a tenth of the packets each host receives dropped at random
    /// (nftables) and the link cut now and then besides. TCP resends, heartbeats time out, desks
    /// retry (the file desk's `liaison submit --file` among them, whose files all end well);
    /// nothing is lost, doubled or miscounted, and no contact is on disk in the clear.
    @Test(.enabled(if: TwoHosts.available && Self.nftAvailable, "needs root, iproute2 (ip netns) and nftables"))
    func randomKillsOverALossyLineBetweenTwoHostsLoseAndDoubleNothing() async throws {
        let (status, output) = try await Self.soak([
            "--seconds", "8", "--clients", "4", "--handlers", "2", "--curve", "--partition", "--loss", "10",
            "--mean-cut-interval", "3", "--cut-seconds", "1-3", "--mean-interval", "0.5", "--seed", "20261205",
        ])
        #expect(status == 0, "\(output)")
        #expect(output.contains("passed"))
        #expect(output.contains("10 % of the packets each host receives (from the other, and from the desks) dropped at random"), "\(output)")
        #expect(output.contains("checked: no contact in the clear in "), "\(output)")
        #expect((Self.filesSent(output) ?? 0) >= 1, "\(output)")
        let cuts = output.split(separator: "\n").first { $0.hasPrefix("the link between the hosts was cut ") }
        #expect(cuts != nil && cuts?.contains("cut 0 time") == false, "\(cuts ?? "no cut line")")
    }

    /// scripts/crashfs.py, the file system the power-cut soak below runs on, checked on its own:
    /// after a cut, a write, a truncate or a new file that no fsync made durable is gone and a
    /// synced one is kept, and SQLite commits made without an fsync (`synchronous=OFF`) are lost
    /// while none made with FULL are, torn write-back or not. Without this the soak could pass
    /// because a cut forgot nothing.
    @Test(.enabled(if: PowerCut.available, "needs root and /dev/fuse"))
    func theCrashFileSystemForgetsWhatNoFsyncMadeDurable() async throws {
        let (status, output) = try await LiaisonSet.runProgram("/usr/bin/env", [
            "python3", LiaisonSet.repoRoot + "/scripts/crashfs.py", "--self-test",
        ])
        #expect(status == 0 && output.hasSuffix("passed\n"), "\(output)")
        #expect(!output.contains("FAIL"), "\(output)")
        // The control: commits acknowledged without an fsync do not survive the cut.
        #expect(output.contains("ok    SQLite WAL, synchronous=OFF: 50 commits, 0 there after a cut"), "\(output)")
        #expect(output.contains("ok    SQLite WAL, synchronous=FULL: 50 commits, all 50 there after a cut"), "\(output)")
    }

    /// The soak as a machine that loses power and a disk that fails: the data directories of two
    /// intakes, two handler partitions, the scheduler and reporting on scripts/crashfs.py, and at
    /// random moments either every service frozen and killed at once and every write not yet
    /// fsync'd forgotten (all of them, or a random subset), then the set started again; or the next
    /// fsyncs of one service's WAL or database file failing with EIO, what they held lost at the
    /// next cut though a later fsync succeeds (Linux's behaviour). The service stops itself (status
    /// 74, `DiskFailure`) and is started again, while desks keep submitting. Every acknowledged
    /// submission is still there with its case number, nothing is stored or opened twice, and
    /// reporting counts each once. A kill -9 alone cannot show this: an intake that acknowledged
    /// before its fsync passes the kill soak and fails this one, and one that went on after a failed
    /// fsync damaged its database (README).
    @Test(.enabled(if: PowerCut.available, "needs root and /dev/fuse"))
    func randomPowerCutsAndFailedFsyncsLoseAndDoubleNothingAcknowledged() async throws {
        let (status, output) = try await Self.soak([
            "--seconds", "8", "--clients", "4", "--intakes", "2", "--handlers", "2", "--mean-interval", "1",
            "--power-cut", "--fsync-errors", "--seed", "11",
        ])
        #expect(status == 0, "\(output)")
        #expect(output.hasSuffix("\npassed\n"), "\(output)")
        // Enough cuts, and cuts that forgot writes in flight: otherwise the run showed nothing.
        let line = output.split(separator: "\n").first { $0.hasPrefix("power cuts: ") }.map(String.init) ?? "no power-cut line"
        let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        // "power cuts: N (A forgetting every write not fsync'd, S a random subset); F forgot something: W writes (B bytes) ..."
        #expect(numbers.count >= 6 && numbers[0] >= 4 && numbers[1] >= 1 && numbers[2] >= 1, "\(line)")
        #expect(numbers.count >= 6 && numbers[3] >= 2 && numbers[4] > 0, "\(line)")
        // Fsyncs failed, and each service they failed stopped itself and was started again (any
        // other exit of a service is a problem the soak reports).
        let failures = output.split(separator: "\n").first { $0.hasPrefix("fsync errors: ") }.map(String.init) ?? "no fsync-errors line"
        let failed = failures.components(separatedBy: "; ").dropFirst().first?.prefix { $0.isNumber }
        #expect((failed.flatMap { Int($0) } ?? 0) >= 1 && !failures.hasSuffix("again: none"), "\(failures)")
        let acknowledged = output.split(separator: "\n").first { $0.hasPrefix("kills: ") }
            .flatMap { $0.components(separatedBy: "acknowledged ").last?.prefix { $0.isNumber } }.flatMap { Int($0) } ?? 0
        #expect(acknowledged >= 100, "\(output)")
    }

    /// The soak with the disk stalling now and then instead of a power cut (scripts/crashfs.py
    /// stopped for 0.3-2.5 s: every write and fsync waits) while desks keep submitting, between
    /// power cuts. Each request thread waits in its commit and a stand-in reads its socket meanwhile
    /// (`StallGuard`): no service is taken for hung, and every acknowledged submission is there once.
    @Test(.enabled(if: PowerCut.available, "needs root and /dev/fuse"))
    func diskStallsBetweenPowerCutsLoseAndDoubleNothingAcknowledged() async throws {
        let (status, output) = try await Self.soak([
            "--seconds", "8", "--clients", "4", "--intakes", "2", "--handlers", "2", "--mean-interval", "1",
            "--power-cut", "--disk-stalls", "--seed", "4",
        ])
        #expect(status == 0 && output.hasSuffix("\npassed\n"), "\(output)")
        // "disk stalls: N (S s in all); request threads stood in for while held up: M time(s)"
        let line = output.split(separator: "\n").first { $0.hasPrefix("disk stalls: ") }.map(String.init) ?? "no disk-stalls line"
        let numbers = line.split(whereSeparator: { !$0.isNumber && $0 != "." }).compactMap { Double($0) }
        #expect(numbers.count >= 3 && numbers[0] >= 2 && numbers[2] >= 1, "\(line)")
    }

    /// A disk that fails one fsync of intake's WAL under `liaison up`: intake stops at once (status
    /// 74) and says why, `up` says what the status means and starts it again, and the hotline
    /// desk's retry (Lazy Pirate, the same submission id) gets its case. Then the power goes (every
    /// process frozen and killed, every write not fsync'd forgotten): after the restart both
    /// submissions are there with the case numbers they were acknowledged with. What the failed
    /// fsync held is lost on crashfs even though later fsyncs succeed, as on Linux; an intake that
    /// went on, or built on it at restart, lost acknowledged submissions here (README).
    @Test(.enabled(if: PowerCut.available, "needs root and /dev/fuse"))
    func aFailedFsyncStopsIntakeWhichUpRestartsAndNothingAcknowledgedIsLost() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let data = set.dir + "/data"
        defer { PowerCut.unmountAll(under: set.dir) }
        let disk = try await PowerCut.mount(set.dir + "/disk", at: data)
        defer { if disk.isRunning { disk.terminate(); disk.waitUntilExit() } }
        func tell(_ command: String) throws { try PowerCut.tell(data, command) }

        let upLog = set.dir + "/up.log"
        _ = FileManager.default.createFile(atPath: upLog, contents: nil)
        func startUp() throws -> Process {
            let up = Process()
            up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
            up.arguments = ["up", "--topology", set.topologyPath, "--data-dir", data, "--log-level", "warning"]
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: upLog))
            log.seekToEndOfFile()
            up.standardError = log
            up.standardOutput = FileHandle.nullDevice
            try up.run()
            return up
        }
        func said() -> String { (try? String(contentsOfFile: upLog, encoding: .utf8)) ?? "" }
        var up = try startUp()
        defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
        try #require(await eventually(60) { await set.status("intake") != nil }, "\(said())")

        func submit(_ id: String) async throws -> [String: Any] {
            let r = try await set.cli(["submit", "--kind", "complaint", "--channel", "hotline", "--unit", "STN-EAST-01",
                                       "--text", "The desk at the station was closed at noon (\(id))", "--submission-id", id,
                                       "--timeout", "1500", "--retries", "20", "--json"])
            #expect(r.status == 0, "\(r.output)\n\(said())")
            let line = r.output.split(separator: "\n").last.map(String.init) ?? ""
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
        }
        let first = try await submit("disk-1")
        // The disk fails the next fsync of intake's WAL: the commit of the next submission.
        try tell("fail-fsync 1 /intake-1.sqlite-wal")
        let second = try await submit("disk-2")
        let cases = [first["case_number"] as? String, second["case_number"] as? String].compactMap { $0 }
        try #require(cases.count == 2 && cases[0] != cases[1], "\(first) \(second)")
        #expect(said().contains("liaison up: intake-1 exited (status 74: its disk failed an I/O; see its log, and check the disk)"), "\(said())")
        #expect(said().contains("critical liaison.intake: [LiaisonRuntime] the disk failed an I/O (SQLite"), "\(said())")

        // The power goes: up and every service frozen, then killed; what no fsync made durable is forgotten.
        var pids: [pid_t] = []
        for s in Topology.serviceNames { if let pid = await set.status(s)?.pid { pids.append(pid_t(pid)) } }
        kill(up.processIdentifier, SIGSTOP)
        for pid in pids { kill(pid, SIGSTOP) }
        for pid in pids { kill(pid, SIGKILL) }
        kill(up.processIdentifier, SIGKILL)
        up.waitUntilExit()
        #expect(await eventually(20) { pids.allSatisfy { kill($0, 0) != 0 } }, "the services did not die")
        try tell("cut all 1")

        up = try startUp()
        try #require(await eventually(60) { await set.status("intake") != nil }, "\(said())")
        for (id, acknowledged) in zip(["disk-1", "disk-2"], cases) {
            let again = try await submit(id)
            #expect(again["case_number"] as? String == acknowledged && again["duplicate"] as? Bool == true, "\(id): \(again)")
        }
        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(30) { !up.isRunning })
    }

    /// Nightly backups onto a disk that fails to flush the last one's completion marker: that
    /// backup says it is incomplete and exits 1, its directory is not counted (the marker is gone)
    /// and the older backup that --keep 1 would have deleted stays. Before, the mark whose flush
    /// had failed stayed in the directory, so the next backup counted this one complete and could
    /// delete a good one for it; and a directory's failed flush went unseen.
    @Test(.enabled(if: PowerCut.available, "needs root and /dev/fuse"))
    func aBackupWhoseFlushFailsIsNotCountedAndDeletesNothing() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        _ = try await set.call("intake", .submitFeedback(submission(1)))
        let into = set.dir + "/backups"
        defer { PowerCut.unmountAll(under: set.dir) }
        let disk = try await PowerCut.mount(set.dir + "/backup-disk", at: into)
        defer { if disk.isRunning { disk.terminate(); disk.waitUntilExit() } }

        let good = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--into", into, "--keep", "1"])
        #expect(good.status == 0, "\(good.output)")
        let kept = try #require(good.output.firstMatch(of: /backup complete in (\S+)/)?.1).description

        try PowerCut.tell(into, "fail-fsync 1 /BACKUP-COMPLETE")
        let bad = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--into", into, "--keep", "1"])
        #expect(bad.status == 1, "\(bad.output)")
        #expect(bad.output.contains("the disk failed to flush") && bad.output.contains("BACKUP-COMPLETE"), "\(bad.output)")
        #expect(bad.output.contains("is incomplete: it is not counted as a backup, and no older one was deleted"), "\(bad.output)")
        #expect(!bad.output.contains("backup complete in") && !bad.output.contains("deleted the older backup"), "\(bad.output)")
        #expect(FileManager.default.fileExists(atPath: kept + "/BACKUP-COMPLETE"), "the good backup is gone")
        let dirs = try FileManager.default.contentsOfDirectory(atPath: into).filter { $0.hasPrefix("liaison-") }
        #expect(dirs.count == 2, "\(dirs)")
        for d in dirs where into + "/" + d != kept {
            #expect(!FileManager.default.fileExists(atPath: into + "/" + d + "/BACKUP-COMPLETE"), "the failed backup is marked complete")
        }
    }

    /// Runs scripts/soak-kill.py with `arguments` on the debug build, in a temporary directory of
    /// its own (removed afterwards); its exit status and output. A file system the script mounted
    /// there and could not unmount (it was killed) is unmounted.
    static func soak(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let set = try LiaisonSet()   // for its directory, removed with it
        defer { withExtendedLifetime(set) {} }   // not before the script ends
        let dir = set.dir + "/soak"
        defer { PowerCut.unmountAll(under: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return try await LiaisonSet.runProgram("/usr/bin/env", [
            "python3", LiaisonSet.repoRoot + "/scripts/soak-kill.py", "--bin-dir", LiaisonSet.binDir, "--dir", dir,
        ] + arguments)
    }

    static let nftAvailable = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].contains { FileManager.default.isExecutableFile(atPath: $0) }

    /// `liaison submit --file`, 16 lines a request, is halfway through a desk's file when intake
    /// freezes with requests in flight, is killed (SIGKILL) and started again. The client hears
    /// nothing for its timeout, sends the unanswered again on a new connection, in halves, and
    /// again until intake is back; then the batches grow back. Every line gets one case, none is
    /// stored twice (one event per line), and the command ends well.
    @Test func aDeskFileInBatchesRidesOutAFrozenAndKilledIntake() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let lines = 3_000
        let file = set.dir + "/desk.jsonl"
        try (1...lines).map { n in
            let phone = n % 2 == 0 ? #", "phone": "139\#(String(format: "%08d", n))""# : ""
            return #"{"submission_id": "desk-\#(n)", "kind": "inquiry", "channel": "hotline", "unit": "STN-EAST-01", "text": "Call \#(n): when does the community office open on Sundays?"\#(phone)}"#
        }.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)

        let through = StopFlag()
        let submitting = Task {
            defer { through.set() }
            return try await set.cli(["submit", "--file", file, "--timeout", "500", "--retries", "30"])
        }
        #expect(await eventually(60) { (await set.status("intake")?.headSeq ?? 0) >= 300 }, "\(set.logs())")
        try #require(await set.freeze("intake"), "intake did not stop")
        try #require(!through.isSet, "the file was through before intake froze")
        #expect(await set.status("intake") == nil, "a frozen intake answers nothing")
        set.kill9("intake")
        try set.start("intake")
        let out = try await submitting.value
        #expect(out.status == 0, "\(out.output.suffix(2_000))")
        #expect(out.output.contains("\(lines) of \(lines) submitted"), "\(out.output.suffix(2_000))")
        let cases = Set(out.output.matches(of: /case (L1-\d{7})/).map { String($0.output.1) })
        #expect(cases.count == lines, "every line one case of its own: \(cases.count)")
        #expect(await set.status("intake")?.headSeq == UInt64(lines), "nothing stored twice")
    }

    /// docs/examples/submit.py, a web front's submitter written with pyzmq and protobuf only, hands
    /// a file to the real intake over CURVE (a submitter's key), which is frozen mid-way with requests in flight, killed (SIGKILL)
    /// and started again: the submitter replaces its connection and sends the unanswered again, and
    /// every line gets one case (none stored twice), the refused one naming its field. The same file
    /// sent again gets every case back as a duplicate.
    @Test func aThirdPartySubmitterRidesOutAKilledIntake() async throws {
        // Over CURVE, as a deployment runs, the front let in as a submitter.
        let set = try LiaisonSet(curve: true)
        defer { set.stopAll() }
        let frontKey = try set.allowCurveClient(.submitter, try CurveKeyPair.generate(), name: "web-front")
        try set.start("intake")
        try await set.waitReady(["intake"])
        let lines = 3_000, refused = 1_234
        var text = ""
        for n in 1...lines {
            let body = n == refused ? "   " : "Web form \(n): the street lights on Ring Road are out again"
            let contact = n % 2 == 0 ? #", "contact": {"phone": "138\#(String(format: "%08d", n))"}"# : ""
            text += #"{"submission_id": "web-\#(n)", "kind": "FEEDBACK_KIND_SUGGESTION", "channel": "CHANNEL_WEB", "text": "\#(body)", "unit": "STN-EAST-01"\#(contact)}"# + "\n"
        }
        let file = set.dir + "/web.jsonl"
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        /// submit.py on the file in the background, its output in `out`.
        func submitter(_ out: String) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", LiaisonSet.repoRoot + "/docs/examples/submit.py", "--topology", set.topologyPath,
                           "--file", file, "--in-flight", "2", "--timeout-ms", "500", "--give-up-after", "60", "--curve-key-file", frontKey]
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            p.standardError = p.standardOutput
            try p.run()
            return p
        }
        func answers(_ out: String) -> [[String: Any]] {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
        }
        let first = try submitter(set.dir + "/first.out")
        defer { if first.isRunning { first.terminate(); first.waitUntilExit() } }
        #expect(await eventually(60) { (await set.status("intake")?.headSeq ?? 0) >= 100 }, "\(set.logs())")
        // Frozen, intake answers nothing: the submitter has requests in flight that it never gets
        // an answer to. Then killed outright, and started again.
        try #require(await set.freeze("intake"), "intake did not stop")
        #expect(first.isRunning && answers(set.dir + "/first.out").count < lines, "intake was frozen only after the submitter finished")
        set.kill9("intake")
        try set.start("intake")
        #expect(await eventually(90) { !first.isRunning }, "the submitter did not finish after intake came back")
        first.waitUntilExit()
        let got = answers(set.dir + "/first.out")
        #expect(first.terminationStatus == 1, "one line is refused, so the exit status says so")
        try #require(got.count == lines, "\(got.count) answers")
        #expect(got.map { $0["line"] as? Int } == Array(1...lines).map { Optional($0) }, "answers in line order")
        let bad = got[refused - 1]
        #expect(bad["error"] as? String == "ERROR_CODE_INVALID_ARGUMENT" && bad["field"] as? String == "submit_feedback.text", "\(bad)")
        let cases = got.compactMap { $0["case_number"] as? String }
        #expect(cases.count == lines - 1 && Set(cases).count == lines - 1, "every accepted line one case of its own")
        // Retries across the kill found what intake had stored: nothing stored twice.
        #expect(await set.status("intake")?.headSeq == UInt64(lines - 1))

        // The same file again: every case back, as a duplicate.
        let again = try submitter(set.dir + "/again.out")
        defer { if again.isRunning { again.terminate(); again.waitUntilExit() } }
        #expect(await eventually(90) { !again.isRunning })
        again.waitUntilExit()
        let second = answers(set.dir + "/again.out")
        #expect(second.compactMap { $0["case_number"] as? String } == cases)
        #expect(second.filter { $0["duplicate"] as? Bool == true }.count == lines - 1)
        #expect(await set.status("intake")?.headSeq == UInt64(lines - 1))
    }

    /// A desk's batch file goes in with many lines on the wire at once: they share group commits,
    /// and the output still lists every line in order, the bad ones (an unknown kind, a line saved
    /// in GBK) named in their places.
    @Test func aDeskBatchFileSharesCommitsAndIsPrintedInLineOrder() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let before = try #require(await set.status("intake")).writeTransactions
        let lines = 300, unknownKind = 150, gbk = 151
        let stored = lines - 2
        let file = set.dir + "/desk-batch.jsonl"
        var data = Data()
        for n in 1...lines {
            switch n {
            case unknownKind: data.append(Data(#"{"kind":"rumour","channel":"hotline","text":"?","unit":"STN-WEST-01"}"#.utf8))
            case gbk: data.append(Data(#"{"kind":"inquiry","channel":"letter","text":""#.utf8) + Data([0xC5, 0xC9, 0xB3, 0xF6]) + Data(#"","unit":"STN-WEST-01"}"#.utf8))
            default: data.append(Data(#"{"kind":"inquiry","channel":"letter","text":"Question \#(n) about the opening hours","unit":"STN-WEST-01"}"#.utf8))
            }
            data.append(0x0A)
        }
        try data.write(to: URL(fileURLWithPath: file))

        let first = try await set.cli(["submit", "--file", file, "--in-flight", "16"])
        #expect(first.0 == 1, "lines failed, so the exit status says so")
        let out = first.1.split(separator: "\n").map(String.init)
        // Every line in order: its case, or its error.
        let listed = out.filter { $0.hasPrefix("line ") || $0.hasPrefix("error: line ") }
        try #require(listed.count == lines, "\(first.1.suffix(2_000))")
        for (k, line) in listed.enumerated() {
            let n = k + 1
            switch n {
            case unknownKind: #expect(line.hasPrefix("error: line \(n): ") && line.contains("rumour"), "\(line)")
            case gbk: #expect(line.hasPrefix("error: line \(n): ") && line.contains("UTF-8"), "\(line)")
            default: #expect(line.hasPrefix("line \(n): case L1-"), "\(line)")
            }
        }
        // The count, then the two lines to put right with what was wrong (an unknown kind; not UTF-8).
        #expect(out.suffix(3).first == "\(stored) of \(lines) submitted", "\(out.suffix(3))")
        #expect(out.suffix(2).first?.hasPrefix("2 not submitted: lines 150-151 (1 for kind, 1 for the line as written)") == true, "\(out.suffix(3))")
        let cases = listed.compactMap { $0.split(separator: " ").dropFirst(3).first.map(String.init) }.filter { $0.hasPrefix("L1-") }
        #expect(Set(cases).count == stored)
        let status = try #require(await set.status("intake"))
        #expect(status.headSeq == UInt64(stored))
        // One after another would be one commit a line.
        #expect(status.writeTransactions - before < UInt64(stored), "\(status.writeTransactions - before) transactions for \(stored) lines")

        // The same file again: the same cases, each marked already submitted.
        let again = try await set.cli(["submit", "--file", file])
        let relisted = again.1.split(separator: "\n").map(String.init).filter { $0.hasPrefix("line ") }
        #expect(relisted.count == stored)
        #expect(relisted.allSatisfy { $0.hasSuffix("(already submitted)") }, "\(again.1.suffix(3_000))")
        #expect(relisted.compactMap { $0.split(separator: " ").dropFirst(3).first.map(String.init) } == cases)
        #expect(await set.status("intake")?.headSeq == UInt64(stored))

        // At a desk's terminal (standard error a terminal: `script` gives it one), a progress bar
        // goes up to the file's last line, cleared before each line printed above it.
        let command = ["'\(LiaisonSet.binDir)/liaison'", "submit", "--file", "'\(file)'", "--topology", "'\(set.topologyPath)'"].joined(separator: " ")
        let atTerminal = try await LiaisonSet.runProgram("/usr/bin/script", ["-q", "-e", "-c", command, "/dev/null"])
        let screen = atTerminal.output
        #expect(screen.contains("[" + String(repeating: "#", count: 30) + "] line \(lines) of \(lines)"), "\(screen.suffix(500))")
        #expect(screen.contains("] line 1") && screen.contains("\r\u{1B}[K"), "\(screen.prefix(500))")
        // The lines still read whole, each on its own line once the bar's line is cleared.
        let shown = screen.replacingOccurrences(of: "\r\u{1B}[K", with: "\n").split(whereSeparator: \.isNewline)
            .filter { $0.hasPrefix("line ") && $0.hasSuffix("(already submitted)") }
        #expect(shown.count == stored, "\(shown.count) of \(stored) lines shown whole")

        // A walk-in desk's file may leave the channel to --channel; a line that names one keeps it.
        let walkIns = set.dir + "/walk-ins.jsonl"
        try Data((#"{"submission_id":"w-1","kind":"tip","text":"Broken street light","address":"Harbour Rd 5"}"# + "\n"
                  + #"{"submission_id":"w-2","kind":"tip","channel":"letter","text":"Broken bench","address":"Harbour Rd 7"}"# + "\n").utf8)
            .write(to: URL(fileURLWithPath: walkIns))
        let unnamed = try await set.cli(["submit", "--file", walkIns])
        #expect(unnamed.status == 1 && unnamed.output.contains("error: line 1: invalid_argument (submit_feedback.channel): the line names no channel")
                && unnamed.output.contains("give --channel") && unnamed.output.contains("1 of 2 submitted"), "\(unnamed.output)")
        let defaulted = try await set.cli(["submit", "--file", walkIns, "--channel", "walk_in"])
        #expect(defaulted.status == 0 && defaulted.output.contains("2 of 2 submitted"), "\(defaulted.output)")
        var replay = Liaison_V1_Replay()
        replay.afterSeq = UInt64(stored)
        // Line 2 went in the first time; line 1 only with --channel.
        #expect(defaulted.output.contains("line 2: ") && defaulted.output.contains("(already submitted)"), "\(defaulted.output)")
        let channels = try await set.call("intake", .replay(replay)).replayBatch.events.map { ($0.feedbackReceived.feedback.submissionID, $0.feedbackReceived.feedback.channel) }
        #expect(channels.map(\.0) == ["w-2", "w-1"] && channels.map(\.1) == [.letter, .walkIn], "\(channels)")
    }

    /// A desk's file goes to the real intake fifty lines a request (`submit_batch`): a fifth of a
    /// request's worth of round trips, and each line still answered on its own, an error by the
    /// submission's own field name; the same file sent one line a request finds every line stored.
    @Test func aDeskFileGoesInBatchesAndEachLineIsAnsweredOnItsOwn() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let lines = 250, unknownUnit = 40, reused = 77
        let file = set.dir + "/batches.jsonl"
        var text = ""
        for n in 1...lines {
            let id = n == reused ? "desk-5" : "desk-\(n)"
            let unit = n == unknownUnit ? "STN-MOON-99" : "STN-WEST-01"
            text += #"{"submission_id":"\#(id)","kind":"inquiry","channel":"letter","text":"Question \#(n) about the opening hours","unit":"\#(unit)","phone":"1380000\#(String(format: "%04d", n))"}"# + "\n"
        }
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let stored = lines - 2
        let before = try #require(await set.status("intake"))
        let servedBefore = before.requestsServed

        let first = try await set.cli(["submit", "--file", file, "--per-request", "50", "--in-flight", "100"])
        #expect(first.status == 1, "two lines failed")
        let listed = first.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("line ") || $0.hasPrefix("error: line ") }
        try #require(listed.count == lines, "\(first.output.suffix(2_000))")
        for (k, line) in listed.enumerated() {
            switch k + 1 {
            case unknownUnit: #expect(line.hasPrefix("error: line \(unknownUnit): invalid_argument (submit_feedback.unit)") && line.contains("STN-MOON-99"), "\(line)")
            case reused: #expect(line.hasPrefix("error: line \(reused): conflict (submit_feedback.submission_id)"), "\(line)")
            default: #expect(line.hasPrefix("line \(k + 1): case L1-") && !line.contains("already"), "\(line)")
            }
        }
        let cases = listed.compactMap { $0.split(separator: " ").dropFirst(3).first.map(String.init) }.filter { $0.hasPrefix("L1-") }
        #expect(Set(cases).count == stored)
        let afterBatches = try #require(await set.status("intake"))
        #expect(afterBatches.headSeq == UInt64(stored))
        // Five requests of fifty (and this status request); one a line would be 250.
        #expect(afterBatches.requestsServed - servedBefore <= 12, "\(afterBatches.requestsServed - servedBefore) requests for \(lines) lines")
        // The operator's status counts a batch with a refused line as a refused request, and names
        // the last one by its place: line 77 is the 27th of the second request.
        #expect(afterBatches.requestsRefused - before.requestsRefused == 2, "\(afterBatches.requestsRefused - before.requestsRefused)")
        #expect(afterBatches.lastRefusal.hasSuffix("submit_batch.submissions[26].submission_id"), "\(afterBatches.lastRefusal)")
        // By kind, a batch's line is named by its place without its number.
        let kinds = Dictionary(uniqueKeysWithValues: afterBatches.refusalsLastMinute.map { ($0.what, $0.requests) })
        #expect(Set(kinds.keys) == ["invalid_argument submit_batch.submissions[].unit", "conflict submit_batch.submissions[].submission_id"]
                && kinds.values.allSatisfy { $0 >= 1 }, "\(kinds)")
        // Too few for a problem, they are named in a line of their own.
        let streams = try await set.cli(["streams", "--timeout", "2000"])
        let named = streams.output.split(separator: "\n").first { $0.hasPrefix("intake-1: refused in the last minute, by kind: ") }
        #expect(named?.contains("conflict submit_batch.submissions[].submission_id") == true
                && named?.contains("invalid_argument submit_batch.submissions[].unit") == true, "\(streams.output)")
        // Its submissions are counted one by one: the 248 lines stored, the two refused; each
        // answer again when a batch was sent again (a timeout on a loaded machine), so exactly when
        // the five batches and the first status were all it answered.
        let accepted = afterBatches.submissionsAccepted - before.submissionsAccepted
        let refusedLines = afterBatches.submissionsRefused - before.submissionsRefused
        #expect(afterBatches.submissionsLastMinute == accepted + refusedLines && afterBatches.submissionsRefusedLastMinute == refusedLines, "\(afterBatches)")
        if afterBatches.requestsServed - servedBefore == 6 {
            #expect(accepted == UInt64(stored) && refusedLines == 2, "\(afterBatches)")
        } else {
            #expect(accepted >= UInt64(stored) && refusedLines >= 2, "\(afterBatches)")
        }
        // The contacts are sealed as a single submission's: none on the stream.
        var replay = Liaison_V1_Replay()
        replay.limit = 1_000
        let events = try await set.call("intake", .replay(replay)).replayBatch.events
        #expect(events.count == stored && events.allSatisfy { !$0.feedbackReceived.feedback.hasContact })

        // One line a request: each the same submission, answered with the case it was given.
        let again = try await set.cli(["submit", "--file", file, "--per-request", "1"])
        let relisted = again.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("line ") }
        #expect(relisted.count == stored && relisted.allSatisfy { $0.hasSuffix("(already submitted)") }, "\(again.output.suffix(2_000))")
        #expect(relisted.compactMap { $0.split(separator: " ").dropFirst(3).first.map(String.init) } == cases)
        let afterSingles = try #require(await set.status("intake"))
        #expect(afterSingles.headSeq == UInt64(stored) && afterSingles.requestsServed - afterBatches.requestsServed >= UInt64(lines - 1))
    }

    /// A third-party client (docs/examples/submit.py: pyzmq and Python's protobuf) sends its
    /// lines ten a request: each line answered on its own, a bad one by its place in the batch;
    /// sent again one a request, the same cases come back as duplicates.
    @Test func aPythonClientSendsBatchesAndGetsEachLineAnswered() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let lines = 35, bad = 14
        var text = ""
        for n in 1...lines {
            let body = n == bad ? "   " : "Web form \(n): the bus shelter on Ring Road is broken"
            text += #"{"submission_id": "py-\#(n)", "kind": "FEEDBACK_KIND_SUGGESTION", "channel": "CHANNEL_WEB", "text": "\#(body)", "unit": "STN-EAST-01", "contact": {"phone": "1380000\#(String(format: "%04d", n))"}}"# + "\n"
        }
        let file = set.dir + "/py.jsonl"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        func submit(_ perRequest: Int) async throws -> (status: Int32, answers: [[String: Any]], output: String) {
            let run = try await LiaisonSet.runProgram("/usr/bin/env", ["python3", LiaisonSet.repoRoot + "/docs/examples/submit.py", "--topology", set.topologyPath,
                                                                      "--file", file, "--per-request", "\(perRequest)", "--give-up-after", "30"])
            let answers = run.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            return (run.status, answers, run.output)
        }
        let servedBefore = try #require(await set.status("intake")).requestsServed
        let first = try await submit(10)
        #expect(first.status == 1 && first.answers.count == lines, "\(first.output.suffix(2_000))")
        let served = try #require(await set.status("intake")).requestsServed - servedBefore
        #expect(served <= 8, "four requests of up to ten (and a status request): \(served)")
        var cases: [Int: String] = [:]
        for a in first.answers {
            let line = a["line"] as? Int ?? 0
            if line == bad {
                // The 14th line is the 4th of the second request.
                #expect(a["error"] as? String == "ERROR_CODE_INVALID_ARGUMENT" && a["field"] as? String == "submit_batch.submissions[3].text", "\(a)")
            } else {
                cases[line] = a["case_number"] as? String
                #expect(a["duplicate"] as? Bool == false, "\(a)")
            }
        }
        #expect(cases.count == lines - 1 && Set(cases.values).count == lines - 1, "\(cases)")
        // One a request, as an older front sends them: each the same submission, the same case.
        let again = try await submit(1)
        #expect(again.answers.count == lines, "\(again.output.suffix(2_000))")
        for a in again.answers where (a["line"] as? Int) != bad {
            let line = a["line"] as? Int ?? 0
            #expect(a["case_number"] as? String == cases[line] && a["duplicate"] as? Bool == true, "\(a)")
        }
        #expect(try #require(await set.status("intake")).headSeq == UInt64(lines - 1))
    }

    /// Intake stops answering in the middle of a desk's file: the lines it did answer are still
    /// printed with their cases, in order, each line sent but unanswered is named as in doubt, and
    /// the summary says how far the file was read. (A stand-in for intake answers lines 1–10 only,
    /// by the line number in the id a line without one is given: `cut-short.jsonl:7:…`.)
    @Test func aFileCutShortTellsWhatWasAnsweredAndWhatIsInDoubt() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let endpoint = set.instance("intake").requests
        let ctx = try Context()
        defer { ctx.terminate() }
        let bound = Atomic<Bool>(false)
        let cliDone = Atomic<Bool>(false)
        let standIn = Threads.start(name: "stand-in") {
            let router = try Socket(context: ctx, type: .router, role: "stand-in", linger: 0)
            defer { router.close() }
            try router.bind(endpoint)
            bound.store(true, ordering: .releasing)
            let deadline = Date().addingTimeInterval(60)
            while !cliDone.load(ordering: .acquiring) && Date() < deadline {
                guard try router.waitReadable(timeout: 20) else { continue }
                while let frames = try router.receiveMultipart(dontWait: true) {
                    let incoming = Framing.parseRequest(frames: frames)
                    guard case .success(let request) = incoming.request,
                          let line = Int(request.submitFeedback.submissionID.split(separator: ":").dropLast().last ?? ""), line <= 10 else { continue }
                    var reply = Liaison_V1_Reply()
                    reply.requestID = request.requestID
                    reply.feedbackAccepted.caseNumber = "L1-\(1_000 + line)"
                    reply.feedbackAccepted.trackingToken = "ABCDEFGHJKLMNPQR"
                    _ = try router.send(multipart: Framing.replyFrames(envelope: incoming.envelope, reply: reply))
                }
            }
        }
        defer { cliDone.store(true, ordering: .releasing) }   // the stand-in stops even when the command throws
        #expect(await eventually { bound.load(ordering: .acquiring) })

        let file = set.dir + "/cut-short.jsonl"
        // Line 3 is refused by the command itself (an unknown kind) and never sent.
        try (1...30).map { #"{"kind":"\#($0 == 3 ? "rumour" : "inquiry")","channel":"letter","text":"Question \#($0)","unit":"STN-WEST-01"}"# }
            .joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        // One line a request, as the stand-in answers them.
        let result = try await set.cli(["submit", "--file", file, "--in-flight", "4", "--per-request", "1", "--timeout", "300", "--retries", "2"])
        cliDone.store(true, ordering: .releasing)
        try await standIn.value

        #expect(result.status != 0)
        let out = result.output.split(separator: "\n").map(String.init)
        let cases = out.filter { $0.hasPrefix("line ") }
        #expect(cases == (1...10).filter { $0 != 3 }.map { "line \($0): case L1-\(1_000 + $0)  tracking token ABCD-EFGH-JKLM-NPQR" }, "\(result.output)")
        let doubt = out.filter { $0.hasSuffix("no answer from intake; it may or may not be stored") }
        #expect(doubt == (11...14).map { "error: line \($0): no answer from intake; it may or may not be stored" }, "\(result.output)")
        #expect(out.contains("9 lines acknowledged, 4 sent without an answer; the file was read through line 14."), "\(result.output)")
        // The line refused before intake stopped answering is named to be put right, too.
        #expect(out.contains { $0.hasPrefix("1 not submitted: line 3 (1 for kind)") }, "\(result.output)")
    }

    /// A flood of single submissions, and one of batches of 25 (`submit_batch`, which the bound
    /// counts by their submissions): every request answered, accepted or `unavailable` with a
    /// retry hint, and intake's memory flat.
    @Test(arguments: [1, 25])
    func floodIsAnsweredUnavailableNotSilenceAndMemoryStaysFlat(perRequest: Int) async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake", extra: ["--max-batch", "64", "--max-shed", "4096"])
        try await set.waitReady(["intake"])
        let pid = try #require(await set.status("intake")).pid
        let rssBefore = residentKiB(pid)
        let endpoint = set.instance("intake").requests
        let perClient = perRequest == 1 ? 3_000 : 600, clients = 4
        // Each client pipelines all its requests without waiting, then collects the answers.
        let outcomes = try await withThrowingTaskGroup(of: [String: Int].self) { group in
            for c in 0..<clients {
                group.addTask {
                    try await Threads.run(name: "flood-\(c)") { () -> [String: Int] in
                        let ctx = try Context()
                        defer { ctx.terminate() }
                        let s = try Socket(context: ctx, type: .dealer, role: "flood", sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000, linger: 0)
                        defer { s.close() }
                        try s.connect(endpoint)
                        for n in 0..<perClient {
                            var r = Liaison_V1_Request()
                            r.requestID = "\(c)-\(n)"
                            if perRequest == 1 {
                                r.submitFeedback = submission(c * perClient + n, prefix: "flood")
                            } else {
                                r.submitBatch.submissions = (0..<perRequest).map { k in submission((c * perClient + n) * perRequest + k, prefix: "flood") }
                            }
                            try s.send(multipart: Framing.requestFrames(r))
                        }
                        var counts: [String: Int] = [:]
                        var ids = Set<String>()
                        let deadline = Date().addingTimeInterval(60)
                        while ids.count < perClient && Date() < deadline {
                            guard try s.waitReadable(timeout: 1_000), let frames = try s.receiveMultipart() else { continue }
                            let reply = try Framing.decodeReply(frames: frames)
                            guard ids.insert(reply.requestID).inserted else { continue }
                            switch reply.result {
                            case .error(let e)?:
                                counts[e.code == .unavailable && e.retryAfterMs > 0 ? "unavailable" : "other-\(e.code.name)", default: 0] += 1
                            case .batchAccepted(let b)? where b.items.count == perRequest && b.items.allSatisfy({ !$0.feedbackAccepted.caseNumber.isEmpty }):
                                counts["accepted", default: 0] += 1
                            case .feedbackAccepted? where perRequest == 1:
                                counts["accepted", default: 0] += 1
                            default:
                                counts["other", default: 0] += 1
                            }
                        }
                        return counts
                    }
                }
            }
            var total: [String: Int] = [:]
            for try await c in group { for (k, v) in c { total[k, default: 0] += v } }
            return total
        }
        // Every request got an answer: accepted, or unavailable with a retry hint.
        #expect(outcomes.values.reduce(0, +) == perClient * clients, "\(outcomes)")
        #expect(Set(outcomes.keys).isSubset(of: ["accepted", "unavailable"]), "\(outcomes)")
        #expect((outcomes["unavailable"] ?? 0) > 0, "the flood should exceed the queue: \(outcomes)")
        let status = try #require(await set.status("intake"))
        #expect(status.headSeq == UInt64((outcomes["accepted"] ?? 0) * perRequest))
        #expect(status.requestsShed == UInt64(outcomes["unavailable"] ?? 0))
        // Memory stays flat: the queue is bounded (a generous bound for a debug build).
        let rssAfter = residentKiB(pid)
        #expect(rssAfter - rssBefore < 100_000, "RSS grew from \(rssBefore) KiB to \(rssAfter) KiB")
    }
    /// Intake's disk stalls in the middle of a commit (scripts/crashfs.py stopped with SIGSTOP, so
    /// every write and fsync on it waits), and clients keep sending: oversized requests, and more
    /// submissions than a batch. The request thread waits for its commit, and another thread reads
    /// its socket meanwhile (`StallGuard`): the oversized requests are refused at once, a batch of
    /// submissions is kept for a second and the rest told to come back (`unavailable`) at once, then
    /// the kept ones too, all while the disk is still stopped, and intake's memory stays flat.
    /// Without it, libzmq queued what came, 10,000 messages a connection: a probe took intake from
    /// 34 MiB to 1.7 GiB in 7.5 s. Once the disk is back, the submission that was committing is
    /// acknowledged, and the others, sent again, are stored, each once.
    @Test(.enabled(if: PowerCut.available, "needs root and /dev/fuse"))
    func aStalledDiskLeavesIntakeAnsweringWithItsMemoryFlat() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let data = set.dir + "/data"
        defer { PowerCut.unmountAll(under: set.dir) }
        let disk = try await PowerCut.mount(set.dir + "/disk", at: data)
        defer { if disk.isRunning { disk.terminate(); disk.waitUntilExit() } }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let pid = try #require(await set.status("intake")).pid
        let endpoint = set.instance("intake").requests
        func said() -> String { (try? String(contentsOfFile: set.dir + "/intake-0.log", encoding: .utf8)) ?? "" }

        // The disk stops; a submission's commit waits for it.
        kill(disk.processIdentifier, SIGSTOP)
        defer { kill(disk.processIdentifier, SIGCONT) }
        let ctx = try Context()
        defer { ctx.terminate() }
        let held = try Socket(context: ctx, type: .dealer, role: "held", linger: 0)
        defer { held.close() }
        try held.connect(endpoint)
        var first = Liaison_V1_Request()
        first.requestID = "held"
        first.submitFeedback = submission(0, prefix: "stall")
        try held.send(multipart: Framing.requestFrames(first))
        try #require(await eventually(30) { said().contains("request thread held up") }, "\(said())")
        let rssBefore = residentKiB(pid)

        // Four clients send 100 requests of 1 MiB each (over the request limit, under the socket's
        // cap), and one sends 1,500 submissions, all at once.
        let peak = Atomic<Int>(rssBefore)
        let flooding = Atomic<Bool>(true)
        let sampling = Threads.start(name: "rss") {
            while flooding.load(ordering: .acquiring) {
                let now = residentKiB(pid)
                if now > peak.load(ordering: .relaxed) { peak.store(now, ordering: .relaxed) }
                usleep(10_000)
            }
        }
        defer { flooding.store(false, ordering: .releasing) }   // the sampler stops even when an expectation throws
        let big = [UInt8](repeating: 0x0a, count: 1 << 20)
        let oversized = try await withThrowingTaskGroup(of: [String: Int].self) { group in
            for c in 0..<4 {
                group.addTask {
                    try await Threads.run(name: "big-\(c)") { () -> [String: Int] in
                        let s = try Socket(context: ctx, type: .dealer, role: "big", sendHighWaterMark: 1_000, linger: 0)
                        defer { s.close() }
                        try s.connect(endpoint)
                        for _ in 0..<100 { try s.send(multipart: [[], big]) }
                        var codes: [String: Int] = [:]
                        let deadline = Date().addingTimeInterval(60)
                        while codes.values.reduce(0, +) < 100 && Date() < deadline {
                            guard try s.waitReadable(timeout: 500), let frames = try s.receiveMultipart() else { continue }
                            if case .error(let e)? = try Framing.decodeReply(frames: frames).result { codes[e.code.name, default: 0] += 1 }
                            else { codes["accepted", default: 0] += 1 }
                        }
                        return codes
                    }
                }
            }
            var total: [String: Int] = [:]
            for try await c in group { for (k, v) in c { total[k, default: 0] += v } }
            return total
        }
        let desks = try Socket(context: ctx, type: .dealer, role: "desks", sendHighWaterMark: 10_000, receiveHighWaterMark: 10_000, linger: 0)
        defer { desks.close() }
        try desks.connect(endpoint)
        for n in 1...1_500 {
            var r = Liaison_V1_Request()
            r.requestID = "s-\(n)"
            r.submitFeedback = submission(n, prefix: "stall")
            try desks.send(multipart: Framing.requestFrames(r))
        }
        var answers: [String: Liaison_V1_Reply] = [:]
        func collect() throws {
            while let frames = try desks.receiveMultipart(dontWait: true) {
                let reply = try Framing.decodeReply(frames: frames)
                answers[reply.requestID] = reply
            }
        }
        func turnedAway() -> Int { answers.values.filter { $0.error.code == .unavailable && $0.error.retryAfterMs > 0 }.count }
        // At most one batch (512) is kept, and for a second at most (--stand-in-after-ms's keeping,
        // under a client's 3 s timeout): every submission is told to come back while the disk is
        // still stopped, none is left to its client's timeout.
        let toldWhileStopped = try await eventually(60) { try collect(); return answers.count == 1_500 }
        flooding.store(false, ordering: .releasing)
        try await sampling.value
        #expect(oversized == ["invalid_argument": 400], "\(oversized)")
        #expect(toldWhileStopped && turnedAway() == 1_500, "\(answers.count) answered, \(turnedAway()) unavailable, the disk stopped")
        #expect(peak.load(ordering: .relaxed) - rssBefore < 100_000,
                "intake's RSS went from \(rssBefore) KiB to \(peak.load(ordering: .relaxed)) KiB while 400 MiB came in")
        #expect(said().contains("request thread held up"))
        // The operator's commands answer, and say what is wrong: not DOWN, not silence.
        let streams = try await set.cli(["streams", "--check", "--max-silence", "0.5"])
        #expect(streams.status == 2 && streams.output.contains("WAITING FOR ITS DISK")
                && streams.output.contains("intake-1: its request thread has been waiting"), "\(streams.output)")
        let ping = try await set.cli(["ping", "intake"])
        #expect(ping.status == 1 && ping.output.contains("waiting") && ping.output.contains("for its database"), "\(ping.output)")

        // The disk comes back: the submission that was committing is acknowledged, and the 1,500
        // sent again, as their clients do after the hinted delay, are stored, each once.
        kill(disk.processIdentifier, SIGCONT)
        let heldReply = try #require(try held.waitReadable(timeout: 30_000) ? held.receiveMultipart() : nil, "the held submission was never answered")
        let heldAnswer = try Framing.decodeReply(frames: heldReply)
        #expect(!heldAnswer.feedbackAccepted.caseNumber.isEmpty, "\(heldAnswer)")
        func accepted() -> Int { answers.values.filter { !$0.feedbackAccepted.caseNumber.isEmpty }.count }
        let storedAfter = try await eventually(60) {
            try collect()
            // Again whatever was told to come back, once its answer is in: no two in flight at once.
            for (id, reply) in answers where reply.error.code == .unavailable {
                var r = Liaison_V1_Request()
                r.requestID = id
                r.submitFeedback = submission(Int(id.dropFirst(2))!, prefix: "stall")
                try desks.send(multipart: Framing.requestFrames(r))
                answers[id] = Liaison_V1_Reply()   // in flight
            }
            return accepted() == 1_500
        }
        #expect(storedAfter, "\(accepted()) of 1,500 stored once the disk is back")
        let status = try #require(await set.status("intake"))
        #expect(status.headSeq == 1 + 1_500, "every acknowledged submission stored, each once")
        #expect(said().contains("request thread back"), "\(said())")
        let pingBack = try await set.cli(["ping", "intake"])
        #expect(pingBack.status == 0, "\(pingBack.output)")
    }

    /// A web front floods intake while a hotline desk submits one at a time on its own connection:
    /// the flood is told to come back (`unavailable`), the desk never is. Shedding turns away only
    /// callers over their share of a batch (`RequestLoopOptions.maxShed`).
    @Test func aFloodingCallerDoesNotTurnAwayAHotlineDesk() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake", extra: ["--max-batch", "16", "--max-shed", "100000"])
        try await set.waitReady(["intake"])
        let endpoint = set.instance("intake").requests
        let floodShed = Atomic<Int>(0), floodAccepted = Atomic<Int>(0)
        let deskDone = Atomic<Bool>(false)
        // The web front: keeps up to 2,000 submissions in flight on one connection until the desk is done.
        let flood = Threads.start(name: "web-front") {
            let ctx = try Context()
            defer { ctx.terminate() }
            let s = try Socket(context: ctx, type: .dealer, role: "web-front", sendHighWaterMark: 100_000, receiveHighWaterMark: 100_000, linger: 0)
            defer { s.close() }
            try s.connect(endpoint)
            var sent = 0, answered = 0
            let deadline = Date().addingTimeInterval(90)
            while !deskDone.load(ordering: .acquiring) && Date() < deadline {
                while sent - answered < 2_000 {
                    var r = Liaison_V1_Request()
                    r.requestID = "web-\(sent)"
                    r.submitFeedback = submission(sent, prefix: "web")
                    try s.send(multipart: Framing.requestFrames(r))
                    sent += 1
                }
                guard try s.waitReadable(timeout: 100) else { continue }
                while let frames = try s.receiveMultipart(dontWait: true) {
                    answered += 1
                    if case .error(let e)? = try Framing.decodeReply(frames: frames).result, e.code == .unavailable {
                        floodShed.add(1, ordering: .relaxed)
                    } else {
                        floodAccepted.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        defer { deskDone.store(true, ordering: .releasing) }
        try #require(await eventually(60) { floodShed.load(ordering: .relaxed) > 0 }, "the web front was never shed")

        // The hotline desk: one submission in flight, read straight off the socket (no retry).
        let shedBefore = floodShed.load(ordering: .relaxed)
        let deskOutcomes = try await Threads.run(name: "hotline-desk") { () -> [String] in
            let ctx = try Context()
            defer { ctx.terminate() }
            let s = try Socket(context: ctx, type: .dealer, role: "hotline-desk", linger: 0)
            defer { s.close() }
            try s.connect(endpoint)
            var outcomes: [String] = []
            for n in 0..<100 {
                var r = Liaison_V1_Request()
                r.requestID = "desk-\(n)"
                r.submitFeedback = submission(n, prefix: "desk")
                try s.send(multipart: Framing.requestFrames(r))
                let deadline = Date().addingTimeInterval(20)
                var outcome = "no answer"
                while Date() < deadline {
                    guard try s.waitReadable(timeout: 200), let frames = try s.receiveMultipart() else { continue }
                    let reply = try Framing.decodeReply(frames: frames)
                    guard reply.requestID == r.requestID else { continue }
                    if case .error(let e)? = reply.result { outcome = e.code.name } else { outcome = "accepted" }
                    break
                }
                outcomes.append(outcome)
            }
            return outcomes
        }
        let shedDuringDesk = floodShed.load(ordering: .relaxed) - shedBefore
        deskDone.store(true, ordering: .releasing)
        try await flood.value

        #expect(deskOutcomes == Array(repeating: "accepted", count: 100), "the desk's outcomes: \(deskOutcomes)")
        #expect(shedDuringDesk > 0, "the web front was not shed while the desk submitted")
        let status = try #require(await set.status("intake"))
        // Shed replies still on their way when the web front stopped reading are counted too.
        #expect(status.requestsShed >= UInt64(floodShed.load(ordering: .relaxed)))
    }
}

/// Resident set size of a process, in KiB (Linux).
func residentKiB(_ pid: UInt32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
}

/// Acknowledgements collected by several client threads: submission number → case number.
final class Acknowledged: Sendable {
    private let cases = Mutex<[Int: String]>([:])
    func record(_ n: Int, _ caseNumber: String) { cases.withLock { $0[n] = caseNumber } }
    var count: Int { cases.withLock { $0.count } }
    var all: [Int: String] { cases.withLock { $0 } }
}

/// What the power-cut tests need: root and /dev/fuse (scripts/crashfs.py mounts a FUSE file system).
enum PowerCut {
    static let available = getuid() == 0 && FileManager.default.fileExists(atPath: "/dev/fuse")

    /// scripts/crashfs.py serving `backing` at `mountpoint`, mounted when this returns; it unmounts
    /// when the process is terminated (``unmountAll(under:)`` clears one that was killed).
    static func mount(_ backing: String, at mountpoint: String) async throws -> Process {
        let disk = Process()
        disk.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        disk.arguments = ["python3", LiaisonSet.repoRoot + "/scripts/crashfs.py", backing, mountpoint]
        disk.standardOutput = FileHandle.nullDevice
        disk.standardError = FileHandle.nullDevice
        try disk.run()
        guard await eventually(20, { FileManager.default.fileExists(atPath: mountpoint + "/.crashfs") }) else {
            disk.terminate()
            disk.waitUntilExit()
            throw ConfigError("crashfs", "\(mountpoint) was not mounted within 20 s")
        }
        return disk
    }

    /// Gives crashfs at `mountpoint` a command: `cut all 1`, `fail-fsync 1 SUFFIX`, `heal`.
    static func tell(_ mountpoint: String, _ command: String) throws {
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: mountpoint + "/.crashfs"))
        defer { try? h.close() }
        try h.write(contentsOf: Data((command + "\n").utf8))
    }

    /// Unmounts (lazily) every mount at or under `dir`: a crashfs left behind by a killed script.
    static func unmountAll(under dir: String) {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return }
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 1 else { continue }
            let point = String(fields[1])
            if point == dir || point.hasPrefix(dir + "/") {
                _ = try? LiaisonSet.runBlocking("/usr/bin/umount", ["-l", point], timeout: 30)
            }
        }
    }
}

/// Keeps `inFlight` requests in flight on one DEALER connection, sending the next as soon as one is
/// answered (as a web front or the benchmark's clients do), until `total` are answered; returns
/// the replies in the order they came.
func keepInFlight(_ endpoint: String, _ inFlight: Int, total: Int,
                  _ body: @escaping @Sendable (Int) -> Liaison_V1_Request.OneOf_Body) async throws -> [Liaison_V1_Reply] {
    try await Threads.run(name: "in-flight") { () -> [Liaison_V1_Reply] in
        let ctx = try Context()
        defer { ctx.terminate() }
        let s = try Socket(context: ctx, type: .dealer, role: "in-flight", linger: 0)
        defer { s.close() }
        try s.connect(endpoint)
        var sent = 0
        var replies: [Liaison_V1_Reply] = []
        func sendNext() throws {
            var r = Liaison_V1_Request()
            r.requestID = "r\(sent)"
            r.body = body(sent)
            try s.send(multipart: Framing.requestFrames(r))
            sent += 1
        }
        for _ in 0..<min(inFlight, total) { try sendNext() }
        let deadline = Date().addingTimeInterval(60)
        while replies.count < total && Date() < deadline {
            guard try s.waitReadable(timeout: 1_000), let frames = try s.receiveMultipart() else { continue }
            replies.append(try Framing.decodeReply(frames: frames))
            if sent < total { try sendNext() }
        }
        return replies
    }
}
