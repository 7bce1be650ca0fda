import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Logging

/// What the scheduler keeps about people, sealed at rest with the contact keys (``ContactVault``,
/// the same key file as intake's): a registrant's name, a household's name and address, a visit's
/// record (its note). Each is bound to its row (the registration, the household's year and field,
/// the visit), so a sealed value copied to another row does not open there. None of it reaches the
/// stream or a log.
struct PersonalData: Sendable {
    let vault: ContactVault

    /// A sealed column: the table, the column, and the SQL that gives each row's owner, the same
    /// text as the Swift functions below (a re-sealing reads it in SQL, the requests in Swift).
    struct Column: Sendable {
        var table: String, column: String, owner: String
    }

    static let columns: [Column] = [
        .init(table: "registrations", column: "sealed_name", owner: "'registration ' || registration_id"),
        .init(table: "pairings", column: "sealed_name", owner: "'household ' || year || ' ' || household_id || ' name'"),
        .init(table: "pairings", column: "sealed_address", owner: "'household ' || year || ' ' || household_id || ' address'"),
        .init(table: "visits", column: "sealed_request", owner: "'visit ' || visit_id"),
    ]

    static func registration(_ id: String) -> String { "registration \(id)" }
    static func household(_ year: Int, _ id: String, _ field: String) -> String { "household \(year) \(id) \(field)" }
    static func visit(_ id: String) -> String { "visit \(id)" }

    func seal(_ text: String, for owner: String) throws -> Data { try seal(Array(text.utf8), for: owner) }
    func seal(_ bytes: [UInt8], for owner: String) throws -> Data { Data(try vault.seal(plain: bytes, boundTo: owner)) }

    /// The bytes sealed for `owner`; a value that does not open (a key taken out of the key file, a
    /// row changed on disk) is an `internal` error naming the row and the key, not a crash.
    func open(_ sealed: Data, for owner: String) throws -> [UInt8] {
        do { return try vault.open(plain: [UInt8](sealed), boundTo: owner) } catch {
            let key = ContactVault.keyID(of: sealed).map { " (sealed with key \($0))" } ?? ""
            throw WireError.internal("the personal data of \(owner) does not open\(key): \(error); is that key still in the contact key file?")
        }
    }

    func openText(_ sealed: Data, for owner: String) throws -> String { String(decoding: try open(sealed, for: owner), as: UTF8.self) }

    // MARK: migration

    /// `scheduler-v4-sealed`: the columns that held people's names, addresses and visit records in
    /// the clear are renamed `sealed_…` and every row already there is sealed in place.
    static func migrate(_ m: inout DatabaseMigrator, vault: ContactVault) {
        m.registerMigration("scheduler-v4-sealed") { db in
            // What the updates free is overwritten with zeros, not left in the file's free space.
            try db.execute(sql: """
                PRAGMA secure_delete = ON;
                ALTER TABLE registrations RENAME COLUMN name TO sealed_name;
                ALTER TABLE pairings RENAME COLUMN household_name TO sealed_name;
                ALTER TABLE pairings RENAME COLUMN address TO sealed_address;
                ALTER TABLE visits RENAME COLUMN request TO sealed_request;
                """)
            let data = PersonalData(vault: vault)
            for c in columns {
                let rows = try Row.fetchAll(db, sql: "SELECT rowid, \(c.owner), \(c.column) FROM \(c.table)")
                for row in rows {
                    // Names and addresses were text, a visit's record a blob (its RecordVisit).
                    let plain: [UInt8]
                    switch (row[2] as DatabaseValue).storage {
                    case .string(let text): plain = Array(text.utf8)
                    case .blob(let bytes): plain = [UInt8](bytes)
                    default: plain = []
                    }
                    try db.execute(sql: "UPDATE \(c.table) SET \(c.column) = ? WHERE rowid = ?",
                                   arguments: [try data.seal(plain, for: row[1]), row[0] as Int64])
                }
            }
        }
    }

    // MARK: keys

    /// How many sealed values each key sealed, by key id (`?` for a value too damaged to name one).
    static func census(_ db: Database) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for c in columns {
            for head in try Data.fetchAll(db, sql: "SELECT substr(\(c.column), 1, 257) FROM \(c.table)") {
                counts[ContactVault.keyID(of: head) ?? "?", default: 0] += 1
            }
        }
        return counts
    }

    /// One line for the start-up log, and whether some value was sealed with a key the vault lacks
    /// (an operator reading that programme would get an error: said now, not months later).
    static func announce(_ counts: [String: Int], vault: ContactVault, to logger: Logger) {
        let known = counts.filter { vault.order.contains($0.key) }
        let unknown = counts.filter { !vault.order.contains($0.key) }
        let summary = known.isEmpty ? "nothing sealed yet"
            : known.sorted { $0.key < $1.key }.map { "\($0.value) with \($0.key)\($0.key == vault.currentKeyID ? " (current)" : "")" }.joined(separator: ", ")
        logger.info("personal data sealed at rest: \(summary)")
        if !unknown.isEmpty {
            let which = unknown.sorted { $0.key < $1.key }.map { "\($0.value) with key \(WireError.quoted($0.key))" }.joined(separator: ", ")
            logger.error("personal data sealed with keys not in the contact key file, which cannot be read: \(which); put those keys back (under the current one)")
        }
    }

    /// Seals every value that an older key sealed again with the current one, a batch of rows a
    /// transaction: a key rotation's second step, after which the older keys can leave the key file.
    /// Running it again finds nothing left to do.
    static func reseal(_ log: EventLog, vault: ContactVault, batchSize: Int = 1_000) throws -> ResealReport {
        let data = PersonalData(vault: vault)
        var report = ResealReport()
        for c in columns {
            var after: Int64 = -1
            while true {
                let done = try log.store.pool.write { db -> Bool in
                    let rows = try Row.fetchAll(db, sql: """
                        SELECT rowid, \(c.owner), \(c.column) FROM \(c.table)
                        WHERE rowid > ? AND substr(\(c.column), 1, ?) != ? ORDER BY rowid LIMIT ?
                        """, arguments: [after, vault.sealedHeader.count, Data(vault.sealedHeader), batchSize])
                    for row in rows {
                        after = row[0]
                        let owner: String = row[1], sealed: Data = row[2]
                        guard let plain = try? vault.open(plain: [UInt8](sealed), boundTo: owner) else {
                            if let id = ContactVault.keyID(of: sealed), vault.keys[id] == nil { report.keyMissing[id, default: 0] += 1 } else { report.damaged += 1 }
                            continue
                        }
                        try db.execute(sql: "UPDATE \(c.table) SET \(c.column) = ? WHERE rowid = ?", arguments: [try data.seal(plain, for: owner), after])
                        report.resealed += 1
                    }
                    return rows.count < batchSize
                }
                if done { break }
            }
        }
        return report
    }
}

extension SchedulerService {
    /// `liaison-scheduler --reseal-contacts`, key rotation's second step: claims the instance's
    /// database (refused while the scheduler runs on it), seals what older keys sealed with the
    /// current one, and returns what to tell the operator, and whether everything is now sealed with it.
    public static func resealPersonalData(config: ServiceConfig, vault: ContactVault) throws -> (lines: [String], complete: Bool) {
        let log = try config.openLog(migrations: migrations(vault: vault))
        let report = try PersonalData.reseal(log, vault: vault)
        let counts = try log.store.pool.read { db in try PersonalData.census(db) }
        let now = counts.sorted { $0.key < $1.key }.map { "\($0.value) with \($0.key)" }.joined(separator: ", ")
        let lines = ["re-sealed \(report.resealed) value(s) of personal data with key \(vault.currentKeyID); sealed now: \(now.isEmpty ? "nothing" : now)"]
            + report.problems(values: "value(s)", movedFrom: "another row")
        return (lines, report.isComplete)
    }
}
