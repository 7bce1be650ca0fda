import Foundation
import Logging
import Synchronization
import Testing
@testable import LiaisonRuntime

/// The watch that ends a service one of whose threads hangs (``HangWatch``), for a process manager
/// that restarts what exits but not what hangs, and the pulses it reads (``Pulse``), which also hold
/// back the watchdog's pings. End to end (a real intake, and a real handler's consumer, stuck on a
/// database lock) in EndToEndTests.
@Suite struct HangWatchTests {
    static let second: UInt64 = 1_000_000_000

    @Test func silenceCountsFromTheLastBeatAndOnlyPastTheLimit() {
        let requests = Pulse(what: "the requests")
        let watch = HangWatch(limit: 2, pulses: [requests], onHang: { _, _ in })
        #expect(requests.silence(now: 100 * Self.second) == nil, "no beat yet: nothing to count from")
        #expect(watch.overdue(now: 100 * Self.second) == nil)
        requests.beat(now: 10 * Self.second)
        #expect(requests.silence(now: 11 * Self.second) == 1)
        #expect(watch.overdue(now: 11 * Self.second) == nil)
        #expect(watch.overdue(now: 12 * Self.second) == nil, "exactly the limit is within it")
        let over = watch.overdue(now: 12 * Self.second + 1_000_000)
        #expect(over?.pulse === requests && over?.silence == 2.001)
        #expect(watch.overdue(now: 9 * Self.second) == nil, "a beat after the look")
        requests.beat(now: 20 * Self.second)
        #expect(watch.overdue(now: 21 * Self.second) == nil, "a new beat starts the count again")
    }

    /// The watch counts every thread of the service and names the one silent the longest; a thread
    /// whose loop has ended (the service stopping) is never silent; and a thread that has not beaten
    /// since the watch started counts from the start, so one stuck before its first turn is seen.
    @Test func theThreadSilentLongestIsNamedAndAnEndedOneIsNot() {
        let requests = Pulse(what: "intake-1's request thread")
        let consumer = Pulse(what: "intake-1's consumer of handler-1")
        let timer = Pulse(what: "the intake-1-retention thread")
        let watch = HangWatch(limit: 2, pulses: [requests, consumer, timer], onHang: { _, _ in })
        watch.start(name: "test-hangs", logger: Logger(label: "test"), now: 10 * Self.second)
        watch.stop()
        requests.beat(now: 14 * Self.second)
        consumer.beat(now: 11 * Self.second)
        // The timer never beat: its silence counts from the watch's start, the longest.
        #expect(watch.overdue(now: 15 * Self.second)?.pulse === timer)
        #expect(watch.overdue(now: 15 * Self.second)?.silence == 5)
        timer.end()
        #expect(timer.silence(now: 99 * Self.second) == nil, "an ended loop is not silent")
        #expect(watch.overdue(now: 15 * Self.second)?.pulse === consumer)
        #expect(watch.overdue(now: 15 * Self.second)?.silence == 4)
        consumer.beat(now: 15 * Self.second)
        #expect(watch.overdue(now: 15 * Self.second) == nil)
        // The same choice serves the watchdog's pings, which count from the last beat alone.
        #expect(Pulse.stalest([requests, consumer, timer], over: 0.5, now: 15 * Self.second)?.pulse === requests)
        #expect(Pulse.stalest([requests, consumer, timer], over: 1, now: 15 * Self.second) == nil)
        #expect(Pulse.stalest([Pulse(what: "never beat")], over: 1, now: 15 * Self.second) == nil,
                "a thread not yet started holds no ping back")
    }

    /// The watch looks every half second for a limit of 2 s. A look that comes late by more than
    /// half the limit means the whole process was paused (SIGSTOP, a suspended machine): no thread
    /// was given a chance to beat, so each gets a whole limit again instead of the process ending
    /// the moment it resumes.
    @Test func aProcessPausedAsAWholeIsNotAHangOfItsThreads() {
        let requests = Pulse(what: "the requests")
        let consumer = Pulse(what: "a consumer")
        let watch = HangWatch(limit: 2, pulses: [requests, consumer], onHang: { _, _ in })
        #expect(watch.interval == 0.5)
        requests.beat(now: 10 * Self.second)
        consumer.beat(now: 10 * Self.second)
        // Looks on time: the silence past the limit counts.
        #expect(watch.look(now: 12 * Self.second + Self.second / 2, lastLook: 12 * Self.second)?.silence == 2.5)
        // Paused for 60 s, watch included: no hang, and the count starts again from the resumption.
        #expect(watch.look(now: 72 * Self.second, lastLook: 12 * Self.second) == nil)
        requests.beat(now: 72 * Self.second + Self.second / 4)
        #expect(watch.look(now: 73 * Self.second, lastLook: 72 * Self.second + Self.second / 2) == nil)
        // The consumer still silent a whole limit after it resumed: that is a hang.
        let hung = watch.look(now: 74 * Self.second + Self.second / 2, lastLook: 74 * Self.second)
        #expect(hung?.pulse === consumer && hung?.silence == 2.5)
    }

    @Test func aThreadThatStopsBeatingIsReportedOnceAndItsSilenceSaid() async throws {
        let calls = Mutex<[(String, Double)]>([])
        let beating = Pulse(what: "the beating thread")
        let silent = Pulse(what: "the silent thread")
        let watch = HangWatch(limit: 0.2, pulses: [beating, silent], onHang: { pulse, silence in calls.withLock { $0.append((pulse.what, silence)) } })
        watch.start(name: "test-hangs", logger: Logger(label: "test"))
        defer { watch.stop() }
        let deadline = Date().addingTimeInterval(10)
        while calls.withLock({ $0.isEmpty }) && Date() < deadline {
            beating.beat()
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        let said = calls.withLock { $0 }
        #expect(said.count == 1)
        #expect(said.allSatisfy { $0.0 == "the silent thread" && $0.1 > 0.2 }, "\(said)")
    }

    /// A thread that beats keeps the watch quiet; once stopped, the watch says nothing however long
    /// the silence that follows (the service is stopping). The beats come from a thread of their own,
    /// as the service's loops' do, not from the tests' shared pool.
    @Test func aBeatingThreadAndAStoppedWatchAreLeftAlone() async throws {
        let calls = Atomic<Int>(0)
        let pulse = Pulse(what: "the test's thread")
        let watch = HangWatch(limit: 1, pulses: [pulse], onHang: { _, _ in calls.add(1, ordering: .relaxed) })
        watch.start(name: "test-hangs", logger: Logger(label: "test"))
        // Two and a half limits of beating every 10 ms: the watch looks ten times and finds no hang.
        let beating = try await Threads.run(name: "test-beats") { () -> Int in
            var beats = 0
            let until = Date().addingTimeInterval(2.5)
            while Date() < until {
                pulse.beat()
                beats += 1
                usleep(10_000)
            }
            // Stopped from the beating thread, as a loop ends its pulse on its way out: this test's
            // task may resume long after (the tests share a small pool of threads).
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
