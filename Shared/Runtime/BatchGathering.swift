/// When a batch waits a moment for more requests, so that busy clients share one group commit.
///
/// Under a steady load of clients that each keep one request in flight, the request loop falls
/// into two halves: while one batch commits, the clients it does not hold send their next requests,
/// and those make the next batch, while the clients just answered are still on their way back. So
/// 32 clients commit 16 at a time, and every submission waits for two commits, each with its
/// fsync. Waiting for the clients just answered (at most ``RequestLoopOptions/gatherMicroseconds``)
/// puts all 32 in one commit: one fsync where there were two (docs/PERFORMANCE.md has the runs).
///
/// The loop waits only for requests it has reason to expect: as many as the last batch answered
/// plus those that came while it was being handled, and only when those were at least
/// ``minimumExpected``. A lone request, or a few of them, is never held back.
package struct BatchGathering: Sendable {
    /// Fewer expected requests than this and a batch never waits.
    package static let minimumExpected = 8

    /// Requests the next batch waits for; 0: none.
    package private(set) var expected = 0

    package init() {}

    /// Records a batch just answered: `answered` requests, while `arrivedMeanwhile` more came in.
    /// The clients answered will be back; those that came are waiting already.
    package mutating func answered(_ answered: Int, arrivedMeanwhile: Int) {
        let next = answered + arrivedMeanwhile
        expected = next >= Self.minimumExpected ? next : 0
    }

    /// True when a batch that holds `count` requests (and may hold at most `limit`) should wait
    /// for more.
    package func shouldWait(holding count: Int, limit: Int) -> Bool {
        count > 0 && count < min(expected, limit)
    }
}
