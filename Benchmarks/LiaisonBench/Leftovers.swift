import Dispatch
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import Foundation
import LiaisonRuntime
import Synchronization

/// What a benchmark has started and written, so that nothing of it outlives the benchmark.
///
/// A benchmark runs for minutes and writes gigabytes into its temporary directory; an engineer
/// stops it with Ctrl-C, a CI job or `timeout` with SIGTERM, a closed terminal with SIGHUP. On
/// any of these the benchmark stops the processes it started (SIGTERM, SIGKILL after 10 s, or at
/// once on a second signal), removes its temporary directories, says so on standard error and
/// exits with 128 + the signal's number. Killed outright (`kill -9`), it cannot clean up: the
/// intakes it started stop by themselves within a second, since they are started as `liaison up`
/// starts its services, with the benchmark as their supervisor (``Supervision``); the temporary
/// directory stays.
enum Leftovers {
    private struct State {
        var children: [pid_t: String] = [:]
        var directories: [String] = []
        var interruptions = 0
    }
    private static let state = Mutex(State())

    /// Starts `process` with this benchmark as its supervisor and keeps it to be stopped on an
    /// interruption, until ``stopped(_:)``.
    static func run(_ process: Process, name: String) throws {
        process.environment = ProcessInfo.processInfo.environment
            .merging([Supervision.supervisorVariable: "\(getpid())"]) { _, mine in mine }
        try process.run()
        let pid = process.processIdentifier
        state.withLock { $0.children[pid] = name }
    }

    /// `process` is stopped: an interruption no longer signals its pid (which may be reused).
    static func stopped(_ process: Process) {
        let pid = process.processIdentifier
        _ = state.withLock { $0.children.removeValue(forKey: pid) }
    }

    /// Makes `path`, a temporary directory that an interruption removes, until ``removed(_:)``.
    static func directory(_ path: String) throws {
        // Counted before it is made: an interruption that has begun removes it too (it reads the
        // list again once its children have stopped). Once one has begun, nothing new is made: the
        // benchmark's thread waits here for the exit.
        let interrupted = state.withLock { s in
            if s.interruptions == 0 { s.directories.append(path) }
            return s.interruptions > 0
        }
        while interrupted { sleep(60) }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Removes `path`, made by ``directory(_:)``.
    static func removed(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
        state.withLock { $0.directories.removeAll { $0 == path } }
    }

    /// From here on SIGINT, SIGTERM and SIGHUP stop what was started and remove what was made
    /// before the benchmark exits. Called once, at start. Standard output is line-buffered from
    /// here on, so that a run written to a file (`make bench > bench.log`) shows each figure as it
    /// comes and an interrupted one keeps every line it printed.
    static func cleanUpOnInterruption() {
        setvbuf(stdout, nil, _IOLBF, 0)
        // The intakes it starts then start with the three at their defaults (StopSignals).
        handling = StopSignals.take([SIGINT, SIGTERM, SIGHUP]) { interrupted(by: $0) }
    }

    /// The signal sources, kept for the life of the process (set once, at start, never read).
    nonisolated(unsafe) private static var handling: [DispatchSourceSignal] = []

    private static func interrupted(by sig: Int32) -> Never {
        let (children, directories, again) = state.withLock { s in
            s.interruptions += 1
            return (s.children, s.directories, s.interruptions > 1)
        }
        let name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP"
        if again {
            // A second Ctrl-C while the first waits for an intake: no more waiting.
            FileHandle.standardError.write(Data("liaison-bench: interrupted again (\(name)); killing what is left\n".utf8))
            for pid in children.keys { kill(pid, SIGKILL) }
            for dir in directories { try? FileManager.default.removeItem(atPath: dir) }
            _exit(128 + sig)
        }
        var said = "liaison-bench: interrupted (\(name))"
        if !children.isEmpty {
            said += "; stopping " + children.sorted { $0.key < $1.key }.map { "\($0.value) (pid \($0.key))" }.joined(separator: ", ")
        }
        if !directories.isEmpty { said += "; removing " + directories.joined(separator: ", ") }
        FileHandle.standardError.write(Data((said + "\n").utf8))
        for pid in children.keys { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        while children.keys.contains(where: running), Date() < deadline { usleep(20_000) }
        for pid in children.keys where running(pid) {
            FileHandle.standardError.write(Data("liaison-bench: \(children[pid]!) (pid \(pid)) did not stop in 10 s; killing it\n".utf8))
            kill(pid, SIGKILL)
        }
        // Only once nothing writes into them any more; read again, since the benchmark's own thread
        // goes on meanwhile and may have made one more (the next phase's) since the first look.
        for dir in Set(directories + state.withLock { $0.directories }) { try? FileManager.default.removeItem(atPath: dir) }
        _exit(128 + sig)
    }

    /// Whether `pid` still runs: it exists and is not a zombie waiting to be reaped.
    private static func running(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return !stat[close...].hasPrefix(") Z")
    }
}
