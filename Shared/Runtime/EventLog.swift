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

    /// Runs `body` in one write transaction; events it appends commit with its other changes.
    @discardableResult
    public func write<T>(_ body: (Database, EventAppender) throws -> T) throws -> T {
        let (result, newHead): (T, UInt64) = try store.pool.write { db in
            let start = try UInt64.fetchOne(db, sql: "SELECT MAX(seq) FROM events") ?? 0
            let appender = EventAppender(db: db, stream: stream, head: start)
            let r = try body(db, appender)
            return (r, appender.head)
        }
        commits.add(1, ordering: .relaxed)
        if newHead > committedHead.load(ordering: .acquiring) {
            committedHead.store(newHead, ordering: .releasing)
            waker.ring()
        }
        return result
    }

    /// Reads stored events after `after` for a replay: at most `limit` rows are scanned, those
    /// whose topic starts with one of `prefixes` (all when empty) are returned.
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
            if !prefixes.isEmpty && !prefixes.contains(where: { topic.hasPrefix($0) }) { continue }
            let data: Data = row["data"]
            batch.events.append(try Liaison_V1_Event(serializedBytes: data))
        }
        let head = max(self.head, last)
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
struct RawEvent {
    var seq: UInt64
    var topic: String
    var data: [UInt8]
}

/// Appends events inside one ``EventLog/write(_:)`` transaction.
public final class EventAppender {
    let db: Database
    let stream: String
    private(set) var head: UInt64

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
        event.eventID = UUID().uuidString.lowercased()
        event.topic = topic
        event.occurredAt = .init(date: time)
        let data: Data = try event.serializedBytes()
        try db.cachedStatement(sql: "INSERT INTO events (seq, event_id, topic, occurred_at, data) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [Int64(event.seq), event.eventID, topic, time.timeIntervalSince1970, data])
        head = event.seq
        return event
    }
}
