import Foundation
import LiaisonCodec
import ZeroMQ

extension RequestClient {
    /// The outcome of one submission of ``submitMany(_:inFlight:perRequest:overloadRetries:onResult:)``.
    public typealias SubmitOutcome = Result<Liaison_V1_FeedbackAccepted, WireError>

    /// Submits every item of `feedback`, keeping up to `inFlight` of them on the wire at once, so a
    /// batch shares intake's group commits instead of paying one commit per line.
    ///
    /// Each submission keeps its `submission_id` across retries, so whatever is sent again never
    /// makes a second case (intake gives back the stored acknowledgement, marked duplicate).
    /// Lazy Pirate over the window, with two ways a request is taken for lost:
    /// - **intake went quiet**: nothing at all answered for `timeoutMs`, counted from the later of
    ///   the request's send and the last answer. The connection is replaced and every unanswered
    ///   request is sent again. While answers keep coming, requests queued behind each other on a
    ///   slow link are crossing it, not lost: a window of long letters over a thin line is not
    ///   taken for a dead service, and not sent again and again;
    /// - **passed over**: a request sent after it on the same connection was answered (so its own
    ///   bytes arrived before), and it has waited `timeoutMs` since its send. It alone is sent
    ///   again, the same bytes, on the same connection, which answers.
    /// An `unavailable` answer (intake overloaded) is sent again after the hinted delay, up to
    /// `overloadRetries` times.
    ///
    /// `onResult` is called once per item, with its index, as its answer arrives (not in order).
    /// - Throws: ``ClientError`` when a request has been sent `attempts` times without an answer
    ///   (after silences, or passed over); the items not yet reported then have an unknown fate
    ///   (submitting them again is safe).
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
    /// its submissions, and every one after, are then sent one to a request. When intake goes quiet
    /// (above), the unanswered batches are sent again halved, and later batches carry half as many
    /// submissions, growing back by one with every answered batch: a batch too big to cross the
    /// link within `timeoutMs` gets smaller instead of being sent whole until the attempts run out.
    /// - Throws: what `pull` throws, or ``ClientError`` as above.
    public func submitMany(next pull: () throws -> Liaison_V1_SubmitFeedback?, inFlight: Int = 32, perRequest: Int = 1, overloadRetries: Int = 20,
                           onResult: (Int, SubmitOutcome) -> Void) throws {
        var window = try SubmitWindow(client: self, requests: inFlight, perRequest: perRequest, overloadRetries: overloadRetries)
        while true {
            try window.fill(pull)
            if window.isDone { return }
            try window.receive(until: window.nextDeadline(), onResult)
            try window.resendUnanswered()
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
    var sentAt = SuspendingClock.now
    var resendAt = SuspendingClock.now
    /// Times it was sent before, for want of an answer.
    var tries = 0
    var overloads = 0
    /// Which send of the client it is (see `submitMany`'s passed-over requests).
    var sendNumber = 0

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

    /// A batch of more than one as two requests of half each (new request ids; the same
    /// submissions, so the same cases); anything else unchanged.
    func halved() throws -> [Pending] {
        guard asBatch && feedback.count > 1 else { return [self] }
        let half = feedback.count / 2
        return [try Pending(index: index, feedback: Array(feedback[..<half]), asBatch: half > 1),
                try Pending(index: index + half, feedback: Array(feedback[half...]), asBatch: feedback.count - half > 1)]
    }
}

/// The state of one ``RequestClient/submitMany(next:inFlight:perRequest:overloadRetries:onResult:)``:
/// the requests on the wire, those waiting out an `unavailable`, and what tells a slow intake from
/// a gone one (the last answer, which send was answered last on this connection).
private struct SubmitWindow {
    let client: RequestClient
    /// Most requests on the wire (or waiting out an overload) at once.
    let requests: Int
    let overloadRetries: Int
    /// Submissions a request carries at most: the caller's; 1 once intake is found not to know batches.
    var largest: Int
    /// Submissions the next request carries at most: halved after a silence, back up by one an answer.
    var perRequest: Int
    /// When the last reply came (any reply: intake, and the link, alive); the window's start before
    /// the first, which is earlier than any send. Every time here is on the monotonic clock: with
    /// the wall clock stepped back, a lost request waited for as long as the step.
    var lastAnswer = SuspendingClock.now
    /// Requests sent, numbering each send.
    var sends = 0
    /// The latest send answered on the current connection (-1: none).
    var answeredSend = -1
    /// Pulled, but over the last request's bytes: the next one's first.
    var carried: Liaison_V1_SubmitFeedback?
    /// The index the next submission pulled gets.
    var next = 0
    /// `pull` has given its last.
    var exhausted = false
    /// Sent, unanswered, by request id.
    var waiting: [String: Pending] = [:]
    /// Answered `unavailable`, to send again at their `resendAt`.
    var delayed: [Pending] = []
    /// A send found no connection: the rest of the window is not sent on this socket (each send
    /// would wait SNDTIMEO again), and the round ends as a silence at once.
    var down = false
    var socket: Socket
    var timeout: TimeInterval { Double(client.timeoutMs) / 1000 }

    init(client: RequestClient, requests: Int, perRequest: Int, overloadRetries: Int) throws {
        self.client = client
        self.requests = max(1, requests)
        self.overloadRetries = overloadRetries
        largest = min(max(1, perRequest), maxBatchSubmissions)
        self.perRequest = largest
        socket = try client.connected()
    }

    /// Every submission pulled and answered.
    var isDone: Bool { exhausted && carried == nil && waiting.isEmpty && delayed.isEmpty }

    var oldestSend: SuspendingClock.Instant? { waiting.values.map(\.sentAt).min() }

    mutating func send(_ p: inout Pending) throws {
        p.sentAt = .now
        p.sendNumber = sends
        sends += 1
        waiting[p.requestID] = p
        guard !down else { return }
        do {
            // IMMEDIATE: with no connection yet the send waits up to SNDTIMEO.
            down = try !socket.send(multipart: p.frames)
        } catch {
            guard error.isWouldBlock else { throw error }
            down = true
        }
    }

    /// Keeps the window full: overload retries that are due first, then new requests of up to
    /// `perRequest` submissions (and ``Pending/batchBytes``) pulled from `pull`.
    mutating func fill(_ pull: () throws -> Liaison_V1_SubmitFeedback?) throws {
        let now = SuspendingClock.now
        while waiting.count < requests, let k = delayed.firstIndex(where: { $0.resendAt <= now }) {
            var p = delayed.remove(at: k)
            try send(&p)
        }
        while waiting.count + delayed.count < requests && (!exhausted || carried != nil) {
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
            try send(&p)
        }
    }

    /// When to stop waiting for answers: intake silent for the timeout, a passed-over request's
    /// timeout, or a delayed request due.
    func nextDeadline() -> SuspendingClock.Instant {
        // With nothing on the wire, a timeout from now: `receive` waits no longer than that anyway.
        var until = max(oldestSend ?? .now, lastAnswer) + .seconds(timeout)
        if let passed = waiting.values.filter({ $0.sendNumber < answeredSend }).map(\.sentAt).min() {
            until = min(until, passed + .seconds(timeout))
        }
        if let due = delayed.map(\.resendAt).min() { until = min(until, due) }
        return until
    }

    /// Waits for replies until `deadline` and takes every one that came: each submission's
    /// outcome to `onResult`, an `unavailable` one into `delayed`.
    mutating func receive(until deadline: SuspendingClock.Instant, _ onResult: (Int, RequestClient.SubmitOutcome) -> Void) throws {
        let left = Int32(max(0, min(timeout * 1000, (deadline - .now) / .milliseconds(1))).rounded(.up))
        guard !down, try socket.waitReadable(timeout: left) else { return }
        while let frames = try socket.receiveMultipart(dontWait: true) {
            lastAnswer = .now
            guard let reply = try? Framing.decodeReply(frames: frames),
                  var p = waiting.removeValue(forKey: reply.requestID) else { continue }   // late reply to a retried request
            answeredSend = max(answeredSend, p.sendNumber)
            switch reply.result {
            case .feedbackAccepted(let a)? where !p.asBatch:
                onResult(p.index, .success(a))
            case .batchAccepted(let b)? where p.asBatch && b.items.count == p.feedback.count:
                perRequest = min(largest, perRequest + 1)
                for (j, item) in b.items.enumerated() {
                    switch item.result {
                    case .feedbackAccepted(let a)?: onResult(p.index + j, .success(a))
                    case .error(let e)?: onResult(p.index + j, .failure(RequestClient.asSubmitted(WireError(e), item: j)))
                    case nil: onResult(p.index + j, .failure(.internal("an empty answer to a submission of submit_batch")))
                    }
                }
            case .error(let e)? where p.asBatch && e.code == .invalidArgument && e.field == "body":
                // An intake that does not know submit_batch: these, and all after, one to a request.
                largest = 1
                perRequest = 1
                for (j, feedback) in p.feedback.enumerated() {
                    var single = try Pending(index: p.index + j, feedback: [feedback], asBatch: false)
                    single.resendAt = .now
                    delayed.append(single)
                }
            case .error(let e)? where e.code == .unavailable && p.overloads < overloadRetries:
                p.overloads += 1
                p.resendAt = .now + .milliseconds(max(10, e.retryAfterMs))   // the service's own hint
                delayed.append(p)
            case .error(let e)?:
                for j in p.feedback.indices { onResult(p.index + j, .failure(WireError(e))) }
            default:
                let what = p.asBatch ? "submit_batch" : "submit_feedback"
                for j in p.feedback.indices { onResult(p.index + j, .failure(.internal("unexpected answer to \(what)"))) }
            }
        }
    }

    /// Intake silent for the timeout (or a request could not be sent): a new connection, and
    /// everything unanswered again, batches halved. Else each passed-over request that has waited
    /// the timeout, alone, on this connection.
    /// - Throws: ``ClientError`` when a request would go for the `attempts`th time.
    mutating func resendUnanswered() throws {
        let now = SuspendingClock.now
        let gaveUp = ClientError(endpoint: client.endpoint, attempts: client.attempts, timeoutMs: client.timeoutMs, overCurve: client.serverKey != nil)
        if let first = oldestSend, down || now - max(first, lastAnswer) >= .seconds(timeout) {
            if (waiting.values.map(\.tries).max() ?? 0) + 1 >= client.attempts { throw gaveUp }
            client.reset()
            socket = try client.connected()
            down = false
            answeredSend = -1
            perRequest = max(1, perRequest / 2)
            let unanswered = waiting.values.sorted { $0.index < $1.index }
            waiting.removeAll()
            for p in unanswered {
                for var part in try p.halved() {
                    part.tries = p.tries + 1
                    part.overloads = p.overloads
                    try send(&part)
                }
            }
            return
        }
        // Passed over: answered around, so lost on the way or in a crash.
        for var p in waiting.values.filter({ $0.sendNumber < answeredSend && now - $0.sentAt >= .seconds(timeout) }).sorted(by: { $0.index < $1.index }) {
            p.tries += 1
            if p.tries >= client.attempts { throw gaveUp }
            try send(&p)
        }
    }
}
