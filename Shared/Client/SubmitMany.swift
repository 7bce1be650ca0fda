import Foundation
import LiaisonCodec
import ZeroMQ

extension RequestClient {
    /// The outcome of one submission of ``submitMany(_:inFlight:perRequest:overloadRetries:onResult:)``.
    public typealias SubmitOutcome = Result<Liaison_V1_FeedbackAccepted, WireError>

    /// Submits every item of `feedback`, keeping up to `inFlight` of them on the wire at once, so a
    /// batch shares intake's group commits instead of paying one commit per line.
    ///
    /// Each submission keeps its request id and `submission_id` across retries. Lazy Pirate over
    /// the window: when the oldest unanswered request has waited `timeoutMs`, the connection is
    /// replaced and every unanswered request is sent again, the same bytes (intake gives back the
    /// stored acknowledgement of any that had arrived, marked duplicate). An `unavailable` answer
    /// (intake overloaded) is sent again after the hinted delay, up to `overloadRetries` times.
    ///
    /// `onResult` is called once per item, with its index, as its answer arrives (not in order).
    /// - Throws: ``ClientError`` when a request stays unanswered through `attempts` connections;
    ///   the items not yet reported then have an unknown fate (submitting them again is safe).
    public func submitMany(_ feedback: [Liaison_V1_SubmitFeedback], inFlight: Int = 32, perRequest: Int = 1, overloadRetries: Int = 20,
                           onResult: (Int, SubmitOutcome) -> Void) throws {
        var k = 0
        try submitMany(next: { () -> Liaison_V1_SubmitFeedback? in
            guard k < feedback.count else { return nil }
            defer { k += 1 }
            return feedback[k]
        }, inFlight: inFlight, perRequest: perRequest, overloadRetries: overloadRetries, onResult: onResult)
    }

    /// ``submitMany(_:inFlight:perRequest:overloadRetries:onResult:)`` for submissions taken one at a time
    /// from `pull` (nil: no more), as the window has room: a file of any size is read as it goes,
    /// never held whole. Indices count the submissions `pull` gave, from 0.
    ///
    /// With `perRequest` over 1, up to that many submissions go in one `submit_batch` request (and
    /// no more than ``maxRequestBytes`` allow), `inFlight` requests at a time: a desk's file then
    /// crosses the network in a fiftieth of the round trips. Each submission still has its own
    /// answer. An intake too old to know `submit_batch` answers it `invalid_argument` on `body`:
    /// its submissions, and every one after, are then sent one to a request.
    /// - Throws: what `pull` throws, or ``ClientError`` as above.
    public func submitMany(next pull: () throws -> Liaison_V1_SubmitFeedback?, inFlight: Int = 32, perRequest: Int = 1, overloadRetries: Int = 20,
                           onResult: (Int, SubmitOutcome) -> Void) throws {
        let window = max(1, inFlight)
        var perRequest = min(max(1, perRequest), maxBatchSubmissions)
        var carried: Liaison_V1_SubmitFeedback?     // pulled, but over the last request's bytes: the next one's first
        var next = 0
        var exhausted = false                       // `pull` has given its last
        var waiting: [String: Pending] = [:]        // sent, unanswered, by request id
        var delayed: [Pending] = []                 // answered unavailable, to send again at `resendAt`
        var oldest: Date? { waiting.values.map(\.sentAt).min() }

        // Set when a send found no connection: the rest of the window is not sent on this socket
        // (each send would wait SNDTIMEO again), and the round ends as a timeout at once.
        var down = false
        func send(_ p: inout Pending, on socket: Socket) throws {
            p.sentAt = Date()
            guard !down else { return }
            do {
                // IMMEDIATE: with no connection yet the send waits up to SNDTIMEO.
                down = try !socket.send(multipart: p.frames)
            } catch {
                guard error.isWouldBlock else { throw error }
                down = true
            }
        }

        var socket = try connected()
        while !exhausted || !waiting.isEmpty || !delayed.isEmpty {
            // Keep the window full: overload retries that are due first, then new items.
            let now = Date()
            while waiting.count < window, let k = delayed.firstIndex(where: { $0.resendAt <= now }) {
                var p = delayed.remove(at: k)
                try send(&p, on: socket)
                waiting[p.requestID] = p
            }
            while waiting.count + delayed.count < window && (!exhausted || carried != nil) {
                var batch: [Liaison_V1_SubmitFeedback] = []
                var bytes = 0
                while batch.count < perRequest {
                    guard let feedback = try carried ?? pull() else { exhausted = true; break }
                    carried = nil
                    let size = perRequest == 1 ? 0 : try (feedback.serializedBytes() as [UInt8]).count + 4
                    if !batch.isEmpty && bytes + size > Pending.batchBytes {
                        carried = feedback
                        break
                    }
                    batch.append(feedback)
                    bytes += size
                }
                if batch.isEmpty { break }
                var p = try Pending(index: next, feedback: batch, asBatch: perRequest > 1)
                next += batch.count
                try send(&p, on: socket)
                waiting[p.requestID] = p
            }

            if exhausted && waiting.isEmpty && delayed.isEmpty { break }   // the last was answered before `pull` said so

            // Wait for an answer until the oldest request times out or a delayed one is due.
            var until = oldest.map { $0.addingTimeInterval(Double(timeoutMs) / 1000) } ?? .distantFuture
            if let due = delayed.map(\.resendAt).min() { until = min(until, due) }
            let left = Int32(max(0, min(Double(timeoutMs), until.timeIntervalSinceNow * 1000)).rounded(.up))
            if !down, try socket.waitReadable(timeout: left) {
                while let frames = try socket.receiveMultipart(dontWait: true) {
                    guard let reply = try? Framing.decodeReply(frames: frames),
                          var p = waiting.removeValue(forKey: reply.requestID) else { continue }   // late reply to a retried request
                    switch reply.result {
                    case .feedbackAccepted(let a)? where !p.asBatch:
                        onResult(p.index, .success(a))
                    case .batchAccepted(let b)? where p.asBatch && b.items.count == p.feedback.count:
                        for (j, item) in b.items.enumerated() {
                            switch item.result {
                            case .feedbackAccepted(let a)?: onResult(p.index + j, .success(a))
                            case .error(let e)?: onResult(p.index + j, .failure(Self.asSubmitted(WireError(e), item: j)))
                            case nil: onResult(p.index + j, .failure(.internal("an empty answer to a submission of submit_batch")))
                            }
                        }
                    case .error(let e)? where p.asBatch && e.code == .invalidArgument && e.field == "body":
                        // An intake that does not know submit_batch: these, and all after, one to a request.
                        perRequest = 1
                        for (j, feedback) in p.feedback.enumerated() {
                            var single = try Pending(index: p.index + j, feedback: [feedback], asBatch: false)
                            single.resendAt = Date()
                            delayed.append(single)
                        }
                    case .error(let e)? where e.code == .unavailable && p.overloads < overloadRetries:
                        p.overloads += 1
                        p.resendAt = Date().addingTimeInterval(Double(max(10, e.retryAfterMs)) / 1000)   // the service's own hint
                        delayed.append(p)
                    case .error(let e)?:
                        for j in p.feedback.indices { onResult(p.index + j, .failure(WireError(e))) }
                    default:
                        let what = p.asBatch ? "submit_batch" : "submit_feedback"
                        for j in p.feedback.indices { onResult(p.index + j, .failure(.internal("unexpected answer to \(what)"))) }
                    }
                }
            }

            // The oldest request timed out (or could not be sent): a new connection, and everything
            // unanswered again.
            if let first = oldest, down || Date().timeIntervalSince(first) * 1000 >= Double(timeoutMs) {
                let tries = (waiting.values.map(\.tries).max() ?? 0) + 1
                if tries >= attempts { throw ClientError(endpoint: endpoint, attempts: attempts, timeoutMs: timeoutMs, overCurve: serverKey != nil) }
                reset()
                socket = try connected()
                down = false
                for id in waiting.keys.sorted(by: { waiting[$0]!.index < waiting[$1]!.index }) {
                    var p = waiting[id]!
                    p.tries += 1
                    try send(&p, on: socket)
                    waiting[id] = p
                }
            }
        }
    }

    /// An error for item `item` of a batch as it would have come for the submission sent alone:
    /// `submit_batch.submissions[3].text` is `submit_feedback.text`. The caller asked about one
    /// submission, not about the request it travelled in.
    static func asSubmitted(_ error: WireError, item: Int) -> WireError {
        let place = "submit_batch.submissions[\(item)]"
        guard error.field.hasPrefix(place) else { return error }
        var e = error
        e.field = "submit_feedback" + error.field.dropFirst(place.count)
        return e
    }

    /// One request of a window: a submission, or several in a `submit_batch`, and its encoded
    /// request (the same bytes on every retry).
    private struct Pending {
        /// The first submission's index; a batch's others follow it.
        let index: Int
        /// Its submissions: kept to send them one to a request, should intake not know batches.
        let feedback: [Liaison_V1_SubmitFeedback]
        let asBatch: Bool
        let requestID: String
        let frames: [[UInt8]]
        /// Most bytes of submissions put in one batch: under ``maxRequestBytes``, with room for the
        /// request's own fields.
        static let batchBytes = maxRequestBytes - 1_024
        var sentAt = Date()
        var resendAt = Date()
        /// Connections it was sent on before the current one.
        var tries = 0
        var overloads = 0

        init(index: Int, feedback: [Liaison_V1_SubmitFeedback], asBatch: Bool) throws {
            var r = Liaison_V1_Request()
            r.requestID = UUID().uuidString.lowercased()
            r.version = protocolVersion
            if asBatch { r.submitBatch.submissions = feedback } else { r.submitFeedback = feedback[0] }
            self.index = index
            self.feedback = feedback
            self.asBatch = asBatch
            requestID = r.requestID
            frames = try Framing.requestFrames(r)
        }
    }
}
