import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing
import ZeroMQ

/// `liaison up`: the set started, supervised, restarted and stopped; its logs and systemd units.
extension EndToEndTests {
    @Test func upSupervisesRestartsAndStopsTheSet() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let up = Process()
        up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
        up.arguments = ["up", "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "warning"]
        let log = Pipe()
        up.standardError = log
        try up.run()
        defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
        let ready = await eventually(30) {
            var all = true
            for s in Topology.serviceNames where await set.status(s) == nil { all = false }
            return all
        }
        #expect(ready)
        // Nobody reads the set's log from here on (a `| logger` that exited): what `up` and its
        // services write is lost, and they go on; `up` died of it at its next line before.
        try log.fileHandleForReading.close()
        let pid = try #require(await set.status("intake")?.pid)
        kill(pid_t(pid), SIGKILL)
        #expect(await eventually(30) { (await set.status("intake")?.pid).map { $0 != pid } ?? false }, "intake restarted")

        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(20) { !up.isRunning })
        #expect(up.terminationStatus == 0)
        for s in Topology.serviceNames { #expect(await set.status(s) == nil, "\(s) stopped") }
    }

    /// `up` starts its services as a shell would: no signal blocked and SIGTERM, SIGINT and SIGHUP
    /// at their defaults, though `up` itself takes all three (its handlers, unlike an ignored
    /// signal, end at exec; Foundation's `Process` clears the mask). So a service stopped before it
    /// has set up its own handlers stops at once, and `up` does not wait 10 s to kill it.
    /// Stand-ins in place of the services, which set up no handler, report what they started with.
    @Test func upStartsItsServicesWithTheirSignalsAsFromAShell() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let bin = set.dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for name in Topology.serviceNames {
            let script = "#!/bin/sh\ngrep -E '^Sig(Blk|Ign)' /proc/self/status > '\(set.dir)/\(name).signals'\n"
                + "while [ -d '\(bin)' ]; do sleep 0.1; done\n"
            let path = bin + "/liaison-" + name
            try Data(script.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o755)
        }
        defer { try? FileManager.default.removeItem(atPath: bin) }   // a stand-in left behind ends
        let upLog = set.dir + "/up.log"
        _ = FileManager.default.createFile(atPath: upLog, contents: nil)
        let up = Process()
        up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
        up.arguments = ["up", "--bin-dir", bin, "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--hang-seconds", "0"]
        up.environment = LiaisonSet.childEnvironment([:])
        up.standardError = FileHandle(forWritingAtPath: upLog)
        try up.run()
        defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
        func reported(_ name: String) -> [String: UInt64]? {
            guard let text = try? String(contentsOfFile: "\(set.dir)/\(name).signals", encoding: .utf8) else { return nil }
            var masks: [String: UInt64] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "\t")
                if parts.count == 2, let mask = UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) {
                    masks[String(parts[0].dropLast())] = mask
                }
            }
            return masks.count == 2 ? masks : nil
        }
        #expect(await eventually(20) { Topology.serviceNames.allSatisfy { reported($0) != nil } }, "\(set.logs())")
        let stopSignals: [(String, Int32)] = [("SIGTERM", SIGTERM), ("SIGINT", SIGINT), ("SIGHUP", SIGHUP)]
        for name in Topology.serviceNames {
            let masks = try #require(reported(name))
            for (what, mask) in [("blocked", masks["SigBlk"] ?? 0), ("ignored", masks["SigIgn"] ?? 0)] {
                for (signalName, number) in stopSignals {
                    #expect(mask & (1 << UInt64(number - 1)) == 0, "\(name) started with \(signalName) \(what) (mask \(String(mask, radix: 16)))")
                }
            }
        }
        // Stopped, the stand-ins end at once (SIGTERM at its default), and `up` with them.
        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(20) { !up.isRunning })
        let said = (try? String(contentsOfFile: upLog, encoding: .utf8)) ?? ""
        #expect(up.terminationStatus == 0 && said.contains("liaison up: stopped") && !said.contains("did not stop"), "\(said)")
    }

    /// A service that hangs (SIGSTOP: its request thread, like every other, stops) no longer pings
    /// `liaison up`, which kills it after --hang-seconds and starts it again; the others go on.
    @Test func upKillsAndRestartsAServiceThatHangs() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let upLog = set.dir + "/up.log"
        _ = FileManager.default.createFile(atPath: upLog, contents: nil)
        let up = Process()
        up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
        up.arguments = ["up", "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "warning", "--hang-seconds", "3"]
        up.standardError = FileHandle(forWritingAtPath: upLog)
        try up.run()
        defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
        func said() -> String { (try? String(contentsOfFile: upLog, encoding: .utf8)) ?? "" }
        #expect(await eventually(30) {
            var all = true
            for s in Topology.serviceNames where await set.status(s) == nil { all = false }
            return all
        })
        let handler = try #require(await set.status("handler")?.pid)
        let pid = try #require(await set.status("intake")?.pid)
        kill(pid_t(pid), SIGSTOP)
        defer { kill(pid_t(pid), SIGCONT) }   // should up not kill it, it can hear its SIGTERM (harmless to any other process)
        #expect(await eventually(20) { said().contains("intake-1 has not said it is alive for") }, "\(said())")
        #expect(await eventually(30) { (await set.status("intake")?.pid).map { $0 != pid } ?? false }, "intake restarted\n\(said())")
        #expect(await set.status("handler")?.pid == handler, "the others go on")
        // A service that pings is never taken for hung: the restarted intake stays.
        let restarted = try #require(await set.status("intake")?.pid)
        #expect(!(await eventually(5) { (await set.status("intake")?.pid).map { $0 != restarted } ?? true }), "\(said())")

        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(20) { !up.isRunning })
        #expect(up.terminationStatus == 0, "\(said())")
    }

    /// A closed terminal hangs up `liaison up`: the set stops in order. Before, `up` died at once
    /// and its children, each in a process group of its own (Foundation's `Process` puts them
    /// there), never heard of it and ran on unsupervised, holding the set's ports and databases.
    /// A set whose `up` is killed outright stops by itself too.
    @Test func aSetStopsWithItsUpWhenHungUpOrKilled() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let logPath = set.dir + "/up.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        /// `liaison up` in a process group of its own (as `Process` starts it, and as a shell in a
        /// terminal starts a job), so that the hang-up below goes to that group.
        func startUp() throws -> Process {
            let up = Process()
            up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
            up.arguments = ["up", "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "info"]
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            log.seekToEndOfFile()
            up.standardError = log
            up.standardOutput = log
            try up.run()
            return up
        }
        func servicePids() async -> [pid_t]? {
            var pids: [pid_t] = []
            for s in Topology.serviceNames {
                guard let pid = await set.status(s)?.pid else { return nil }
                pids.append(pid_t(pid))
            }
            return pids
        }
        /// Gone: no such process, or one that has exited and waits to be reaped.
        func gone(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }

        let hungUp = try startUp()
        defer { if hungUp.isRunning { kill(-hungUp.processIdentifier, SIGKILL) } }
        var pids: [pid_t]?
        #expect(await eventually(30) { pids = await servicePids(); return pids != nil })
        let first = try #require(pids)
        kill(-hungUp.processIdentifier, SIGHUP)
        let stopped = await eventually(20) { !hungUp.isRunning }
        #expect(stopped, "liaison up did not stop on a hang-up")
        #expect(stopped && hungUp.terminationStatus == 0)
        #expect(await eventually(20) { first.allSatisfy(gone) }, "services left running: \(first.filter { !gone($0) })")
        let hangUpLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(hangUpLog.contains("liaison up: stopped"), "\(hangUpLog.suffix(2_000))")

        let killed = try startUp()
        defer { if killed.isRunning { kill(-killed.processIdentifier, SIGKILL) } }
        pids = nil
        #expect(await eventually(30) { pids = await servicePids(); return pids.map { Set($0).isDisjoint(with: first) } ?? false })
        let second = try #require(pids)
        kill(killed.processIdentifier, SIGKILL)
        #expect(await eventually(20) { second.allSatisfy(gone) }, "services outlived their liaison up: \(second.filter { !gone($0) })")
        let killLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(killLog.contains("liaison up (pid \(killed.processIdentifier)) is gone: stopping"), "\(killLog.suffix(2_000))")
        for pid in second where !gone(pid) { kill(pid, SIGKILL) }

        // `up` started by a supervisor of its own (a process manager; the test run itself) stops
        // the set once that supervisor is gone, however it went.
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = ["-c", "LIAISON_SUPERVISOR_PID=$$ \"$0\" \"$@\" & wait", LiaisonSet.binDir + "/liaison",
                            "up", "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "info"]
        let parentLog = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        parentLog.seekToEndOfFile()
        parent.standardError = parentLog
        parent.standardOutput = parentLog
        try parent.run()
        defer { if parent.isRunning { kill(parent.processIdentifier, SIGKILL) } }
        pids = nil
        #expect(await eventually(30) { pids = await servicePids(); return pids.map { Set($0).isDisjoint(with: second) } ?? false })
        let third = try #require(pids)
        kill(parent.processIdentifier, SIGKILL)
        #expect(await eventually(20) { third.allSatisfy(gone) }, "services outlived the supervisor of their liaison up: \(third.filter { !gone($0) })")
        // `up` says why and that it stopped (after its services, so the line may come a moment later).
        let upStopped = await eventually(20) {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return log.contains("the process that started liaison up (pid \(parent.processIdentifier)) is gone: stopping the set")
                && log.components(separatedBy: "liaison up: stopped").count - 1 == 2
        }
        #expect(upStopped, "\(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(2_000))")
        for pid in third where !gone(pid) { kill(pid, SIGKILL) }
    }

    /// `liaison up` names a TCP endpoint another program holds however the topology spells it:
    /// an address, a host name (`localhost`) or `*`. Before, only an IPv4 address or `*` was
    /// checked, and a host name was left to fail in the service's log.
    @Test func upNamesATCPPortInUseWhateverTheTopologyCallsTheHost() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let ctx = try Context()
        defer { ctx.terminate() }
        let holder = try Socket(context: ctx, type: .router, role: "another-program", linger: 0)
        defer { holder.close() }
        try holder.bind("tcp://127.0.0.1:*")
        let port = try #require(try holder.lastEndpoint.split(separator: ":").last.map(String.init))
        for host in ["localhost", "127.0.0.1", "*"] {
            var services = set.topology.services
            let intake = services["intake"]![0]
            services["intake"] = [.init(stream: intake.stream, requests: "tcp://\(host):\(port)", events: intake.events)]
            let path = set.dir + "/topology-\(host == "*" ? "any" : host).json"
            try Topology(services: services).write(to: path)
            let run = try await set.runWithin(20, "liaison", ["up", "--topology", path, "--data-dir", set.dir + "/data-\(host == "*" ? "any" : host)", "--log-level", "warning"])
            #expect(run.ended && run.status == 1, "\(host): \(run.output)")
            #expect(run.output.contains("intake-1: tcp://\(host):\(port) (requests) is in use by another program"), "\(host): \(run.output)")
            #expect(run.output.contains("nothing was started"), "\(run.output)")
        }
    }

    /// A second `liaison up` on the endpoints or the data directory of a running set starts
    /// nothing and names what is in use; before, its four services failed to bind (or to lock
    /// their databases) and it restarted them for as long as it ran.
    @Test func aSecondUpBesideARunningSetStartsNothingAndSaysWhy() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let pid = try #require(await set.status("intake")?.pid)

        func up(_ args: [String]) async throws -> (status: Int32, output: String) {
            let run = try await set.runWithin(20, "liaison", ["up", "--log-level", "warning"] + args)
            #expect(run.ended, "liaison up \(args) did not end on its own")
            return (run.status, run.output)
        }

        // The same endpoints, another data directory.
        let sameEndpoints = try await up(["--topology", set.topologyPath, "--data-dir", set.dir + "/other-data"])
        let intake = set.instance("intake")
        #expect(sameEndpoints.status == 1, "\(sameEndpoints.output)")
        #expect(sameEndpoints.output.contains("intake-1: \(intake.requests) (requests) and \(intake.events) (events) are in use by intake-1 of a running Liaison set (pid \(pid))"),
                "\(sameEndpoints.output)")
        #expect(sameEndpoints.output.contains("reporting-1: ") && sameEndpoints.output.contains("nothing was started"), "\(sameEndpoints.output)")

        // The same data directory, other endpoints.
        try FileManager.default.createDirectory(atPath: set.dir + "/o", withIntermediateDirectories: true)
        try Topology.ipc(in: set.dir + "/o").write(to: set.dir + "/o/topology.json")
        let sameData = try await up(["--topology", set.dir + "/o/topology.json", "--data-dir", set.dir + "/data"])
        #expect(sameData.status == 1, "\(sameData.output)")
        #expect(sameData.output.contains("intake-1: its database \(set.dir)/data/intake-1.sqlite is in use by pid \(pid)"), "\(sameData.output)")
        #expect(!sameData.output.contains("(requests)"), "\(sameData.output)")

        // A TCP port another program holds.
        let (listener, port) = try loopbackTCPSocket(listening: true)
        defer { close(listener) }
        var tcp = Topology.ipc(in: set.dir + "/t")
        tcp.services["intake"]![0].requests = "tcp://127.0.0.1:\(port)"
        try FileManager.default.createDirectory(atPath: set.dir + "/t", withIntermediateDirectories: true)
        try tcp.write(to: set.dir + "/t/topology.json")
        let taken = try await up(["--topology", set.dir + "/t/topology.json", "--data-dir", set.dir + "/t/data"])
        #expect(taken.status == 1 && taken.output.contains("intake-1: tcp://127.0.0.1:\(port) (requests) is in use by another program"), "\(taken.output)")
        #expect(!taken.output.contains("handler-1"), "\(taken.output)")

        // A lone service on the same endpoints is refused too: libzmq would have taken the ipc://
        // path from the running one (and the service removed the socket file before binding).
        let lone = try await set.runWithin(20, "liaison-intake", ["--topology", set.topologyPath, "--data-dir", set.dir + "/lone-data"])
        #expect(lone.ended && lone.status != 0 && lone.output.contains("zmq_bind(requests, \(intake.requests)): another process accepts connections there"),
                "\(lone.output)")

        // The running set was not disturbed.
        #expect(await set.status("intake")?.pid == pid)
        #expect(try await set.call("intake", .submitFeedback(submission(1, prefix: "second-up"))).feedbackAccepted.caseNumber.hasPrefix("L1-"))
    }

    /// A service whose log nobody reads any more (the reader of its standard error exited: a
    /// `| logger` gone, a log collector restarted) goes on serving; only the lines are lost. It died
    /// of SIGPIPE at its next log line before.
    @Test func aServiceOutlivesTheReaderOfItsLog() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison-intake")
        p.environment = LiaisonSet.childEnvironment(["LIAISON_OPERATOR_SECRET": "night-shift-secret-2026"])
        p.arguments = ["--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "info"]
        let log = Pipe()
        p.standardError = log
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        #expect(await eventually(20) { await set.status("intake") != nil })
        try log.fileHandleForReading.close()
        // A refused request is logged (a warning) on the request thread before its reply goes.
        var replies = 0
        for n in 1...3 {
            do {
                _ = try await set.call("intake", .getContact(.with { $0.caseNumber = "L1-000000\(n)"; $0.actor = "desk-9"; $0.reason = "curious" }))
            } catch is WireError {
                replies += 1
            } catch {}
        }
        #expect(replies == 3, "\(replies) of 3 refusals answered")
        #expect(p.isRunning, "intake ended (status \(p.isRunning ? 0 : p.terminationStatus), reason \(p.isRunning ? 0 : p.terminationReason.rawValue))")
        #expect(await set.status("intake") != nil)
    }

    /// The systemd units in deploy/ run each executable with options it has, and agree with each
    /// other: intake checks codes against the unit directory the handler routes by (it had none,
    /// so it checked against the demo city), both take the same operators' file, intake's contact
    /// keys live apart from the data, and a service that reloads on SIGHUP has `ExecReload`.
    @Test func shippedSystemdUnitsAgreeAndUseOptionsThatExist() async throws {
        let dir = LiaisonSet.repoRoot + "/deploy/systemd"
        let scratch = try LiaisonSet()   // only its directory, for the executables' output
        var environment: [String: [String: String]] = [:], options: [String: [String: String]] = [:], reloads: [String: Bool] = [:]
        for service in Topology.serviceNames {
            let text = try String(contentsOfFile: "\(dir)/liaison-\(service)@.service", encoding: .utf8)
            let lines = ConfigFiles.meaningful(text).map(\.text)
            environment[service] = Dictionary(lines.filter { $0.hasPrefix("Environment=") }.map {
                let kv = $0.dropFirst("Environment=".count).split(separator: "=", maxSplits: 1).map(String.init)
                return (kv[0], kv.count > 1 ? kv[1] : "")
            }, uniquingKeysWith: { _, last in last })
            let exec = try #require(lines.first { $0.hasPrefix("ExecStart=") }).dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
            #expect(exec[0] == "/usr/local/bin/liaison-\(service)")
            var given: [String: String] = [:]
            for (i, word) in exec.enumerated() where word.hasPrefix("--") { given[word] = i + 1 < exec.count && !exec[i + 1].hasPrefix("--") ? exec[i + 1] : "" }
            options[service] = given
            reloads[service] = lines.contains { $0.hasPrefix("ExecReload=") }
            #expect(lines.contains("LimitNOFILE=65536") && lines.contains("KillSignal=SIGTERM"), "\(service)")
            // Every option the unit gives is one the executable takes.
            let help = try await scratch.runWithin(20, "liaison-\(service)", ["--help"]).output
            for option in given.keys { #expect(help.contains(option + " "), "liaison-\(service) has no \(option)") }
        }
        let units = try #require(environment["intake"]?["LIAISON_UNITS"])
        #expect(!units.isEmpty && environment["handler"]?["LIAISON_UNITS"] == units)
        let secrets = try #require(options["intake"]?["--operator-secrets"])
        #expect(options["handler"]?["--operator-secrets"] == secrets)
        let keys = try #require(options["intake"]?["--contact-keys"])
        let data = try #require(environment["intake"]?["LIAISON_DATA_DIR"])
        #expect(!keys.hasPrefix(data))
        // The scheduler seals its people with the same keys, and its operators are the handler's.
        #expect(options["scheduler"]?["--contact-keys"] == keys && options["scheduler"]?["--operator-secrets"] == secrets)
        // Every service reloads on SIGHUP over CURVE (its allow-list); intake and the handler their files too.
        #expect(reloads == ["intake": true, "handler": true, "scheduler": true, "reporting": true])
        // The nightly backup copies the services' data directory with options `liaison backup` takes.
        let backup = ConfigFiles.meaningful(try String(contentsOfFile: "\(dir)/liaison-backup.service", encoding: .utf8)).map(\.text)
        let backupExec = try #require(backup.first { $0.hasPrefix("ExecStart=") }).dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        #expect(Array(backupExec.prefix(2)) == ["/usr/local/bin/liaison", "backup"])
        let backupHelp = try await scratch.runWithin(20, "liaison", ["backup", "--help"]).output
        for word in backupExec where word.hasPrefix("--") { #expect(backupHelp.contains(word + " "), "liaison backup has no \(word)") }
        #expect(backupExec.firstIndex(of: "--data-dir").map { backupExec[$0 + 1] } == data)
        #expect(backup.contains("Environment=LIAISON_TOPOLOGY=\(environment["intake"]?["LIAISON_TOPOLOGY"] ?? "?")"))
        #expect(backup.contains("Type=oneshot"))
        let timer = ConfigFiles.meaningful(try String(contentsOfFile: "\(dir)/liaison-backup.timer", encoding: .utf8)).map(\.text)
        #expect(timer.contains { $0.hasPrefix("OnCalendar=") } && timer.contains("Persistent=true"))
    }
}
