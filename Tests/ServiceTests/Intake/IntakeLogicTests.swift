import Crypto
import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Logging
import Testing
@testable import Intake

/// Intake's logic without sockets: `IntakeService.handle` on a store in a temporary directory.
/// The tests are in the files beside this one, by topic: validation, contacts, near-duplicates,
/// commits (idempotency and group commit) and status.
@Suite struct IntakeLogicTests {
    static let key = SymmetricKey(size: .bits256)

    func makeIntake(_ dir: TempDir, keys: [(String, SymmetricKey)] = [("k1", IntakeLogicTests.key)]) throws -> IntakeService {
        let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
        return try IntakeService(log: try EventLog(store: store, stream: "intake-1"), casePrefix: "L1", vault: try ContactVault(keys: keys),
                             operators: .init(secrets: ["op-secret"]), logger: Logger(label: "t"))
    }

    /// Submits `f`: its acknowledgement, its text as published, and what an operator reads back as
    /// taken from the text.
    func submitAndReadBack(_ intake: IntakeService, _ f: Liaison_V1_SubmitFeedback) throws -> (Liaison_V1_FeedbackAccepted, String, [String]) {
        let accepted = intake.handle([request(.submitFeedback(f))])[0].feedbackAccepted
        let events = try intake.log.replay(after: 0, limit: 1_000, prefixes: [Topic.feedbackReceived]).events
        let published = try #require(events.first { $0.feedbackReceived.caseNumber == accepted.caseNumber }).feedbackReceived.feedback.text
        var r = request(.getContact(contactQuery(accepted.caseNumber)))
        r.credential = "op-secret"
        return (accepted, published, intake.handle([r])[0].contactInfo.fromText)
    }

    /// Rewrites case `caseNumber`'s stored submission as an earlier intake stored `f`: `text` in its
    /// body, `fromText` sealed as taken from it (no contact of its own).
    func storeAsEarlier(_ intake: IntakeService, _ caseNumber: String, _ f: Liaison_V1_SubmitFeedback, text: String, fromText: [String]) throws {
        var before = f
        before.text = text
        let sealed = try ContactVault(keys: [("k1", IntakeLogicTests.key)]).seal(Liaison_V1_SealedContact(nil, fromText: fromText), caseNumber: caseNumber)
        try intake.log.store.pool.write { db in
            try db.execute(sql: "UPDATE submissions SET body = ?, contact = ? WHERE case_number = ?",
                           arguments: [try before.serializedBytes() as Data, Data(sealed), caseNumber])
        }
    }

    /// A contact sealed as intake sealed it before `SealedContact`: its `Contact` bytes alone.
    static func sealed(_ contact: Liaison_V1_Contact, caseNumber: String) throws -> Data {
        Data(try ContactVault(keys: [("k1", key)]).seal(contact, caseNumber: caseNumber))
    }
}
