import GRDB

/// A service's database that SQLite finds damaged (`SQLITE_CORRUPT`, `SQLITE_NOTADB`): a disk
/// that returned bad blocks, a file overwritten or cut short by hand.
///
/// SQLite's own wording ("database disk image is malformed - while executing `SELECT …`") tells
/// the operator on call neither which file nor what to do. This error names both: the file, and
/// the way back (the newest complete backup, `liaison restore`, which moves the damaged files
/// aside), so a service refuses to start on it with a message that can be acted on at night.
public struct DamagedDatabase: Error, CustomStringConvertible, Sendable {
    /// The database file.
    public let path: String
    /// SQLite's own message.
    public let sqliteMessage: String

    public init(path: String, sqliteMessage: String) {
        self.path = path
        self.sqliteMessage = sqliteMessage
    }

    public var description: String {
        "the database \(path) is damaged (SQLite: \(sqliteMessage)). To recover, "
            + "stop the set and restore its newest complete backup: liaison restore --from BACKUP-DIR --data-dir DIR "
            + "(the damaged files are moved aside, not deleted), then start the set again"
    }

    /// True when `error` is SQLite finding a database damaged, at any point (opening it, a read,
    /// a write).
    public static func isDamage(_ error: any Error) -> Bool {
        guard let e = error as? DatabaseError else { return false }
        return e.resultCode == .SQLITE_CORRUPT || e.resultCode == .SQLITE_NOTADB
    }

    /// Runs `body`, which uses the database at `path`; SQLite's damage errors come out as a
    /// ``DamagedDatabase`` naming the file, every other error as it was.
    public static func naming<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let e as DatabaseError where isDamage(e) {
            throw DamagedDatabase(path: path, sqliteMessage: e.message ?? "\(e.resultCode)")
        }
    }
}
