import ArgumentParser
import Testing
@testable import LiaisonRuntime

/// When a batch waits for the clients the last one answered (``BatchGathering``). End to end (a
/// real intake under clients that each keep one request in flight) in IntakeLoadTests.
@Suite struct BatchGatheringTests {
    @Test func aLoneRequestOrAFewAreNeverHeldBack() {
        var g = BatchGathering()
        #expect(!g.shouldWait(holding: 1, limit: 512), "nothing answered yet: nothing to expect")
        g.answered(1, arrivedMeanwhile: 0)
        #expect(g.expected == 0)
        #expect(!g.shouldWait(holding: 1, limit: 512))
        g.answered(4, arrivedMeanwhile: 3)
        #expect(g.expected == 0, "7 expected is under the minimum of \(BatchGathering.minimumExpected)")
        #expect(!g.shouldWait(holding: 1, limit: 512))
    }

    @Test func theTwoHalvesOfASteadyLoadAreGatheredIntoOneBatch() {
        var g = BatchGathering()
        // 32 clients in two halves: 16 answered while the other 16 came in.
        g.answered(16, arrivedMeanwhile: 16)
        #expect(g.expected == 32)
        #expect(g.shouldWait(holding: 16, limit: 512), "the 16 just answered will be back")
        #expect(g.shouldWait(holding: 31, limit: 512))
        #expect(!g.shouldWait(holding: 32, limit: 512))
        #expect(!g.shouldWait(holding: 40, limit: 512), "more than expected: nothing to wait for")
        // Once gathered, all 32 are answered together and none is waiting: all 32 are expected back.
        g.answered(32, arrivedMeanwhile: 0)
        #expect(g.expected == 32)
        #expect(g.shouldWait(holding: 3, limit: 512))
    }

    @Test func aBatchNeverWaitsForNothingOrPastItsLimit() {
        var g = BatchGathering()
        g.answered(300, arrivedMeanwhile: 300)
        #expect(!g.shouldWait(holding: 0, limit: 512), "an empty batch is not served at all")
        #expect(g.shouldWait(holding: 511, limit: 512))
        #expect(!g.shouldWait(holding: 512, limit: 512), "a full batch goes at once")
    }

    @Test func clientsThatLeaveAreNoLongerExpected() {
        var g = BatchGathering()
        g.answered(32, arrivedMeanwhile: 0)
        // Half of them stopped: the batch waited its time for them in vain, once.
        g.answered(16, arrivedMeanwhile: 0)
        #expect(g.expected == 16)
        #expect(!g.shouldWait(holding: 16, limit: 512))
        // The load ends: nothing more is expected.
        g.answered(3, arrivedMeanwhile: 0)
        #expect(g.expected == 0)
    }

    /// Callers that send one request each and leave (an open loop, a busy web front) never come
    /// back: after a wait in vain the waits pause, for twice as many batches each time in a row, so
    /// that such a load is held back about once in 64 batches, not in every one.
    @Test func requestsThatDoNotComeBackPauseTheWaits() {
        var g = BatchGathering()
        var waits = 0
        for _ in 0..<1_000 {
            // Each batch holds 10 while 10 more came: 20 expected, which never come in time.
            if g.shouldWait(holding: 10, limit: 512) {
                waits += 1
                g.waited(gathered: false)
            }
            g.answered(10, arrivedMeanwhile: 10)
        }
        #expect(waits > 0 && waits <= 1_000 / BatchGathering.longestPause + 7, "\(waits) waits in 1,000 batches")

        // Strangers that sometimes fill a wait and mostly do not: still held back rarely.
        g = BatchGathering()
        waits = 0
        for i in 0..<1_000 {
            if g.shouldWait(holding: 10, limit: 512) {
                waits += 1
                g.waited(gathered: waits % 3 == 0)
            }
            g.answered(10, arrivedMeanwhile: 10 + i % 2)
        }
        #expect(waits <= 1_000 / 10, "\(waits) waits in 1,000 batches")

        // Each wait that gathers halves the pause again: clients that come back are waited for
        // in nearly every batch, a straggler costing one batch without a wait.
        g = BatchGathering()
        g.answered(16, arrivedMeanwhile: 16)
        g.waited(gathered: false)
        g.waited(gathered: false)
        #expect(g.paused == 2)
        g.answered(16, arrivedMeanwhile: 16)
        g.answered(16, arrivedMeanwhile: 16)
        #expect(g.paused == 0 && g.shouldWait(holding: 16, limit: 512))
        g.waited(gathered: true)
        g.waited(gathered: true)
        g.waited(gathered: false)
        #expect(g.paused == 1)
        #expect(!g.shouldWait(holding: 16, limit: 512), "paused for the next batch")
        g.answered(32, arrivedMeanwhile: 0)
        #expect(g.shouldWait(holding: 16, limit: 512))
        var held = 0
        for n in 0..<1_000 {
            if g.shouldWait(holding: 16, limit: 512) {
                held += 1
                g.waited(gathered: n % 50 != 0)   // one straggler in 50 batches
            }
            g.answered(32, arrivedMeanwhile: 0)
        }
        #expect(held >= 950, "\(held) of 1,000 batches gathered their clients")
    }

    /// A batch that starts long after the last one was answered is not the load's clients coming
    /// back (the load has ended): it does not wait for them.
    @Test func onlyABatchThatStartsSoonAfterTheLastAnswerWaits() {
        var g = BatchGathering()
        let ms: UInt64 = 1_000_000
        g.answered(32, arrivedMeanwhile: 0, at: 1_000 * ms)
        #expect(g.shouldWait(holding: 1, limit: 512))
        #expect(g.isReturning(at: 1_000 * ms, window: ms / 5), "at once: the two halves of a load")
        #expect(g.isReturning(at: 1_000 * ms + ms / 10, window: ms / 5), "the first client back")
        #expect(!g.isReturning(at: 1_000 * ms + ms, window: ms / 5), "a millisecond later: the load has ended")
        #expect(!g.isReturning(at: 999 * ms, window: ms / 5), "a clock that went back never waits")
    }

    @Test func theWaitIsAnOptionNamedInItsError() throws {
        #expect(try ServiceOptions.parse([]).loopOptions.gatherMicroseconds == 200)
        #expect(try ServiceOptions.parse(["--gather-microseconds", "0"]).loopOptions.gatherMicroseconds == 0)
        #expect(try ServiceOptions.parse(["--gather-microseconds", "5000"]).loopOptions.gatherMicroseconds == 5_000)
        for bad in ["-1", "1000001"] {
            do {
                _ = try ServiceOptions.parse(["--gather-microseconds=\(bad)"])
                Issue.record("--gather-microseconds \(bad) was taken")
            } catch {
                let message = ServiceOptions.message(for: error)
                #expect(message.contains("--gather-microseconds") && message.contains(bad), "\(message)")
            }
        }
    }
}
