import Foundation
import GRDB
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import Logging

/// What a citizen sees of a case by its number and tracking token, kept from the handlers' streams.
extension IntakeService {
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
