import Dispatch
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Ends the process when its request thread has been silent for longer than a limit, so that a
/// process manager that restarts a process that exits, but not one that hangs, starts it again.
///
/// Docker Compose is such a manager: `restart:` acts when a container exits, and a failing
/// healthcheck only marks it unhealthy. systemd (`WatchdogSec=`) and `liaison up` (`--hang-seconds`)
/// watch the request thread themselves and need none of this.
///
/// The request thread calls ``beat(now:)`` on every turn of its loop (ten times a second when idle);
/// a thread of the watch's own looks at the last beat four times per limit. Ending the process is
/// what `kill -9` does: SQLite rolls back a transaction in flight, and nothing acknowledged is lost.
/// A process paused as a whole (SIGSTOP, a suspended machine) is not a hung request thread: when
/// the watch itself was held up for longer than half the limit, the request thread is given a whole
/// limit again.
public final class HangWatch: Sendable {
    /// The exit status of a process ended by the watch (`EX_SOFTWARE`).
    public static let exitStatus: Int32 = 70

    /// Seconds of silence the request thread is allowed.
    public let limit: Double
    /// The last beat, in `DispatchTime` nanoseconds (monotonic); 0 before the first.
    private let lastBeat = Atomic<UInt64>(0)
    private let stopped = DispatchSemaphore(value: 0)
    private let onHang: @Sendable (_ silentFor: Double) -> Void

    /// - Parameters:
    ///   - limit: seconds of silence allowed (more than zero).
    ///   - onHang: what to do once the limit has passed, after the watch has logged it; by default
    ///     the process exits with ``exitStatus``. Called at most once.
    public init(limit: Double, onHang: @escaping @Sendable (_ silentFor: Double) -> Void = HangWatch.exitProcess) {
        precondition(limit > 0, "a hang limit must be more than zero")
        self.limit = limit
        self.onHang = onHang
    }

    /// The request thread is alive now.
    public func beat(now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        lastBeat.store(now, ordering: .relaxed)
    }

    /// The seconds since the last beat when they are more than ``limit``; nil before the first beat
    /// and while the request thread keeps within it.
    public func silence(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Double? {
        let last = lastBeat.load(ordering: .relaxed)
        guard last != 0, now > last else { return nil }
        let seconds = Double(now - last) / 1e9
        return seconds > limit ? seconds : nil
    }

    /// How often the watch looks.
    var interval: Double { max(0.01, min(1, limit / 4)) }

    /// One look at `now`, the watch's previous look having been at `lastLook`: the silence when it
    /// is over the limit, else nil. When the watch itself was held up for longer than half the
    /// limit beyond its interval, the whole process was paused (not one thread of it): the request
    /// thread is given a whole limit again from now.
    func look(now: UInt64, lastLook: UInt64) -> Double? {
        if now > lastLook, Double(now - lastLook) / 1e9 > interval + limit / 2 {
            beat(now: now)
            return nil
        }
        return silence(now: now)
    }

    /// Counts from now and watches on a thread named `name` until ``stop()``.
    /// - Parameter what: names the silent thread in the log line (`intake-1's request thread`).
    public func start(name: String, what: String, logger: Logger) {
        beat()
        let thread = Thread { [self] in
            Threads.nameCurrent(name)
            var lastLook = DispatchTime.now().uptimeNanoseconds
            while stopped.wait(timeout: .now() + interval) == .timedOut {
                let now = DispatchTime.now().uptimeNanoseconds
                defer { lastLook = now }
                guard let silent = look(now: now, lastLook: lastLook) else { continue }
                logger.critical("\(what) has been silent for \(String(format: "%.1f", silent)) s, over the \(String(format: "%g", limit)) s allowed (--exit-if-hung-seconds): exiting with status \(Self.exitStatus) so that the process manager starts the service again; nothing acknowledged is lost")
                onHang(silent)
                return
            }
        }
        thread.name = name
        thread.start()
    }

    /// Stops watching (the request loop has ended: the service is stopping).
    public func stop() { stopped.signal() }

    /// Ends the process at once with ``exitStatus``, what it wrote to standard error flushed.
    @Sendable public static func exitProcess(_ silentFor: Double) {
        fflush(nil)
        _exit(exitStatus)
    }
}
