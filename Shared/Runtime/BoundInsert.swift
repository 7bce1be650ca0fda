import Foundation
import GRDB
import GRDBSQLite

/// Binds one row's values, in parameter order, straight to a prepared statement's SQLite handle
/// (see ``GRDB/Database/executeBound(_:_:)``). Strings and blobs are copied by SQLite
/// (`SQLITE_TRANSIENT`), so they need not outlive the call.
public struct RowBinder: ~Copyable {
    let handle: OpaquePointer
    var index: Int32 = 1

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    public mutating func int(_ value: Int64) {
        sqlite3_bind_int64(handle, index, value)
        index += 1
    }

    public mutating func double(_ value: Double) {
        sqlite3_bind_double(handle, index, value)
        index += 1
    }

    public mutating func null() {
        sqlite3_bind_null(handle, index)
        index += 1
    }

    public mutating func text(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            if let base = utf8.baseAddress {
                base.withMemoryRebound(to: CChar.self, capacity: utf8.count) { _ = sqlite3_bind_text(handle, index, $0, Int32(utf8.count), Self.transient) }
            } else {
                sqlite3_bind_text(handle, index, "", 0, Self.transient)
            }
        }
        index += 1
    }

    /// The text, or NULL.
    public mutating func text(_ value: String?) {
        if let value { text(value) } else { null() }
    }

    // Blobs by concrete type, not `some ContiguousBytes`: a generic called from another module
    // runs unspecialized and looks up type metadata on every call (callgrind: 1,100 instructions).

    public mutating func blob(_ value: [UInt8]) {
        value.withUnsafeBytes { blob(raw: $0) }
    }

    public mutating func blob(_ value: Data) {
        value.withUnsafeBytes { blob(raw: $0) }
    }

    mutating func blob(raw bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress, !bytes.isEmpty {
            _ = sqlite3_bind_blob(handle, index, base, Int32(bytes.count), Self.transient)
        } else {
            _ = sqlite3_bind_zeroblob(handle, index, 0)   // empty, not NULL
        }
        index += 1
    }

    /// The bytes, or NULL.
    public mutating func blob(_ value: Data?) {
        if let value { blob(value) } else { null() }
    }

    /// The bytes, or NULL.
    public mutating func blob(_ value: [UInt8]?) {
        if let value { blob(value) } else { null() }
    }
}

extension Database {
    /// Runs `statement` (one that returns no rows: an insert, an update) with the values `bind`
    /// gives its parameters, in order.
    ///
    /// For the statements every submission and every event runs. GRDB's `execute(arguments:)`
    /// builds an array of existential values and validates and converts each one, which cost as much
    /// as SQLite's own work for a row (the intake benchmark: a 12-column insert 9–11 µs that way,
    /// 5–6 µs this way). Call it inside a transaction opened through GRDB, on the connection's
    /// queue, with a statement from this connection (`cachedStatement`). GRDB's database
    /// observation does not see these statements; nothing in Liaison observes the database.
    /// - Throws: `DatabaseError` with SQLite's result code and message when the statement fails.
    public func executeBound(_ statement: Statement, _ bind: (inout RowBinder) -> Void) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        var binder = RowBinder(handle: handle)
        bind(&binder)
        // Every parameter is bound for every row, so nothing of the row before can be left over
        // (cheaper than clearing the bindings after each row, which SQLite does one by one).
        let parameters = sqlite3_bind_parameter_count(handle)
        guard binder.index == parameters + 1 else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "\(binder.index - 1) values bound to \(parameters) parameters", sql: statement.sql)
        }
        let code = sqlite3_step(handle)
        let failure = code == SQLITE_DONE || code == SQLITE_ROW ? nil : String(cString: sqlite3_errmsg(sqliteConnection))
        sqlite3_reset(handle)
        if let failure { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: failure, sql: statement.sql) }
    }
}
