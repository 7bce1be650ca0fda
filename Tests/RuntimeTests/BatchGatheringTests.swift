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
