import Foundation
import GRDB
import GRDBSQLite

/// Binds one row's values, in parameter order, straight to a prepared statement's SQLite handle
/// (see ``GRDB/Database/executeBound(_:_:)``).
///
/// Strings and blobs are copied into a scratch buffer the call owns (on its stack) and bound from there
/// (`SQLITE_STATIC`): one `memcpy` each, where handing them to SQLite to copy (`SQLITE_TRANSIENT`)
/// costs SQLite an allocation, a copy and a free per value (callgrind: about 6,000 instructions a
/// submission's two rows). A value that does not fit in what is left of the buffer is copied by
/// SQLite. Either way the values need not outlive the call: the buffer's values are unbound again
/// before it is freed.
public struct RowBinder: ~Copyable {
    let handle: OpaquePointer
    var index: Int32 = 1
    let scratch: UnsafeMutableRawBufferPointer
    var used = 0
    /// The parameters (1–64) bound from `scratch`, one bit each.
    var boundFromScratch: UInt64 = 0

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
    private static let staticValue = unsafeBitCast(0, to: sqlite3_destructor_type.self)

    /// Copies `bytes` into the scratch buffer: where they are, or nil when they do not fit (or the
    /// parameter's number is past what `boundFromScratch` tracks).
    private mutating func place(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawPointer? {
        guard index <= 64, let base = scratch.baseAddress, bytes.count <= scratch.count - used, let from = bytes.baseAddress else { return nil }
        let at = base + used
        at.copyMemory(from: from, byteCount: bytes.count)
        used += (bytes.count + 7) & ~7
        boundFromScratch |= 1 << UInt64(index - 1)
        return UnsafeRawPointer(at)
    }

    /// Unbinds every value bound from the scratch buffer, so that the statement keeps no pointer into it.
    mutating func releaseScratch() {
        var bits = boundFromScratch
        while bits != 0 {
            let bit = Int32(bits.trailingZeroBitCount)
            sqlite3_bind_null(handle, bit + 1)
            bits &= bits - 1
        }
        boundFromScratch = 0
    }

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
            let count = Int32(utf8.count)
            if let base = utf8.baseAddress {
                if let placed = place(UnsafeRawBufferPointer(utf8)) {
                    sqlite3_bind_text(handle, index, placed.assumingMemoryBound(to: CChar.self), count, Self.staticValue)
                } else {
                    base.withMemoryRebound(to: CChar.self, capacity: utf8.count) { _ = sqlite3_bind_text(handle, index, $0, count, Self.transient) }
                }
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
            if let placed = place(bytes) {
                _ = sqlite3_bind_blob(handle, index, placed, Int32(bytes.count), Self.staticValue)
            } else {
                _ = sqlite3_bind_blob(handle, index, base, Int32(bytes.count), Self.transient)
            }
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
        // On the stack when the thread has room for it (the standard library checks): no
        // allocation per row.
        try withUnsafeTemporaryAllocation(byteCount: RowBinder.scratchSize, alignment: 16) { scratch in
            var binder = RowBinder(handle: handle, scratch: scratch)
            bind(&binder)
            // Every parameter is bound for every row, so nothing of the row before can be left over
            // (cheaper than clearing the bindings after each row, which SQLite does one by one).
            let parameters = sqlite3_bind_parameter_count(handle)
            guard binder.index == parameters + 1 else {
                binder.releaseScratch()
                throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "\(binder.index - 1) values bound to \(parameters) parameters", sql: statement.sql)
            }
            let code = sqlite3_step(handle)
            let failure = code == SQLITE_DONE || code == SQLITE_ROW ? nil : String(cString: sqlite3_errmsg(sqliteConnection))
            sqlite3_reset(handle)
            binder.releaseScratch()
            if let failure { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: failure, sql: statement.sql) }
        }
    }
}

extension RowBinder {
    /// Bytes of strings and blobs a row may bind from its own buffer before SQLite copies the rest:
    /// a submission's row with a 4,000-character text fits.
    static let scratchSize = 32 * 1024
}
