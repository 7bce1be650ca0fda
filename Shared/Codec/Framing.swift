import SwiftProtobuf

/// Topic names of the event streams (the first frame of every published event).
public enum Topic {
    public static let feedbackReceived = "feedback.received"
    public static let caseOpened = "case.opened"
    public static let followupDue = "schedule.followup_due"
    /// Intake gave an operator a case's contact data (who, why; never the contact).
    public static let contactDisclosed = "contact.disclosed"
    /// Intake erased a case's contact data under its retention.
    public static let contactErased = "contact.erased"
    /// The scheduler confirmed, waitlisted, promoted or cancelled an open-week registration.
    public static let registration = "schedule.registration"
    /// The scheduler paired an officer with a household for a year (the liaison programme).
    public static let liaisonPaired = "liaison.paired"
    /// A liaison visit was recorded with its outcome.
    public static let liaisonVisited = "liaison.visited"
    /// Reporting saw similar complaints surge (``Liaison_V1_OpinionAlert``).
    public static let opinionAlert = "opinion.alert"
    /// Sent by an idle publisher every second; its `seq` is the stream head, it is never stored.
    public static let heartbeat = "heartbeat"
}

/// The protocol version this build speaks (`Request.version`; 0 is read as 1).
public let protocolVersion: UInt32 = 1

/// Largest request body a service accepts (bytes); a larger one is answered `invalid_argument`.
public let maxRequestBytes = 256 * 1024

/// Most submissions one `SubmitBatch` carries; a request with more is answered `invalid_argument`
/// (field `submit_batch.submissions`). It is also bounded by ``maxRequestBytes``.
public let maxBatchSubmissions = 100

/// Largest message a service's requests socket reads at all (`ZMQ_MAXMSGSIZE`); a peer sending more
/// is disconnected by libzmq, so memory stays bounded whatever a client sends.
public let maxSocketMessageBytes = 4 * 1024 * 1024

/// Framing of DESIGN §3: requests `[envelope…][empty][Request]`, replies `[envelope…][empty][Reply]`,
/// events `[topic][Event]`.
public enum Framing {
    /// A request as it arrived on a ROUTER: the routing envelope to send the reply back on, and the
    /// decoded request or the error to answer with.
    public struct Incoming: Sendable {
        public var envelope: [[UInt8]]
        public var request: Result<Liaison_V1_Request, WireError>
        /// True when the request is a submission read in the plain shape (``WireReader``): its body
        /// is `submit_feedback`, so a loop routing it need not look into the body, which copies it.
        public var isPlainSubmission = false
        /// How much of a batch the request takes: the submissions of a `submit_batch` (at least 1),
        /// 1 for any other. The request loop bounds a batch, its shedding and what it keeps by this,
        /// so that requests carrying many submissions each still make transactions of a bounded size.
        public var weight = 1
        /// The submissions the request carries: 1 for `submit_feedback`, a `submit_batch`'s count,
        /// 0 for any other request and for one that could not be read. The status counts them one
        /// by one (``OutgoingReply/submissionCounts(of:)``); a request refused whole (``refuse(_:)``)
        /// refuses them all.
        public var submissions = 0
        /// The id of a request that was read whole and then refused (``refuse(_:)``).
        var refusedRequestID = ""
        /// The name the client's CURVE key has in the service's allow-list, when that key is let in
        /// as an operator (set by the request loop); nil otherwise, and always over plain ZMTP. Such
        /// a key stands in for an operator secret.
        public var operatorKey: String?
        /// The request id if it could be read, so an error reply still carries it.
        public var requestID: String {
            if case .success(let r) = request { return r.requestID }
            return refusedRequestID
        }

        /// Answers a request read whole with `error` instead (a client not allowed to make it):
        /// the reply still carries its id.
        public mutating func refuse(_ error: WireError) {
            refusedRequestID = requestID
            request = .failure(error)
            isPlainSubmission = false
            weight = 1
        }
    }

    /// Splits frames received on a ROUTER into envelope and body and decodes the body.
    ///
    /// The envelope is every frame up to and including the first empty frame. A message without
    /// the empty delimiter, with more than one body frame, or with a body that is not a valid
    /// `Request` gets an error result naming what is wrong; it never throws.
    public static func parseRequest(frames: [[UInt8]]) -> Incoming {
        guard let delimiter = frames.firstIndex(where: { $0.isEmpty }), delimiter > 0 else {
            // No delimiter: answer on the routing id (first frame) with a proper envelope.
            let env: [[UInt8]] = frames.isEmpty ? [] : [frames[0], []]
            return Incoming(envelope: env, request: .failure(.invalidArgument(
                "frames", "expected [empty frame][Request]: the empty delimiter frame is missing")))
        }
        let envelope = Array(frames[...delimiter])
        let body = frames[(delimiter + 1)...]
        guard body.count == 1, let bytes = body.first else {
            return Incoming(envelope: envelope, request: .failure(.invalidArgument(
                "frames", "expected exactly one Request frame after the empty delimiter, got \(body.count)")))
        }
        let (request, plain) = decode(bytes)
        var incoming = Incoming(envelope: envelope, request: request, isPlainSubmission: plain)
        if plain {
            incoming.submissions = 1
        } else if case .success(let r) = request {
            switch r.body {
            case .submitBatch(let batch)?:
                incoming.weight = max(1, batch.submissions.count)
                incoming.submissions = batch.submissions.count
            case .submitFeedback?: incoming.submissions = 1
            default: break
            }
        }
        return incoming
    }

    /// Decodes and checks one `Request` body.
    public static func decodeRequest(_ bytes: [UInt8]) -> Result<Liaison_V1_Request, WireError> {
        decode(bytes).request
    }

    /// ``decodeRequest(_:)``, and whether the request is a submission read in the plain shape.
    static func decode(_ bytes: [UInt8]) -> (request: Result<Liaison_V1_Request, WireError>, plainSubmission: Bool) {
        if bytes.count > maxRequestBytes {
            return (.failure(.invalidArgument("request", "request is \(bytes.count) bytes; the limit is \(maxRequestBytes)")), false)
        }
        // A submission in the plain shape is read by hand (``WireReader``); everything else, and
        // every malformed input, by swift-protobuf.
        if let request = WireReader.submission(bytes) {
            if request.version > protocolVersion { return (.failure(unsupported(request.version)), false) }
            return (.success(request), true)
        }
        let request: Liaison_V1_Request
        do {
            request = try Liaison_V1_Request(serializedBytes: bytes)
        } catch {
            if case BinaryDecodingError.invalidUTF8? = error as? BinaryDecodingError, let field = UTF8Check.invalidField(inRequest: bytes) {
                return (.failure(.invalidArgument(field, "\(field) is not valid UTF-8")), false)
            }
            return (.failure(.invalidArgument("request", "not a valid liaison.v1.Request: \(describe(error))")), false)
        }
        if request.version > protocolVersion { return (.failure(unsupported(request.version)), false) }
        if request.body == nil {
            return (.failure(.invalidArgument("body", "the request has no body (or one this service version does not know)")), false)
        }
        return (.success(request), false)
    }

    static func unsupported(_ version: UInt32) -> WireError {
        .invalidArgument("version", "protocol version \(version) is not supported; this service speaks version \(protocolVersion)")
    }

    /// The frames of a request as a DEALER sends them: `[empty][Request]`.
    public static func requestFrames(_ request: Liaison_V1_Request) throws -> [[UInt8]] {
        let bytes: [UInt8] = try request.serializedBytes()
        return [[], bytes]
    }

    /// The frames of a reply: the envelope it came with, then the `Reply`.
    public static func replyFrames(envelope: [[UInt8]], reply: Liaison_V1_Reply) -> [[UInt8]] {
        envelope + [OutgoingReply.serialized(reply)]
    }

    /// The frames of a reply to the request `requestID` came with: the envelope, then the `Reply`.
    public static func replyFrames(envelope: [[UInt8]], requestID: String, reply: OutgoingReply) -> [[UInt8]] {
        envelope + [reply.bytes(requestID: requestID)]
    }

    /// Decodes a reply body (the last frame after the empty delimiter).
    public static func decodeReply(frames: [[UInt8]]) throws(WireError) -> Liaison_V1_Reply {
        guard let last = frames.last, frames.count >= 2, frames[frames.count - 2].isEmpty else {
            throw .invalidArgument("frames", "expected [empty frame][Reply]")
        }
        do { return try Liaison_V1_Reply(serializedBytes: last) } catch {
            throw .invalidArgument("reply", "not a valid liaison.v1.Reply: \(describe(error))")
        }
    }

    /// The frames of a published event: `[topic][Event]`.
    public static func eventFrames(_ event: Liaison_V1_Event) throws -> [[UInt8]] {
        let bytes: [UInt8] = try event.serializedBytes()
        return [Array(event.topic.utf8), bytes]
    }

    /// Decodes a published event and checks that the topic frame matches the event's topic.
    public static func decodeEvent(frames: [[UInt8]]) throws(WireError) -> Liaison_V1_Event {
        guard frames.count == 2 else {
            throw .invalidArgument("frames", "expected [topic][Event], got \(frames.count) frames")
        }
        let event: Liaison_V1_Event
        do { event = try Liaison_V1_Event(serializedBytes: frames[1]) } catch {
            throw .invalidArgument("event", "not a valid liaison.v1.Event: \(describe(error))")
        }
        guard String(decoding: frames[0], as: UTF8.self) == event.topic else {
            throw .invalidArgument("topic", "topic frame does not match the event's topic \(event.topic)")
        }
        return event
    }

    static func describe(_ error: Error) -> String {
        switch error as? BinaryDecodingError {
        case .truncated?: "the message is truncated"
        case .invalidUTF8?: "a string field is not valid UTF-8"
        case .malformedProtobuf?: "the bytes are not a protobuf message"
        case .missingRequiredFields?: "required fields are missing"
        case .messageDepthLimit?: "the message is nested too deeply"
        default: "\(error)"
        }
    }
}
