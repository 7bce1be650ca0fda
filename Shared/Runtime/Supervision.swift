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
