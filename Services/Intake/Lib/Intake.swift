import Foundation
import GRDB
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Logging
import Synchronization

/// Intake: takes public feedback, commits it durably (group commit), acknowledges it with a case
/// number and tracking token, and publishes `feedback.received` without the contact data.
///
/// This file holds the request path and its group commit. Beside it: the schema
/// (`IntakeSchema.swift`), what a citizen sees by case number and token (`IntakeStatus.swift`),
/// an operator's read of contact data (`ContactDisclosure.swift`), and case numbers and tracking
/// tokens (`CaseNumbers.swift`).
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
        // A submission of a batch (`submit_batch`): its batch in `batches` and its place there; -1
        // for a submission on its own. Parallel to `submits`.
        var submitBatch: [Int] = []
        var submitItem: [Int] = []
        var batches: [BatchAnswer] = []
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
                        submitBatch.append(-1)
                        submitItem.append(-1)
                    } catch {
                        replies[i] = .message(.failure(.internal("the submission could not be encoded: \(error)")))
                    }
                }
            case .submitBatch(let batch):
                if let err = SubmissionRules.checkBatch(batch) {
                    replies[i] = .message(.failure(err))
                    continue
                }
                var answer = BatchAnswer(request: i, count: batch.submissions.count)
                for j in batch.submissions.indices {
                    if let err = rules.check(batch.submissions[j], now: now) {
                        answer.items[j] = .message(.failure(err))
                        continue
                    }
                    do {
                        submits.append(try Prepared(batch.submissions[j], rules: rules, nearDuplicates: nearDuplicates))
                        submitAt.append(i)
                        submitBatch.append(batches.count)
                        submitItem.append(j)
                    } catch {
                        answer.items[j] = .message(.failure(.internal("the submission could not be encoded: \(error)")))
                    }
                }
                batches.append(answer)
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
                for (k, i) in submitAt.enumerated() {
                    if submitBatch[k] < 0 { replies[i] = accepted[k] } else { batches[submitBatch[k]].items[submitItem[k]] = accepted[k] }
                }
                commitFailures.withLock { if $0.isFailing { $0.succeeded(logger: logger) } }
            } catch {
                commitFailures.withLock {
                    $0.failed(error, logger: logger, now: clock.instant(), metadata: ["batch": "\(submits.count)", "acknowledged": "none of the batch"])
                }
                for i in submitAt { replies[i] = .message(.failure(.unavailable("could not store the submission; retry with the same submission_id", retryAfterMs: 500))) }
                // A batch whose submissions were not stored is answered whole: sent again, its
                // invalid ones get their errors again.
                for b in submitBatch where b >= 0 { batches[b].failed = true }
            }
        }
        for b in batches where !b.failed { replies[b.request] = b.reply }
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

    /// The answers to one `submit_batch`, item by item, as they are made.
    struct BatchAnswer {
        /// The request's place in the batch of requests.
        let request: Int
        var items: [OutgoingReply]
        /// Its submissions were not stored: the request is answered with the commit's error.
        var failed = false

        init(request: Int, count: Int) {
            self.request = request
            items = [OutgoingReply](repeating: IntakeService.unanswered, count: count)
        }

        /// The `batch_accepted` reply, each item's error naming the submission's place in the batch;
        /// the first refused item goes with it, for the service's request counts.
        var reply: OutgoingReply {
            var encoded: [[UInt8]] = []
            encoded.reserveCapacity(items.count)
            var firstRefusal: Liaison_V1_Error?
            var counts = OutgoingReply.SubmissionCounts()
            for j in items.indices {
                if case .message(var r) = items[j], case .error(var e)? = r.result {
                    e.field = SubmissionRules.fieldInBatch(e.field, index: j)
                    r.error = e
                    if e.code.isRefusal {
                        if firstRefusal == nil { firstRefusal = e }
                        counts.refused += 1
                    }
                    encoded.append(OutgoingReply.message(r).itemBytes)
                } else {
                    counts.accepted += items[j].submissionCounts(of: 1).accepted
                    encoded.append(items[j].itemBytes)
                }
            }
            return .encodedBatch(WireWriter.batchAccepted(items: encoded), firstRefusal: firstRefusal, counts: counts)
        }
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
}
