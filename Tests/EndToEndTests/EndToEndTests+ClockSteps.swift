import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing
import ZeroMQ

/// The machine's wall clock stepped under a running set: NTP putting a slow clock right (forward)
/// or a fast one (back), an operator setting it by hand. Every interval the set keeps (a child's
/// pings to `liaison up`, heartbeats, a consumer's silence, when periodic work is due, a client's
/// timeout, when the CURVE allow-list is read again) is on the monotonic clock, so neither step is
/// taken for a hang or a silence, and a key taken out is refused as soon after the step as before.
///
/// Before: a step forward past `--hang-seconds` made every child look silent, and `up` killed the
/// whole set; a step back stopped every service's watchdog pings and heartbeats for as long as
/// the step, so systemd (`WatchdogSec=`) or `up` killed them, the consumers heard nothing, and a
/// key taken out of the allow-list stayed in force for as long as the step.
///
/// libfaketime (`make deps` installs it) moves the wall clock of `up` and its services alone,
/// not the monotonic clock, nor the machine's.
extension EndToEndTests {
    @Test func aSetRunsOnThroughItsWallClockSteppedForwardAndBack() async throws {
        let library = try #require(
            ["x86_64-linux-gnu", "aarch64-linux-gnu"].map { "/usr/lib/\($0)/faketime/libfaketimeMT.so.1" }
                .first { FileManager.default.fileExists(atPath: $0) },
            "libfaketime is missing: run make deps (it installs apt's libfaketime)")
        let set = try LiaisonSet(curve: true)
        defer { set.stopAll() }
        let desk = try set.allowCurveClient(.submitter, try CurveKeyPair.generate(), name: "desk-3")
        // `up --curve-keys DIR` reads the allow-list from DIR/curve-clients.
        let allowList = set.dir + "/keys/curve-clients"
        try FileManager.default.copyItem(atPath: set.dir + "/keys/clients", toPath: allowList)
        let clockFile = set.dir + "/clock-offset"
        /// The set's wall clock, `seconds` from the machine's (libfaketime reads the file again
        /// every second).
        func stepClock(to seconds: Int) throws {
            try Data("\(seconds >= 0 ? "+" : "")\(seconds)\n".utf8).write(to: URL(fileURLWithPath: clockFile))
        }
        try stepClock(to: 0)
        let upLog = set.dir + "/up.log"
        _ = FileManager.default.createFile(atPath: upLog, contents: nil)
        let up = Process()
        // Through a shell that execs it: `liaison` started straight from a process that has not
        // loaded libfaketime, with LD_PRELOAD set, sees no arguments (it prints its help; seen
        // from Foundation's Process, Python and bash alike); exec'd by a shell under it, it does.
        up.executableURL = URL(fileURLWithPath: "/bin/sh")
        up.arguments = ["-c", "exec \"$0\" \"$@\"", LiaisonSet.binDir + "/liaison", "up", "--topology", set.topologyPath, "--curve-keys", set.dir + "/keys",
                        "--data-dir", set.dir + "/data", "--log-level", "warning", "--hang-seconds", "3"]
        up.environment = LiaisonSet.childEnvironment([
            "LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": clockFile, "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_CACHE_DURATION": "1",
        ])
        up.standardError = FileHandle(forWritingAtPath: upLog)
        try up.run()
        defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
        func said() -> String { (try? String(contentsOfFile: upLog, encoding: .utf8)) ?? "" }
        func pids() async -> [String: UInt32]? {
            var all: [String: UInt32] = [:]
            for s in Topology.serviceNames {
                guard let pid = await set.status(s)?.pid else { return nil }
                all[s] = pid
            }
            return all
        }
        var started: [String: UInt32]?
        #expect(await eventually(30) { started = await pids(); return started != nil }, "\(said())")
        let first = try #require(started)

        /// Intake's wall clock, as it stamps a refusal: seconds from the machine's.
        func intakeOffset() async -> Double? {
            var empty = submission(0, prefix: "clock")
            empty.text = ""
            _ = try? await set.call("intake", .submitFeedback(empty))
            guard let status = await set.status("intake"), status.hasLastRefusalAt else { return nil }
            return status.lastRefusalAt.date.timeIntervalSinceNow
        }
        /// Nothing taken for a hang: no child killed or restarted within twice the hang limit
        /// (a waited-for negative: the condition is what a kill would make true).
        func noneKilled(_ what: String) async {
            let killed = await eventually(7) {
                if said().contains("has not said it is alive") { return true }
                guard let now = await pids() else { return false }   // one status not answered in time is no kill
                return now != first
            }
            #expect(!killed, "\(what): \(said())")
        }
        /// A submission is acknowledged and its case opened: intake, its stream and the handler work.
        func submissionBecomesACase(_ n: Int) async throws {
            let number = try await set.call("intake", .submitFeedback(submission(n, prefix: "clock"))).feedbackAccepted.caseNumber
            #expect(number.hasPrefix("L1-"))
            #expect(await eventually(20) { (try? await set.call("handler", .getCase(.with { $0.caseNumber = number }))) != nil },
                    "case \(number) opened\n\(said())")
        }
        /// The desk's key is let in: intake answers its status request.
        func deskLetIn() async -> Bool {
            (try? await set.cli(["ping", "intake", "--timeout", "500"], environment: ["LIAISON_CURVE_KEY_FILE": desk]))?.status == 0
        }
        #expect(await deskLetIn())
        try await submissionBecomesACase(1)

        // Two minutes forward, far past the hang limit.
        try stepClock(to: 120)
        #expect(await eventually(15) { (await intakeOffset()).map { $0 > 100 } ?? false }, "the set's clock went forward")
        await noneKilled("after the clock went forward")
        try await submissionBecomesACase(2)

        // An hour back.
        try stepClock(to: -3_600)
        #expect(await eventually(15) { (await intakeOffset()).map { $0 < -3_000 } ?? false }, "the set's clock went back")
        await noneKilled("after the clock went back")
        // Heartbeats go on: every consumer has heard its upstream within the last three seconds.
        for s in Topology.serviceNames {
            let consumers = try #require(await set.status(s)).consumers
            for c in consumers {
                #expect(c.silentMs < 3_000, "\(s) has heard nothing from \(c.stream) for \(c.silentMs) ms after the clock went back")
            }
        }
        try await submissionBecomesACase(3)
        // A key taken out of the allow-list is refused once the file is read again (every 2 s).
        let without = try String(contentsOfFile: allowList, encoding: .utf8).split(separator: "\n").filter { !$0.hasSuffix(" desk-3") }
        try (without.joined(separator: "\n") + "\n").write(toFile: allowList, atomically: true, encoding: .utf8)
        #expect(await eventually(10) { await !deskLetIn() }, "the desk's key, taken out after the clock went back, is still let in")
        #expect(await pids() == first, "no service restarted\n\(said())")

        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(20) { !up.isRunning })
        #expect(up.terminationStatus == 0, "\(said())")
    }
}
