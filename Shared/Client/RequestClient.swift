import Foundation
import LiaisonCodec
import ZeroMQ

/// The error a client gets when a service does not answer.
public struct ClientError: Error, CustomStringConvertible, Sendable {
    public var endpoint: String
    public var attempts: Int
    public var timeoutMs: Int32
    /// The service serves over CURVE: a key it does not allow gets no answer either.
    public var overCurve = false
    public var description: String {
        "no reply from \(endpoint) after \(attempts) attempt(s) of \(timeoutMs) ms: is the service running? (liaison up)"
            + (overCurve ? "; it serves over CURVE: is your key in its --curve-clients file?" : "")
    }
}

/// A blocking request client that follows Lazy Pirate (zguide ch. 4): poll with a timeout, and
/// on timeout close the socket, open a new one and resend the same request (same request id, same
/// `submission_id`), up to `attempts` times.
///
/// Use one client from one thread at a time. From async code, go through ``Threads/run(name:_:)``.
public final class RequestClient {
    public let endpoint: String
    /// The service's CURVE public key when it serves over CURVE (the topology's
    /// `curve_public_key`): the client then connects with the context's key pair.
    public let serverKey: String?
    public var timeoutMs: Int32
    public var attempts: Int
    /// Called at least every ``waitSliceMs`` while a call waits, to send or for its reply: a
    /// service's thread beats its pulse here, so that a wait for an upstream that does not answer
    /// is not taken for a hang (a watchdog shorter than the timeout withheld its pings).
    public var whileWaiting: (() -> Void)?
    /// How long a call waits at most between two calls of ``whileWaiting``, in milliseconds.
    public static let waitSliceMs: Int32 = 100
    private let context: Context
    private var socket: Socket?

    public init(context: Context, endpoint: String, serverKey: String? = nil, timeoutMs: Int32 = 3_000, attempts: Int = 3) {
        self.context = context
        self.endpoint = endpoint
        self.serverKey = serverKey
        self.timeoutMs = timeoutMs
        self.attempts = max(1, attempts)
    }

    deinit { socket?.close() }

    func connected() throws -> Socket {
        if let s = socket { return s }
        let s = try Socket(context: context, type: .dealer, role: "requests-client", linger: 0)
        try s.secure(context: context, serverKey: serverKey, endpoint: endpoint)
        try s.setImmediate()
        try s.setOption(ZMQOption.sendTimeout, timeoutMs)
        try s.setReconnect(interval: 100, max: 2_000)
        if endpoint.hasPrefix("tcp://") { try s.setHeartbeat(interval: 2_000, timeout: 10_000) }
        try s.connect(endpoint)
        socket = s
        return s
    }

    /// Drops the current connection (the next call opens a new one).
    public func reset() {
        socket?.close()
        socket = nil
    }

    /// Sends `request` and waits for its reply. A missing request id is filled in.
    ///
    /// A request larger than any service takes (``maxRequestBytes``) is not sent: it throws an
    /// `invalid_argument` ``WireError`` on field `request` at once. Sent, it would be answered the
    /// same, or, past the services' socket limit, dropped with the connection and end in a timeout.
    public func call(_ request: Liaison_V1_Request) throws -> Liaison_V1_Reply {
        var request = request
        if request.requestID.isEmpty { request.requestID = UUID().uuidString.lowercased() }
        if request.version == 0 { request.version = protocolVersion }
        let frames = try Framing.requestFrames(request)
        if let body = frames.last, body.count > maxRequestBytes {
            throw WireError.invalidArgument("request", "the request is \(body.count) bytes; services take at most \(maxRequestBytes): not sent")
        }
        for _ in 0..<attempts {
            if let reply = try attempt(frames: frames, requestID: request.requestID) { return reply }
            reset()
        }
        throw ClientError(endpoint: endpoint, attempts: attempts, timeoutMs: timeoutMs, overCurve: serverKey != nil)
    }

    /// One Lazy Pirate attempt: send, then wait up to the timeout for the matching reply.
    private func attempt(frames: [[UInt8]], requestID: String) throws -> Liaison_V1_Reply? {
        let s = try connected()
        // Monotonic: with the wall clock stepped back, an attempt waited for as long as the step.
        let deadline = SuspendingClock.now + .milliseconds(timeoutMs)
        /// What is left of the timeout, in slices of ``waitSliceMs`` when someone waits with us.
        func slice() -> Int32 {
            let left = Int32(max(0, (deadline - .now) / .milliseconds(1)))
            return whileWaiting == nil ? left : min(left, Self.waitSliceMs)
        }
        // IMMEDIATE: with no connection yet the send blocks; SNDTIMEO bounds that wait.
        while true {
            let wait = slice()
            if wait <= 0 { return nil }
            if whileWaiting != nil { try s.setOption(ZMQOption.sendTimeout, wait) }
            do {
                if try s.send(multipart: frames) { break }
                return nil
            } catch {
                guard error.isWouldBlock else { throw error }
                guard let whileWaiting else { return nil }
                whileWaiting()
            }
        }
        while true {
            let wait = slice()
            if wait <= 0 { return nil }
            if try !s.waitReadable(timeout: wait) {
                whileWaiting?()
                continue
            }
            guard let frames = try s.receiveMultipart(dontWait: true) else { continue }
            guard let decoded = try? Framing.decodeReply(frames: frames) else { continue }
            if decoded.requestID == requestID { return decoded }
            // A late reply to an earlier attempt: keep waiting for ours.
        }
    }

    /// Sends a request body and returns the reply, turning an `Error` reply into a thrown ``WireError``.
    public func call(_ body: Liaison_V1_Request.OneOf_Body) throws -> Liaison_V1_Reply {
        var r = Liaison_V1_Request()
        r.body = body
        let reply = try call(r)
        if case .error(let e)? = reply.result { throw WireError(e) }
        return reply
    }
}

extension RequestClient {
    /// Submits one piece of feedback. Lost replies are retried by Lazy Pirate with the same
    /// `submission_id`; an `unavailable` answer (intake overloaded) is retried after the hinted
    /// delay, up to `overloadRetries` times. Any other error is thrown as a ``WireError``.
    public func submit(_ feedback: Liaison_V1_SubmitFeedback, overloadRetries: Int = 20) throws -> Liaison_V1_FeedbackAccepted {
        var attempt = 0
        while true {
            var r = Liaison_V1_Request()
            r.submitFeedback = feedback
            let reply = try call(r)
            switch reply.result {
            case .feedbackAccepted(let a)?:
                return a
            case .error(let e)? where e.code == .unavailable && attempt < overloadRetries:
                attempt += 1
                Thread.sleep(forTimeInterval: Double(max(10, e.retryAfterMs)) / 1000)   // the service's own hint
            case .error(let e)?:
                throw WireError(e)
            default:
                throw WireError.internal("unexpected answer to SubmitFeedback")
            }
        }
    }
}

/// A service serves over CURVE (the topology gives its public key) and this process has no key
/// pair to connect with.
public struct CurveKeyMissing: Error, CustomStringConvertible, Sendable {
    public let endpoint: String
    public var description: String {
        "\(endpoint) serves over CURVE (the topology gives its curve_public_key): connect with a key pair of your own, "
            + "--curve-key-file FILE or $LIAISON_CURVE_KEY_FILE (make one with liaison keygen), whose public key the service's --curve-clients file allows"
    }
}

extension Socket {
    /// Makes this client socket a CURVE client of `serverKey` with the context's key pair, when the
    /// service has a key; does nothing for a service without one. Before connect.
    public func secure(context: Context, serverKey: String?, endpoint: String) throws {
        guard let serverKey else { return }
        guard let keys = context.curve else { throw CurveKeyMissing(endpoint: endpoint) }
        try setCurveClient(serverKey: serverKey, keys: keys)
    }
}
