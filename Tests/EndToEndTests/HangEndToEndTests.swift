import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Testing

/// `--exit-if-hung-seconds`: a service with a hung thread (its requests, a consumer) exits, for a
/// process manager that restarts what exits but not what hangs (Docker Compose); under a watchdog
/// (systemd, `liaison up`) its pings stop instead. The watch itself is in RuntimeTests.
@Suite struct HangEndToEndTests {
    /// The whole set with the flag, idle and then intake stuck on a lock another process holds on
    /// its database (an operator's `sqlite3` left in a transaction): idle, every service stays up;
    /// stuck past the limit, intake says so and exits with status 70, and the others go on. Started
    /// again, the submission it never acknowledged goes in once.
    @Test func anIntakeStuckOnALockExitsAndAnIdleSetStaysUp() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        // Well under SQLite's busy timeout (10 s), so that the lock below holds intake past it; well
        // over any pause a loaded machine gives a thread that is not stuck.
        let limit = 3.0
        let flag = ["--exit-if-hung-seconds", "\(limit)"]
        try set.startAll(Dictionary(uniqueKeysWithValues: Topology.serviceNames.map { ($0, flag) }))
        try await set.waitReady()
        for service in Topology.serviceNames {
            let log = (try? String(contentsOfFile: set.dir + "/\(service)-0.log", encoding: .utf8)) ?? ""
            #expect(log.contains("exits with status 70 if one is silent for 3 s"), "\(service) did not say its threads are watched:\n\(log)")
        }

        // Idle for twice the limit, answering every status request: the loops' idle turns count as
        // beats, so nothing is taken for a hang.
        let idleSince = Date()
        var answered = 0
        while Date().timeIntervalSince(idleSince) < 2 * limit {
            if await set.status("intake") != nil { answered += 1 }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        for service in Topology.serviceNames {
            #expect(set.exitStatus(service) == nil, "an idle \(service) exited:\n\(set.logs())")
        }
        #expect(answered > 0)

        // Another process takes the database's write lock and keeps it; intake's next commit waits
        // for it (SQLite's busy timeout is 10 s), its request thread stuck.
        var holding = Configuration()
        holding.allowsUnsafeTransactions = true   // the transaction is left open on purpose
        let holder = try DatabaseQueue(path: set.dir + "/data/intake-1.sqlite", configuration: holding)
        try await holder.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        let first = submission(1, prefix: "hang")
        let unanswered = Task {
            try? await set.withClient("intake", timeoutMs: 1_000, attempts: 1) { try $0.call(.submitFeedback(first)) }
        }
        let exited = await eventually(20) { set.exitStatus("intake") != nil }
        #expect(exited, "intake is still running, stuck:\n\(set.logs())")
        #expect(set.exitStatus("intake") == HangWatch.exitStatus)
        #expect(set.logs().contains("intake-1's request thread has been silent for"), "\(set.logs())")
        #expect(await unanswered.value == nil, "a submission was answered while the database was locked")
        for service in Topology.serviceNames where service != "intake" {
            #expect(set.exitStatus(service) == nil, "\(service) exited with intake:\n\(set.logs())")
        }

        // The lock let go, intake started again (as the process manager would): the submission was
        // never stored, so it goes in now, once.
        try await holder.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
        try set.start("intake", extra: ["--exit-if-hung-seconds", "\(limit)"])
        try await set.waitReady(["intake"])
        let accepted = try await set.call("intake", .submitFeedback(first)).feedbackAccepted
        #expect(accepted.caseNumber == "L1-0000001" && !accepted.duplicate)
        #expect(await set.status("intake")?.headSeq == 1)
    }

    /// A handler whose consumer of intake's stream is stuck on a lock another process holds on its
    /// database, while its request thread goes on answering: with the flag it names the consumer and
    /// exits with status 70; started again under a watchdog (systemd's protocol, the test standing in
    /// for systemd), its pings stop while the consumer is stuck and resume once it moves. Each
    /// submission becomes one case.
    @Test func aHandlerWhoseConsumerIsStuckExitsOrStopsItsWatchdogPings() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let limit = 3.0
        try set.start("intake")
        try set.start("handler", extra: ["--exit-if-hung-seconds", "\(limit)"])
        try await set.waitReady(["intake", "handler"])
        let handlerLog = { (try? String(contentsOfFile: set.dir + "/handler-0.log", encoding: .utf8)) ?? "" }

        var holding = Configuration()
        holding.allowsUnsafeTransactions = true   // the transaction is left open on purpose
        let holder = try DatabaseQueue(path: set.dir + "/data/handler-1.sqlite", configuration: holding)
        try await holder.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        let first = try await set.call("intake", .submitFeedback(submission(1, prefix: "stuck"))).feedbackAccepted
        // The request thread is not the one stuck: it answers.
        #expect(await set.status("handler") != nil, "the handler's request thread did not answer:\n\(set.logs())")
        #expect(await eventually(20) { set.exitStatus("handler") != nil }, "the handler is still running, its consumer stuck:\n\(set.logs())")
        #expect(set.exitStatus("handler") == HangWatch.exitStatus)
        #expect(handlerLog().contains("handler-1's consumer of intake-1 has been silent for"), "\(handlerLog())")
        #expect(set.exitStatus("intake") == nil)

        // Let go and started again, now under a watchdog of 1 s (a ping every half second).
        try await holder.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
        let listener = try NotifyListener(path: set.dir + "/notify")
        try set.start("handler", environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "1000000"])
        let pings = { listener.messages.filter { $0 == "WATCHDOG=1" }.count }
        #expect(await eventually(20) { (try? await set.call("handler", .getCase(.with { $0.caseNumber = first.caseNumber })))?.caseInfo.caseNumber == first.caseNumber },
                "the first submission's case was not made after the restart:\n\(set.logs())")
        #expect(await eventually(10) { pings() >= 3 }, "\(listener.messages)")

        // Stuck again: the pings stop, and the log says which thread holds them back.
        try await holder.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        let second = try await set.call("intake", .submitFeedback(submission(2, prefix: "stuck"))).feedbackAccepted
        #expect(await eventually(10) { handlerLog().contains("pings are held back") }, "\(handlerLog())")
        #expect(handlerLog().contains("handler-1's consumer of intake-1 has been silent for"))
        try await Task.sleep(for: .milliseconds(300))   // a ping on its way may still arrive
        let held = pings()
        try await Task.sleep(for: .milliseconds(1_500))   // three ping intervals: what systemd would notice
        #expect(pings() == held, "pings went on while the consumer was stuck: \(listener.messages.suffix(5))")
        // The request thread answers, and says which of the others is stuck; so does the operators' check.
        let stuck = await set.status("handler")?.threads ?? []
        #expect(stuck.contains { $0.thread == "handler-1's consumer of intake-1" && $0.silentMs >= 1_000 }, "\(stuck)")
        #expect(stuck.contains { $0.thread == "the handler-1-deadlines thread" && $0.silentMs < 5_000 }, "\(stuck)")
        let check = try await set.cli(["streams", "--check", "--max-silence", "2", "--timeout", "500"])
        #expect(check.status == 2 && check.output.contains("PROBLEM: handler-1: handler-1's consumer of intake-1 has not gone round its loop for"), "\(check.output)")
        #expect(!check.output.contains("PROBLEM: handler-1: the handler-1-deadlines thread"), "\(check.output)")
        // Not blamed on intake, which is running: the consumer itself is stuck.
        #expect(!check.output.contains("handler-1 has heard nothing from intake-1"), "\(check.output)")

        // Let go: the consumer applies the submission and the pings start again.
        try await holder.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
        #expect(await eventually(20) { (try? await set.call("handler", .getCase(.with { $0.caseNumber = second.caseNumber })))?.caseInfo.caseNumber == second.caseNumber },
                "\(set.logs())")
        #expect(await eventually(10) { pings() >= held + 3 }, "\(listener.messages.suffix(5))")
        let moving = await set.status("handler")?.threads ?? []
        #expect(moving.map(\.thread).sorted() == ["handler-1's consumer of intake-1", "the handler-1-deadlines thread", "the handler-1-disk thread"], "\(moving)")
        #expect(moving.allSatisfy { $0.silentMs < 5_000 }, "\(moving)")
        #expect(set.exitStatus("handler") == nil)
        let cases = try await set.call("handler", .listCases(.init())).caseList.cases.map(\.caseNumber)
        #expect(cases.sorted() == [first.caseNumber, second.caseNumber].sorted(), "\(cases)")
    }
}
