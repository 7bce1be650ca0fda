import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// Waits on several sockets owned by the calling thread, and optionally on plain file descriptors
/// (a ``Waker``), so other threads can wake a socket loop without touching its sockets.
public enum Poller {
    /// Polls `sockets` (and `fds`) for input for at most `timeout` ms (-1: forever; 0: just look).
    /// Returns one flag per socket followed by one per fd, `true` where input is waiting. A signal
    /// (`EINTR`) returns early with every flag `false`.
    public static func poll(_ sockets: [Socket], fds: [Int32] = [], timeout: Int32) throws(ZMQError) -> [Bool] {
        var items = [zmq_pollitem_t]()
        items.reserveCapacity(sockets.count + fds.count)
        for s in sockets {
            items.append(zmq_pollitem_t(socket: s.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
        }
        for fd in fds {
            items.append(zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0))
        }
        let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), Int(timeout)) }
        if rc < 0 {
            let err = zmq_errno()
            if err == EINTR { return Array(repeating: false, count: items.count) }
            throw ZMQError(errno: err, call: "zmq_poll")
        }
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }
}

/// A thread-safe doorbell (Linux `eventfd`): any thread may `ring()`; the loop that owns the
/// sockets polls ``fd`` beside them and calls `drain()` when it is readable.
public final class Waker: @unchecked Sendable {
    public let fd: Int32

    public init() throws(ZMQError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        if fd < 0 { throw ZMQError(errno: errno, call: "eventfd") }
        self.fd = fd
    }

    deinit { Glibc.close(fd) }

    /// Wakes the loop. Never blocks; rings that pile up are merged.
    public func ring() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(fd, $0.baseAddress, 8) }
    }

    /// Clears pending rings.
    public func drain() {
        var v: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &v) { Glibc.read(fd, $0.baseAddress, 8) }
    }
}
