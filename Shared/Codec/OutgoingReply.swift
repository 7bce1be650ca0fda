/// A reply on its way to a client: a message, or its fields already encoded by hand.
///
/// Building a swift-protobuf `Reply` allocates its storage, and the request loop only encodes it
/// again; intake answers every accepted submission with the bytes instead
/// (``WireWriter/acceptance(caseNumber:trackingToken:duplicate:linkedCaseNumber:)``). Either way the
/// `request_id` is written when the reply is sent, from the request it answers.
public enum OutgoingReply: Sendable {
    /// A reply message, boxed: `Reply` is a struct of its fields held inline (swift-protobuf's
    /// choice, by the size of its fields), and arrays of replies would otherwise copy it whole.
    indirect case message(Liaison_V1_Reply)
    /// A `Reply`'s fields after `request_id`, encoded in field-number order.
    case encoded([UInt8])
    /// A `batch_accepted` reply's fields, encoded (``WireWriter/batchAccepted(items:)``), with the
    /// first of its items' errors that is the caller's (``Liaison_V1_ErrorCode/isRefusal``), if
    /// any: the request loop counts the request as refused and names that error in the status.
    /// `counts`: how many of its items are accepted and how many refused, for the status's
    /// submission counts.
    case encodedBatch([UInt8], firstRefusal: Liaison_V1_Error?, counts: SubmissionCounts)

    /// Submissions answered with a case and refused with the caller's error: what the status counts
    /// one by one beside its requests.
    public struct SubmissionCounts: Sendable, Equatable {
        public var accepted: Int
        public var refused: Int
        public init(accepted: Int = 0, refused: Int = 0) {
            self.accepted = accepted
            self.refused = refused
        }
    }

    /// The caller's error this reply carries (a refusal), for the request counts: the reply's own
    /// error, or a batch's first refused item.
    public var refusal: Liaison_V1_Error? {
        switch self {
        case .message(let reply):
            if case .error(let error)? = reply.result, error.code.isRefusal { return error }
            return nil
        case .encoded: return nil
        case .encodedBatch(_, let first, _): return first
        }
    }

    /// How many of the `submissions` a request carried (``Framing/Incoming/submissions``) this
    /// reply accepts and refuses. An encoded reply is an accepted submission; a batch's counts its
    /// items; a message refusing the whole request refuses all of them; any other answer (a
    /// request shed as `unavailable`, an internal error) neither: the client sends them again.
    public func submissionCounts(of submissions: Int) -> SubmissionCounts {
        guard submissions > 0 else { return SubmissionCounts() }
        switch self {
        case .encoded: return SubmissionCounts(accepted: submissions)
        case .encodedBatch(_, _, let counts): return counts
        case .message(let reply):
            switch reply.result {
            case .feedbackAccepted?: return SubmissionCounts(accepted: submissions)
            case .batchAccepted(let batch)?:
                var counts = SubmissionCounts()
                for item in batch.items {
                    switch item.result {
                    case .feedbackAccepted?: counts.accepted += 1
                    case .error(let e)? where e.code.isRefusal: counts.refused += 1
                    default: break
                    }
                }
                return counts
            case .error(let e)? where e.code.isRefusal: return SubmissionCounts(refused: submissions)
            default: return SubmissionCounts()
            }
        }
    }

    /// The reply's bytes as sent, carrying `requestID`.
    public func bytes(requestID: String) -> [UInt8] {
        switch self {
        case .message(let reply):
            if reply.requestID == requestID { return Self.serialized(reply) }
            var withID = reply
            withID.requestID = requestID
            return Self.serialized(withID)
        case .encoded(let fields), .encodedBatch(let fields, _, _):
            return WireWriter.reply(requestID: requestID, fields: fields)
        }
    }

    /// The reply's fields without a `request_id`: the bytes of a `BatchItem` when the reply answers
    /// one submission (``WireWriter/batchAccepted(items:)``).
    public var itemBytes: [UInt8] {
        switch self {
        case .message(let reply):
            if reply.requestID.isEmpty { return Self.serialized(reply) }
            var withoutID = reply
            withoutID.requestID = ""
            return Self.serialized(withoutID)
        case .encoded(let fields), .encodedBatch(let fields, _, _):
            return fields
        }
    }

    /// The reply as a message (the encoded fields decoded), for callers in the same process that
    /// read it; an encoded reply that does not decode becomes an `internal` error.
    public func message(requestID: String = "") -> Liaison_V1_Reply {
        switch self {
        case .message(var reply):
            if !requestID.isEmpty { reply.requestID = requestID }
            return reply
        case .encoded, .encodedBatch:
            do {
                return try Liaison_V1_Reply(serializedBytes: bytes(requestID: requestID))
            } catch {
                return .failure(.internal("an encoded reply does not decode: \(error)"), requestID: requestID)
            }
        }
    }

    static func serialized(_ reply: Liaison_V1_Reply) -> [UInt8] {
        // Serializing a message we built ourselves cannot fail; an empty reply stands in if it does.
        (try? reply.serializedBytes()) ?? []
    }
}
