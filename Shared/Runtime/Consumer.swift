import Foundation
import GRDB
import LiaisonCodec
import Logging
import Synchronization
import ZeroMQ

/// One loop that runs on a thread of its own and owns its sockets.
public protocol ThreadLoop: Sendable {
    var name: String { get }
    /// Beaten on every turn of the loop (at least every 200 ms when idle), for ``HangWatch``
    /// and the watchdog pings: a loop that stops turning is a hung thread.
    var pulse: Pulse { get }
    /// Runs until `stop` is set (checked at least every 100 ms) or an unrecoverable error.
    func run(context: Context, stop: StopFlag) throws
}

/// Applies events of an upstream stream to this service's database. Called inside the write
/// transaction that also records the consumer's cursor, so every effect happens exactly once.
/// Events it appends to this service's own stream commit in the same transaction.
public typealias EventApplier = @Sendable (_ db: Database, _ out: EventAppender, _ event: Liaison_V1_Event) throws -> Void

/// A durable consumer of one upstream stream (DESIGN §3, Replay).
///
/// It subscribes live, replays from its last applied sequence, applies each batch of events together
/// with its new cursor in one transaction, and replays again whenever a sequence number is skipped
/// or a heartbeat shows a head beyond its cursor. A consumer that starts late catches up from 1.
public final class Consumer: ThreadLoop {
    public let name: String
    public let pulse: Pulse
    /// The upstream instance consumed.
    public let upstream: Topology.Instance
    /// Topics applied (prefixes); others are skipped but still advance the cursor.
    public let topicPrefixes: [String]
    let log: EventLog
    let apply: EventApplier
    let logger: Logger
    let replayTimeoutMs: Int32
    private let state: Mutex<(applied: UInt64, knownHead: UInt64)>
    /// When the upstream was last heard, and whether its silence was said.
    private let silence: Mutex<UpstreamSilence>
    /// Since when applying the upstream's events has failed, and why it failed last; nil while it works.
    private let failing = Mutex<(since: SuspendingClock.Instant, why: String)?>(nil)
    /// An upstream whose head is behind what this consumer applied: said once a minute.
    private let behind = Mutex(SampledLog(interval: 60))

    /// `silenceLimit`: seconds without an event or a heartbeat from the upstream (an idle one sends
    /// one a second) before the consumer says, once, that it hears nothing.
    public init(upstream: Topology.Instance, topicPrefixes: [String], log: EventLog, logger: Logger,
                replayTimeoutMs: Int32 = 2_000, silenceLimit: TimeInterval = 10, apply: @escaping EventApplier) throws {
        self.name = "consume-\(upstream.stream)"
        self.pulse = Pulse(what: Self.threadName(stream: log.stream, upstream: upstream.stream))
        self.upstream = upstream
        self.topicPrefixes = topicPrefixes
        self.log = log
        self.apply = apply
        self.logger = logger
        self.replayTimeoutMs = replayTimeoutMs
        let applied = try Consumer.loadCursor(store: log.store, stream: upstream.stream)
        state = Mutex((applied: applied, knownHead: applied))
        silence = Mutex(UpstreamSilence(limit: silenceLimit, now: .now))
    }

    /// How the consumer's thread is named in logs and in `GetStatus`'s threads.
    public static func threadName(stream: String, upstream: String) -> String { "\(stream)'s consumer of \(upstream)" }

    /// The durable cursor and the upstream head last seen, for `GetStatus` / `liaison streams`.
    public var position: Liaison_V1_ConsumerPosition {
        let s = state.withLock { $0 }
        var p = Liaison_V1_ConsumerPosition()
        p.stream = upstream.stream
        p.appliedSeq = s.applied
        p.knownHeadSeq = max(s.knownHead, s.applied)
        p.endpoint = upstream.events
        p.silentMs = UInt64(max(0, silence.withLock { $0.silent(at: .now) }) * 1000)
        if let failure = failing.withLock({ $0 }) {
            p.failingMs = UInt64(max(0, (SuspendingClock.now - failure.since) / .milliseconds(1)))
            p.lastFailure = failure.why
        }
        return p
    }

    static func loadCursor(store: Store, stream: String) throws -> UInt64 {
        let value: Int64? = try store.pool.read { db in
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT applied_seq FROM consumer_cursors WHERE stream = ?"), arguments: [stream])
        }
        guard let value else { return 0 }
        return UInt64(value)
    }

    private func matches(_ topic: String) -> Bool {
        topicPrefixes.isEmpty || topicPrefixes.contains { topic.hasPrefix($0) }
    }

    /// Applies `events` (consecutive, after the cursor) and moves the cursor to `through`, in one transaction.
    func commit(_ events: [Liaison_V1_Event], through: UInt64) throws {
        try log.write { db, out in
            for e in events where matches(e.topic) { try apply(db, out, e) }
            try db.executeCached(sql: """
                INSERT INTO consumer_cursors (stream, applied_seq, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(stream) DO UPDATE SET applied_seq = excluded.applied_seq, updated_at = excluded.updated_at
                """, arguments: [upstream.stream, Int64(through), Date().timeIntervalSince1970])
        }
        state.withLock { $0.applied = through; $0.knownHead = max($0.knownHead, through) }
    }

    public func run(context: Context, stop: StopFlag) throws {
        let live = try Socket(context: context, type: .sub, role: "events-in", receiveHighWaterMark: 100_000, linger: 0)
        defer { live.close() }
        try live.setReconnect(interval: 100, max: 5_000)
        if upstream.events.hasPrefix("tcp://") { try live.setHeartbeat(interval: 2_000, timeout: 10_000) }
        try live.subscribe("")   // every topic, so sequence numbers stay dense; filtered on apply
        try live.secure(context: context, serverKey: upstream.curvePublicKey, endpoint: upstream.events)
        try live.connect(upstream.events)
        let client = RequestClient(context: context, endpoint: upstream.requests, serverKey: upstream.curvePublicKey, timeoutMs: replayTimeoutMs, attempts: 1)
        client.whileWaiting = { [pulse] in pulse.beat() }   // an upstream that does not answer is not a hang here
        defer { client.reset() }

        var needReplay = true
        var failures = 0
        logger.info("consuming", metadata: ["stream": "\(upstream.stream)", "from": "\(state.withLock { $0.applied })"])
        while !stop.isSet {
            pulse.beat()
            do {
                if needReplay {
                    needReplay = try replayOnce(client)
                    worked(&failures)
                    continue
                }
                guard try live.waitReadable(timeout: 100) else {
                    if let quiet = silence.withLock({ $0.nothing(at: .now) }) {
                        logger.warning("upstream silent: nothing (no event, no heartbeat) for \(Int(quiet)) s; is it running, and the network to it up? Its events are replayed once it is heard again",
                                       metadata: ["stream": "\(upstream.stream)", "endpoint": "\(upstream.events)"])
                    }
                    continue
                }
                heardUpstream()
                needReplay = try drainLive(live)
                worked(&failures)
            } catch {
                if let z = error as? ZMQError {
                    if z.isTerminated { return }
                    throw z
                }
                failures += 1
                if error is ClientError {
                    if failures == 1 || failures % 30 == 0 {
                        logger.warning("upstream not answering replay; retrying", metadata: ["stream": "\(upstream.stream)", "error": "\(error)"])
                    }
                    needReplay = true
                    continue
                }
                // Applying failed (a bug or a poison event): keep the cursor, back off, retry. The lag
                // and the failure show in `liaison streams`; nothing is skipped.
                let why = String("\(error)".prefix(500))
                failing.withLock { $0 = ($0?.since ?? .now, why) }
                logger.error("applying events failed; will retry", metadata: ["stream": "\(upstream.stream)", "error": "\(error)"])
                backoff(failures, stop: stop)
                needReplay = true
            }
        }
    }

    /// A round applied what it had (or had nothing to apply): a failure before it is over.
    private func worked(_ failures: inout Int) {
        if failures > 0 { failing.withLock { $0 = nil } }
        failures = 0
    }

    /// The upstream was heard: its events socket, or its answer to a replay (a long catch-up is not
    /// a silence). Says so if its silence had been said.
    private func heardUpstream() {
        if let quiet = silence.withLock({ $0.heard(at: .now) }) {
            logger.notice("upstream heard again after \(Int(quiet)) s of silence", metadata: ["stream": "\(upstream.stream)"])
        }
    }

    private func backoff(_ failures: Int, stop: StopFlag) {
        let until = SuspendingClock.now + .seconds(min(5, 0.1 * Double(failures)))
        while !stop.isSet && SuspendingClock.now < until {
            pulse.beat()
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// Fetches and applies one replay batch; returns whether more remain.
    private func replayOnce(_ client: RequestClient) throws -> Bool {
        let applied = state.withLock { $0.applied }
        var r = Liaison_V1_Replay()
        r.stream = upstream.stream
        r.afterSeq = applied
        r.limit = 1_000
        let reply = try client.call(.replay(r))
        heardUpstream()
        guard case .replayBatch(let batch)? = reply.result else {
            throw WireError.internal("unexpected replay answer from \(upstream.requests)")
        }
        state.withLock { $0.knownHead = max($0.knownHead, batch.headSeq) }
        noteHead(batch.headSeq, applied: applied)
        // The batch must continue exactly from the cursor.
        var expected = applied + 1
        for e in batch.events {
            guard e.seq >= expected, e.stream == upstream.stream else {
                throw WireError.internal("replay of \(upstream.stream) returned seq \(e.seq) (stream \(e.stream)) where \(expected) was expected")
            }
            expected = e.seq + 1
        }
        if batch.lastSeq > applied { try commit(batch.events, through: batch.lastSeq) }
        return batch.more || batch.lastSeq < batch.headSeq
    }

    /// An upstream's head below this consumer's cursor means its database is older than this one's
    /// (one of the two restored from a backup taken at another moment, or the upstream's data
    /// replaced): the events it numbers again up to the cursor will not be applied here. Nothing
    /// can be decided for the operator; it is said, with both numbers, once a minute. Asked of a
    /// replay's head only: a heartbeat queued before a replay may be older than what it applied.
    private func noteHead(_ head: UInt64, applied: UInt64) {
        guard head < applied else { return }
        behind.withLock {
            $0.log(.warning, "upstream is behind what this consumer applied: its database is older than this one's (restored from another moment?); the events it numbers again up to the cursor are not applied here",
                   metadata: ["stream": "\(upstream.stream)", "upstream_head": "\(head)", "applied": "\(applied)"], logger: logger)
        }
    }

    /// Applies the live events waiting on the SUB socket; returns whether a replay is needed.
    private func drainLive(_ live: Socket) throws -> Bool {
        var cursor = state.withLock { $0.applied }
        let start = cursor
        var batch: [Liaison_V1_Event] = []
        var gap = false
        while batch.count < 1_000, let frames = try live.receiveMultipart(dontWait: true) {
            let event: Liaison_V1_Event
            do { event = try Framing.decodeEvent(frames: frames) } catch {
                logger.warning("undecodable event skipped; replay will fill in", metadata: ["stream": "\(upstream.stream)", "error": "\(error)"])
                gap = true
                continue
            }
            guard event.stream == upstream.stream else { continue }
            if event.topic == Topic.heartbeat {
                state.withLock { $0.knownHead = max($0.knownHead, event.heartbeat.headSeq) }
                if event.heartbeat.headSeq > cursor { gap = true }
                continue
            }
            if event.seq <= cursor { continue }           // already applied (replay overlap)
            if event.seq != cursor + 1 { gap = true; break }
            batch.append(event)
            cursor = event.seq
        }
        if cursor > start { try commit(batch, through: cursor) }
        return gap
    }
}

/// How long a consumer has heard nothing from its upstream (no event or heartbeat on its events
/// socket, no answer to a replay), and whether it has said so: once when the silence passes `limit`,
/// once when the upstream is heard again. An idle upstream sends a heartbeat every second, so
/// seconds of silence mean it is down or the network to it is.
/// On the monotonic clock: the wall clock stepped forward made every upstream look silent.
struct UpstreamSilence {
    let limit: TimeInterval
    private(set) var lastHeard: SuspendingClock.Instant
    private(set) var said = false

    init(limit: TimeInterval, now: SuspendingClock.Instant) {
        self.limit = limit
        lastHeard = now
    }

    /// Seconds since the upstream was last heard (since the consumer started, if never).
    func silent(at now: SuspendingClock.Instant) -> TimeInterval { (now - lastHeard) / .seconds(1) }

    /// Something came at `now`. Returns the silence's length if it had been said (to say it ended).
    mutating func heard(at now: SuspendingClock.Instant) -> TimeInterval? {
        defer { lastHeard = now; said = false }
        return said ? silent(at: now) : nil
    }

    /// Nothing came. Returns the silence's length the first time it passes the limit, else nil.
    mutating func nothing(at now: SuspendingClock.Instant) -> TimeInterval? {
        let quiet = silent(at: now)
        guard !said, quiet >= limit else { return nil }
        said = true
        return quiet
    }
}
