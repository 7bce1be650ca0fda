import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// An error returned by a libzmq call: the `errno` it reported and the call that failed.
public struct ZMQError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The `errno` value libzmq reported (`zmq_errno()`).
    public let errno: Int32
    /// The libzmq call that failed, e.g. `zmq_bind(tcp://127.0.0.1:7101)`.
    public let call: String

    public init(errno: Int32, call: String) {
        self.errno = errno
        self.call = call
    }

    /// Captures the current `zmq_errno()` for `call`.
    static func last(_ call: @autoclosure () -> String) -> ZMQError {
        ZMQError(errno: zmq_errno(), call: call())
    }

    /// The call would have blocked (`EAGAIN`): nothing to receive, or the high-water mark is reached.
    public var isWouldBlock: Bool { errno == EAGAIN }
    /// The call was interrupted by a signal (`EINTR`); retried by the wrapper itself.
    public var isInterrupted: Bool { errno == EINTR }
    /// The context was terminated (`ETERM`): the socket must be closed.
    public var isTerminated: Bool { errno == ETERM }
    /// `ROUTER_MANDATORY` refused a message for a peer that is gone (`EHOSTUNREACH`).
    public var isHostUnreachable: Bool { errno == EHOSTUNREACH }

    public var description: String {
        "\(call) failed: \(String(cString: zmq_strerror(errno))) (errno \(errno))"
    }
}

/// Runs a libzmq call that returns -1 on failure, retrying while it fails with `EINTR`.
@inline(__always)
@discardableResult
func retryingEINTR(_ call: @autoclosure () -> String, _ body: () -> Int32) throws(ZMQError) -> Int32 {
    while true {
        let rc = body()
        if rc >= 0 { return rc }
        let err = zmq_errno()
        if err == EINTR { continue }
        throw ZMQError(errno: err, call: call())
    }
}
