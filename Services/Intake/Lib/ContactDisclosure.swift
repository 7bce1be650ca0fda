import Foundation
import GRDB
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import Logging

/// Contact data read back by an operator: who, why, recorded before it leaves.
extension IntakeService {
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
}
