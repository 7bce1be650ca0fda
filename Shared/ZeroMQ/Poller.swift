import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// Waits on several sockets owned by the calling thread.
public enum Poller {
    /// Polls `sockets` for input for at most `timeout` ms (-1: forever; 0: just look).
    /// Returns one flag per socket, `true` where a message is waiting. A signal (`EINTR`)
    /// returns early with every flag `false` rather than restarting the full timeout.
    public static func poll(_ sockets: [Socket], timeout: Int32) throws(ZMQError) -> [Bool] {
        var items = [zmq_pollitem_t]()
        items.reserveCapacity(sockets.count)
        for s in sockets {
            items.append(zmq_pollitem_t(socket: s.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
        }
        let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), Int(timeout)) }
        if rc < 0 {
            let err = zmq_errno()
            if err == EINTR { return Array(repeating: false, count: sockets.count) }
            throw ZMQError(errno: err, call: "zmq_poll")
        }
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }
}
