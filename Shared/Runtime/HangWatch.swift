import Dispatch
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// When one of a service's threads last went round its loop. The thread beats on every turn (every
/// loop turns at least every 200 ms when idle); ``HangWatch`` and the watchdog pings to
/// systemd or `liaison up` read it. A loop that has ended is not silent.
public final class Pulse: Sendable {
    /// The thread as the log names it (`intake-1's request thread`, `handler-1's consumer of intake-1`).
    public let what: String
    /// The last beat in `DispatchTime` nanoseconds (monotonic); 0 before the first, `.max` once ended.
    private let last = Atomic<UInt64>(0)

    public init(what: String) { self.what = what }

    /// The thread is alive now.
    public func beat(now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        last.store(now, ordering: .relaxed)
    }

    /// The thread's loop has ended (the service is stopping): its silence is not a hang.
    public func end() { last.store(.max, ordering: .relaxed) }

    /// Seconds from the last beat, or from `since` if that is later, to `now`; nil while neither
    /// is known and once the loop has ended.
    public func silence(now: UInt64 = DispatchTime.now().uptimeNanoseconds, since: UInt64 = 0) -> Double? {
        let beat = last.load(ordering: .relaxed)
        guard beat != .max else { return nil }
        let from = max(beat, since)
        guard from != 0 else { return nil }
        return now > from ? Double(now - from) / 1e9 : 0
    }

    /// Of `pulses`, the one silent the longest when that is more than `limit` seconds, counting from
    /// `since` at the earliest; nil when all keep within it.
    public static func stalest(_ pulses: [Pulse], over limit: Double, now: UInt64 = DispatchTime.now().uptimeNanoseconds,
                               since: UInt64 = 0) -> (pulse: Pulse, silence: Double)? {
        var worst: (pulse: Pulse, silence: Double)?
        for pulse in pulses {
            guard let silent = pulse.silence(now: now, since: since), silent > limit, silent > worst?.silence ?? 0 else { continue }
            worst = (pulse, silent)
        }
        return worst
    }
}

/// Ends the process when one of its threads has been silent for longer than a limit, so that a
/// process manager that restarts a process that exits, but not one that hangs, starts it again.
///
/// Docker Compose is such a manager: `restart:` acts when a container exits, and a failing
/// healthcheck only marks it unhealthy. systemd (`WatchdogSec=`) and `liaison up` (`--hang-seconds`)
/// get the service's watchdog pings instead, which stop when one of its threads is silent.
///
/// Every loop of the service (its request thread, its consumers, its timers) beats its ``Pulse`` on
/// every turn; a thread of the watch's own looks at them four times per limit. A consumer stuck on
/// a lock stops the stream it applies as surely as a stuck request thread stops the answers. Ending
/// the process is what `kill -9` does: SQLite rolls back a transaction in flight, and nothing
/// acknowledged is lost. A process paused as a whole (SIGSTOP, a suspended machine) is not a hung
/// thread: when the watch itself was held up for longer than half the limit, every thread is given
/// a whole limit again.
public final class HangWatch: Sendable {
    /// The exit status of a process ended by the watch (`EX_SOFTWARE`).
    public static let exitStatus: Int32 = 70

    /// Seconds of silence each thread is allowed.
    public let limit: Double
    /// The threads watched.
    public let pulses: [Pulse]
    /// Silences count from here at the earliest: the watch's start, or the end of a pause.
    private let countFrom = Atomic<UInt64>(0)
    private let stopped = DispatchSemaphore(value: 0)
    private let onHang: @Sendable (_ pulse: Pulse, _ silentFor: Double) -> Void

    /// - Parameters:
    ///   - limit: seconds of silence allowed (more than zero).
    ///   - pulses: the threads watched.
    ///   - onHang: what to do once a thread has been silent past the limit, after the watch has
    ///     logged it; by default the process exits with ``exitStatus``. Called at most once.
    public init(limit: Double, pulses: [Pulse],
                onHang: @escaping @Sendable (_ pulse: Pulse, _ silentFor: Double) -> Void = { _, _ in HangWatch.exitProcess() }) {
        precondition(limit > 0, "a hang limit must be more than zero")
        self.limit = limit
        self.pulses = pulses
        self.onHang = onHang
    }

    /// The thread silent the longest past the limit at `now`; nil while all keep within it.
    func overdue(now: UInt64) -> (pulse: Pulse, silence: Double)? {
        Pulse.stalest(pulses, over: limit, now: now, since: countFrom.load(ordering: .relaxed))
    }

    /// How often the watch looks.
    var interval: Double { max(0.01, min(1, limit / 4)) }

    /// One look at `now`, the watch's previous look having been at `lastLook`. When the watch itself
    /// was held up for longer than half the limit beyond its interval, the whole process was paused
    /// (not one thread of it): every thread is given a whole limit again from now.
    func look(now: UInt64, lastLook: UInt64) -> (pulse: Pulse, silence: Double)? {
        if now > lastLook, Double(now - lastLook) / 1e9 > interval + limit / 2 {
            countFrom.store(now, ordering: .relaxed)
            return nil
        }
        return overdue(now: now)
    }

    /// Counts from `now` and watches on a thread named `name` until ``stop()``.
    public func start(name: String, logger: Logger, now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        countFrom.store(now, ordering: .relaxed)
        let thread = Thread { [self] in
            Threads.nameCurrent(name)
            var lastLook = DispatchTime.now().uptimeNanoseconds
            while stopped.wait(timeout: .now() + interval) == .timedOut {
                let now = DispatchTime.now().uptimeNanoseconds
                defer { lastLook = now }
                guard let (pulse, silent) = look(now: now, lastLook: lastLook) else { continue }
                logger.critical("\(pulse.what) has been silent for \(String(format: "%.1f", silent)) s, over the \(String(format: "%g", limit)) s allowed (--exit-if-hung-seconds): exiting with status \(Self.exitStatus) so that the process manager starts the service again; nothing acknowledged is lost")
                onHang(pulse, silent)
                return
            }
        }
        thread.name = name
        thread.start()
    }

    /// Stops watching (the service is stopping).
    public func stop() { stopped.signal() }

    /// Ends the process at once with ``exitStatus``, what it wrote to standard error flushed.
    public static func exitProcess() {
        fflush(nil)
        _exit(exitStatus)
    }
}
