import Foundation
import Logging
import Synchronization
import Testing
@testable import LiaisonRuntime

/// The watch that ends a service whose request thread hangs (``HangWatch``), for a process manager
/// that restarts what exits but not what hangs. End to end (a real intake stuck on a database lock)
/// in EndToEndTests.
@Suite struct HangWatchTests {
    static let second: UInt64 = 1_000_000_000

    @Test func silenceCountsFromTheLastBeatAndOnlyPastTheLimit() {
        let watch = HangWatch(limit: 2, onHang: { _ in })
        #expect(watch.silence(now: 100 * Self.second) == nil, "no beat yet: nothing to count from")
        watch.beat(now: 10 * Self.second)
        #expect(watch.silence(now: 11 * Self.second) == nil)
        #expect(watch.silence(now: 12 * Self.second) == nil, "exactly the limit is within it")
        #expect(watch.silence(now: 12 * Self.second + 1_000_000) == 2.001)
        #expect(watch.silence(now: 9 * Self.second) == nil, "a beat after the look")
        watch.beat(now: 20 * Self.second)
        #expect(watch.silence(now: 21 * Self.second) == nil, "a new beat starts the count again")
    }

    /// The watch looks every half second for a limit of 2 s. A look that comes late by more than
    /// half the limit means the whole process was paused (SIGSTOP, a suspended machine): the request
    /// thread was not given a chance to beat, so it gets a whole limit again instead of the process
    /// ending the moment it resumes.
    @Test func aProcessPausedAsAWholeIsNotAHangOfItsRequestThread() {
        let watch = HangWatch(limit: 2, onHang: { _ in })
        #expect(watch.interval == 0.5)
        watch.beat(now: 10 * Self.second)
        // Looks on time: the silence past the limit counts.
        #expect(watch.look(now: 12 * Self.second + Self.second / 2, lastLook: 12 * Self.second) == 2.5)
        // Paused for 60 s, watch included: no hang, and the count starts again from the resumption.
        #expect(watch.look(now: 72 * Self.second, lastLook: 12 * Self.second) == nil)
        #expect(watch.look(now: 73 * Self.second, lastLook: 72 * Self.second + Self.second / 2) == nil)
        // Still silent a whole limit after it resumed: that is a hang.
        #expect(watch.look(now: 74 * Self.second + Self.second / 2, lastLook: 74 * Self.second) == 2.5)
    }

    @Test func aThreadThatStopsBeatingIsReportedOnceAndItsSilenceSaid() async throws {
        let calls = Mutex<[Double]>([])
        let watch = HangWatch(limit: 0.2, onHang: { silence in calls.withLock { $0.append(silence) } })
        watch.start(name: "test-hangs", what: "the test's thread", logger: Logger(label: "test"))
        defer { watch.stop() }
        let deadline = Date().addingTimeInterval(10)
        while calls.withLock({ $0.isEmpty }) && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        let said = calls.withLock { $0 }
        #expect(said.count == 1)
        #expect(said.allSatisfy { $0 > 0.2 }, "\(said)")
    }

    /// A thread that beats keeps the watch quiet; once stopped, the watch says nothing however long
    /// the silence that follows (the service is stopping). The beats come from a thread of their own,
    /// as the request thread's do, not from the tests' shared pool.
    @Test func aBeatingThreadAndAStoppedWatchAreLeftAlone() async throws {
        let calls = Atomic<Int>(0)
        let watch = HangWatch(limit: 1, onHang: { _ in calls.add(1, ordering: .relaxed) })
        watch.start(name: "test-hangs", what: "the test's thread", logger: Logger(label: "test"))
        // Two and a half limits of beating every 10 ms: the watch looks ten times and finds no hang.
        let beating = try await Threads.run(name: "test-beats") { () -> Int in
            var beats = 0
            let until = Date().addingTimeInterval(2.5)
            while Date() < until {
                watch.beat()
                beats += 1
                usleep(10_000)
            }
            // Stopped from the beating thread, as the request loop stops its watch on its way out:
            // this test's task may resume long after (the tests share a small pool of threads).
            watch.stop()
            return beats
        }
        #expect(beating > 20)
        #expect(calls.load(ordering: .relaxed) == 0)
        // Two limits of silence after the stop: still nothing.
        try await Task.sleep(nanoseconds: 2_000_000_000)
        #expect(calls.load(ordering: .relaxed) == 0)
    }

    @Test func theLimitComesFromTheFlagElseTheEnvironmentAndABadOneIsNamed() throws {
        var options = try ServiceOptions.parse([])
        #expect(try options.hangLimit(environment: [:]) == 0)
        #expect(try options.hangLimit(environment: [ServiceOptions.exitIfHungVariable: "30"]) == 30)
        #expect(try options.hangLimit(environment: [ServiceOptions.exitIfHungVariable: ""]) == 0)
        for bad in ["abc", "-1", "inf", "nan"] {
            #expect(throws: (any Error).self) { try options.hangLimit(environment: [ServiceOptions.exitIfHungVariable: bad]) }
            do { _ = try options.hangLimit(environment: [ServiceOptions.exitIfHungVariable: bad]) } catch {
                #expect("\(error)".contains("LIAISON_EXIT_IF_HUNG_SECONDS"), "\(error)")
            }
        }
        options = try ServiceOptions.parse(["--exit-if-hung-seconds", "5"])
        #expect(try options.hangLimit(environment: [ServiceOptions.exitIfHungVariable: "30"]) == 5, "the flag wins")
        #expect(options.loopOptions.exitIfHungSeconds == 5)
        #expect(throws: (any Error).self) { try ServiceOptions.parse(["--exit-if-hung-seconds=-1"]) }
    }
}
