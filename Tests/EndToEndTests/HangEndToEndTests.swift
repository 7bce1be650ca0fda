import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Testing

/// `--exit-if-hung-seconds`: a service whose request thread hangs exits, for a process manager that
/// restarts what exits but not what hangs (Docker Compose). The watch itself is in RuntimeTests.
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
            #expect(log.contains("exits with status 70 if it is silent for 3 s"), "\(service) did not say its request thread is watched:\n\(log)")
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
}
