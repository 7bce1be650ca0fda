import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// The libzmq socket types Liaison uses.
public enum SocketType: Sendable {
    case pair, pub, sub, req, rep, dealer, router, pull, push

    var raw: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        }
    }
}

/// One libzmq socket, named by its role (`requests`, `events`, …).
///
/// A socket is **not** thread-safe: create, use and close it on one thread. The type is not
/// `Sendable` for that reason; code that hands a socket to its own thread does so once, before
/// any use, through ``SocketThread`` or an explicit box.
public final class Socket {
    /// The role of this socket in its service, used in error messages and logs.
    public let role: String
    public let type: SocketType
    private(set) var handle: UnsafeMutableRawPointer?
    /// A reusable receive message, so a receive allocates nothing until a frame is kept.
    private let scratch: UnsafeMutablePointer<zmq_msg_t>
    /// The message being received, inside a ``receive(dontWait:_:)`` body (its metadata).
    var scratchMessage: UnsafeMutablePointer<zmq_msg_t> { scratch }

    /// Creates a socket with Liaison's defaults: a bounded linger (default 200 ms) and explicit
    /// high-water marks (default 10,000 messages each way).
    public init(context: Context, type: SocketType, role: String,
                sendHighWaterMark: Int32 = 10_000, receiveHighWaterMark: Int32 = 10_000,
                linger: Int32 = 200) throws(ZMQError) {
        guard let h = zmq_socket(context.handle, type.raw) else {
            throw ZMQError.last("zmq_socket(\(role))")
        }
        self.role = role
        self.type = type
        self.handle = h
        self.scratch = .allocate(capacity: 1)
        try setOption(ZMQ_LINGER, linger)
        try setOption(ZMQ_SNDHWM, sendHighWaterMark)
        try setOption(ZMQ_RCVHWM, receiveHighWaterMark)
    }

    deinit {
        close()
        scratch.deallocate()
    }

    /// Closes the socket. Pending outgoing messages are kept at most for the linger period.
    public func close() {
        if let h = handle {
            zmq_close(h)
            handle = nil
        }
    }

    private func live(_ call: String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let h = handle else { throw ZMQError(errno: ENOTSOCK, call: "\(call) on closed socket \(role)") }
        return h
    }

    // MARK: Endpoints

    /// Binds to `endpoint` (`tcp://…`, `ipc://…`, `inproc://…`). An `ipc://` path another process
    /// serves is refused (`EADDRINUSE`), as a TCP port would be; libzmq itself would take it over.
    public func bind(_ endpoint: String) throws(ZMQError) {
        let h = try live("zmq_bind")
        if IPCEndpoint.inUse(endpoint) {
            throw ZMQError(errno: EADDRINUSE, call: "zmq_bind(\(role), \(endpoint)): another process accepts connections there;")
        }
        try retryingEINTR("zmq_bind(\(role), \(endpoint))") { zmq_bind(h, endpoint) }
    }

    /// Connects to `endpoint`; libzmq reconnects by itself with the configured backoff.
    public func connect(_ endpoint: String) throws(ZMQError) {
        let h = try live("zmq_connect")
        try retryingEINTR("zmq_connect(\(role), \(endpoint))") { zmq_connect(h, endpoint) }
    }

    /// The endpoint actually bound last (resolves `tcp://127.0.0.1:*` to the chosen port).
    public var lastEndpoint: String {
        get throws(ZMQError) {
            let h = try live("zmq_getsockopt")
            var buf = [CChar](repeating: 0, count: 1024)
            var len = buf.count
            try retryingEINTR("zmq_getsockopt(\(role), ZMQ_LAST_ENDPOINT)") { zmq_getsockopt(h, ZMQ_LAST_ENDPOINT, &buf, &len) }
            return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    // MARK: Options

    /// Sets an integer socket option.
    public func setOption(_ option: Int32, _ value: Int32) throws(ZMQError) {
        let h = try live("zmq_setsockopt")
        var v = value
        try retryingEINTR("zmq_setsockopt(\(role), \(option))") { zmq_setsockopt(h, option, &v, MemoryLayout<Int32>.size) }
    }

    /// Sets a 64-bit integer socket option (e.g. `ZMQ_MAXMSGSIZE`).
    public func setOption(_ option: Int32, int64 value: Int64) throws(ZMQError) {
        let h = try live("zmq_setsockopt")
        var v = value
        try retryingEINTR("zmq_setsockopt(\(role), \(option))") { zmq_setsockopt(h, option, &v, MemoryLayout<Int64>.size) }
    }

    /// Sets a binary socket option (e.g. `ZMQ_SUBSCRIBE`, `ZMQ_ROUTING_ID`).
    public func setOption(_ option: Int32, bytes: [UInt8]) throws(ZMQError) {
        let h = try live("zmq_setsockopt")
        let result: Result<Int32, ZMQError> = bytes.withUnsafeBytes { b in
            Result { () throws(ZMQError) in
                try retryingEINTR("zmq_setsockopt(\(role), \(option))") { zmq_setsockopt(h, option, b.baseAddress, b.count) }
            }
        }
        _ = try result.get()
    }

    /// Reads an integer socket option.
    public func intOption(_ option: Int32) throws(ZMQError) -> Int32 {
        let h = try live("zmq_getsockopt")
        var v: Int32 = 0
        var len = MemoryLayout<Int32>.size
        try retryingEINTR("zmq_getsockopt(\(role), \(option))") { zmq_getsockopt(h, option, &v, &len) }
        return v
    }

    /// `ZMQ_LINGER` in milliseconds (-1: forever, 0: drop at once).
    public func setLinger(_ ms: Int32) throws(ZMQError) { try setOption(ZMQ_LINGER, ms) }

    /// `ZMQ_ROUTER_MANDATORY`: a reply to a peer that is gone fails with `EHOSTUNREACH`
    /// instead of vanishing silently.
    public func setRouterMandatory(_ on: Bool = true) throws(ZMQError) { try setOption(ZMQ_ROUTER_MANDATORY, on ? 1 : 0) }

    /// `ZMQ_IMMEDIATE`: queue messages only to completed connections, so a client does not pile
    /// requests onto a peer that is not there.
    public func setImmediate(_ on: Bool = true) throws(ZMQError) { try setOption(ZMQ_IMMEDIATE, on ? 1 : 0) }

    /// ZMTP heartbeats (TCP): ping every `interval` ms, drop the connection after `timeout` ms of silence.
    public func setHeartbeat(interval: Int32, timeout: Int32, ttl: Int32? = nil) throws(ZMQError) {
        try setOption(ZMQ_HEARTBEAT_IVL, interval)
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, timeout)
        try setOption(ZMQ_HEARTBEAT_TTL, ttl ?? timeout)
    }

    /// Reconnect backoff: first retry after `interval` ms, doubling up to `max` ms.
    public func setReconnect(interval: Int32, max: Int32) throws(ZMQError) {
        try setOption(ZMQ_RECONNECT_IVL, interval)
        try setOption(ZMQ_RECONNECT_IVL_MAX, max)
    }

    /// `ZMQ_MAXMSGSIZE`: a peer sending a larger message is disconnected by libzmq.
    public func setMaxMessageSize(_ bytes: Int64) throws(ZMQError) { try setOption(ZMQ_MAXMSGSIZE, int64: bytes) }

    /// Subscribes a `sub` socket to topics starting with `prefix` ("" for everything).
    public func subscribe(_ prefix: String) throws(ZMQError) { try setOption(ZMQ_SUBSCRIBE, bytes: Array(prefix.utf8)) }

    /// Sets the routing id this socket presents to a ROUTER peer.
    public func setRoutingID(_ id: [UInt8]) throws(ZMQError) { try setOption(ZMQ_ROUTING_ID, bytes: id) }

    // MARK: Send

    /// Sends one frame. Returns `false` when `dontWait` is set and the message cannot be queued
    /// now (high-water mark reached, or no peer with `IMMEDIATE`).
    @discardableResult
    public func send(_ frame: UnsafeRawBufferPointer, more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let h = try live("zmq_send")
        let flags: Int32 = (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
        while true {
            let rc = zmq_send(h, frame.baseAddress, frame.count, flags)
            if rc >= 0 { return true }
            let err = zmq_errno()
            if err == EINTR { continue }
            if err == EAGAIN && dontWait { return false }
            throw ZMQError(errno: err, call: "zmq_send(\(role))")
        }
    }

    /// Sends one frame from bytes.
    @discardableResult
    public func send(_ frame: [UInt8], more: Bool = false, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let result: Result<Bool, ZMQError> = frame.withUnsafeBytes { b in
            Result { () throws(ZMQError) in try send(b, more: more, dontWait: dontWait) }
        }
        return try result.get()
    }

    /// Sends a multipart message atomically (all frames or none are delivered).
    ///
    /// With `dontWait`, returns `false` if the first frame cannot be queued; later frames of a
    /// multipart message are always accepted once the first one was.
    @discardableResult
    public func send(multipart frames: [[UInt8]], dontWait: Bool = false) throws(ZMQError) -> Bool {
        for (i, frame) in frames.enumerated() {
            let ok = try send(frame, more: i < frames.count - 1, dontWait: dontWait && i == 0)
            if !ok { return false }
        }
        return true
    }

    // MARK: Receive

    /// Receives one whole multipart message and hands each frame's bytes to `body` without copying
    /// them out of libzmq. Returns `false` if `dontWait` is set and nothing is waiting.
    ///
    /// The buffer passed to `body` is valid only during the call.
    public func receive(dontWait: Bool = false,
                        _ body: (_ index: Int, _ frame: UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        let h = try live("zmq_msg_recv")
        var index = 0
        while true {
            zmq_msg_init(scratch)
            defer { zmq_msg_close(scratch) }
            let flags: Int32 = (dontWait && index == 0) ? ZMQ_DONTWAIT : 0
            var rc: Int32
            repeat { rc = zmq_msg_recv(scratch, h, flags) } while rc < 0 && zmq_errno() == EINTR
            if rc < 0 {
                let err = zmq_errno()
                if err == EAGAIN && index == 0 && dontWait { return false }
                throw ZMQError(errno: err, call: "zmq_msg_recv(\(role))")
            }
            let buf = UnsafeRawBufferPointer(start: zmq_msg_data(scratch), count: zmq_msg_size(scratch))
            try body(index, buf)
            index += 1
            if zmq_msg_more(scratch) == 0 { return true }
        }
    }

    /// Receives one whole multipart message as byte arrays (one copy per frame).
    /// Returns `nil` if `dontWait` is set and nothing is waiting.
    public func receiveMultipart(dontWait: Bool = false) throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        let got = try receive(dontWait: dontWait) { _, buf in frames.append(Array(buf)) }
        return got ? frames : nil
    }

    // MARK: Poll

    /// Waits until this socket has a message to read, or `timeout` ms pass (-1: forever).
    public func waitReadable(timeout: Int32) throws(ZMQError) -> Bool {
        try Poller.poll([self], timeout: timeout)[0]
    }

    /// Waits until this socket has a message to read, or `nanoseconds` pass, to the microsecond:
    /// `zmq_poll` counts whole milliseconds, so a loop that must act within the next millisecond
    /// (a sender on a schedule) would otherwise spin. Waits on the socket's `ZMQ_FD`, which signals
    /// changes only, so `ZMQ_EVENTS` is checked before and after every wait.
    public func waitReadable(nanoseconds: UInt64) throws(ZMQError) -> Bool {
        let fd = try intOption(ZMQ_FD)
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        let deadline = UInt64(start.tv_sec) * 1_000_000_000 + UInt64(start.tv_nsec) + nanoseconds
        while true {
            if try intOption(ZMQ_EVENTS) & Int32(ZMQ_POLLIN) != 0 { return true }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let t = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
            if t >= deadline { return false }
            if liaison_poll_ns(fd, Int16(POLLIN), Int64(deadline - t)) < 0 && errno != EINTR { throw ZMQError(errno: errno, call: "ppoll") }
        }
    }
}

/// Socket option numbers for ``Socket/setOption(_:_:)`` without importing the C module.
public enum ZMQOption {
    public static let sendTimeout = ZMQ_SNDTIMEO
    public static let receiveTimeout = ZMQ_RCVTIMEO
    public static let sendHighWaterMark = ZMQ_SNDHWM
    public static let receiveHighWaterMark = ZMQ_RCVHWM
    public static let linger = ZMQ_LINGER
    public static let immediate = ZMQ_IMMEDIATE
    public static let routerMandatory = ZMQ_ROUTER_MANDATORY
    public static let heartbeatInterval = ZMQ_HEARTBEAT_IVL
    public static let heartbeatTimeout = ZMQ_HEARTBEAT_TIMEOUT
    public static let reconnectInterval = ZMQ_RECONNECT_IVL
    public static let reconnectIntervalMax = ZMQ_RECONNECT_IVL_MAX
    public static let maxMessageSize = ZMQ_MAXMSGSIZE
}
