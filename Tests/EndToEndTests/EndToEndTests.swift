import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Testing

/// End-to-end: the real executables over real sockets. Serialized: each test runs four processes
/// and the machine has two cores. The tests are in this file (no submission lost, doubled or
/// split across processes) and the files beside it, by topic.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct EndToEndTests {
    @Test func thousandSubmissionsOpenThousandCasesAndCountRight() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()

        let acks = try await submitAll(set, 0..<1_000)
        #expect(Set(acks.map(\.caseNumber)).count == 1_000)
        #expect(acks.allSatisfy { !$0.duplicate && $0.trackingToken.count == 16 })

        let done = await eventually(60) {
            guard let h = await set.status("handler"), h.headSeq == 1_000,
                  let rep = try? await set.report() else { return false }
            return rep.casesTotal == 1_000 && rep.feedbackTotal == 1_000
        }
        #expect(done, "handler head and report did not reach 1,000\n\(set.logs())")
        let rep = try await set.report()
        var expected: [String: UInt64] = [:]
        for n in 0..<1_000 { expected[kinds[n % kinds.count].name, default: 0] += 1 }
        #expect(Dictionary(uniqueKeysWithValues: rep.byKind.map { ($0.key, $0.count) }) == expected)
        #expect(rep.byState.map(\.key) == ["triaged"] && rep.byState.first?.count == 1_000)
        // Complaints about an officer went to supervision: n % 10 == 0 and kind complaint (n % 7 == 0) → n % 70 == 0.
        #expect(rep.byUnit.first { $0.key == "SUPERVISION" }?.count == 15)
        // Every consumer catches up (the scheduler follows the handler at its own pace).
        #expect(await eventually(60) { await set.status("scheduler")?.consumers.first?.appliedSeq == 1_000 })
        #expect(await eventually(60) { await set.status("reporting")?.consumers.map(\.appliedSeq).sorted() == [0, 1_000, 1_000] })
    }

    /// Complaints of one category about one station surge: reporting raises one opinion alert on
    /// its own stream, for any consumer to wire to, and `liaison report` shows it.
    @Test func aSurgeOfComplaintsRaisesOneOpinionAlert() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try set.start("reporting", extra: ["--alert-minimum", "4"])
        try await set.waitReady(["intake", "reporting"])
        let acks = try await set.withClient("intake") { client in
            try (0..<6).map { n in
                var f = submission(n, prefix: "surge")
                f.kind = .complaint
                f.category = "Noise at night"
                f.unit = "STN-WEST-01"
                f.officerBadge = ""
                f.clearContact()
                f.text = "Loud music from the bar on the corner again, night \(n)"
                return try client.call(.submitFeedback(f)).feedbackAccepted
            }
        }
        func alerts() async throws -> [Liaison_V1_Event] {
            try await set.call("reporting", .replay(.with { $0.limit = 100 })).replayBatch.events
        }
        // All six counted (the report says so), and the fourth raised the one alert.
        #expect(await eventually(30) { (try? await set.report().feedbackTotal) == 6 }, "\(set.logs())")
        let events = try await alerts()
        #expect(events.map(\.topic) == [Topic.opinionAlert])
        let alert = try #require(events.first).opinionAlert
        #expect(alert.category == "noise-at-night" && alert.area == "STN-WEST-01" && alert.count == 4 && alert.threshold == 4 && !alert.late)
        #expect(alert.caseNumbers == acks.prefix(4).reversed().map(\.caseNumber))
        let printed = try await set.cli(["report"])
        #expect(printed.status == 0 && printed.output.contains("opinion alerts, last 7 days: 1")
                && printed.output.contains("noise-at-night about STN-WEST-01: 4 complaints in 24 h"), "\(printed.output)")
        // Kill -9 and back: the alert is neither lost nor raised again.
        set.kill9("reporting")
        try set.start("reporting", extra: ["--alert-minimum", "4"])
        try await set.waitReady(["reporting"])
        #expect(try await set.report().opinionAlerts.map(\.caseNumbers) == [alert.caseNumbers])
        #expect(try await alerts().count == 1)
    }

    @Test func handlerKilledMidStreamStillOpensExactlyOneCaseEach() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])

        async let submitted = submitAll(set, 0..<1_000, prefix: "k9")
        let reached = await eventually(60) { (await set.status("handler")?.headSeq ?? 0) >= 150 }
        #expect(reached)
        set.kill9("handler")
        try set.start("handler")
        let acks = try await submitted
        #expect(acks.count == 1_000)

        let done = await eventually(60) { await set.status("handler")?.headSeq == 1_000 }
        #expect(done, "handler did not reach 1,000\n\(set.logs())")
        // Exactly one case.opened per feedback, over the whole stream.
        let opened = try await set.withClient("handler") { client -> [String] in
            var numbers: [String] = []
            var after: UInt64 = 0
            while true {
                var r = Liaison_V1_Replay()
                r.afterSeq = after
                r.limit = 1_000
                let b = try client.call(.replay(r)).replayBatch
                numbers += b.events.map(\.caseOpened.caseNumber)
                after = b.lastSeq
                if !b.more { return numbers }
            }
        }
        #expect(opened.count == 1_000)
        #expect(Set(opened) == Set(acks.map(\.caseNumber)))
        var q = Liaison_V1_ListCases()
        q.limit = 1
        #expect(try await set.call("handler", .listCases(q)).caseList.total == 1_000)
    }

    @Test func intakeKilledRightAfterAcknowledgingLosesNothing() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let acks = try await submitAll(set, 0..<300, prefix: "crash")
        set.kill9("intake")                       // right after the last acknowledgement
        try set.start("intake")
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])

        // Every acknowledged submission is there: a retry gets the same case back, marked duplicate.
        let again = try await submitAll(set, 0..<300, prefix: "crash")
        #expect(again.map(\.caseNumber) == acks.map(\.caseNumber))
        #expect(again.allSatisfy { $0.duplicate })
        // The citizen can look each up with the token.
        let last = acks[299]
        var q = Liaison_V1_GetFeedbackStatus()
        q.caseNumber = last.caseNumber
        q.trackingToken = last.trackingToken
        // (received, or being_handled once intake has seen the handler open the case)
        #expect(["received", "being_handled"].contains(try await set.call("intake", .getFeedbackStatus(q)).feedbackStatus.state))
        // And every one reaches the handler.
        #expect(await eventually(60) { await set.status("handler")?.headSeq == 300 })
        #expect(await set.status("intake")?.headSeq == 300)
    }

    @Test func aSecondProcessOnTheSameDatabaseIsRefusedAndTheFirstGoesOn() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        _ = try await submitAll(set, 0..<3, prefix: "owner")
        // Another topology (other endpoints, the same stream name) pointed at the same data directory
        // by mistake: it must not run beside the first.
        let other = try LiaisonSet()
        let intruder = try await Threads.run(name: "intruder") { () -> (Int32, String) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison-intake")
            p.arguments = ["--topology", other.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "notice"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let deadline = Date().addingTimeInterval(20)
            while p.isRunning && Date() < deadline { usleep(10_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        #expect(intruder.0 != 0)
        #expect(intruder.1.contains("is in use by pid"), "\(intruder.1)")
        // The owner goes on serving, and a restart after kill -9 takes the database back at once.
        #expect(try await submitAll(set, 0..<3, prefix: "owner").allSatisfy(\.duplicate))
        set.kill9("intake")
        try set.start("intake")
        try await set.waitReady(["intake"])
        #expect(try await submitAll(set, 3..<4, prefix: "owner")[0].caseNumber == "L1-0000004")
    }

    @Test func followUpTimersSurviveARestartAndFireLate() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let number = try await set.call("intake", .submitFeedback(submission(5))).feedbackAccepted.caseNumber
        #expect(await eventually(30) { (try? await set.call("handler", .getCase(.with { $0.caseNumber = number }))) != nil })
        // The case is resolved: the scheduler puts the follow-up call a day later.
        for step in [["case", "assign", number, "--officer", "PC-5"], ["case", "accept", number], ["case", "resolve", number, "Sorted out"]] {
            let r = try await set.cli(step + ["--actor", "desk"])
            #expect(r.status == 0, "\(r.output)")
        }
        let scheduled = await eventually(30) {
            (try? await set.call("scheduler", .listFollowups(.init())).followupList.followups.map(\.state)) == ["pending"]
        }
        #expect(scheduled)
        // The clerk's list: waiting for its time, so not among the calls due.
        let waiting = try await set.cli(["followups"])
        #expect(waiting.status == 0 && waiting.output.contains(number) && waiting.output.contains("pending")
                && waiting.output.contains("1 follow-up(s)"), "\(waiting.output)")
        let noneDue = try await set.cli(["followups", "--due"])
        #expect(noneDue.status == 0 && !noneDue.output.contains(number) && noneDue.output.contains("0 follow-up(s) due"), "\(noneDue.output)")

        // Graceful stop, then come back 25 hours later.
        #expect(set.terminate("scheduler") == 0)
        try set.start("scheduler", extra: ["--clock-offset", "90000"])
        try await set.waitReady(["scheduler"])
        #expect(await eventually(30) { await set.status("scheduler")?.headSeq == 1 })
        let due = try await set.call("scheduler", .replay(.init())).replayBatch.events
        #expect(due.map(\.topic) == [Topic.followupDue])
        #expect(due.first?.followupDue.late == true && due.first?.followupDue.caseNumber == number)
        #expect(await eventually(30) { (try? await set.report().followupsDue) == 1 })
        // Now it is the clerk's to call.
        let dueNow = try await set.cli(["followups", "--due"])
        #expect(dueNow.status == 0 && dueNow.output.contains(number) && dueNow.output.contains("due")
                && dueNow.output.contains("1 follow-up(s) due"), "\(dueNow.output)")
        let badLimit = try await set.cli(["followups", "--limit", "0"])
        #expect(badLimit.status != 0 && badLimit.output.contains("--limit is 1 to 1,000"), "\(badLimit.output)")
    }

    @Test func pythonConsumerReadsTheStreams() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let acks = try await submitAll(set, 0..<25, prefix: "py")
        #expect(await eventually(30) { await set.status("handler")?.headSeq == 25 })

        let output = try await Threads.run(name: "python") { () -> (Int32, String) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", LiaisonSet.repoRoot + "/docs/examples/consumer.py", "--topology", set.topologyPath,
                           "--stream", "handler-1", "--from", "5", "--count", "20", "--seconds", "30"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        #expect(output.0 == 0, "python consumer failed: \(output.1)")
        let lines = output.1.split(separator: "\n")
        #expect(lines.count == 20)
        let seqs = lines.compactMap { line -> Int? in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Int(obj["seq"] as? String ?? "")
        }
        #expect(seqs == Array(6...25))
        #expect(lines.allSatisfy { $0.contains("case_opened") })
        #expect(Set(acks.map(\.caseNumber)).isSuperset(of: lines.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                .flatMap { ($0["case_opened"] as? [String: Any])?["case_number"] as? String }
        }))
    }
}
