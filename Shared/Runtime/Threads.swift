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
    public static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, Error>) in
            let thread = Thread {
                do { cont.resume(returning: try body()) } catch { cont.resume(throwing: error) }
            }
            thread.name = name
            thread.start()
        }
    }
}
