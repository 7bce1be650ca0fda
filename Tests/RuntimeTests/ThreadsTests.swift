import Foundation
import Testing
@testable import LiaisonRuntime

@Suite struct ThreadsTests {
    /// An operator finds a service's socket threads by name in `top -H` (the kernel keeps 15 bytes).
    @Test func aBlockingThreadCarriesItsNameForTheKernel() async throws {
        @Sendable func comm() -> String {
            (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? ""
        }
        let short = try await Threads.run(name: "test-requests") { comm() }
        #expect(short == "test-requests")
        let long = try await Threads.run(name: "intake-1-requests") { comm() }
        #expect(long == "intake-1-reques")
    }

    /// A thread started with `start` runs before the caller gives up its own thread: a test's
    /// stand-in or service loop is not left waiting behind other tests' tasks for the
    /// cooperative pool. Its value is what the body returned, or the error it threw, however
    /// often it is awaited.
    @Test func aStartedThreadRunsAtOnceAndGivesItsResult() async throws {
        let gate = StopFlag()
        let running = Threads.start(name: "test-started") { () -> String in
            gate.set()
            return (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? ""
        }
        // Waited for by blocking this task's own thread, as a busy pool would be: no await between.
        let deadline = Date().addingTimeInterval(20)
        while !gate.isSet && Date() < deadline { usleep(1_000) }
        #expect(gate.isSet, "the thread did not run while its starter held its own thread")
        #expect(try await running.value == "test-started")
        #expect(try await running.value == "test-started")
        #expect(running.isFinished)

        struct Refused: Error, Equatable {}
        let failing = Threads.start(name: "test-failing") { () -> Int in throw Refused() }
        await #expect(throws: Refused.self) { try await failing.value }
    }
}

/// Work a timer does far less often than it wakes: due at once, then every `every`, or sooner when asked.
@Test func aCadenceIsDueAtOnceThenEveryIntervalOrWhenAsked() {
    var cadence = Cadence(every: 10)
    let t0 = SuspendingClock.now
    var seen: [Bool] = []
    for dt in [0, 9.9, 10] { seen.append(cadence.isDue(t0 + .seconds(dt))) }
    cadence.due(at: t0 + .seconds(11))
    for dt in [10.5, 11, 20.9, 21] { seen.append(cadence.isDue(t0 + .seconds(dt))) }
    #expect(seen == [true, false, true, false, true, false, true])
}
