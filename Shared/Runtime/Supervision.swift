import Dispatch
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A service started by `liaison up` lives and dies with it.
///
/// `up` gives each child its own pid in ``supervisorVariable``. A child then stops gracefully when
/// `up` is gone, however it went (`kill -9`, an out-of-memory kill), instead of running on
/// unsupervised and holding the set's ports and databases. A closed terminal hangs up `up` alone
/// (each child is in a process group of its own), and `up` stops the set in order; a service
/// that does not reload on SIGHUP ignores it while supervised.
public enum Supervision {
    /// The environment variable `liaison up` sets for its children: its own pid.
    public static let supervisorVariable = "LIAISON_SUPERVISOR_PID"

    /// The supervisor's pid, when this process was started by `liaison up`.
    public static var supervisor: pid_t? {
        ProcessInfo.processInfo.environment[supervisorVariable].flatMap { pid_t($0) }
    }

    /// Checks twice a second that the supervisor is still this process's parent; once it is not
    /// (the process was handed to init), logs it and sends this process SIGTERM, which stops it
    /// gracefully. Nothing when the process has no supervisor. The timer runs for the life of the
    /// process.
    public static func stopWithSupervisor(logger: Logger) {
        guard let supervisor else { return }
        // Named as it runs (a benchmark and the tests supervise their services too); `up` by default.
        let comm = (try? String(contentsOfFile: "/proc/\(supervisor)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        let name = comm.map { $0 == "liaison" ? "liaison up" : $0 } ?? "liaison up"
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now(), repeating: .milliseconds(500))
        timer.setEventHandler {
            guard getppid() != supervisor else { return }
            logger.warning("\(name) (pid \(supervisor)) is gone: stopping")
            timer.cancel()
            kill(getpid(), SIGTERM)
        }
        timer.resume()
        watch = timer
    }

    /// The running check, kept for the life of the process (set once, at start, never read).
    nonisolated(unsafe) private static var watch: DispatchSourceTimer?
}

/// Stop signals taken by a process that starts children (`liaison up`, the benchmark).
public enum StopSignals {
    /// Delivers `signals` to `handler` through libdispatch sources (the caller keeps them for as
    /// long as it takes the signals) instead of their default action, and returns once none of
    /// them is ignored any more (at most 2 s).
    ///
    /// A signal source needs the signal set to SIG_IGN first; libdispatch then puts its own
    /// handler in its place, on a thread of its own, a moment after `resume`. A handler ends at
    /// exec, an ignored signal is inherited: a child started in that moment would start with the
    /// signals ignored, and a stop sent to it before it set up its own would be lost.
    public static func take(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) -> [DispatchSourceSignal] {
        let sources = signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { handler(sig) }
            source.resume()
            return source
        }
        let deadline = SuspendingClock.now + .seconds(2)
        while signals.contains(where: isIgnored) && SuspendingClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.001)
        }
        return sources
    }

    /// Whether `sig` is ignored (SIG_IGN) in this process now.
    public static func isIgnored(_ sig: Int32) -> Bool {
        var current = sigaction()
        guard sigaction(sig, nil, &current) == 0 else { return false }
        // SIG_IGN is the handler 1.
        return unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == 1
    }
}
