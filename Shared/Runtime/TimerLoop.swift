import Logging
import ZeroMQ

/// A thread that runs `tick` at least every `intervalMs` (durable timers: deadlines, follow-ups).
/// `tick` returns true when more work is due at once (it fired a full batch); a failing tick is
/// logged and retried on the next round, so a busy database never stops the timers for good.
public final class TimerLoop: ThreadLoop {
    public let name: String
    let intervalMs: Int32
    let logger: Logger
    let tick: @Sendable () throws -> Bool

    public init(name: String, intervalMs: Int32 = 200, logger: Logger, tick: @escaping @Sendable () throws -> Bool) {
        self.name = name
        self.intervalMs = intervalMs
        self.logger = logger
        self.tick = tick
    }

    public func run(context: Context, stop: StopFlag) throws {
        let wait = try Waker()   // nothing rings it: it gives the loop an interruptible wait
        while !stop.isSet {
            do {
                if try tick() { continue }
            } catch {
                logger.error("timer round failed; will retry", metadata: ["loop": "\(name)", "error": "\(error)"])
            }
            _ = try Poller.poll([], fds: [wait.fd], timeout: intervalMs)
        }
    }
}
