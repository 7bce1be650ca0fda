import Foundation
import GRDB
import Logging
import Synchronization

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
    /// - Parameter walRestartFrames: once the WAL holds this many frames (4 KiB pages) and the
    ///   background checkpoint has copied them, the writer finishes the checkpoint before its next
    ///   transaction so that the WAL starts over from its beginning (see ``write(_:)``).
    public init(path: String, walRestartFrames: Int = 1_000, migrations: (inout DatabaseMigrator) -> Void = { _ in }) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try ConfigFiles.makeDirectory(dir, key: "data-dir")
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
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            // After a burst that grew it, a restarted WAL is cut back to 64 MiB.
            try db.execute(sql: "PRAGMA journal_size_limit = \(64 << 20)")
        }
        checkpoints = BackgroundCheckpoints(try DatabaseQueue(path: path, configuration: config), label: config.label ?? path,
                                            restartFrames: walRestartFrames)
    }

    /// Runs `body` on the writer connection, outside any transaction (open one inside); first lets
    /// the WAL start over when that is due.
    ///
    /// Under a steady stream of commits the background checkpoint never finds the WAL fully copied
    /// (each commit adds frames while it runs), and SQLite restarts the WAL from its beginning only
    /// when it is. Without help the WAL would grow for as long as writes keep coming, and every
    /// commit would extend the file (an fsync that also writes the file's size costs about twice
    /// one that overwrites). So once the WAL holds `walRestartFrames` frames, the writer copies the
    /// few frames the background round left behind, before its next transaction (not after a
    /// commit, which would hold back that commit's acknowledgements); that transaction then writes
    /// from the WAL's start again, over pages already allocated.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            checkpoints.finishIfDue(db)
            return try body(db)
        }
    }

    /// How many times the writer finished a checkpoint so that the WAL could start over.
    public var walRestarts: UInt64 { checkpoints.finished.load(ordering: .relaxed) }

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
/// still needs and never blocks the writer. When the WAL has grown past `restartFrames`, it asks
/// the writer to finish the job (``finishIfDue(_:)``) so that the WAL can start over. A failing
/// checkpoint is retried on the next round; the first failure (a busy lock only after 5 s of it)
/// and the recovery are logged, so a WAL that keeps growing does not go unnoticed.
final class BackgroundCheckpoints: @unchecked Sendable {
    // A dispatch timer is safe to cancel from any thread; it is set up once, here.
    private let timer: DispatchSourceTimer
    private let queue: DispatchQueue
    /// The checkpointing connection; only touched on `queue`, nil once stopped.
    private var connection: DatabaseQueue?
    /// Set by a background round that found the WAL long; taken by the writer before its next transaction.
    let due = Atomic<Bool>(false)
    /// Checkpoints the writer finished.
    let finished = Atomic<UInt64>(0)

    init(_ connection: DatabaseQueue, label: String, restartFrames: Int) {
        self.connection = connection
        queue = DispatchQueue(label: "checkpoint " + label, qos: .utility)
        timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        let logger = Logger(label: "liaison.store")
        // Only touched on the timer's serial queue. Failures every 100 ms are logged as any repeated
        // failure is: at once, then every ten seconds with a count, then when it works again.
        var failures = RepeatedFailureLog("WAL checkpoint")
        var busyRounds = 0
        timer.setEventHandler { [weak self] in
            guard let self, let connection = self.connection else { return }
            do {
                let (frames, _) = try connection.inDatabase { db in try db.checkpoint(.passive) }
                // Right after a round only the frames committed during it are left to copy.
                if frames >= restartFrames { self.due.store(true, ordering: .releasing) }
                failures.succeeded(logger: logger, metadata: ["database": "\(label)"])
                busyRounds = 0
            } catch let e as DatabaseError where e.resultCode == .SQLITE_BUSY && busyRounds < Self.quietBusyRounds {
                // Another checkpoint holds the lock (the writer finishing one, a migration at
                // start): the normal case, tried again next round. Only a lock held for seconds is
                // worth an operator's attention.
                busyRounds += 1
            } catch {
                failures.failed(error, logger: logger, metadata: ["database": "\(label)", "retrying": "every 100 ms"])
            }
        }
        timer.resume()
    }

    /// Stops the rounds and closes the checkpointing connection before returning (after a round
    /// that is running finishes): once a store is released none of its files stays open, and its
    /// directory can be removed without a late round creating files in it again.
    func stop() {
        timer.cancel()
        queue.sync { connection = nil }
    }

    /// Rounds in a row that may find the checkpoint lock taken before it is logged (5 s).
    static let quietBusyRounds = 50

    /// On the writer, outside a transaction: copies the frames the last background round left (a
    /// few commits' worth), so that the write transaction that follows restarts the WAL. A busy
    /// checkpoint (the background one is running) is tried again before the next transaction.
    func finishIfDue(_ db: Database) {
        guard !db.isInsideTransaction, due.exchange(false, ordering: .acquiring) else { return }
        if (try? db.checkpoint(.passive)) != nil {
            finished.add(1, ordering: .relaxed)
        } else {
            due.store(true, ordering: .releasing)
        }
    }
}
