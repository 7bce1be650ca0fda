import Foundation
import Synchronization

/// A stop request shared between async code and the socket threads, which check it between polls.
public final class StopFlag: Sendable {
    private let flag = Atomic(false)
    public init() {}
    public var isSet: Bool { flag.load(ordering: .acquiring) }
    public func set() { flag.store(true, ordering: .releasing) }
}

/// The bridge from async code to blocking code: runs `body` on a dedicated thread, off Swift's
/// cooperative pool, and resumes the caller with its result.
public enum Threads {
    /// Names the calling thread as `top -H`, `ps -L` and `perf` show it (its first 15 bytes).
    /// (Through `/proc`, as `pthread_setname_np` does on Linux; Swift does not import that call.)
    static func nameCurrent(_ name: String) {
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Starts `body` on a dedicated thread now, and returns at once; await its result with
    /// ``RunningThread/value``. Unlike `async let x = Threads.run(...)`, whose child task starts
    /// only when Swift's cooperative pool (one thread a core) gets round to it, the thread is
    /// running when this returns, however busy the pool is: a test's service loop or stand-in is
    /// not left waiting behind other tests' tasks (seen: over 20 s with two cores busy).
    public static func start<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) -> RunningThread<T> {
        let running = RunningThread<T>()
        let thread = Thread {
            nameCurrent(name)
            running.finish(Result { try body() })
        }
        thread.name = name
        thread.start()
        return running
    }

    /// Runs `body` on a dedicated thread and resumes the caller with its result.
    public static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await start(name: name, body).value
    }
}

/// A thread started by ``Threads/start(name:_:)``, and what it returned or threw once it ends.
public final class RunningThread<T: Sendable>: Sendable {
    private enum State {
        case running(waiting: [CheckedContinuation<T, Error>])
        case finished(Result<T, Error>)
    }
    private let state = Mutex<State>(.running(waiting: []))

    init() {}

    /// Whether the thread has ended.
    public var isFinished: Bool {
        state.withLock { if case .finished = $0 { true } else { false } }
    }

    /// What the thread's body returned (or throws what it threw), once it ends.
    public var value: T {
        get async throws {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
                let result: Result<T, Error>? = state.withLock { s in
                    switch s {
                    case .finished(let r): return r
                    case .running(var waiting):
                        waiting.append(cont)
                        s = .running(waiting: waiting)
                        return nil
                    }
                }
                if let result { cont.resume(with: result) }
            }
        }
    }

    func finish(_ result: Result<T, Error>) {
        let waiting = state.withLock { s -> [CheckedContinuation<T, Error>] in
            guard case .running(let waiting) = s else { return [] }
            s = .finished(result)
            return waiting
        }
        for cont in waiting { cont.resume(with: result) }
    }
}
