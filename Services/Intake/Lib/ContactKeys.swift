import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Logging

/// How many stored contacts each key sealed, counted when intake starts, so that a key taken out
/// of the key file too early (or a key file replaced by one without the generated key) is reported
/// at once in the log, not months later when an operator needs a contact that cannot be opened.
public struct ContactKeyCensus: Sendable, Equatable {
    /// Contacts sealed with each configured key, in the key file's order (the current key first).
    public var configured: [(id: String, count: Int)]
    /// Contacts sealed with a key that is not configured, by that key's id (`?` for a stored
    /// contact too damaged to name its key).
    public var unknown: [String: Int]

    public static func == (a: Self, b: Self) -> Bool {
        a.configured.map(\.id) == b.configured.map(\.id) && a.configured.map(\.count) == b.configured.map(\.count) && a.unknown == b.unknown
    }

    /// Counts the contacts of `submissions` by the key id at the head of each sealed blob
    /// (`[1][id length][id]…`, ``ContactVault/seal(_:caseNumber:)``): one scan comparing each
    /// configured key's header in SQL; only the blobs none of them sealed are read into Swift.
    static func take(_ db: Database, vault: ContactVault) throws -> ContactKeyCensus {
        let headers: [(id: String, bytes: Data)] = vault.order.map { id in (id, Data([1, UInt8(id.utf8.count)] + Array(id.utf8))) }
        let matches = headers.map { "substr(contact, 1, \($0.bytes.count)) = ?" }
        let sums = matches.map { "COALESCE(SUM(\($0)), 0)" }.joined(separator: ", ")
        let arguments = StatementArguments(headers.map(\.bytes))
        let row = try Row.fetchOne(db, sql: "SELECT COUNT(contact), \(sums) FROM submissions", arguments: arguments)!
        let counts: [Int] = (0..<headers.count).map { row[$0 + 1] }
        var census = ContactKeyCensus(configured: zip(headers, counts).map { ($0.id, $1) }, unknown: [:])
        guard counts.reduce(0, +) < (row[0] as Int) else { return census }
        let none = matches.isEmpty ? "" : " AND NOT (" + matches.joined(separator: " OR ") + ")"
        let others = try Row.fetchCursor(db, sql: "SELECT substr(contact, 1, 257) FROM submissions WHERE contact IS NOT NULL\(none)",
                                         arguments: arguments)
        while let other = try others.next() {
            census.unknown[ContactVault.keyID(of: other[0] as Data? ?? Data()) ?? "?", default: 0] += 1
        }
        return census
    }

    /// One line for the log: `1,204 sealed with k2 (current), 56 with k1`.
    public var summary: String {
        let parts = configured.enumerated().map { i, k in
            "\(k.count) \(i == 0 ? "sealed with \(k.id) (current)" : "with \(k.id)")"
        }
        return parts.joined(separator: ", ")
    }
}

extension IntakeService {
    /// Seals every stored contact again with the vault's current key, a batch of rows per
    /// transaction, oldest first: after it the older keys can leave the key file (a key that may
    /// have leaked stops protecting anything only once nothing is sealed with it). Each contact
    /// stays bound to its case number. Run on a stopped intake's database (the command line claims
    /// it first); running it again finds nothing left to do.
    public static func resealContacts(_ log: EventLog, vault: ContactVault, batchSize: Int = 1_000,
                                      progress: (ResealReport) -> Void = { _ in }) throws -> ResealReport {
        let current = Data(vault.sealedHeader)
        var report = ResealReport()
        var after: Int64 = 0
        while true {
            let done = try log.store.pool.write { db -> Bool in
                let rows = try Row.fetchAll(db, sql: """
                    SELECT case_seq, case_number, contact FROM submissions
                    WHERE case_seq > ? AND contact IS NOT NULL AND substr(contact, 1, ?) != ?
                    ORDER BY case_seq LIMIT ?
                    """, arguments: [after, current.count, current, batchSize])
                for row in rows {
                    let seq: Int64 = row["case_seq"]
                    let caseNumber: String = row["case_number"]
                    let sealed = [UInt8](row["contact"] as Data)
                    after = seq
                    guard let contact = try? vault.open(sealed, caseNumber: caseNumber) else {
                        if let id = ContactVault.keyID(of: sealed), vault.keys[id] == nil { report.keyMissing[id, default: 0] += 1 } else { report.damaged += 1 }
                        continue
                    }
                    try db.execute(sql: "UPDATE submissions SET contact = ? WHERE case_seq = ?",
                                   arguments: [Data(try vault.seal(contact, caseNumber: caseNumber)), seq])
                    report.resealed += 1
                }
                return rows.count < batchSize
            }
            progress(report)
            if done { return report }
        }
    }
}

extension IntakeService {
    /// `liaison-intake --reseal-contacts`, key rotation's second step: claims the instance's
    /// database (refused while intake runs on it), seals what older keys sealed with the current
    /// one, and returns what to tell the operator, and whether every contact is now sealed with it.
    public static func resealContacts(config: ServiceConfig, vault: ContactVault, logger: Logger) throws -> (lines: [String], complete: Bool) {
        let log = try config.openLog(migrations: migrations)
        let started = SuspendingClock.now
        let report = try resealContacts(log, vault: vault) { soFar in
            if soFar.resealed > 0 && soFar.resealed % 100_000 == 0 { logger.info("re-sealed \(soFar.resealed) contacts so far") }
        }
        let census = try log.store.pool.read { db in try ContactKeyCensus.take(db, vault: vault) }
        let seconds = String(format: "%.1f", (SuspendingClock.now - started) / .seconds(1))
        let lines = ["re-sealed \(report.resealed) contact(s) with key \(vault.currentKeyID) in \(seconds) s; stored contact data now: \(census.summary)"]
            + report.problems(values: "stored contact(s)", movedFrom: "another case")
        return (lines, report.isComplete)
    }
}
