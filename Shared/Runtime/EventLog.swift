import Foundation
import GRDB
import LiaisonCodec
import Synchronization
import ZeroMQ

/// The durable event log of one stream: dense sequence numbers from 1, stored before publication.
///
/// All writes go through ``write(_:)``, which runs the caller's changes and the events they append
/// in one transaction; after the commit the publisher is rung so the events go out on the PUB.
public final class EventLog: Sendable {
    /// This instance's stream id (e.g. `intake-1`).
    public let stream: String
    public let store: Store
    private let committedHead: Atomic<UInt64>
    private let commits = Atomic<UInt64>(0)
    /// Committed events not yet taken by the publisher, in sequence order.
    private let recent = Mutex<[RawEvent]>([])
    /// Rung after every commit that appended events; the request loop publishes them.
    public let waker: Waker

    public init(store: Store, stream: String) throws {
        self.store = store
        self.stream = stream
        let head: UInt64 = try store.pool.read { db in try UInt64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0 }
        committedHead = Atomic(head)
        waker = try Waker()
    }

    /// The last committed sequence number (0 when empty).
    public var head: UInt64 { committedHead.load(ordering: .acquiring) }

    /// Write transactions committed through this log since it was opened.
    public var transactions: UInt64 { commits.load(ordering: .relaxed) }

    /// How long its writes took over the last minute, from asking for the writer to the commit
    /// (fsync included).
    public let commitTimes = CommitTimes()

    private let failures = Atomic<UInt64>(0)
    private let lastFailure = Mutex<(message: String, at: Date)?>(nil)

    /// Write transactions SQLite failed since the log was opened (a full disk fails every one; a
    /// service's own refusal inside a write is not counted).
    public var failedWrites: UInt64 { failures.load(ordering: .relaxed) }

    /// The latest of them: SQLite's message and when.
    public var lastFailedWrite: (message: String, at: Date)? { lastFailure.withLock { $0 } }

    /// Runs `body` in one write transaction; events it appends commit with its other changes.
    @discardableResult
    public func write<T>(_ body: (Database, EventAppender) throws -> T) throws -> T {
        // Timed from the request for the writer: the wait for it and a WAL restart's copy hold back
        // acknowledgements as much as the commit's own fsync does.
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            return try writeTimed(started: started, body)
        } catch let error as DatabaseError {
            failures.add(1, ordering: .relaxed)
            lastFailure.withLock { $0 = ("\(error)", Date()) }
            throw error
        }
    }

    private func writeTimed<T>(started: UInt64, _ body: (Database, EventAppender) throws -> T) throws -> T {
        try store.write { db in
            var result: T?
            var appender: EventAppender?
            try db.inTransaction {
                // Every event is appended here, on the writer, and the head moves only when one
                // commits: the committed head is the log's last sequence (no query for it).
                let out = EventAppender(db: db, stream: stream, head: head)
                result = try body(db, out)
                appender = out
                return .commit
            }
            // Committed, and still on the writer's queue: commits reach the publisher in sequence order.
            commits.add(1, ordering: .relaxed)
            commitTimes.record(micros: (DispatchTime.now().uptimeNanoseconds - started) / 1_000)
            if let appender, !appender.appended.isEmpty {
                recent.withLock { queue in
                    queue.append(contentsOf: appender.appended)
                    if queue.count > Self.recentLimit { queue.removeFirst(queue.count - Self.recentLimit) }
                }
                committedHead.store(appender.head, ordering: .releasing)
                waker.ring()
            }
            return result!
        }
    }

    /// Most committed events kept in memory for the publisher; beyond it the publisher reads the log.
    static let recentLimit = 20_000

    /// Committed events after `after` for the publisher, from memory when they are all there (the
    /// usual case), else from the log. Events up to `after` are dropped from memory.
    func eventsToPublish(after: UInt64, limit: Int) throws -> [RawEvent] {
        let fromMemory: [RawEvent]? = recent.withLock { queue in
            if let k = queue.firstIndex(where: { $0.seq > after }) { queue.removeFirst(k) } else { queue.removeAll() }
            guard let first = queue.first, first.seq == after + 1 else { return nil }
            return Array(queue.prefix(limit))
        }
        if let fromMemory { return fromMemory }
        return try rawEvents(after: after, limit: limit)
    }

    /// Most topic prefixes a `Replay` may name, and the longest (bytes of UTF-8): every stored event
    /// of a batch is matched against each.
    public static let maxTopicPrefixes = 32
    public static let maxTopicPrefixBytes = 128

    /// Reads stored events after `after` for a replay: at most `limit` rows are scanned, those
    /// whose topic starts with one of `prefixes` (all when empty, compared byte for byte) are returned.
    public func replay(after: UInt64, limit: Int, prefixes: [String]) throws -> Liaison_V1_ReplayBatch {
        let rows: [Row] = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, topic, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                             arguments: [Int64(after), limit])
        }
        var batch = Liaison_V1_ReplayBatch()
        var last = after
        for row in rows {
            let seq: Int64 = row["seq"]
            last = UInt64(seq)
            let topic: String = row["topic"]
            // By bytes: `hasPrefix` on Strings compares canonically, normalizing both.
            if !prefixes.isEmpty && !prefixes.contains(where: { topic.utf8.starts(with: $0.utf8) }) { continue }
            let data: Data = row["data"]
            batch.events.append(try Liaison_V1_Event(serializedBytes: data))
        }
        // The stream's own head (rows may be newer than the head in memory), never the `after`
        // asked for: a consumer whose cursor is beyond it must see that it is.
        let head = max(self.head, rows.isEmpty ? 0 : last)
        batch.headSeq = head
        batch.lastSeq = last
        batch.more = last < head
        return batch
    }

    /// Raw stored events after `after` (topic and encoded `Event`), for the publisher.
    func rawEvents(after: UInt64, limit: Int) throws -> [RawEvent] {
        let rows: [Row] = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT seq, topic, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                             arguments: [Int64(after), limit])
        }
        return rows.map { row in
            let seq: Int64 = row["seq"]
            let topic: String = row["topic"]
            let data: Data = row["data"]
            return RawEvent(seq: UInt64(seq), topic: topic, data: [UInt8](data))
        }
    }
}

/// A stored event as the publisher sends it.
struct RawEvent: Sendable {
    var seq: UInt64
    var topic: String
    var data: [UInt8]
}

/// Appends events inside one ``EventLog/write(_:)`` transaction.
public final class EventAppender {
    let db: Database
    let stream: String
    private(set) var head: UInt64
    /// What this transaction appended, for the publisher once it commits.
    private(set) var appended: [RawEvent] = []
    /// The insert, looked up once per transaction: finding a cached statement hashes its SQL.
    private var insert: Statement?

    init(db: Database, stream: String, head: UInt64) {
        self.db = db
        self.stream = stream
        self.head = head
    }

    /// Appends an event with the next sequence number; `fill` sets its payload.
    @discardableResult
    public func append(topic: String, at time: Date, _ fill: (inout Liaison_V1_Event) -> Void) throws -> Liaison_V1_Event {
        var event = Liaison_V1_Event()
        fill(&event)
        event.stream = stream
        event.seq = head + 1
        event.eventID = EventID.make()
        event.topic = topic
        event.occurredAt = .init(date: time)
        let bytes: [UInt8] = try event.serializedBytes()
        try store(seq: event.seq, eventID: event.eventID, topic: topic, at: time, bytes: bytes)
        return event
    }

    /// Appends an event with the next sequence number whose payload is already encoded: `payload`
    /// is the message in `Event`'s oneof field `payloadField` (10: `feedback_received`, …).
    ///
    /// Stores the same bytes as ``append(topic:at:_:)`` with that payload set, without building the
    /// event and encoding the payload again inside it (``WireWriter``): for the event every
    /// submission appends, whose payload carries the body intake has already encoded.
    /// - Returns: the event's sequence number.
    @discardableResult
    public func append(topic: String, at time: Date, payloadField: Int, payload: [UInt8]) throws -> UInt64 {
        let seq = head + 1
        let eventID = EventID.make()
        let bytes = WireWriter.event(stream: stream, seq: seq, eventID: eventID, topic: topic, occurredAt: time,
                                     payloadField: payloadField, payload: payload)
        try store(seq: seq, eventID: eventID, topic: topic, at: time, bytes: bytes)
        return seq
    }

    private func store(seq: UInt64, eventID: String, topic: String, at time: Date, bytes: [UInt8]) throws {
        if insert == nil { insert = try db.cachedStatement(sql: "INSERT INTO events (seq, event_id, topic, occurred_at, data) VALUES (?, ?, ?, ?, ?)") }
        try db.executeBound(insert!) {
            $0.int(Int64(seq)); $0.text(eventID); $0.text(topic); $0.double(time.timeIntervalSince1970); $0.blob(bytes)
        }
        head = seq
        appended.append(RawEvent(seq: seq, topic: topic, data: bytes))
    }
}

/// Random (version 4) event ids from one pair of 64-bit draws, without opening /dev/urandom.
enum EventID {
    /// Each byte's two hex digits, as one little-endian `UInt16` (written two at a time).
    private static let hexPairs: [UInt16] = (0..<256).map { b in
        let hex = Array("0123456789abcdef".utf8)
        return UInt16(hex[b >> 4]) | UInt16(hex[b & 0xF]) << 8
    }

    static func make() -> String {
        var hi = SecureRandom.uint64(), lo = SecureRandom.uint64()
        hi = (hi & ~0xF000) | 0x4000                     // version 4
        lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        return hexPairs.withUnsafeBufferPointer { pairs in
            String(unsafeUninitializedCapacity: 36, initializingUTF8With: { (out: UnsafeMutableBufferPointer<UInt8>) -> Int in
                var k = 0
                // A byte at a time from the top, a dash before the bytes that start a group.
                func put(_ word: UInt64, dashesBefore: (Int, Int)) {
                    for n in 0..<8 {
                        if n == dashesBefore.0 || n == dashesBefore.1 { out[k] = UInt8(ascii: "-"); k += 1 }
                        let pair = pairs[Int((word >> (56 - 8 * UInt64(n))) & 0xFF)]
                        out[k] = UInt8(truncatingIfNeeded: pair)
                        out[k + 1] = UInt8(truncatingIfNeeded: pair >> 8)
                        k += 2
                    }
                }
                put(hi, dashesBefore: (4, 6))   // xxxxxxxx-xxxx-4xxx-
                put(lo, dashesBefore: (0, 2))   // -yxxx-xxxxxxxxxxxx
                return k
            })
        }
    }
}
