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

    public static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            let thread = Thread {
                nameCurrent(name)
                do { cont.resume(returning: try body()) } catch { cont.resume(throwing: error) }
            }
            thread.name = name
            thread.start()
        }
    }
}
