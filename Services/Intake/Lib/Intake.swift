import Foundation
import GRDB
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import Logging
import Synchronization

/// Intake: takes public feedback, commits it durably (group commit), acknowledges it with a case
/// number and tracking token, and publishes `feedback.received` without the contact data.
public final class IntakeService: RequestHandling {
    let log: EventLog
    /// The submission rules and the unit directory they check codes against; replaced whole by
    /// ``reloadUnits(path:)``, read once a batch.
    let currentRules: Mutex<SubmissionRules>
    /// The rules in force now.
    var rules: SubmissionRules { currentRules.withLock { $0 } }
    let vault: ContactVault
    let nearDuplicates: NearDuplicates
    /// Contacts seen within the near-duplicate window; touched only inside the write transaction.
    let recentContacts: Mutex<RecentContacts>
    /// Trigrams of texts recently compared for near-duplicates; touched only inside the write
    /// transaction.
    let trigramCache = Mutex(TrigramCache())
    /// Refused contact lookups, logged without flooding the log.
    let refusals = Mutex(SampledLogs(interval: 1))
    /// Failed commits (a full disk fails every one): logged without flooding the log.
    let commitFailures = Mutex(RepeatedFailureLog("commit"))
    /// Every stored submission id and its case; touched only inside the write transaction.
    let submissionKeys: Mutex<SubmissionKeys>
    /// The last committed case sequence: only ``commit(_:)`` adds submissions, and it moves this
    /// once its transaction has committed.
    let lastCaseSeq: Mutex<Int64>
    /// The operator secrets that may read contact data (reloaded on SIGHUP).
    public let operators: OperatorRoster
    let casePrefix: String
    let clock: WallClock
    let logger: Logger
    /// The stored contacts by the key that sealed them, as counted at start.
    public let contactKeys: ContactKeyCensus

    /// - Parameter casePrefix: starts every case number of this instance (`L1` → `L1-0000042`).
    /// - Throws: when the contacts of the near-duplicate window cannot be read back from the database.
    public init(log: EventLog, casePrefix: String, vault: ContactVault, operators: OperatorCredentials = .init(secrets: []),
                units: UnitDirectory = .demo, phones: PhoneNumbering = .standard, clock: WallClock = SystemClock(), logger: Logger) throws {
        self.log = log
        self.vault = vault
        let nearDuplicates = NearDuplicates(key: vault.fingerprintKey, numbering: phones)
        self.nearDuplicates = nearDuplicates
        self.recentContacts = Mutex(try Self.loadRecentContacts(log, since: clock.now().addingTimeInterval(-nearDuplicates.window)))
        self.submissionKeys = Mutex(try log.store.pool.read { db in try SubmissionKeys.load(db) })
        self.lastCaseSeq = Mutex(try log.store.pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(case_seq) FROM submissions") } ?? 0)
        self.operators = OperatorRoster(operators)
        self.currentRules = Mutex(SubmissionRules(units: units))
        self.casePrefix = casePrefix
        self.clock = clock
        self.logger = logger
        let census = try log.store.pool.read { db in try ContactKeyCensus.take(db, vault: vault) }
        self.contactKeys = census
        logger.info("stored contact data: \(census.summary)")
        for (id, count) in census.unknown.sorted(by: { $0.key < $1.key }) {
            logger.error("\(count) stored contact(s) are sealed with key \(WireError.quoted(id)), which is not in the contact keys: operators cannot read them until that key is back (add its line under the current one)")
        }
    }

    /// Reads the unit directory again (`path`, else `$LIAISON_UNITS`, else the demo city) and checks
    /// the next submissions against it: a station or community office that opens is known without
    /// a restart (SIGHUP). A directory that does not load or validate is refused whole, and the one
    /// in force stays.
    public func reloadUnits(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let next = SubmissionRules(units: try UnitDirectory.resolve(path: path, environment: environment))
        currentRules.withLock { $0 = next }
        logger.notice("unit directory reloaded", metadata: ["units": "\(next.units.units.count)"])
    }

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

    /// Builds the whole intake instance for `config`: the host to run, and the service (to reload
    /// its unit directory).
    public static func host(config: ServiceConfig, vault: ContactVault, operators: OperatorCredentials, units: UnitDirectory = .demo,
                            phones: PhoneNumbering = .standard, retention: ContactRetention = .standard, clock: WallClock = SystemClock(),
                            options: RequestLoopOptions = .init(), logger: Logger) throws -> (ServiceHost, IntakeService) {
        let log = try config.openLog(migrations: migrations)
        let service = try IntakeService(log: log, casePrefix: "L\(config.index + 1)", vault: vault, operators: operators,
                                    units: units, phones: phones, clock: clock, logger: logger)
        // Follow every handler partition's case events, so the citizen's status reply shows the case's
        // public state and the public notes given to them.
        try service.rebuildStatusesAfterRestore(handlers: config.topology.instances(of: "handler").map(\.stream))
        let prefix = service.casePrefix
        let consumers = try config.topology.instances(of: "handler").map { up in
            try Consumer(upstream: up, topicPrefixes: ["case."], log: log, logger: logger) { db, _, event in
                try IntakeService.applyCaseEvent(db, event, ownPrefix: prefix)
            }
        }
        logger.info("contact data \(retention)")
        let timers = service.retentionTimer(retention, name: config.instance.stream).map { [$0] } ?? []
        return (ServiceHost(config: config, log: log, handler: service, consumers: consumers, extraLoops: timers, options: options, logger: logger), service)
    }

    /// ``answer(_:)``'s replies as messages (the encoded ones decoded), each with its request's id:
    /// for callers in the same process, such as tests.
    public func handle(_ requests: [Liaison_V1_Request]) -> [Liaison_V1_Reply] {
        let answers = answer(requests)
        return requests.indices.map { answers[$0].message(requestID: requests[$0].requestID) }
    }

    /// Answers a batch of requests; every submission among them in one transaction. An accepted
    /// submission's reply leaves encoded (``WireWriter/acceptance(caseNumber:trackingToken:duplicate:linkedCaseNumber:)``).
    public func answer(_ requests: [Liaison_V1_Request]) -> [OutgoingReply] { answer(requests, operatorKeys: []) }

    /// The submissions of a batch share one transaction (group commit).
    public var commitsBatchesTogether: Bool { true }

    /// ``answer(_:)``, where a request that came with a CURVE key let in as an operator
    /// (`operatorKeys[i]`, its allow-list name) may read contact data without an operator secret.
    public func answer(_ requests: [Liaison_V1_Request], operatorKeys: [String?]) -> [OutgoingReply] {
        // Plain arrays, not optionals or tuples of these structs: the runtime copies and destroys
        // those through generic value witnesses, several times a request (callgrind: 4,000
        // instructions a submission).
        var replies = [OutgoingReply](repeating: Self.unanswered, count: requests.count)
        var submitAt: [Int] = []
        var submits: [Prepared] = []
        var disclosedAt: [Int] = []
        var disclosures: [Disclosure] = []
        let now = clock.now()
        let rules = self.rules   // one directory for the whole batch, whatever a reload does meanwhile
        for i in requests.indices {
            // One copy of the body, then a switch on it: switching on `requests[i].body` copies the
            // optional body once for every case tried.
            guard let body = requests[i].body else {
                replies[i] = .message(.failure(.invalidArgument("body", "intake does not answer this request")))
                continue
            }
            switch body {
            case .submitFeedback(let s):
                if let err = rules.check(s, now: now) {
                    replies[i] = .message(.failure(err))
                } else {
                    do {
                        submits.append(try Prepared(s, rules: rules, nearDuplicates: nearDuplicates))
                        submitAt.append(i)
                    } catch {
                        replies[i] = .message(.failure(.internal("the submission could not be encoded: \(error)")))
                    }
                }
            case .getFeedbackStatus(let q):
                replies[i] = .message(status(q))
            case .getContact(let q):
                switch contact(q, credential: requests[i].credential, operatorKey: operatorKey(operatorKeys, i)) {
                case .answered(let reply): replies[i] = .message(reply)
                case .disclose(let reply, let record):
                    disclosures.append(record)
                    disclosedAt.append(i)
                    replies[i] = .message(reply)
                }
            default:
                replies[i] = .message(.failure(.invalidArgument("body", "intake does not answer this request")))
            }
        }
        if !submits.isEmpty {
            // Group commit: every submission that arrived together in one fsync'd transaction; the
            // acknowledgements leave only after it commits.
            do {
                let accepted = try commit(submits)
                for (k, i) in submitAt.enumerated() { replies[i] = accepted[k] }
                commitFailures.withLock { if $0.isFailing { $0.succeeded(logger: logger) } }
            } catch {
                commitFailures.withLock {
                    $0.failed(error, logger: logger, now: clock.now(), metadata: ["batch": "\(submits.count)", "acknowledged": "none of the batch"])
                }
                for i in submitAt { replies[i] = .message(.failure(.unavailable("could not store the submission; retry with the same submission_id", retryAfterMs: 500))) }
            }
        }
        if !disclosures.isEmpty {
            // No contact leaves before the record of its disclosure is durable.
            do {
                try record(disclosures)
            } catch {
                logger.error("contact disclosures could not be recorded; none sent", metadata: ["count": "\(disclosures.count)", "error": "\(error)"])
                for i in disclosedAt {
                    replies[i] = .message(.failure(.unavailable("could not record the disclosure, so the contact is not sent; retry", retryAfterMs: 500)))
                }
            }
        }
        return replies
    }

    /// What a request gets if nothing above answered it (every path does).
    static let unanswered = OutgoingReply.message(.failure(.internal("no answer")))

    /// A valid submission made ready for its transaction: what needs no database. A class: as a
    /// struct, every copy (into the batch, out of it in the transaction's loop) retained and
    /// released each of its two dozen references.
    final class Prepared {
        let id: String
        /// The submission without its contact, in its canonical form (``SubmissionRules/canonicalize(_:)``):
        /// what is stored in the clear and published.
        let body: Liaison_V1_SubmitFeedback
        let bodyBytes: [UInt8]
        /// The body as the client sent it, when that was not the canonical form: a retry matches a
        /// submission stored before the canonical form existed.
        let bodyAsSent: [UInt8]?
        /// The canonical body before the phone numbers, e-mail addresses, identity and card numbers
        /// in its text were taken out, when any were: what a submission stored before intake took
        /// them holds.
        let bodyBeforeTaking: [UInt8]?
        /// The canonical body and what was taken from its text as earlier intakes took it, where
        /// that differs from today (a retry across an upgrade is the same submission, not a
        /// conflict): before intake took card numbers, only the other numbers taken (for a text
        /// holding both); before 2026-12-06, an address with the dash or underscore after it, and a
        /// number right before an address beginning with digits left (``ContactInText/Reading``).
        let earlierReadings: [(body: [UInt8], fromText: [String])]
        /// The contact as sent, in the form it is sealed; nil for an anonymous submission.
        let contact: Liaison_V1_Contact?
        /// What was taken from the text (``ContactInText``), as written, sealed with the contact.
        let fromText: [String]
        let prints: [ContactPrint]

        init(_ s: Liaison_V1_SubmitFeedback, rules: SubmissionRules, nearDuplicates: NearDuplicates) throws {
            id = s.submissionID
            var canonical = s
            let changed = rules.canonicalize(&canonical)
            canonical.clearContact()
            // A phone number, e-mail address, identity or card number typed into the text is
            // contact data too: taken out into the sealed contact, a marker in its place, so that it
            // is on no stream and in no listing. Most texts hold fewer than 7 digits and no `@`, and
            // are not walked.
            let taken = ContactInText.all(in: canonical.text)
            earlierReadings = taken.isEmpty ? [] : try Self.earlierReadings(of: canonical, taken: taken)
            bodyBeforeTaking = try Self.takeContacts(taken, from: &canonical)
            bodyBytes = try WireWriter.submission(canonical)
            body = consume canonical
            if changed {
                var sent = s
                sent.clearContact()
                bodyAsSent = try WireWriter.submission(sent)
            } else {
                bodyAsSent = nil
            }
            contact = s.hasContact ? SubmissionRules.contactAsStored(s.contact) : nil
            prints = contact.map { nearDuplicates.fingerprints($0) } ?? []
            fromText = taken.isEmpty ? [] : taken.map(\.value)
        }

        /// What earlier intakes stored for `s` (its canonical body, its contact cleared), where that
        /// differs from `taken`, what is taken from its text today: ``earlierReadings``.
        static func earlierReadings(of s: Liaison_V1_SubmitFeedback, taken: [ContactInText.Found]) throws -> [(body: [UInt8], fromText: [String])] {
            // Only around an address can a text have been read otherwise: most are not read again.
            let earlier = taken.contains { $0.kind == .email } ? ContactInText.all(in: s.text, reading: .before20261206) : taken
            var readings: [[ContactInText.Found]] = []
            if earlier != taken { readings.append(earlier) }
            // Before card numbers (and before addresses ended as they do now).
            if earlier.contains(where: { $0.kind == .cardNumber }), earlier.contains(where: { $0.kind != .cardNumber }) {
                readings.append(earlier.filter { $0.kind != .cardNumber })
            }
            return try readings.map { found in
                var before = s
                before.text = ContactInText.withMarkers(s.text, replacing: found)
                return (try WireWriter.submission(before), found.map(\.value))
            }
        }

        /// Replaces `taken` (found in `s.text`) by their markers; returns the body as it was
        /// before, encoded, or nil when nothing was taken.
        static func takeContacts(_ taken: [ContactInText.Found], from s: inout Liaison_V1_SubmitFeedback) throws -> [UInt8]? {
            guard !taken.isEmpty else { return nil }
            let before = try WireWriter.submission(s)
            s.text = ContactInText.withMarkers(s.text, replacing: taken)
            return before
        }

        /// What is sealed, as it is opened: the contact and what was taken from the text; nil for
        /// neither.
        var sealed: Liaison_V1_SealedContact? {
            contact == nil && fromText.isEmpty ? nil : Liaison_V1_SealedContact(contact, fromText: fromText)
        }

        /// The contact as sent, nothing taken from the text: what a submission stored before
        /// intake took them holds.
        var sealedAsSent: Liaison_V1_SealedContact? { contact.map { Liaison_V1_SealedContact($0, fromText: []) } }
    }

    /// What the citizen sees of a case's state: no internal detail (units, officers, escalations).
    public static func publicState(_ state: String) -> String {
        switch state {
        case "responded": "responded"
        case "awaiting_citizen": "waiting_for_you"
        case "resolved": "resolved"
        case "closed": "closed"
        case "merged": "merged"
        case "not_police_responsibility": "referred_elsewhere"
        default: "being_handled"
        }
    }

    /// What the citizen of a case merged into `target` is told: the case goes on as `target`, whose
    /// state their status shows from then on (they hold no token for it).
    static func mergedNote(_ target: String) -> String {
        "Your case was joined with case \(target), which deals with the same matter; its progress shows here."
    }

    /// After `liaison restore` set back this intake's cursor on a handler partition (intake's copy
    /// had applied events that the handler's older copy lacks; the handler makes new ones under
    /// those numbers), the statuses of that partition's cases may show a response or a note the
    /// office has no record of. They are made again from the partition's whole stream: each reset
    /// to "received" and the cursor to 0, in one transaction, before the consumer starts; it then
    /// applies the stream from the start, as it did the first time.
    /// - Parameter handlers: the handler partitions' streams, in partition order.
    public func rebuildStatusesAfterRestore(handlers: [String]) throws {
        try log.store.pool.write { db in
            for setback in try CursorSetbacks.pending(db) {
                guard let partition = handlers.firstIndex(of: setback.stream) else { continue }
                var reset = 0
                let rows = try Row.fetchAll(db, sql: "SELECT case_seq, case_number FROM submissions WHERE state != 'received' OR public_note != ''")
                for row in rows where CasePartition.owner(of: row["case_number"], count: handlers.count) == partition {
                    try db.execute(sql: "UPDATE submissions SET state = 'received', public_note = '', updated_at = received_at WHERE case_seq = ?",
                                   arguments: [row["case_seq"] as Int64])
                    reset += 1
                }
                // The merges that partition's stream made, and what its cases told the cases merged
                // into them, are heard again as it is applied again.
                for row in try Row.fetchAll(db, sql: "SELECT m.case_seq, s.case_number, m.merged_into FROM case_merges m JOIN submissions s USING (case_seq)") {
                    if CasePartition.owner(of: row["case_number"], count: handlers.count) == partition {
                        try db.execute(sql: "DELETE FROM case_merges WHERE case_seq = ?", arguments: [row["case_seq"] as Int64])
                    } else if CasePartition.owner(of: row["merged_into"], count: handlers.count) == partition {
                        try db.execute(sql: "UPDATE case_merges SET state = '', updated_at = NULL WHERE case_seq = ?",
                                       arguments: [row["case_seq"] as Int64])
                    }
                }
                for number in try String.fetchAll(db, sql: "SELECT case_number FROM other_case_states")
                where CasePartition.owner(of: number, count: handlers.count) == partition {
                    try db.execute(sql: "DELETE FROM other_case_states WHERE case_number = ?", arguments: [number])
                }
                try db.execute(sql: "UPDATE consumer_cursors SET applied_seq = 0 WHERE stream = ?", arguments: [setback.stream])
                try CursorSetbacks.clear(db, stream: setback.stream)
                logger.notice("after the restore, the citizens' statuses of \(setback.stream)'s cases are made again from its whole stream",
                              metadata: ["cases": "\(reset)", "cursor_was": "\(setback.from)", "its_head": "\(setback.to)"])
            }
        }
    }

    /// Applies one handler event to the citizen-facing status: the public state, and the public note
    /// when the event carries one. Internal notes never reach the handler's stream.
    /// - Parameter ownPrefix: this instance's case prefix (`L1`); the cases of the other instances
    ///   keep only their public state, for the cases of this one merged into them.
    static func applyCaseEvent(_ db: Database, _ event: Liaison_V1_Event, ownPrefix: String) throws {
        let at = event.occurredAt.date.timeIntervalSince1970
        func isOwn(_ number: String) -> Bool { Self.isOwn(number, prefix: ownPrefix) }
        /// The citizens of the cases merged into `number` see its state. Not its public notes: those
        /// were written to its own citizen; a merged case keeps its own (`note --public`).
        func tellFollowers(of number: String, state: String) throws {
            try db.executeCached(sql: "UPDATE case_merges SET state = ?, updated_at = ? WHERE merged_into = ?", arguments: [state, at, number])
        }
        switch event.payload {
        case .caseOpened(let c)?:
            let state = publicState("triaged")
            if isOwn(c.caseNumber) {
                guard let seq = CaseNumber.sequence(of: c.caseNumber) else { return }
                try db.executeCached(sql: "UPDATE submissions SET state = ?, updated_at = ? WHERE case_seq = ? AND case_number = ? AND state = 'received'",
                                     arguments: [state, at, seq, c.caseNumber])
            } else {
                try rememberOtherCase(db, c.caseNumber, state: state, at: at)
            }
            try tellFollowers(of: c.caseNumber, state: state)
        case .caseUpdated(let u)?:
            var note = u.publicNote
            if u.action == .merge { note = mergedNote(u.mergedInto) }
            if !isOwn(u.caseNumber) {
                try rememberOtherCase(db, u.caseNumber, state: publicState(u.toState), at: at)
            } else if let seq = CaseNumber.sequence(of: u.caseNumber) {
                try db.executeCached(sql: """
                    UPDATE submissions SET state = ?, public_note = CASE WHEN ? = '' THEN public_note ELSE ? END, updated_at = ?
                    WHERE case_seq = ? AND case_number = ?
                    """, arguments: [publicState(u.toState), note, note, at, seq, u.caseNumber])
                if u.action == .merge && db.changesCount > 0 {
                    // Its citizen hears, from now on, how the case it joined goes: from that case's
                    // state as this intake knows it, then from its events.
                    let known = try knownState(db, u.mergedInto, ownPrefix: ownPrefix)
                    try db.executeCached(sql: "INSERT OR REPLACE INTO case_merges (case_seq, merged_into, state, updated_at) VALUES (?, ?, ?, ?)",
                                         arguments: [seq, u.mergedInto, known?.state ?? "", known?.at])
                }
            }
            if u.action == .merge {
                // The cases merged into this one follow the case it joined, from its state as known.
                if let known = try knownState(db, u.mergedInto, ownPrefix: ownPrefix) {
                    try db.executeCached(sql: "UPDATE case_merges SET merged_into = ?, state = ?, updated_at = ? WHERE merged_into = ?",
                                         arguments: [u.mergedInto, known.state, known.at, u.caseNumber])
                } else {
                    try db.executeCached(sql: "UPDATE case_merges SET merged_into = ? WHERE merged_into = ?", arguments: [u.mergedInto, u.caseNumber])
                }
            } else {
                try tellFollowers(of: u.caseNumber, state: publicState(u.toState))
            }
        default:
            break
        }
    }

    /// Whether `number` is one of this instance's cases (`L1-…` for the prefix `L1`).
    static func isOwn(_ number: String, prefix: String) -> Bool {
        number.utf8.count > prefix.utf8.count + 1 && number.hasPrefix(prefix) && number.utf8.dropFirst(prefix.utf8.count).first == UInt8(ascii: "-")
    }

    /// Keeps the public state of a case of another intake instance, for the cases of this one
    /// merged into it (``applyCaseEvent(_:_:ownPrefix:)``).
    static func rememberOtherCase(_ db: Database, _ number: String, state: String, at: Double) throws {
        try db.executeCached(sql: """
            INSERT INTO other_case_states (case_number, state, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (case_number) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
            """, arguments: [number, state, at])
    }

    /// A case's public state as this intake last heard it (its own row, or a case of another
    /// instance), with when it was set; nil before its handler's first event about it was heard.
    static func knownState(_ db: Database, _ number: String, ownPrefix: String) throws -> (state: String, at: Double)? {
        let row: Row?
        if isOwn(number, prefix: ownPrefix), let seq = CaseNumber.sequence(of: number) {
            row = try Row.fetchOne(db.cachedStatement(sql: "SELECT state, updated_at FROM submissions WHERE case_seq = ? AND case_number = ? AND state != 'received'"),
                                   arguments: [seq, number])
        } else {
            row = try Row.fetchOne(db.cachedStatement(sql: "SELECT state, updated_at FROM other_case_states WHERE case_number = ?"), arguments: [number])
        }
        return row.map { (state: $0["state"], at: $0["updated_at"]) }
    }

    /// Stores every new submission and appends its event, in one transaction.
    func commit(_ subs: [Prepared]) throws -> [OutgoingReply] {
        let now = clock.now()
        var firstSeq: Int64 = .max
        var next: Int64 = 0
        var added: [String] = []
        do {
            let replies = try log.write { db, out in
                next = lastCaseSeq.withLock { $0 } + 1
                firstSeq = next
                var replies: [OutgoingReply] = []
                replies.reserveCapacity(subs.count)
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO submissions (case_seq, submission_id, case_number, tracking_token, body, contact, received_at, state, public_note,
                                             updated_at, linked_case_number, contact_prints, event_seq)
                    VALUES (?, ?, ?, ?, X'', ?, ?, 'received', '', ?, ?, ?, ?)
                    """)
                for s in subs {
                    // A known id (a retry, or a reuse with another body) is answered from what is
                    // stored; nothing is written for it.
                    let looked = submissionKeys.withLock { $0.lookup(s.id) }
                    if let stored = try storedSubmission(db, s.id, looked) {
                        replies.append(answerKnownOrExplain(db, s, stored))
                        continue
                    }
                    let caseNumber = CaseNumber.format(prefix: casePrefix, sequence: next)
                    let token = TrackingToken.make()
                    // Contact data only ever stored sealed; an anonymous submission stores none.
                    let sealed = try vault.seal(s.contact, fromText: s.fromText, caseNumber: caseNumber)
                    let linked = s.prints.isEmpty ? "" : try linkNearDuplicate(db, s.body.text, prints: s.prints, caseSeq: next, at: now)
                    // The body without its contact: contact data never goes on a general stream. The
                    // event is where the body is stored (intake-v6).
                    let eventSeq = try out.append(topic: Topic.feedbackReceived, at: now, payloadField: Self.feedbackReceivedField,
                                                  payload: Self.feedbackReceived(caseNumber: caseNumber, body: s.bodyBytes, linked: linked))
                    try db.executeBound(insert) { row in
                        row.int(next); row.text(s.id); row.text(caseNumber); row.text(token); row.blob(sealed)
                        row.double(now.timeIntervalSince1970); row.double(now.timeIntervalSince1970)
                        row.text(linked.isEmpty ? nil : linked); row.blob(s.prints.isEmpty ? nil : ContactPrint.encode(s.prints))
                        row.int(Int64(eventSeq))
                    }
                    submissionKeys.withLock { $0.add(looked, caseSeq: next) }
                    added.append(s.id)
                    next += 1
                    replies.append(accepted(caseNumber, token, duplicate: false, linked: linked, fromText: s.fromText.count))
                }
                return replies
            }
            lastCaseSeq.withLock { $0 = next - 1 }
            return replies
        } catch {
            // Rolled back: the contacts and ids this batch recorded in memory were never stored.
            if firstSeq != .max {
                recentContacts.withLock { $0.forget(from: firstSeq) }
                submissionKeys.withLock { $0.forget(added, from: firstSeq) }
            }
            throw error
        }
    }

    /// `Event.feedback_received`'s field number.
    static let feedbackReceivedField = 10

    /// An encoded `FeedbackReceived` around the body as stored (already encoded, contact left out):
    /// the same bytes as swift-protobuf writes for it, without encoding the body a second time.
    static func feedbackReceived(caseNumber: String, body: [UInt8], linked: String) -> [UInt8] {
        var w = WireWriter(capacity: caseNumber.utf8.count + body.count + linked.utf8.count + 12)
        w.string(1, caseNumber)
        w.message(2, encoded: body)
        w.string(3, linked)
        return w.bytes
    }

    /// The stored submission with this id, or nil: found through its lookup in ``SubmissionKeys``
    /// (`looked`) and confirmed against the row; when another id shares its hash, the table is scanned.
    func storedSubmission(_ db: Database, _ id: String, _ looked: SubmissionKeys.Lookup) throws -> Row? {
        guard let seq = looked.candidate else { return nil }
        let columns = "submission_id, case_number, tracking_token, body, event_seq, contact, linked_case_number, \(Self.erasedAtColumn)"
        if let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT \(columns) FROM submissions WHERE case_seq = ?"), arguments: [seq]),
           row["submission_id"] as String == id {
            return row
        }
        return try Row.fetchOne(db, sql: "SELECT \(columns) FROM submissions WHERE submission_id = ?", arguments: [id])
    }

    /// ``answerKnown(_:_:_:)``, or an error for this submission alone when what is stored cannot be
    /// read to compare (a contact sealed with a key taken out of the key file, a damaged body): it
    /// must not fail the transaction, or every retry of it would turn the other submissions of its
    /// batch away too.
    func answerKnownOrExplain(_ db: Database, _ s: Prepared, _ row: Row) -> OutgoingReply {
        do {
            return try answerKnown(db, s, row)
        } catch {
            let caseNumber: String = row["case_number"]
            logger.error("a retried submission's stored body or contact cannot be read", metadata: ["case": "\(caseNumber)", "error": "\(error)"])
            return .message(.failure(.internal("submission_id \(s.id) is stored as case \(caseNumber), but what is stored cannot be read to compare (\(error)); an operator must restore the contact key or the data")))
        }
    }

    /// The stored body of a submission row (selected with `body` and `event_seq`), encoded: in the
    /// row for submissions stored before intake-v6, else in the `feedback.received` event it names.
    func storedBody(_ db: Database, _ row: Row) throws -> [UInt8] {
        let inRow = row["body"] as Data? ?? Data()
        if !inRow.isEmpty { return [UInt8](inRow) }
        return try WireWriter.submission(storedFeedback(db, row))
    }

    /// The stored body of a submission row (selected with `body` and `event_seq`), decoded.
    func storedFeedback(_ db: Database, _ row: Row) throws -> Liaison_V1_SubmitFeedback {
        let inRow = row["body"] as Data? ?? Data()
        if !inRow.isEmpty { return try Liaison_V1_SubmitFeedback(serializedBytes: inRow) }
        guard let seq = row["event_seq"] as Int64?,
              let data = try Data.fetchOne(db.cachedStatement(sql: "SELECT data FROM events WHERE seq = ?"), arguments: [seq]) else {
            throw StoredBodyMissing(caseNumber: row["case_number"])
        }
        let event = try Liaison_V1_Event(serializedBytes: data)
        guard case .feedbackReceived(let received)? = event.payload else { throw StoredBodyMissing(caseNumber: row["case_number"]) }
        return received.feedback
    }

    /// A submission row whose body is neither in the row nor in a `feedback.received` event.
    struct StoredBodyMissing: Error, CustomStringConvertible {
        let caseNumber: String
        var description: String { "the stored body of case \(caseNumber) is missing" }
    }

    /// The answer to a submission whose id is already stored (`row`): the stored acknowledgement when
    /// it is the same submission (a retry), a conflict when the id was used for another one.
    func answerKnown(_ db: Database, _ s: Prepared, _ row: Row) throws -> OutgoingReply {
        let storedCase: String = row["case_number"]
        let storedContact = try (row["contact"] as Data?).map { try vault.open($0, caseNumber: storedCase) }
        let storedBody = try self.storedBody(db, row)
        // A contact erased under the retention cannot be compared: the body decides.
        let erased = (row[Self.erasedAt] as Double?) != nil
        // Stored as intake stores it now, or as it stored the same submission before (before the
        // canonical form, or before contacts were taken from texts: then with the contact as sent).
        var same = storedBody == s.bodyBytes ? erased || storedContact == s.sealed
            : (storedBody == s.bodyAsSent || storedBody == s.bodyBeforeTaking) && (erased || storedContact == s.sealedAsSent)
        if !same, let earlier = s.earlierReadings.first(where: { $0.body == storedBody }) {
            // Stored by an earlier intake, which took other numbers out of the text, or took them otherwise.
            same = erased || storedContact == Liaison_V1_SealedContact(s.contact, fromText: earlier.fromText)
        }
        if !same {
            return .message(.failure(.conflict("submit_feedback.submission_id", "submission_id \(s.id) was already used for a different submission")))
        }
        return accepted(storedCase, row["tracking_token"], duplicate: true, linked: (row["linked_case_number"] as String?) ?? "",
                        fromText: storedContact?.fromText.count ?? 0)
    }

    /// How much stored text (UTF-8 bytes) one near-duplicate check reads before it stops. The
    /// contact's newest cases are compared first: its last twenty short texts, or five of the
    /// longest. Without a bound, a caller sending long, different texts under one phone number made
    /// every submission compare twenty 4,000-character texts, and the request thread, which every
    /// citizen waits for, managed 70 submissions a second.
    static let nearDuplicateReadBudget = 16 * 1_024

    /// Records the contact's fingerprints and returns the earlier case this submission nearly
    /// repeats (same contact, similar text, within the window), or "". The database is read only
    /// when the same contact wrote within the window.
    func linkNearDuplicate(_ db: Database, _ text: String, prints: [ContactPrint], caseSeq: Int64, at now: Date) throws -> String {
        let since = now.addingTimeInterval(-nearDuplicates.window).timeIntervalSince1970
        var candidates: [Int64] = []
        recentContacts.withLock { recent in
            for p in prints {
                for seen in recent.recent(p, since: since) where !candidates.contains(seen.caseSeq) { candidates.append(seen.caseSeq) }
                recent.add(p, .init(caseSeq: caseSeq, at: now.timeIntervalSince1970), window: nearDuplicates.window)
            }
        }
        var mine: [UInt64]?
        var read = 0
        for seq in candidates.sorted(by: >) {
            if read >= Self.nearDuplicateReadBudget { break }
            guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT case_number, body, event_seq, linked_case_number FROM submissions WHERE case_seq = ?"),
                                             arguments: [seq]) else { continue }
            // A stored body that cannot be read (damaged on disk) is no reason to turn this citizen's
            // new submission away, nor the rest of its batch: it is just not compared.
            let body: Liaison_V1_SubmitFeedback
            do {
                body = try storedFeedback(db, row)
            } catch {
                logger.error("a stored submission's body cannot be read; not compared for near-duplicates",
                             metadata: ["case_seq": "\(seq)", "error": "\(error)"])
                continue
            }
            read += body.text.utf8.count
            let (theirs, ours) = trigramCache.withLock { cache in
                if mine == nil { mine = cache.trigrams(of: text, caseSeq: caseSeq) }
                return (cache.trigrams(of: body.text, caseSeq: seq), mine!)
            }
            if NearDuplicates.similarity(theirs, ours) >= nearDuplicates.threshold {
                // Link to the first of the chain, not to another near-duplicate.
                return (row["linked_case_number"] as String?) ?? row["case_number"]
            }
        }
        return ""
    }

    /// The acknowledgement of a stored submission, encoded: no `Reply` message is built for it.
    private func accepted(_ caseNumber: String, _ token: String, duplicate: Bool, linked: String = "", fromText: Int = 0) -> OutgoingReply {
        .encoded(WireWriter.acceptance(caseNumber: caseNumber, trackingToken: token, duplicate: duplicate, linkedCaseNumber: linked,
                                       contactFromText: UInt32(fromText)))
    }

    /// A contact request answered: with nothing to disclose (refused, or the contact erased), or
    /// with the contact to send once its disclosure is recorded.
    enum ContactAnswer {
        case answered(Liaison_V1_Reply)
        case disclose(Liaison_V1_Reply, Disclosure)
    }

    /// Who was given which case's contact data, and why: recorded (``record(_:)``) before the
    /// contact leaves.
    struct Disclosure {
        let caseNumber: String
        let actor: String
        let reason: String
        let anonymous: Bool
        /// The name the presented operator secret was issued under ("" when unnamed), or the
        /// operator's CURVE key's (``OperatorCredentials/keyName(_:)``).
        let credentialName: String
    }

    /// Longest `GetContact.actor` and `GetContact.reason` (as for a case command's).
    static let longestActor = 64
    static let longestReason = 1_000

    /// The contact data of a case, for an operator only (an operator secret, or over CURVE a key
    /// let in as an operator: `operatorKey`), who says who they are and why they need it.
    func contact(_ q: Liaison_V1_GetContact, credential: String, operatorKey: String? = nil) -> ContactAnswer {
        guard let credentialName = operators.credentials.operatorName(credential, operatorKey: operatorKey) else {
            // Who asks for contact data without the right to it is worth a line in the log (the
            // credential itself never is); a line a second at most of each kind, with how many were
            // left out, so that a client trying secrets by the thousand cannot fill the log.
            let why = credential.isEmpty ? "no operator credential" : "an operator credential that is not accepted"
            refusals.withLock { $0.log(why, .warning, "contact data refused: \(why)", metadata: ["case": "\(WireError.quoted(q.caseNumber))"], logger: logger) }
            return .answered(.failure(.unauthorized(credential.isEmpty ? "contact data needs an operator credential (Request.credential)"
                                                                      : "the operator credential given (Request.credential) is not accepted")))
        }
        if q.caseNumber.utf8.count > longestTypedCaseNumber {
            return .answered(.failure(.notFound("get_contact.case_number", "no case \(WireError.quoted(q.caseNumber))")))
        }
        // Every disclosure names who and why: lengths first, in time bounded by the limit.
        if let refused = WireError.tooLong("get_contact.actor", "actor", q.actor, limit: Self.longestActor)
            ?? WireError.tooLong("get_contact.reason", "reason", q.reason, limit: Self.longestReason) {
            return .answered(.failure(refused))
        }
        let caseNumber = CaseNumberText.normalized(q.caseNumber)
        if caseNumber.isEmpty { return .answered(.failure(.invalidArgument("get_contact.case_number", "case_number is required"))) }
        let actor = q.actor.trimmingCharacters(in: .whitespacesAndNewlines)
        let reason = q.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        if actor.isEmpty {
            return .answered(.failure(.invalidArgument("get_contact.actor", "actor is required: who reads the contact data (operator id or badge); every disclosure is recorded")))
        }
        if reason.isEmpty {
            return .answered(.failure(.invalidArgument("get_contact.reason", "reason is required: why the contact data is needed (\"follow-up call\"); every disclosure is recorded")))
        }
        // The record of who read what is read on terminals: no control characters in it.
        for (field, value) in [("actor", actor), ("reason", reason)] {
            if let c = PlainText.firstControl(in: value, lineBreaks: false) {
                return .answered(.failure(.invalidArgument("get_contact." + field, c.refusal(field, lineBreaks: false))))
            }
        }
        do {
            let row = try CaseNumber.sequence(of: caseNumber).flatMap { seq in
                try log.store.pool.read { db in
                    try Row.fetchOne(db.cachedStatement(sql: "SELECT contact, \(Self.erasedAtColumn) FROM submissions WHERE case_seq = ? AND case_number = ?"),
                                     arguments: [seq, caseNumber])
                }
            }
            guard let row else { return .answered(.failure(.notFound("get_contact.case_number", "no case \(WireError.quoted(caseNumber))"))) }
            var r = Liaison_V1_Reply()
            r.contactInfo.caseNumber = caseNumber
            if let erasedAt = row[Self.erasedAt] as Double? {
                // Nothing left to give, so nothing is disclosed.
                r.contactInfo.erasedAt = .init(date: Date(timeIntervalSince1970: erasedAt))
                return .answered(r)
            }
            if let sealed = row["contact"] as Data? {
                let opened = try vault.open(sealed, caseNumber: caseNumber)
                // Anonymous when the citizen gave no contact, even with a number taken from the text.
                if opened.hasOwnFields { r.contactInfo.contact = opened.contact } else { r.contactInfo.anonymous = true }
                r.contactInfo.fromText = opened.fromText
            } else {
                r.contactInfo.anonymous = true
            }
            // Recorded as a disclosure of contact data whenever any is given, from the text too.
            return .disclose(r, Disclosure(caseNumber: caseNumber, actor: actor, reason: reason,
                                           anonymous: r.contactInfo.anonymous && r.contactInfo.fromText.isEmpty, credentialName: credentialName))
        } catch {
            return .answered(.failure(.internal("contact lookup failed: \(error)")))
        }
    }

    /// Records disclosures, one `contact.disclosed` event each (who, why, which case; never the
    /// contact), in one fsync'd transaction.
    func record(_ disclosures: [Disclosure]) throws {
        let now = clock.now()
        try log.write { _, out in
            for d in disclosures {
                _ = try out.append(topic: Topic.contactDisclosed, at: now) { e in
                    e.contactDisclosed.caseNumber = d.caseNumber
                    e.contactDisclosed.actor = d.actor
                    e.contactDisclosed.reason = d.reason
                    e.contactDisclosed.anonymous = d.anonymous
                    e.contactDisclosed.credentialName = d.credentialName
                }
            }
        }
        for d in disclosures {
            logger.notice("contact data disclosed to an operator", metadata: [
                "case": "\(d.caseNumber)", "actor": "\(WireError.quoted(d.actor))", "credential": "\(d.credentialName.isEmpty ? "unnamed" : d.credentialName)",
            ])
        }
    }

    /// Longest case number and tracking token worth reading, as typed (spaces and dashes included):
    /// a case number is this instance's prefix, a dash and seven or more digits; a token 16 characters.
    var longestTypedCaseNumber: Int { casePrefix.utf8.count + 48 }
    static let longestTypedToken = 128

    func status(_ q: Liaison_V1_GetFeedbackStatus) -> Liaison_V1_Reply {
        // A case number or token far longer than any is answered before it is normalized (which, for
        // thousands of combining marks, took milliseconds of the thread every submission waits for).
        if q.caseNumber.utf8.count > longestTypedCaseNumber || q.trackingToken.utf8.count > Self.longestTypedToken {
            return .failure(.notFound("get_feedback_status.case_number", "no case \(WireError.quoted(q.caseNumber)) with that tracking token"))
        }
        // As a citizen reads them out over the phone: any letter case, stray spaces.
        let caseNumber = CaseNumberText.normalized(q.caseNumber)
        // Read out or copied in groups ("4J5R NKCR 6CGJ JXUQ", "4J5R-NKCR-…"): the separators go.
        // Typed with a full-width input method ("４Ｊ５Ｒ－…"): read as ASCII.
        let token = String(TypedText.plainASCII(q.trackingToken).unicodeScalars.filter { !$0.properties.isWhitespace && $0 != "-" })
        if caseNumber.isEmpty { return .failure(.invalidArgument("get_feedback_status.case_number", "case_number is required")) }
        if token.isEmpty { return .failure(.invalidArgument("get_feedback_status.tracking_token", "tracking_token is required")) }
        // Not the form of any case number: said so, so that the citizen reads it again (this says
        // nothing about which cases exist).
        guard let seq = CaseNumber.sequence(of: caseNumber) else {
            return .failure(.invalidArgument("get_feedback_status.case_number",
                                             "\(WireError.quoted(caseNumber)) is not a case number: letters and digits, a dash, then digits, as L1-0000042 on the acknowledgement"))
        }
        do {
            let row = try log.store.pool.read { db in
                try Row.fetchOne(db.cachedStatement(sql: "SELECT tracking_token, state, public_note, updated_at FROM submissions WHERE case_seq = ? AND case_number = ?"),
                                 arguments: [seq, caseNumber])
            }
            // The same answer for an unknown case and a wrong token: the token is the citizen's key.
            guard let row, TrackingToken.equal(row["tracking_token"], token) else {
                // Not the form of any token (a character left out, a 0 read for a D): the citizen
                // is told what to look for. Checked only here, so a token stored in another form
                // still answers.
                if let problem = TrackingToken.formProblem(token) {
                    return .failure(.invalidArgument("get_feedback_status.tracking_token", problem))
                }
                return .failure(.notFound("get_feedback_status.case_number", "no case \(WireError.quoted(caseNumber)) with that tracking token"))
            }
            var r = Liaison_V1_Reply()
            r.feedbackStatus.caseNumber = caseNumber
            r.feedbackStatus.state = row["state"]
            r.feedbackStatus.publicNote = row["public_note"]
            r.feedbackStatus.updatedAt = .init(date: Date(timeIntervalSince1970: row["updated_at"]))
            if r.feedbackStatus.state == "merged", let seq = CaseNumber.sequence(of: caseNumber),
               let followed = try log.store.pool.read({ db in
                   try Row.fetchOne(db.cachedStatement(sql: "SELECT state, updated_at FROM case_merges WHERE case_seq = ? AND state != ''"),
                                    arguments: [seq])
               }) {
                // A duplicate joined with another case: that case's state, with this case's own note.
                r.feedbackStatus.state = followed["state"]
                let since: Double = max(row["updated_at"], followed["updated_at"] as Double? ?? 0)
                r.feedbackStatus.updatedAt = .init(date: Date(timeIntervalSince1970: since))
            }
            return r
        } catch {
            return .failure(.internal("status lookup failed: \(error)"))
        }
    }
}

/// Tracking tokens: 16 characters from an alphabet without look-alikes, easy to read over the phone.
enum TrackingToken {
    static let alphabet = Array("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")

    static let alphabetBytes = Array(String(alphabet).utf8)

    static func make() -> String {
        // 16 symbols of 5 bits from two 64-bit draws (the alphabet has 32 symbols: no modulo bias).
        let draws = (SecureRandom.uint64(), SecureRandom.uint64())
        // Written as ASCII bytes: appending Characters one by one cost 20 times as much.
        return String(unsafeUninitializedCapacity: 16) { out in
            var bits = draws.0
            for i in 0..<16 {
                if i == 8 { bits = draws.1 }
                out[i] = alphabetBytes[Int(bits & 31)]
                bits >>= 5
            }
            return 16
        }
    }

    /// Why `typed` (separators removed) cannot be a tracking token, in words for the citizen; nil
    /// when it has the form of one (16 characters of ``alphabet``, any letter case).
    static func formProblem(_ typed: String) -> String? {
        let count = typed.unicodeScalars.count
        if count != 16 {
            return "a tracking token has 16 letters and digits, as on the acknowledgement; this one has \(count)"
        }
        for (i, c) in typed.unicodeScalars.enumerated() {
            let upper = c.value >= 0x61 && c.value <= 0x7A ? c.value - 0x20 : c.value   // a-z as A-Z
            guard upper > 0x7F || !alphabetBytes.contains(UInt8(upper)) else { continue }
            return "a tracking token has no \(WireError.quoted(String(c))) (character \(i + 1)): tokens use the digits 2-9 and the letters but I and O; read it again from the acknowledgement"
        }
        return nil
    }

    /// Compares in time independent of where the strings differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 })
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

/// Case numbers: the instance prefix and a 7-digit (or longer) zero-padded sequence, `L1-0000042`.
enum CaseNumber {
    static func format(prefix: String, sequence: Int64) -> String {
        // Written as bytes: one for every submission, and string concatenation cost 1,700 instructions.
        let digits = String(sequence).utf8   // a small string: held inline, no allocation
        let padding = max(0, CaseNumberText.sequenceDigits - digits.count)
        return String(unsafeUninitializedCapacity: prefix.utf8.count + 1 + padding + digits.count) { out in
            var k = out.initialize(fromContentsOf: prefix.utf8)
            out[k] = UInt8(ascii: "-"); k += 1
            for _ in 0..<padding { out[k] = UInt8(ascii: "0"); k += 1 }
            for d in digits { out[k] = d; k += 1 }
            return k
        }
    }

    /// The sequence of a case number (``CaseOrigin/sequence(of:)``). Lookups check the whole
    /// stored number too, so the prefix and the padding must match as well.
    static func sequence(of caseNumber: String) -> Int64? { CaseOrigin.sequence(of: caseNumber) }
}
