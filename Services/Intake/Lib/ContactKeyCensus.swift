import Foundation
import GRDB

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
            let head = [UInt8](other[0] as Data? ?? Data())
            let id = head.count >= 2 && head[0] == 1 && head.count >= 2 + Int(head[1]) && head[1] > 0
                ? String(decoding: head[2..<(2 + Int(head[1]))], as: UTF8.self) : "?"
            census.unknown[id, default: 0] += 1
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
