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
/// ``minimumExpected``. It waits only in a batch that starts soon after the last one was
/// answered (``isReturning(at:window:)``; the request loop's window is the wait and a
/// millisecond): a request that comes later, after a load has ended, is not one of its clients
/// coming back. A lone request, or a few of them, is never held back.
///
/// Requests that do not come back (callers that each send one and leave, as a busy web front's
/// do) would make every batch wait its whole time for nothing, or hold the first ones back until
/// enough strangers came. So a wait that runs out pauses the waits for some batches: one at first,
/// twice as many after each wait that runs out, up to ``longestPause``; each wait that gathers
/// what it expected halves the pause again. Where the callers come back, nearly every wait
/// gathers them and the pause stays at one batch; where they do not, most waits run out and the
/// batches wait about once in ``longestPause``.
package struct BatchGathering: Sendable {
    /// Fewer expected requests than this and a batch never waits.
    package static let minimumExpected = 8
    /// Most batches in a row that do not wait after waits that ran out.
    package static let longestPause = 64

    /// Requests the next batch waits for; 0: none.
    package private(set) var expected = 0
    /// Batches left that do not wait, after a wait that ran out.
    package private(set) var paused = 0
    /// How many batches the next wait that runs out pauses the waits for.
    private var nextPause = 1
    /// When the last batch was answered (`DispatchTime`'s uptime nanoseconds, a monotonic clock).
    package private(set) var answeredAt: UInt64 = 0

    package init() {}

    /// Records a batch just answered, at `now`: `answered` requests, while `arrivedMeanwhile` more
    /// came in before any of them was answered. The clients answered will be back; those that came
    /// are waiting already. (Requests that come after the answers may be the answered clients back
    /// already: counted here too, they would be counted twice, and the next batch would wait its
    /// whole time for requests that are not coming.)
    package mutating func answered(_ answered: Int, arrivedMeanwhile: Int, at now: UInt64 = 0) {
        let next = answered + arrivedMeanwhile
        expected = next >= Self.minimumExpected ? next : 0
        answeredAt = now
        if paused > 0 { paused -= 1 }
    }

    /// True when a batch starting at `now` may hold clients the last batch answered coming back:
    /// it starts within `window` of that answer. Later, the load has ended or paused.
    package func isReturning(at now: UInt64, window: UInt64) -> Bool {
        now >= answeredAt && now - answeredAt <= window
    }

    /// True when a batch that holds `count` requests (and may hold at most `limit`) should wait
    /// for more.
    package func shouldWait(holding count: Int, limit: Int) -> Bool {
        paused == 0 && count > 0 && count < min(expected, limit)
    }

    /// Records how a wait ended: with what it expected (`gathered`), or when its time ran out.
    package mutating func waited(gathered: Bool) {
        if gathered {
            nextPause = max(1, nextPause / 2)
        } else {
            paused = nextPause
            nextPause = min(2 * nextPause, Self.longestPause)
        }
    }
}
