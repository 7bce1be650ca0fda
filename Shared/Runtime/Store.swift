import Foundation
import GRDB
import Logging

/// A service's own SQLite database: WAL, `synchronous=FULL` (an acknowledged write is on disk),
/// and the runtime's tables (event log, consumer cursors) beside the service's own.
public final class Store: Sendable {
    public let pool: DatabasePool
    public let path: String
    /// Copies committed WAL pages into the database file from a connection of its own, so that a
    /// committing transaction never runs a checkpoint (SQLite's automatic one runs in the commit
    /// that crosses 1,000 pages, and every acknowledgement waiting on it waits longer).
    private let checkpoints: BackgroundCheckpoints

    /// Opens (creating if needed) the database at `path` and runs the runtime's migrations and then
    /// the service's (`migrations` registers them; names must be unique and never change).
    public init(path: String, migrations: (inout DatabaseMigrator) -> Void = { _ in }) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.label = (path as NSString).lastPathComponent
        pool = try DatabasePool(path: path, configuration: config)
        self.path = path
        // GRDB lowers synchronous to NORMAL when it opens WAL; restore FULL on the writer so that
        // a committed transaction is fsync'd before the commit returns.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        var migrator = DatabaseMigrator()
        Self.runtimeMigrations(&migrator)
        migrations(&migrator)
        try migrator.migrate(pool)
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_autocheckpoint = 0") }
        checkpoints = BackgroundCheckpoints(try DatabaseQueue(path: path, configuration: config), label: config.label ?? path)
    }

    deinit { checkpoints.stop() }

    /// The runtime's own migrations (event log, consumer cursors), registered before a service's.
    public static func runtimeMigrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("runtime-v1") { db in
            try db.execute(sql: """
                CREATE TABLE events (
                  seq INTEGER PRIMARY KEY,
                  event_id TEXT NOT NULL,
                  topic TEXT NOT NULL,
                  occurred_at REAL NOT NULL,
                  data BLOB NOT NULL
                );
                CREATE TABLE consumer_cursors (
                  stream TEXT PRIMARY KEY,
                  applied_seq INTEGER NOT NULL,
                  updated_at REAL NOT NULL
                );
                """)
        }
    }

    /// The writer connection's `PRAGMA synchronous` (2 = FULL).
    public func synchronousLevel() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// The journal mode (`wal`).
    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }
}

extension Database {
    /// Runs `sql` through the connection's statement cache: hot paths (every event, every
    /// submission) would otherwise spend most of their time in SQLite's parser.
    public func executeCached(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

/// A PASSIVE checkpoint every 100 ms on a connection and queue of its own: it copies what no reader
/// still needs and never blocks the writer; the next write transaction then starts the WAL over
/// from its beginning. A failing checkpoint is retried on the next round; the first failure and the
/// recovery are logged, so a WAL that keeps growing does not go unnoticed.
final class BackgroundCheckpoints: @unchecked Sendable {
    // A dispatch timer is safe to cancel from any thread; it is set up once, here.
    private let timer: DispatchSourceTimer

    init(_ connection: DatabaseQueue, label: String) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "checkpoint " + label, qos: .utility))
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        let logger = Logger(label: "liaison.store")
        var failing = false   // only touched on the timer's serial queue
        timer.setEventHandler {
            do {
                _ = try connection.inDatabase { db in try db.checkpoint(.passive) }
                if failing { logger.notice("WAL checkpoints work again", metadata: ["database": "\(label)"]) }
                failing = false
            } catch {
                if !failing { logger.warning("WAL checkpoint failed; retrying every 100 ms", metadata: ["database": "\(label)", "error": "\(error)"]) }
                failing = true
            }
        }
        timer.resume()
    }

    func stop() { timer.cancel() }
}
