import CZeroMQ
import Foundation
import Synchronization
import LiaisonCodec
import Logging
import ZeroMQ

/// What a service does with the requests that reach it.
public protocol RequestHandling: Sendable {
    /// Handles every request that arrived together (so a service can commit them in one
    /// transaction), on the request thread. Returns exactly one reply per request, in order.
    /// `Replay` and `GetStatus` are answered by the runtime and never reach here.
    func handle(_ requests: [Liaison_V1_Request]) -> [Liaison_V1_Reply]

    /// ``handle(_:)``'s replies as the request loop sends them: a service may answer some with
    /// their fields already encoded (``OutgoingReply/encoded(_:)``), which spares building a message
    /// only to encode it. The request loop calls this; by default it wraps ``handle(_:)``.
    func answer(_ requests: [Liaison_V1_Request]) -> [OutgoingReply]

    /// ``answer(_:)`` for requests some of which came over CURVE with a key let in as an operator:
    /// `operatorKeys[i]` is the allow-list name of request `i`'s key when it is (nil otherwise).
    /// Such a key stands in for an operator secret. By default the keys are not looked at.
    func answer(_ requests: [Liaison_V1_Request], operatorKeys: [String?]) -> [OutgoingReply]

    /// True for a service that commits the requests of a batch in one transaction (intake's group
    /// commit): the request loop then gathers a steady load's requests into one batch
    /// (``BatchGathering``). False by default: a service that commits each request on its own
    /// would only make them wait.
    var commitsBatchesTogether: Bool { get }
}

extension RequestHandling {
    public func answer(_ requests: [Liaison_V1_Request]) -> [OutgoingReply] {
        handle(requests).map { .message($0) }
    }

    public func answer(_ requests: [Liaison_V1_Request], operatorKeys: [String?]) -> [OutgoingReply] {
        answer(requests)
    }

    public var commitsBatchesTogether: Bool { false }

    /// Request `i`'s operator key in `operatorKeys` (nil past its end: callers without keys pass []).
    public func operatorKey(_ operatorKeys: [String?], _ i: Int) -> String? { i < operatorKeys.count ? operatorKeys[i] : nil }

    /// Convenience for handlers that take requests one at a time.
    public func each(_ requests: [Liaison_V1_Request], _ one: (Liaison_V1_Request) throws -> Liaison_V1_Reply) -> [Liaison_V1_Reply] {
        each(requests, operatorKeys: []) { req, _ in try one(req) }
    }

    /// ``each(_:_:)`` giving each request's operator key too (``answer(_:operatorKeys:)``).
    public func each(_ requests: [Liaison_V1_Request], operatorKeys: [String?],
                     _ one: (Liaison_V1_Request, String?) throws -> Liaison_V1_Reply) -> [Liaison_V1_Reply] {
        requests.indices.map { i in
            let req = requests[i]
            do {
                var reply = try one(req, operatorKey(operatorKeys, i))
                reply.requestID = req.requestID
                return reply
            } catch let e as WireError {
                return .failure(e, requestID: req.requestID)
            } catch {
                return .failure(.internal("\(error)"), requestID: req.requestID)
            }
        }
    }
}

/// Tunables of the request loop.
public struct RequestLoopOptions: Sendable {
    /// Most requests read and handled together (one group commit), counted by their weight
    /// (``Framing/Incoming/weight``: a `submit_batch` weighs its submissions), as are shedding's
    /// shares and what the stand-in keeps.
    public var maxBatch = 512
    /// Requests waiting beyond one batch that are answered `unavailable` at once (bounded queue):
    /// a client learns to come back later instead of timing out. 0 disables shedding.
    ///
    /// Shedding is fair between callers (connections): a request read past a full batch from a
    /// caller that has had less than its share of the batch (`maxBatch` over the callers in it) is
    /// kept for the next batch instead, up to `maxBatch` of them; only the callers sending more than
    /// their share are told to come back. So a web front that floods intake does not turn a hotline
    /// desk with a few requests in flight away.
    public var maxShed = 4_096
    /// How long (ms) the request thread may be held up in work that can wait for the disk (a
    /// commit, publishing what was committed) before another thread reads its requests socket
    /// meanwhile (``StallGuard``): up to one batch kept for when it is back (for
    /// ``standInKeepsMs`` at most), the rest answered
    /// `unavailable` at once, so that a stalled disk neither leaves clients waiting on a silent
    /// socket nor lets what they send pile up in memory. 0: never.
    public var standInAfterMs = 200
    /// How long (ms) the stand-in keeps a request for the request thread's return before it answers
    /// it `unavailable` too: under a client's timeout (3 s in Liaison's clients and examples), so
    /// that a long stall gets every client a retry hint, not silence and a new connection.
    public var standInKeepsMs = 1_000
    /// Under load, how long (µs) a batch may wait for the clients the last batch answered, so that
    /// they share its group commit (``BatchGathering``); 0: never. A lone request never waits, and
    /// a service that does not commit a batch together (``RequestHandling/commitsBatchesTogether``)
    /// never waits at all.
    public var gatherMicroseconds = 200
    /// Heartbeat on the events socket when nothing was published for this long (ms).
    public var heartbeatMs = 1_000
    /// Default and largest number of events in one replay batch.
    public var replayDefault = 500
    public var replayMax = 5_000
    /// Under systemd (`Type=notify`, `WatchdogSec=`): told when the loop serves, when it stops, and
    /// that the service's threads are alive. Nothing elsewhere.
    public var systemd: SystemdNotifier = .fromEnvironment
    /// Seconds any of the service's threads may go without a turn before the process exits
    /// (``HangWatch``, started by ``ServiceHost``), for a process manager that restarts what exits
    /// but not what hangs; 0: never.
    public var exitIfHungSeconds: Double = 0
    public init() {}
}

/// Counters of a request loop, read by `GetStatus`.
public final class LoopStats: Sendable {
    public let served = Atomic<UInt64>(0)
    public let shed = Atomic<UInt64>(0)
    /// Answered and refused over the last minute, and the latest refusal.
    public let answers = RequestCounts()
    /// Batches that waited to gather the clients the last one answered (``BatchGathering``).
    public let gatherWaits = Atomic<UInt64>(0)
    /// Of them, the waits that ran their whole time without gathering what they expected.
    public let gatherWaitsRunOut = Atomic<UInt64>(0)
    public init() {}
}

/// Who has had how much of a full batch, so that shedding turns away only the callers that send
/// more than their share (``RequestLoopOptions/maxShed``). A caller is a connection, known by the
/// routing id ROUTER puts first in each request's envelope; what it has had is counted by weight
/// (``Framing/Incoming/weight``), so a desk sending batches of 50 has its share in a few requests.
struct ShedShares {
    /// Weight of the requests in the batch and kept for the next, by caller.
    private(set) var byCaller: [[UInt8]: Int] = [:]
    let batchSize: Int

    init(batchSize: Int) { self.batchSize = batchSize }

    /// Callers seen so far.
    var callers: Int { byCaller.count }

    mutating func count(_ envelope: [[UInt8]], weight: Int = 1) {
        byCaller[envelope.first ?? [], default: 0] += weight
    }

    mutating func count(_ incoming: Framing.Incoming) { count(incoming.envelope, weight: incoming.weight) }

    /// The summed weight of `requests` (``Framing/Incoming/weight``).
    static func weight(_ requests: [Framing.Incoming]) -> Int {
        var total = 0
        for r in requests { total += r.weight }
        return total
    }

    /// True when the caller has had less weight than an equal share of a batch among the callers in
    /// it (a caller not in it counts as one more): such a request is kept, not shed.
    func isUnderShare(_ envelope: [[UInt8]]) -> Bool {
        let key = envelope.first ?? []
        let mine = byCaller[key] ?? 0
        let callers = byCaller.count + (mine == 0 ? 1 : 0)
        return mine < max(1, batchSize / callers)
    }
}

/// The thread that owns a service's two bound sockets: `requests` (ROUTER) and `events` (PUB).
///
/// It answers every request (a malformed one with an `Error`), publishes events from the log after
/// they are committed, and sends a heartbeat with the head sequence when idle.
public final class RequestLoop: ThreadLoop {
    public let name: String
    public let pulse: Pulse
    /// The service's other threads: the watchdog pings stop while one of them is silent.
    let others: [Pulse]
    /// A silent thread holding the pings back, said at most once every ten seconds.
    let withheld = Mutex(SampledLog(interval: 10))
    /// Counters for `GetStatus`.
    public let stats: LoopStats
    let config: ServiceConfig
    let log: EventLog
    let handler: RequestHandling
    let status: @Sendable () -> Liaison_V1_ServiceStatus
    let options: RequestLoopOptions
    let logger: Logger
    /// Malformed requests, logged without letting a client that sends nothing else fill the log.
    let badRequests = Mutex(SampledLog())

    /// - Parameter others: the pulses of the service's other threads (``ThreadLoop/pulse``), which
    ///   must keep turning for the watchdog pings to go out.
    public init(config: ServiceConfig, log: EventLog, handler: RequestHandling, options: RequestLoopOptions = .init(),
                logger: Logger, stats: LoopStats = LoopStats(), others: [Pulse] = [],
                status: @escaping @Sendable () -> Liaison_V1_ServiceStatus) {
        self.stats = stats
        self.name = "\(config.instance.stream)-requests"
        self.pulse = Pulse(what: "\(config.instance.stream)'s request thread")
        self.others = others
        self.config = config
        self.log = log
        self.handler = handler
        self.status = status
        self.options = options
        self.logger = logger
    }

    public func run(context: Context, stop: StopFlag) throws {
        let requests = try Socket(context: context, type: .router, role: "requests")
        defer { requests.close() }
        try requests.setRouterMandatory()
        // The socket's own cap guards memory (libzmq drops a peer that sends more); anything between
        // the request limit and this cap is read and answered with invalid_argument.
        try requests.setMaxMessageSize(Int64(maxSocketMessageBytes))
        if config.instance.requests.hasPrefix("tcp://") { try requests.setHeartbeat(interval: 2_000, timeout: 10_000) }
        if let curve = config.curve {
            // Both sockets: a subscriber must be let in as much as a client (ServiceHost's ZAP handler).
            try requests.setCurveServer(curve.keys, domain: ZAPHandler.requestsDomain)
        }
        try prepareIPC(config.instance.requests)
        try prepareIPC(config.instance.events)
        let requestsBound = config.bindEndpoint(config.instance.requests)
        try requests.bind(requestsBound)
        var events = try openEvents(context: context, retryingFor: 0)
        defer { events.close() }
        let stall = options.standInAfterMs > 0 ? try StallGuard(afterMs: options.standInAfterMs, maxBatch: options.maxBatch) : nil
        if let stall {
            stall.start(socket: requests, name: "\(config.instance.stream)-stall", logger: logger) { [self] socket, shift in
                try standIn(socket, &shift)
            }
        }
        // Before the sockets close: the stand-in touches the requests socket only while it is lent.
        defer { stall?.finish() }
        logger.info("serving", metadata: ["requests": "\(requestsBound)", "events": "\(config.bindEndpoint(config.instance.events))",
                                          "stream": "\(log.stream)", "head": "\(log.head)"])
        var revocationsSeen = config.curve?.clients.revocations ?? 0
        options.systemd.ready()
        defer { options.systemd.stopping() }
        let watchdogEvery = options.systemd.watchdogInterval
        // Both on the monotonic clock: with the wall clock stepped back, the heartbeats and the
        // watchdog's pings stopped for as long as the step, and systemd killed the service.
        var lastWatchdog: SuspendingClock.Instant?

        var published = log.head
        var lastSend = SuspendingClock.now
        // Requests of callers under their share, read while shedding, for the next batch.
        var kept: [Framing.Incoming] = []
        var gathering = BatchGathering()
        let gatherMicroseconds = handler.commitsBatchesTogether ? options.gatherMicroseconds : 0
        while !stop.isSet {
            let ready = try Poller.poll([requests], fds: [log.waker.fd], timeout: kept.isEmpty ? 100 : 0)
            if ready[1] { log.waker.drain() }
            if ready[0] || !kept.isEmpty { try serveBatch(requests, kept: &kept, gathering: &gathering, gatherMicroseconds: gatherMicroseconds, stall: stall) }
            if let allowList = config.curve?.clients, allowList.revocations != revocationsSeen {
                // A key taken out (or moved to a role that may not subscribe) keeps a subscription it
                // made before: every subscriber is disconnected and connects again through ZAP. What
                // is published meanwhile, consumers replay (they replay on any gap in the sequence).
                revocationsSeen = allowList.revocations
                events.close()
                events = try openEvents(context: context, retryingFor: 5)
                logger.notice("events socket bound again: every subscriber connects again through the CURVE allow-list in force")
            }
            if log.head > published {
                // Reads the stored events: a disk that stalls holds this up as it holds up a commit.
                if let stall {
                    published = try stall.lend(room: options.maxBatch - ShedShares.weight(kept)) { try publish(events, after: published) }
                    kept += stall.takeKept()
                } else {
                    published = try publish(events, after: published)
                }
                lastSend = .now
            } else if SuspendingClock.now - lastSend >= .milliseconds(options.heartbeatMs) {
                try heartbeat(events)
                lastSend = .now
            }
            // From this thread, which every request waits for: a hang here stops the pings.
            pulse.beat()
            if let watchdogEvery, lastWatchdog.map({ SuspendingClock.now - $0 >= .seconds(watchdogEvery) }) ?? true {
                pingWatchdog(every: watchdogEvery)
                lastWatchdog = .now
            }
        }
        logger.info("stopping", metadata: ["stream": "\(log.stream)"])
    }

    /// Tells systemd (or `liaison up`) that the service is alive, unless one of its other threads
    /// has been silent for a whole watchdog period (`WatchdogSec=`, twice `every`): a consumer stuck
    /// on a lock stops its stream as surely as a stuck request thread stops the answers, and the
    /// manager kills and restarts the service within another period.
    private func pingWatchdog(every: TimeInterval) {
        guard let (silent, seconds) = Pulse.stalest(others, over: 2 * every) else {
            options.systemd.watchdog()
            return
        }
        withheld.withLock {
            $0.log(.critical, "\(silent.what) has been silent for \(String(format: "%.1f", seconds)) s, longer than the watchdog's period (\(String(format: "%g", 2 * every)) s): its pings are held back, so that the process manager starts the service again; nothing acknowledged is lost",
                   logger: logger)
        }
    }

    /// The events socket, bound. Bound again after a revocation, the endpoint may still be held for
    /// a moment by the socket just closed (libzmq closes listeners on its I/O thread): the bind is
    /// tried again for up to `seconds`.
    private func openEvents(context: Context, retryingFor seconds: Double) throws -> Socket {
        let events = try Socket(context: context, type: .pub, role: "events", sendHighWaterMark: 100_000)
        do {
            if config.instance.requests.hasPrefix("tcp://") { try events.setHeartbeat(interval: 2_000, timeout: 10_000) }
            if let curve = config.curve { try events.setCurveServer(curve.keys, domain: ZAPHandler.eventsDomain) }
            let endpoint = config.bindEndpoint(config.instance.events)
            let deadline = SuspendingClock.now + .seconds(seconds)
            while true {
                do {
                    try events.bind(endpoint)
                    return events
                } catch let e where e.errno == EADDRINUSE && SuspendingClock.now < deadline {
                    usleep(10_000)
                }
            }
        } catch {
            events.close()
            throw error
        }
    }

    private func prepareIPC(_ endpoint: String) throws {
        // A stale socket file from a killed process would make bind fail: removed. One that a live
        // process still serves (a second instance on the same topology) is left to the bind, which
        // refuses it (`Socket.bind`); removing it took the endpoint from the running instance.
        guard endpoint.hasPrefix("ipc://"), !IPCEndpoint.inUse(endpoint) else { return }
        let path = String(endpoint.dropFirst("ipc://".count))
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Reads every waiting request (up to `maxBatch`, after those `kept` from the last shedding or
    /// read as the last batch was answered), waits a moment for the clients the last batch answered
    /// when it has reason to expect them (``BatchGathering``), handles them together and replies.
    private func serveBatch(_ requests: Socket, kept: inout [Framing.Incoming], gathering: inout BatchGathering, gatherMicroseconds: Int,
                            stall: StallGuard?) throws {
        let started = gatherMicroseconds > 0 ? DispatchTime.now().uptimeNanoseconds : 0
        let wait = UInt64(gatherMicroseconds) * 1_000
        // A millisecond wider than the wait: clients that come back late (over CURVE, on a busy
        // machine) still count as the load's. A batch that starts later than that is not theirs.
        let window = wait + 1_000_000
        var incoming = kept
        // The batch's weight (``Framing/Incoming/weight``): what bounds it. The gathering counts
        // requests, as it counts the clients it expects back.
        var load = ShedShares.weight(kept)
        kept.removeAll(keepingCapacity: true)
        while load < options.maxBatch, let next = try read(requests) {
            load += next.weight
            incoming.append(next)
        }
        if gatherMicroseconds > 0 && load < options.maxBatch && gathering.shouldWait(holding: incoming.count, limit: options.maxBatch)
            && gathering.isReturning(at: started, window: window) && incoming.contains(where: Self.isForTheService) {
            let deadline = started + wait
            stats.gatherWaits.add(1, ordering: .relaxed)
            while gathering.shouldWait(holding: incoming.count, limit: options.maxBatch) {
                let now = DispatchTime.now().uptimeNanoseconds
                guard now < deadline, try requests.waitReadable(nanoseconds: deadline - now) else {
                    gathering.waited(gathered: false)
                    stats.gatherWaitsRunOut.add(1, ordering: .relaxed)
                    break
                }
                while load < options.maxBatch, let next = try read(requests) {
                    load += next.weight
                    incoming.append(next)
                }
                if load >= options.maxBatch || !gathering.shouldWait(holding: incoming.count, limit: options.maxBatch) {
                    gathering.waited(gathered: true)
                    break
                }
            }
        }
        if load >= options.maxBatch && options.maxShed > 0 { try shed(requests, batch: incoming, kept: &kept) }
        // Plain arrays, not optionals or tuples: the runtime copies and destroys those through
        // generic value witnesses.
        var replies = [OutgoingReply](repeating: Self.unanswered, count: incoming.count)
        var forwardAt: [Int] = []
        var forward: [Liaison_V1_Request] = []
        var operatorKeys: [String?] = []   // over CURVE only
        for i in incoming.indices {
            switch incoming[i].request {
            case .failure(let err):
                badRequests.withLock { $0.log(.notice, "bad request", metadata: ["field": "\(err.field)", "error": "\(err.message)"], logger: logger) }
                replies[i] = .message(.failure(err))
            case .success(let req):
                if let answer = runtimeAnswer(req, plainSubmission: incoming[i].isPlainSubmission) {
                    replies[i] = .message(answer)
                } else {
                    forwardAt.append(i)
                    forward.append(req)
                    if config.curve != nil { operatorKeys.append(incoming[i].operatorKey) }
                }
            }
        }
        // Requests the stand-in read while the commit below was held up (none unless it was).
        var readByTheStandIn = 0
        if !forward.isEmpty {
            // The commit: a disk that stalls holds the thread here, with the socket lent meanwhile.
            let answers: [OutgoingReply]
            if let stall {
                answers = stall.lend(inFlight: incoming, room: options.maxBatch - ShedShares.weight(kept)) { answer(forward, operatorKeys: operatorKeys) }
                let standInKept = stall.takeKept()
                readByTheStandIn = standInKept.count
                kept += standInKept
            } else {
                answers = answer(forward, operatorKeys: operatorKeys)
            }
            for (k, i) in forwardAt.enumerated() {
                replies[i] = k < answers.count ? answers[k] : .message(.failure(.internal("the service gave no answer")))
            }
        }
        // What came while this batch was handled: the other half of a steady load, waiting. Read
        // before any of the batch's clients has its answer, so that none of them can be among it:
        // read after the replies, it took in clients of this very batch already back (a busy
        // intake's replies take a while to send) and counted them twice, and the next batch then
        // waited its whole time for requests that were not coming.
        var arrivedMeanwhile = readByTheStandIn
        if gatherMicroseconds > 0 {
            let before = kept.count
            var keptLoad = ShedShares.weight(kept)
            while keptLoad < options.maxBatch, let next = try read(requests) {
                keptLoad += next.weight
                kept.append(next)
            }
            arrivedMeanwhile += kept.count - before
        }
        // Each reply carries the id of the request it answers, written as it is encoded. An
        // accepted submission's reply is encoded bytes; a refusal is a message, or a batch's
        // reply with a refused item (counted once, as one request refused).
        var refused = 0
        var submissions = OutgoingReply.SubmissionCounts()
        for i in incoming.indices {
            if let error = replies[i].refusal {
                refused += 1
                stats.answers.noteRefusal(error)
            }
            if incoming[i].submissions > 0 {
                let counts = replies[i].submissionCounts(of: incoming[i].submissions)
                submissions.accepted += counts.accepted
                submissions.refused += counts.refused
            }
            try send(requests, envelope: incoming[i].envelope, requestID: incoming[i].requestID, reply: replies[i])
        }
        stats.answers.record(answered: incoming.count, refused: refused, submissions: submissions)
        if gatherMicroseconds > 0 {
            gathering.answered(incoming.count, arrivedMeanwhile: arrivedMeanwhile, at: DispatchTime.now().uptimeNanoseconds)
        }
    }

    /// The service's answers to the requests it handles (over CURVE, with their operator keys).
    private func answer(_ forward: [Liaison_V1_Request], operatorKeys: [String?]) -> [OutgoingReply] {
        config.curve == nil ? handler.answer(forward) : handler.answer(forward, operatorKeys: operatorKeys)
    }

    /// True for a request the service handles (a submission, a query), false for one the loop
    /// answers itself (`GetStatus`, `Replay`) or refuses: only the first kind is worth a wait.
    private static func isForTheService(_ incoming: Framing.Incoming) -> Bool {
        guard case .success(let req) = incoming.request else { return false }
        if incoming.isPlainSubmission { return true }
        switch req.body {
        case .replay?, .getStatus?: return false
        default: return true
        }
    }

    /// The next waiting request, if any. Over CURVE, a request its client's role may not make
    /// (``CurveRole/permits(_:plainSubmission:)``) is refused here, before any service sees it.
    private func read(_ requests: Socket) throws -> Framing.Incoming? {
        guard let curve = config.curve else {
            guard let frames = try requests.receiveMultipart(dontWait: true) else { return nil }
            return Framing.parseRequest(frames: frames)
        }
        guard let (frames, userID) = try requests.receiveMultipartWithUserID(dontWait: true) else { return nil }
        var inc = Framing.parseRequest(frames: frames)
        if case .success(let req) = inc.request {
            // By the client's key, against the list in force: a key taken out since its connection
            // was let in is refused from the reload on.
            let client = userID.flatMap(curve.clients.client(withKey:))
            let body = inc.isPlainSubmission ? nil : req.body
            // A key without a name in the allow-list is recorded by its first characters.
            if let client, client.role == .operator { inc.operatorKey = client.name.isEmpty ? String(client.publicKey.prefix(8)) : client.name }
            if client?.role.permits(body, plainSubmission: inc.isPlainSubmission) != true {
                let kind = inc.isPlainSubmission ? "submit_feedback" : CurveRole.kind(body)
                inc.refuse(CurveRole.refusal(client, kind: kind))
                badRequests.withLock { $0.log(.warning, "request refused for the client's CURVE key", metadata: ["client": "\(client.map { "\($0.role.rawValue) \($0.name)" } ?? "removed key \(userID ?? "?")")", "request": "\(kind)"], logger: logger) }
            }
        }
        return inc
    }

    /// Stands in for a reply until the request's own is made (every path makes one).
    private static let unanswered = OutgoingReply.message(.failure(.internal("no answer")))

    /// Answers the requests every service answers the same way (`Replay`, `GetStatus`); nil for the rest.
    /// A plain submission (``Framing/Incoming/isPlainSubmission``) is never the runtime's: its body
    /// is not looked into, which would copy the whole submission.
    private func runtimeAnswer(_ req: Liaison_V1_Request, plainSubmission: Bool) -> Liaison_V1_Reply? {
        if plainSubmission { return nil }
        switch req.body {
        case .replay(let r)?:
            return answerReplay(r, id: req.requestID)
        case .getStatus?:
            var reply = Liaison_V1_Reply()
            reply.requestID = req.requestID
            reply.serviceStatus = status()
            return reply
        default:
            return nil
        }
    }

    /// The queue is full: more than one batch is waiting. Answer what waits beyond it (up to
    /// `maxShed`) with `unavailable` and a retry hint, without touching the database, except the
    /// requests of callers that have had less than their share of the batch (``ShedShares``):
    /// those are `kept` for the next batch, up to `maxBatch`. Replay and status requests are cheap
    /// and still answered.
    private func shed(_ requests: Socket, batch: [Framing.Incoming], kept: inout [Framing.Incoming]) throws {
        var shares = ShedShares(batchSize: options.maxBatch)
        for inc in batch { shares.count(inc) }
        var keptLoad = ShedShares.weight(kept)
        var shed = 0
        while shed < options.maxShed, let inc = try read(requests) {
            let reply: Liaison_V1_Reply
            switch inc.request {
            case .failure(let err):
                reply = .failure(err, requestID: inc.requestID)
            case .success(let req):
                if let answer = runtimeAnswer(req, plainSubmission: inc.isPlainSubmission) {
                    reply = answer
                } else if keptLoad < options.maxBatch && shares.isUnderShare(inc.envelope) {
                    shares.count(inc)
                    keptLoad += inc.weight
                    kept.append(inc)
                    continue
                } else {
                    reply = .failure(.unavailable("\(config.service) is overloaded: retry after the hinted delay with the same request",
                                                  retryAfterMs: 50), requestID: req.requestID)
                    shed += 1
                }
            }
            try send(requests, envelope: inc.envelope, requestID: inc.requestID, reply: .message(reply))
        }
        if shed > 0 {
            stats.shed.add(UInt64(shed), ordering: .relaxed)
            logger.warning("overloaded: requests answered unavailable", metadata: [
                "count": "\(shed)", "kept_for_callers_under_their_share": "\(kept.count)", "callers": "\(shares.callers)"])
        }
    }

    /// The stand-in's work while the request thread is held up (``StallGuard``): what waits on the
    /// socket is read; a request of a caller under its share is kept for the next batch while there
    /// is room (for at most ``RequestLoopOptions/standInKeepsMs``), any other answered at once:
    /// `unavailable` with a retry hint, a malformed one its error. Nothing is handled here, since handling would wait for the same disk; but a status
    /// request is answered at once from what needs no disk (``heldStatus(heldMs:)``), so that an
    /// operator hears that the service waits for its disk, not silence, and a replay is turned away
    /// at once (its consumer tries again) rather than kept from the requests the service is for.
    private func standIn(_ requests: Socket, _ shift: inout StallGuard.Shift) throws {
        var turnedAway = 0
        defer {
            if turnedAway > 0 { stats.shed.add(UInt64(turnedAway), ordering: .relaxed) }
            shift.turnedAway += turnedAway
        }
        // Kept past their time: told to come back too, before their clients give up on them.
        let now = DispatchTime.now().uptimeNanoseconds
        let expired = shift.keptAt.prefix { now - $0 >= UInt64(options.standInKeepsMs) * 1_000_000 }.count
        if expired > 0 {
            // Out of the kept ones before they are answered: a send that fails part way must not
            // leave an answered request for the request thread to answer again.
            let released = shift.kept.prefix(expired)
            shift.kept.removeFirst(expired)
            shift.keptAt.removeFirst(expired)
            turnedAway += expired
            let heldMs = (now - shift.lentAt) / 1_000_000
            for inc in released {
                try send(requests, envelope: inc.envelope, requestID: inc.requestID, reply: .message(.failure(stalled(heldMs: heldMs), requestID: inc.requestID)))
            }
        }
        for _ in 0..<1_000 {
            guard let inc = try read(requests) else { return }
            let reply: Liaison_V1_Reply
            switch inc.request {
            case .failure(let err):
                reply = .failure(err, requestID: inc.requestID)
            case .success(let req):
                let heldMs = (DispatchTime.now().uptimeNanoseconds - shift.lentAt) / 1_000_000
                if !inc.isPlainSubmission, case .getStatus? = req.body {
                    var status = Liaison_V1_Reply()
                    status.requestID = req.requestID
                    status.serviceStatus = heldStatus(heldMs: heldMs)
                    reply = status
                } else if ShedShares.weight(shift.kept) < shift.room && shift.shares.isUnderShare(inc.envelope) && Self.isForTheService(inc) {
                    shift.shares.count(inc)
                    shift.kept.append(inc)
                    shift.keptAt.append(DispatchTime.now().uptimeNanoseconds)
                    continue
                } else {
                    reply = .failure(stalled(heldMs: heldMs), requestID: req.requestID)
                    turnedAway += 1
                }
            }
            try send(requests, envelope: inc.envelope, requestID: inc.requestID, reply: .message(reply))
        }
    }

    /// What the stand-in tells a request it does not keep, or keeps no longer.
    private func stalled(heldMs: UInt64) -> WireError {
        .unavailable("\(config.service) has been waiting \(heldMs) ms for its database (its disk is slow or stalled): retry after the hinted delay with the same request",
                     retryAfterMs: 500)
    }

    /// The status the stand-in gives while the request thread is held up: what needs no disk (no
    /// file sizes, no free space, which a stalled disk would hold up too) and how long it has waited.
    private func heldStatus(heldMs: UInt64) -> Liaison_V1_ServiceStatus {
        var s = Liaison_V1_ServiceStatus()
        s.service = config.service
        s.stream = log.stream
        s.headSeq = log.head
        s.pid = UInt32(getpid())
        s.writeTransactions = log.transactions
        s.requestsShed = stats.shed.load(ordering: .relaxed)
        s.requestsServed = stats.served.load(ordering: .relaxed)
        s.requestsRefused = stats.answers.refusedTotal.load(ordering: .relaxed)
        s.submissionsAccepted = stats.answers.submissionsAccepted.load(ordering: .relaxed)
        s.submissionsRefused = stats.answers.submissionsRefused.load(ordering: .relaxed)
        s.requestThreadHeldMs = max(1, heldMs)
        return s
    }

    private func send(_ requests: Socket, envelope: [[UInt8]], requestID: String, reply: OutgoingReply) throws {
        guard !envelope.isEmpty else { return }
        stats.served.add(1, ordering: .relaxed)
        do {
            if try !requests.send(multipart: Framing.replyFrames(envelope: envelope, requestID: requestID, reply: reply), dontWait: true) {
                logger.warning("reply dropped: client queue full", metadata: ["request_id": "\(WireError.quoted(requestID))"])
            }
        } catch {
            guard error.isHostUnreachable else { throw error }
            logger.debug("reply dropped: client gone", metadata: ["request_id": "\(WireError.quoted(requestID))"])
        }
    }

    private func answerReplay(_ r: Liaison_V1_Replay, id: String) -> Liaison_V1_Reply {
        // Compared by bytes: `!=` on Strings compares them canonically, normalizing what a client sent.
        if !r.stream.isEmpty && !r.stream.utf8.elementsEqual(log.stream.utf8) {
            return .failure(.notFound("replay.stream", "this instance serves stream \(log.stream), not \(WireError.quoted(r.stream))"), requestID: id)
        }
        // Every stored event of the batch is matched against every prefix, on the thread that
        // answers every request: a few prefixes name any set of topics a consumer wants.
        if r.topicPrefixes.count > EventLog.maxTopicPrefixes {
            return .failure(.invalidArgument("replay.topic_prefixes", "\(r.topicPrefixes.count) topic prefixes; at most \(EventLog.maxTopicPrefixes)"), requestID: id)
        }
        if let long = r.topicPrefixes.first(where: { $0.utf8.count > EventLog.maxTopicPrefixBytes }) {
            return .failure(.invalidArgument("replay.topic_prefixes", "topic prefix \(WireError.quoted(long)) is over \(EventLog.maxTopicPrefixBytes) bytes; topics are short names like case.assigned"), requestID: id)
        }
        let limit = r.limit == 0 ? options.replayDefault : min(Int(r.limit), options.replayMax)
        do {
            var reply = Liaison_V1_Reply()
            reply.requestID = id
            reply.replayBatch = try log.replay(after: r.afterSeq, limit: limit, prefixes: r.topicPrefixes)
            return reply
        } catch {
            logger.error("replay failed", metadata: ["error": "\(error)"])
            return .failure(.internal("replay failed: \(error)"), requestID: id)
        }
    }

    /// Publishes committed events after `after`, in order; returns the last published sequence.
    private func publish(_ events: Socket, after: UInt64) throws -> UInt64 {
        var last = after
        while last < log.head {
            let rows = try log.eventsToPublish(after: last, limit: 1_000)
            if rows.isEmpty { break }
            for row in rows {
                // PUB never blocks: past the high-water mark a slow subscriber loses messages, sees
                // the gap in sequence numbers, and replays.
                try events.send(Array(row.topic.utf8), more: true)
                try events.send(row.data)
                last = row.seq
            }
        }
        return last
    }

    private func heartbeat(_ events: Socket) throws {
        var e = Liaison_V1_Event()
        e.stream = log.stream
        e.seq = log.head
        e.topic = Topic.heartbeat
        e.occurredAt = .init(date: Date())
        e.heartbeat.headSeq = log.head
        try events.send(multipart: Framing.eventFrames(e), dontWait: true)
    }
}
