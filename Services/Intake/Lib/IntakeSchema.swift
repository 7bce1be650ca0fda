import Foundation
import GRDB
import LiaisonRuntime

/// Intake's schema and what it reads back at start.
extension IntakeService {
    public static func migrations(_ m: inout DatabaseMigrator) {
        m.registerMigration("intake-v1") { db in
            try db.execute(sql: """
                CREATE TABLE submissions (
                  case_seq INTEGER PRIMARY KEY,
                  submission_id TEXT NOT NULL UNIQUE,
                  case_number TEXT NOT NULL UNIQUE,
                  tracking_token TEXT NOT NULL,
                  body BLOB NOT NULL,
                  contact BLOB,
                  received_at REAL NOT NULL,
                  state TEXT NOT NULL,
                  public_note TEXT NOT NULL,
                  updated_at REAL NOT NULL
                );
                """)
        }
        m.registerMigration("intake-v2-near-duplicates") { db in
            try db.execute(sql: """
                ALTER TABLE submissions ADD COLUMN linked_case_number TEXT;
                CREATE TABLE contact_fingerprints (
                  fingerprint TEXT NOT NULL,
                  case_number TEXT NOT NULL,
                  received_at REAL NOT NULL
                );
                CREATE INDEX contact_fingerprints_lookup ON contact_fingerprints(fingerprint, received_at);
                """)
        }
        // The fingerprints move into the submission's row (16 bytes each) and are looked up in
        // memory: a separate table and its index cost two B-tree inserts per submission.
        m.registerMigration("intake-v3-contact-prints-in-row") { db in
            try db.execute(sql: "ALTER TABLE submissions ADD COLUMN contact_prints BLOB")
            var prints: [String: Data] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT case_number, fingerprint FROM contact_fingerprints ORDER BY rowid") {
                guard let full = Data(base64Encoded: row["fingerprint"] as String), full.count >= 16 else { continue }
                prints[row["case_number"] as String, default: Data()].append(full.prefix(16))
            }
            for (caseNumber, p) in prints {
                try db.execute(sql: "UPDATE submissions SET contact_prints = ? WHERE case_number = ?", arguments: [p, caseNumber])
            }
            try db.execute(sql: "DROP TABLE contact_fingerprints")
        }
        // The case number is the instance prefix and the case sequence, so the primary key finds a
        // case by its number: a unique index on the number cost every submission one more B-tree
        // insert and one more page in its commit. SQLite cannot drop a UNIQUE constraint, so the
        // table is rebuilt without it (once, at start).
        m.registerMigration("intake-v4-case-number-by-sequence") { db in
            try rebuildSubmissions(db, as: "submissions_v4", submissionID: "TEXT NOT NULL UNIQUE")
        }
        // The submission ids are looked up in memory (``SubmissionKeys``): their unique index put
        // every submission on a random leaf page, one page more in every commit and one random page
        // more for every checkpoint. Rebuilt without it (once, at start).
        m.registerMigration("intake-v5-submission-ids-in-memory") { db in
            try rebuildSubmissions(db, as: "submissions_v5", submissionID: "TEXT NOT NULL")
        }
        // A submission's body is stored once, in its `feedback.received` event, which carries it
        // whole anyway: the row keeps the event's sequence and an empty body. Rows stored before
        // keep their body (``storedBody(_:_:)`` reads either). About a quarter fewer bytes written
        // per submission, in every commit and every checkpoint.
        m.registerMigration("intake-v6-body-in-event") { db in
            try db.execute(sql: "ALTER TABLE submissions ADD COLUMN event_seq INTEGER")
        }
        // When a case's contact was erased under the retention (``eraseEndedContacts(retention:limit:)``):
        // a table of its own, so that the submission's insert, which every citizen waits for,
        // writes no column more.
        m.registerMigration("intake-v7-contact-retention") { db in
            try db.execute(sql: "CREATE TABLE contact_erasures (case_seq INTEGER PRIMARY KEY, erased_at REAL NOT NULL)")
        }
        // A case merged into another (a duplicate): the case it follows, and that case's public state
        // as last heard, which its citizen's status reply shows (``applyCaseEvent(_:_:ownPrefix:)``). The merged
        // case's own row keeps `merged`, from which the contact retention counts, and its own public note.
        m.registerMigration("intake-v8-merged-cases-follow") { db in
            try db.execute(sql: """
                CREATE TABLE case_merges (
                  case_seq INTEGER PRIMARY KEY,
                  merged_into TEXT NOT NULL,
                  state TEXT NOT NULL DEFAULT '',
                  updated_at REAL
                )
                """)
            try db.execute(sql: "CREATE INDEX case_merges_by_target ON case_merges (merged_into)")
        }
        // The public state of every case that came in through another intake instance, as last heard
        // on the handlers' streams: a case of this intake merged into one of them shows its state at
        // once, also when that case moved before the merge (or on another partition's stream, heard
        // first). Known from this migration on; about 40 bytes a case.
        m.registerMigration("intake-v9-other-intakes-case-states") { db in
            try db.execute(sql: """
                CREATE TABLE other_case_states (
                  case_number TEXT PRIMARY KEY,
                  state TEXT NOT NULL,
                  updated_at REAL NOT NULL
                ) WITHOUT ROWID
                """)
        }
    }

    /// Rebuilds the submissions table with `submissionID` as that column's type and constraints,
    /// keeping every row (SQLite cannot drop a UNIQUE constraint in place). The other columns are
    /// as intake-v3 left them; a migration that changes them writes its own table.
    static func rebuildSubmissions(_ db: Database, as name: String, submissionID: String) throws {
        let columns = "case_seq, submission_id, case_number, tracking_token, body, contact, received_at, state, public_note, updated_at, linked_case_number, contact_prints"
        try db.execute(sql: """
            CREATE TABLE \(name) (
              case_seq INTEGER PRIMARY KEY,
              submission_id \(submissionID),
              case_number TEXT NOT NULL,
              tracking_token TEXT NOT NULL,
              body BLOB NOT NULL,
              contact BLOB,
              received_at REAL NOT NULL,
              state TEXT NOT NULL,
              public_note TEXT NOT NULL,
              updated_at REAL NOT NULL,
              linked_case_number TEXT,
              contact_prints BLOB
            );
            INSERT INTO \(name) (\(columns)) SELECT \(columns) FROM submissions;
            DROP TABLE submissions;
            ALTER TABLE \(name) RENAME TO submissions;
            """)
    }

    /// The contacts of submissions received since `since`, newest rows first until one is older.
    static func loadRecentContacts(_ log: EventLog, since: Date) throws -> RecentContacts {
        let limit = since.timeIntervalSince1970
        var seen: [(ContactPrint, RecentContacts.Seen)] = []
        try log.store.pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT case_seq, received_at, contact_prints FROM submissions ORDER BY case_seq DESC")
            while let row = try rows.next() {
                let at: Double = row["received_at"]
                if at < limit { break }
                guard let data = row["contact_prints"] as Data? else { continue }
                for p in ContactPrint.decode(data) { seen.append((p, .init(caseSeq: row["case_seq"], at: at))) }
            }
        }
        var recent = RecentContacts()
        for (p, s) in seen.reversed() { recent.add(p, s, window: .infinity) }
        return recent
    }
}
