import CZeroMQ
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A libzmq context. Thread-safe; create one per process (or per test) and share it.
///
/// Terminating the context (`terminate()` or `deinit`) waits until every socket made from it is
/// closed, so close sockets first; sockets here always have a bounded linger.
public final class Context: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let terminated = Mutex(false)
    /// This process's CURVE key pair, with which its client sockets connect to CURVE servers (and a
    /// service's servers serve); nil when it has none.
    public let curve: CurveKeyPair?

    /// Creates a context with `ioThreads` background I/O threads, and the process's CURVE key
    /// pair when it has one.
    public init(ioThreads: Int32 = 1, curve: CurveKeyPair? = nil) throws(ZMQError) {
        guard let h = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        handle = h
        self.curve = curve
        if zmq_ctx_set(h, ZMQ_IO_THREADS, ioThreads) != 0 { throw ZMQError.last("zmq_ctx_set(ZMQ_IO_THREADS)") }
        // Never block process exit on a forgotten socket for more than the socket's own linger.
        _ = zmq_ctx_set(h, ZMQ_BLOCKY, 0)
    }

    /// Shuts the context down: blocking calls on its sockets return `ETERM`, then waits for the
    /// sockets to be closed. Idempotent.
    public func terminate() {
        let shouldTerm: Bool = terminated.withLock { done in
            if done { return false }
            done = true
            return true
        }
        guard shouldTerm else { return }
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }

    deinit { terminate() }

    /// The libzmq version linked at run time, e.g. `(4, 3, 4)`.
    public static var libraryVersion: (major: Int32, minor: Int32, patch: Int32) {
        var a: Int32 = 0, b: Int32 = 0, c: Int32 = 0
        zmq_version(&a, &b, &c)
        return (a, b, c)
    }

    /// Whether libzmq was built with CURVE security.
    public static var hasCurve: Bool { zmq_has("curve") == 1 }
}
