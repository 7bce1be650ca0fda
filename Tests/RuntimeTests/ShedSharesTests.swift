import Testing
@testable import LiaisonRuntime

/// Which requests read past a full batch are shed and which are kept for the next batch.
@Suite struct ShedSharesTests {
    private func envelope(_ caller: UInt8) -> [[UInt8]] { [[0, 0, 0, caller], []] }

    @Test func aCallerWithoutRequestsInTheBatchIsKeptAndTheFloodingOneIsNot() {
        var shares = ShedShares(batchSize: 16)
        for _ in 0..<15 { shares.count(envelope(1)) }
        shares.count(envelope(2))
        // Two callers: a share is 8. The flood has 15, the desk 1, a newcomer 0 (a share of 16 / 3 = 5).
        #expect(!shares.isUnderShare(envelope(1)))
        #expect(shares.isUnderShare(envelope(2)))
        #expect(shares.isUnderShare(envelope(3)))
        // The desk keeps being kept until it has its share of the batch among the two.
        for _ in 0..<6 { shares.count(envelope(2)) }
        #expect(shares.isUnderShare(envelope(2)))
        shares.count(envelope(2))
        #expect(!shares.isUnderShare(envelope(2)), "8 of a batch of 16 between two callers is the desk's share")
        #expect(shares.callers == 2)
    }

    @Test func moreCallersThanABatchStillKeepsOneRequestEach() {
        var shares = ShedShares(batchSize: 4)
        for c in 0..<10 { shares.count(envelope(UInt8(c))) }
        #expect(shares.isUnderShare(envelope(200)), "a caller with nothing in the batch gets one request kept")
        #expect(!shares.isUnderShare(envelope(3)), "a caller with one already has its share")
    }

    @Test func aMessageWithoutEnvelopeCountsAsOneCaller() {
        var shares = ShedShares(batchSize: 2)
        shares.count([])
        shares.count([])
        #expect(!shares.isUnderShare([]))
        #expect(shares.callers == 1)
    }
}
