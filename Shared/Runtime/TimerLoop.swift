import Foundation
import Logging
import ZeroMQ

/// A thread that runs `tick` at least every `intervalMs` (durable timers: deadlines, follow-ups).
/// `tick` returns true when more work is due at once (it fired a full batch); a failing tick is
/// logged and retried on the next round, so a busy database never stops the timers for good.
public final class TimerLoop: ThreadLoop {
    public let name: String
    public let pulse: Pulse
    let intervalMs: Int32
    let logger: Logger
    let tick: @Sendable () throws -> Bool

    public init(name: String, intervalMs: Int32 = 200, logger: Logger, tick: @escaping @Sendable () throws -> Bool) {
        self.name = name
        self.pulse = Pulse(what: "the \(name) thread")
        self.intervalMs = intervalMs
        self.logger = logger
        self.tick = tick
    }

    public func run(context: Context, stop: StopFlag) throws {
        let wait = try Waker()   // nothing rings it: it gives the loop an interruptible wait
        while !stop.isSet {
            pulse.beat()
            do {
                if try tick() { continue }
            } catch {
                logger.error("timer round failed; will retry", metadata: ["loop": "\(name)", "error": "\(error)"])
            }
            _ = try Poller.poll([], fds: [wait.fd], timeout: intervalMs)
        }
    }
}

/// When work that runs far less often than its ``TimerLoop`` wakes is next due (the loop wakes every
/// 200 ms so that a stop is heard at once): the disk watch every ten seconds, the contact retention
/// every few minutes. On the monotonic clock: with the wall clock stepped back, the work stopped
/// for as long as the step.
public struct Cadence: Sendable {
    public let every: TimeInterval
    /// Nil: due at once.
    private var next: SuspendingClock.Instant?

    public init(every: TimeInterval) { self.every = every }

    /// True when the work is due at `now`; the next time is then `every` later.
    public mutating func isDue(_ now: SuspendingClock.Instant = .now) -> Bool {
        if let next, now < next { return false }
        next = now + .seconds(every)
        return true
    }

    /// Makes the work due at `instant` instead (sooner, after a full batch).
    public mutating func due(at instant: SuspendingClock.Instant) { next = instant }
}
