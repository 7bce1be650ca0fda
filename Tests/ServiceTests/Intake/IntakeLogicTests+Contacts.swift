import Crypto
import Foundation
import GRDB
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Logging
import Testing
@testable import Intake

/// Contact data: sealed at rest, taken out of texts, read back only by operators, keys rotated.
extension IntakeLogicTests {
    /// The operators' file read again (SIGHUP): a clerk whose secret is taken out reads no more
    /// contact data, a new clerk's secret reads it at once, and an emptied file leaves nobody.
    @Test func reloadedOperatorSecretsDecideWhoReadsContactData() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var f = feedback("reload-ops")
        f.contact.phone = "13800001111"
        let accepted = intake.handle([request(.submitFeedback(f))])[0].feedbackAccepted
        func read(_ credential: String) -> Liaison_V1_Reply {
            var r = request(.getContact(contactQuery(accepted.caseNumber)))
            r.credential = credential
            return intake.handle([r])[0]
        }
        #expect(read("op-secret").contactInfo.contact.phone == "13800001111")
        try intake.operators.reload(.init(operators: [.init(name: "zhao.min", secret: "zhao-min-secret-2026")]), keepSomeone: false, logger: Logger(label: "t"))
        #expect(read("op-secret").error.code == .unauthorized)
        #expect(read("zhao-min-secret-2026").contactInfo.contact.phone == "13800001111")
        try intake.operators.reload(.init(secrets: []), keepSomeone: false, logger: Logger(label: "t"))
        #expect(read("zhao-min-secret-2026").error.code == .unauthorized)
    }

    /// Every contact given to an operator is recorded first, durably, with who and why: a
    /// `contact.disclosed` event on intake's stream that never holds the contact. A request that
    /// does not say who or why gets nothing, and neither does one whose record cannot be written.
    @Test func everyContactDisclosureIsRecordedWithWhoAndWhyBeforeItIsSent() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var f = feedback("told")
        f.contact.name = "Zhao Lei"
        f.contact.phone = "13811112222"
        let numbers = intake.handle([request(.submitFeedback(f)), request(.submitFeedback(feedback("anon")))]).map(\.feedbackAccepted.caseNumber)
        func ask(_ q: Liaison_V1_GetContact, credential: String = "op-secret") -> Liaison_V1_Reply {
            var r = request(.getContact(q))
            r.credential = credential
            return intake.handle([r])[0]
        }
        let disclosures = { () throws -> [Liaison_V1_Event] in
            try intake.log.replay(after: 0, limit: 100, prefixes: [Topic.contactDisclosed]).events
        }
        // Who and why are required, and bounded; each refusal names its field and records nothing.
        for (q, field, says) in [(contactQuery(numbers[0], actor: ""), "get_contact.actor", "actor is required"),
                                 (contactQuery(numbers[0], reason: ""), "get_contact.reason", "reason is required"),
                                 (contactQuery(numbers[0], reason: " \n\t"), "get_contact.reason", "reason is required"),
                                 (contactQuery(numbers[0], reason: String(repeating: "r", count: 1_001)), "get_contact.reason", "at most 1000"),
                                 (contactQuery(numbers[0], actor: String(repeating: "a", count: 65)), "get_contact.actor", "at most 64"),
                                 (contactQuery(numbers[0], actor: "desk\u{1B}[8m"), "get_contact.actor", "U+001B (escape) at character 5"),
                                 (contactQuery(numbers[0], reason: "call\nback"), "get_contact.reason", "U+000A (line feed) at character 5")] {
            let e = ask(q).error
            #expect(e.code == .invalidArgument && e.field == field && e.message.contains(says), "\(e)")
        }
        #expect(ask(contactQuery(numbers[0]), credential: "guess").error.code == .unauthorized)
        #expect(try disclosures().isEmpty)
        // Given: the record names the case, who and why, and holds nothing of the contact.
        #expect(ask(contactQuery(" \(numbers[0].lowercased()) ", actor: " PC-1001 ", reason: "call back about the report")).contactInfo.contact.phone == "13811112222")
        #expect(ask(contactQuery(numbers[1], reason: "is there anyone to call?")).contactInfo.anonymous)
        let recorded = try disclosures()
        #expect(recorded.map(\.contactDisclosed.caseNumber) == numbers)
        #expect(recorded[0].contactDisclosed.actor == "PC-1001" && recorded[0].contactDisclosed.reason == "call back about the report")
        #expect(!recorded[0].contactDisclosed.anonymous && recorded[1].contactDisclosed.anonymous)
        for e in recorded {
            let bytes = String(decoding: try e.serializedBytes() as [UInt8], as: UTF8.self)
            #expect(!bytes.contains("13811112222") && !bytes.contains("Zhao Lei"))
        }
        // With a named operator secret, the record also says whose secret it was.
        let namedDir = try TempDir()
        let named = try IntakeService(log: try EventLog(store: Store(path: namedDir.file("intake.sqlite"), migrations: IntakeService.migrations), stream: "intake-1"),
                                      casePrefix: "L1", vault: try ContactVault(keys: [("k1", IntakeLogicTests.key)]),
                                      operators: .init(operators: [.init(name: "wang.li", secret: "wang-li-secret-2026")]), logger: Logger(label: "t"))
        let namedCase = named.handle([request(.submitFeedback(f))])[0].feedbackAccepted.caseNumber
        var namedQuery = request(.getContact(contactQuery(namedCase, actor: "desk-7")))
        namedQuery.credential = "wang-li-secret-2026"
        #expect(named.handle([namedQuery])[0].contactInfo.contact.phone == "13811112222")
        let namedRecord = try #require(try named.log.replay(after: 0, limit: 10, prefixes: [Topic.contactDisclosed]).events.first).contactDisclosed
        #expect(namedRecord.actor == "desk-7" && namedRecord.credentialName == "wang.li")
        #expect(recorded[0].contactDisclosed.credentialName == "")   // op-secret is unnamed
        // A record that cannot be written: the contact is not sent, and the caller is told to retry.
        try intake.log.store.pool.write { db in
            try db.execute(sql: "CREATE TRIGGER full BEFORE INSERT ON events WHEN NEW.topic = 'contact.disclosed' BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        }
        let failed = ask(contactQuery(numbers[0]))
        #expect(failed.error.code == .unavailable && failed.error.message.contains("could not record the disclosure"), "\(failed)")
        if case .contactInfo? = failed.result { Issue.record("contact sent without its record") }
        #expect(failed.error.retryAfterMs > 0)
        #expect(try disclosures().count == 2)
    }

    /// Contact data is kept only for the retention after the case ends (closed or merged): then the
    /// sealed contact and its fingerprints are erased, overwritten in the file, the erasure is an
    /// event, an operator is told when, and a late retry is still recognised.
    @Test func contactsAreErasedTheRetentionAfterTheirCaseEnds() throws {
        let dir = try TempDir()
        let clock = ManualClock(Date(timeIntervalSince1970: 1_790_000_000))
        let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
        let intake = try IntakeService(log: try EventLog(store: store, stream: "intake-1"), casePrefix: "L1",
                                       vault: try ContactVault(keys: [("k1", IntakeLogicTests.key)]), operators: .init(secrets: ["op-secret"]),
                                       clock: clock, logger: Logger(label: "t"))
        func withContact(_ id: String, _ n: Int) -> Liaison_V1_SubmitFeedback {
            var f = feedback(id, text: "Report \(n) about the crossing at school gate \(n)")
            f.contact.name = "Caller \(n)"
            f.contact.phone = "1370000000\(n)"
            return f
        }
        let subs = (1...4).map { withContact("r\($0)", $0) } + [feedback("anonymous")]
        let numbers = intake.handle(subs.map { request(.submitFeedback($0)) }).map(\.feedbackAccepted.caseNumber)
        #expect(numbers.count == 5 && numbers.allSatisfy { !$0.isEmpty })
        let sealedFirst = try #require(try store.pool.read { db in try Data.fetchOne(db, sql: "SELECT contact FROM submissions WHERE case_seq = 1") })
        func moved(_ n: Int, to state: String) throws {
            var e = Liaison_V1_Event()
            e.occurredAt = .init(date: clock.now())
            e.caseUpdated = .with { $0.caseNumber = numbers[n]; $0.toState = state }
            try store.pool.write { db in try IntakeService.applyCaseEvent(db, e, ownPrefix: "L1") }
        }
        let month = ContactRetention(days: 30)
        // Case 1 closed, case 2 merged, case 3 resolved (not ended), case 4 closed and reopened.
        try moved(0, to: "closed"); try moved(1, to: "merged"); try moved(2, to: "resolved"); try moved(3, to: "closed"); try moved(4, to: "closed")
        #expect(try intake.eraseEndedContacts(retention: month) == (0, false))     // ended today: kept
        clock.advance(by: 20 * 86_400)
        try moved(3, to: "reopened")
        clock.advance(by: 11 * 86_400)
        #expect(try intake.eraseEndedContacts(retention: ContactRetention.forever) == (0, false))
        #expect(try intake.eraseEndedContacts(retention: month, limit: 1) == (1, true))
        #expect(try intake.eraseEndedContacts(retention: month) == (1, false))
        #expect(try intake.eraseEndedContacts(retention: month) == (0, false))
        // Recorded, in order, without the contact.
        let erased = try intake.log.replay(after: 0, limit: 100, prefixes: [Topic.contactErased]).events.map(\.contactErased)
        #expect(erased.map(\.caseNumber) == Array(numbers[0...1]) && erased.allSatisfy { $0.retentionDays == 30 })
        // Gone from the row and from the file (checkpointed: the main file holds everything).
        let left = try store.pool.read { db in try Row.fetchAll(db, sql: "SELECT contact, contact_prints, \(IntakeService.erasedAtColumn) FROM submissions ORDER BY case_seq") }
        #expect(left.map { ($0["contact"] as Data?) == nil } == [true, true, false, false, true])
        #expect(left.map { ($0["contact_prints"] as Data?) == nil } == [true, true, false, false, true])
        #expect(left.map { ($0["contact_erased_at"] as Double?) != nil } == [true, true, false, false, false])
        _ = try store.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        let file = try Data(contentsOf: URL(fileURLWithPath: dir.file("intake.sqlite")))
        #expect(file.range(of: sealedFirst) == nil, "the erased sealed contact is still in the file")
        // An operator is told when; nothing was disclosed, so nothing is recorded as disclosed.
        var q = request(.getContact(contactQuery(numbers[0])))
        q.credential = "op-secret"
        let info = intake.handle([q])[0].contactInfo
        #expect(info.hasErasedAt && info.erasedAt.date == clock.now() && !info.hasContact && !info.anonymous, "\(info)")
        q.getContact = contactQuery(numbers[2])
        #expect(intake.handle([q])[0].contactInfo.contact.name == "Caller 3")
        #expect(try intake.log.replay(after: 0, limit: 100, prefixes: [Topic.contactDisclosed]).events.map(\.contactDisclosed.caseNumber) == [numbers[2]])
        // A retry of the erased case's submission, months late, is still that case.
        let retry = intake.handle([request(.submitFeedback(subs[0]))])[0].feedbackAccepted
        #expect(retry.duplicate && retry.caseNumber == numbers[0])
        // The option as typed.
        #expect(ContactRetention(parsing: "never") == .forever && ContactRetention(parsing: " 365 ") == .standard)
        #expect(ContactRetention(parsing: "0.5")?.seconds == 43_200 && ContactRetention(parsing: "0")?.checkInterval == 1)
        #expect(ContactRetention.standard.checkInterval == 3_600)
        for bad in ["-1", "a year", "", "nan", "1e9"] { #expect(ContactRetention(parsing: bad) == nil, "\(bad)") }
    }

    @Test func contactIsSealedAtRestAndOnlyOperatorsReadIt() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var f = feedback("sealed")
        f.contact.name = "Li Wei"
        f.contact.phone = "13812345678"
        let number = intake.handle([request(.submitFeedback(f)), request(.submitFeedback(feedback("anon")))]).map(\.feedbackAccepted.caseNumber)
        // Not in the database in the clear (checkpoint the WAL so the main file holds everything).
        _ = try intake.log.store.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir.file("intake.sqlite")))
        #expect(raw.range(of: Data("13812345678".utf8)) == nil)
        #expect(raw.range(of: Data("Li Wei".utf8)) == nil)
        // Operators only.
        var q = contactQuery(number[0])
        var r = request(.getContact(q))
        let none = intake.handle([r])[0].error
        #expect(none.code == .unauthorized && none.message.contains("needs an operator credential"))
        r.credential = "guess"
        let wrong = intake.handle([r])[0].error
        #expect(wrong.code == .unauthorized && wrong.message.contains("not accepted"))
        r.credential = "op-secret"
        #expect(intake.handle([r])[0].contactInfo.contact.phone == "13812345678")
        q.caseNumber = number[1]
        r.getContact = q
        #expect(intake.handle([r])[0].contactInfo.anonymous)
        // Key rotation: a new current key, the old one kept, old data still readable, new data sealed anew.
        let rotated = try makeIntake(dir, keys: [("k2", SymmetricKey(size: .bits256)), ("k1", IntakeLogicTests.key)])
        q.caseNumber = number[0]
        r.getContact = q
        #expect(rotated.handle([r])[0].contactInfo.contact.name == "Li Wei")
        // The retry with the same contact is still recognised as the same submission.
        #expect(rotated.handle([request(.submitFeedback(f))])[0].feedbackAccepted.duplicate)
        // Without the old key, old data is unreadable (and says so).
        let lost = try makeIntake(dir, keys: [("k3", SymmetricKey(size: .bits256))])
        #expect(lost.handle([r])[0].error.code == .internal)
    }

    /// A phone number, e-mail address or ID number typed into the text is contact data: intake takes it out
    /// into the sealed contact, a marker in its place, so that it is neither stored in the clear
    /// nor published; an operator reads it back with the contact, as written. Retries are still
    /// the same submission, and one with another number in its text is a conflict.
    @Test func aPhoneOrAddressTypedIntoTheTextIsSealedWithTheContact() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var anonymous = feedback("web-1")
        anonymous.text = "Noise every night. Call me on 138 1234 5678 or write to li.wei@example.org; my neighbour is 021-6543 2109."
        var given = feedback("web-2")
        given.contact.name = "Wang Fang"
        given.contact.phone = "13987654321"
        given.text = "My reference is 2026-12-05 and the shop's number is (0755) 8123-4567. My ID: 11010519491231002X."
        let plain = feedback("web-3")   // nothing to take: the body as before
        let replies = intake.handle([request(.submitFeedback(anonymous)), request(.submitFeedback(given)), request(.submitFeedback(plain))])
        #expect(replies.map(\.feedbackAccepted.contactFromText) == [3, 2, 0], "\(replies)")
        let numbers = replies.map(\.feedbackAccepted.caseNumber)
        let events = try intake.log.replay(after: 0, limit: 10, prefixes: []).events.map(\.feedbackReceived.feedback)
        #expect(events.map(\.text) == [
            "Noise every night. Call me on [phone: in the contact] or write to [e-mail: in the contact]; my neighbour is [phone: in the contact].",
            "My reference is 2026-12-05 and the shop's number is [phone: in the contact]. My ID: [ID number: in the contact].",
            plain.text,
        ], "\(events.map(\.text))")
        #expect(events.allSatisfy { !$0.hasContact })
        // Nowhere in the database in the clear.
        _ = try intake.log.store.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir.file("intake.sqlite")))
        for secret in ["138 1234 5678", "li.wei@example.org", "021-6543 2109", "8123-4567", "11010519491231002X"] {
            #expect(raw.range(of: Data(secret.utf8)) == nil, "\(secret) in the clear")
        }
        // An operator reads them back as written; the anonymous submission stays anonymous.
        func contact(_ number: String) -> Liaison_V1_ContactInfo {
            var r = request(.getContact(contactQuery(number)))
            r.credential = "op-secret"
            return intake.handle([r])[0].contactInfo
        }
        let first = contact(numbers[0])
        #expect(first.anonymous && !first.hasContact && first.fromText == ["138 1234 5678", "li.wei@example.org", "021-6543 2109"], "\(first)")
        let second = contact(numbers[1])
        #expect(!second.anonymous && second.contact.phone == "13987654321" && second.fromText == ["(0755) 8123-4567", "11010519491231002X"], "\(second)")
        #expect(contact(numbers[2]).anonymous && contact(numbers[2]).fromText.isEmpty)
        // Both disclosures recorded as contact given; none as anonymous.
        let disclosed = try intake.log.replay(after: 0, limit: 20, prefixes: [Topic.contactDisclosed]).events.map(\.contactDisclosed)
        #expect(disclosed.prefix(2).allSatisfy { !$0.anonymous } && disclosed.last?.anonymous == true, "\(disclosed)")
        // A retry is the same case, told the same; another number in the text under that id is not.
        let retry = intake.handle([request(.submitFeedback(anonymous))])[0].feedbackAccepted
        #expect(retry.caseNumber == numbers[0] && retry.duplicate && retry.contactFromText == 3)
        var other = anonymous
        other.text = other.text.replacingOccurrences(of: "138 1234 5678", with: "139 8765 4321")
        #expect(intake.handle([request(.submitFeedback(other))])[0].error.code == .conflict)
        // A submission stored before intake took numbers out of texts (its text and contact as
        // sent) still takes its retry, and a changed one is still a conflict.
        var before = feedback("stored-before")
        before.contact.phone = "13800000009"
        before.text = "Call 13811112222 about it."
        let stored = intake.handle([request(.submitFeedback(before))])[0].feedbackAccepted.caseNumber
        var sent = before
        sent.clearContact()
        let plainContact = try IntakeLogicTests.sealed(before.contact, caseNumber: stored)
        try intake.log.store.pool.write { db in
            try db.execute(sql: "UPDATE submissions SET body = ?, contact = ? WHERE case_number = ?",
                           arguments: [try sent.serializedBytes() as Data, plainContact, stored])
        }
        let old = intake.handle([request(.submitFeedback(before))])[0].feedbackAccepted
        #expect(old.caseNumber == stored && old.duplicate && old.contactFromText == 0, "\(old)")
        before.contact.phone = "13800000008"
        #expect(intake.handle([request(.submitFeedback(before))])[0].error.code == .conflict)
    }

    /// A bank card number in the text (a fraud victim's "they took it from my card …") is taken out
    /// and sealed like a phone. A submission stored before intake took card numbers (its phone
    /// taken, its card left in the text) still takes its retry, and one with another card is a
    /// conflict.
    @Test func aCardNumberInTheTextIsSealedAndARetryAcrossTheUpgradeIsTheSameSubmission() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var f = feedback("card-1", kind: .tip)
        f.text = "5,000 yuan went from my card 6222 0212 3456 7894 to a fake police account. Call me on 13811112222."
        let (accepted, published, fromText) = try submitAndReadBack(intake, f)
        #expect(accepted.contactFromText == 2, "\(accepted)")
        #expect(published == "5,000 yuan went from my card [card number: in the contact] to a fake police account. Call me on [phone: in the contact].")
        #expect(fromText == ["6222 0212 3456 7894", "13811112222"])
        _ = try intake.log.store.pool.writeWithoutTransaction { try $0.checkpoint(.truncate) }
        let raw = try Data(contentsOf: URL(fileURLWithPath: dir.file("intake.sqlite")))
        #expect(raw.range(of: Data("6222 0212 3456 7894".utf8)) == nil, "the card in the clear")

        // As the intake before this one stored it: the phone taken, the card in the text.
        try storeAsEarlier(intake, accepted.caseNumber, f,
                           text: "5,000 yuan went from my card 6222 0212 3456 7894 to a fake police account. Call me on [phone: in the contact].",
                           fromText: ["13811112222"])
        let retry = intake.handle([request(.submitFeedback(f))])[0].feedbackAccepted
        #expect(retry.caseNumber == accepted.caseNumber && retry.duplicate && retry.contactFromText == 1, "\(retry)")
        var other = f
        other.text = other.text.replacingOccurrences(of: "7894", with: "7886")   // another valid card
        #expect(ContactInText.all(in: other.text).first?.kind == .cardNumber)
        #expect(intake.handle([request(.submitFeedback(other))])[0].error.code == .conflict)
    }

    /// An address written with a dash after it (`12345678@qq.com-(021) …`) is taken without the dash,
    /// as an operator would write to it, and a number right before an address beginning with digits
    /// (`7654321 8@qq.com`) is taken too. A submission stored by the intakes before, which took the
    /// dash along and left that number (and, before those, left card numbers in the text), still
    /// takes its retry.
    @Test func anAddressIsTakenWithoutTheDashAfterItAndARetryOfOneStoredWithItIsTheSameSubmission() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var f = feedback("dash-1", kind: .tip)
        f.text = "Write to 12345678@qq.com-(021) 6543-2109 after six, or 7654321 8@qq.com; they took 900 yuan from card 6222 0212 3456 7894."
        let (accepted, published, taken) = try submitAndReadBack(intake, f)
        #expect(accepted.contactFromText == 5, "\(accepted)")
        #expect(published == "Write to [e-mail: in the contact]-[phone: in the contact] after six, or [phone: in the contact] [e-mail: in the contact]; "
                + "they took 900 yuan from card [card number: in the contact].")
        #expect(taken == ["12345678@qq.com", "(021) 6543-2109", "7654321", "8@qq.com", "6222 0212 3456 7894"])

        // As the intakes before stored it: with the dash, the number before `8@` left, the card
        // taken or left in the text.
        for (text, fromText) in [
            ("Write to [e-mail: in the contact][phone: in the contact] after six, or 7654321 [e-mail: in the contact]; they took 900 yuan from card [card number: in the contact].",
             ["12345678@qq.com-", "(021) 6543-2109", "8@qq.com", "6222 0212 3456 7894"]),
            ("Write to [e-mail: in the contact][phone: in the contact] after six, or 7654321 [e-mail: in the contact]; they took 900 yuan from card 6222 0212 3456 7894.",
             ["12345678@qq.com-", "(021) 6543-2109", "8@qq.com"]),
        ] {
            try storeAsEarlier(intake, accepted.caseNumber, f, text: text, fromText: fromText)
            let retry = intake.handle([request(.submitFeedback(f))])[0].feedbackAccepted
            #expect(retry.caseNumber == accepted.caseNumber && retry.duplicate && retry.contactFromText == UInt32(fromText.count), "\(text): \(retry)")
            // The same stored text with another address sealed is another submission.
            try storeAsEarlier(intake, accepted.caseNumber, f, text: text, fromText: ["87654321@qq.com-"] + fromText.dropFirst())
            #expect(intake.handle([request(.submitFeedback(f))])[0].error.code == .conflict, "\(text)")
        }
    }

    /// One number is one caller however it is written; another country's number is not the
    /// force's own number with the same digits.
    @Test func phoneNumbersAreComparedAsDialledAtHome() throws {
        let china = PhoneNumbering.standard
        for (typed, key) in [("13812345678", "13812345678"), ("138 1234 5678", "13812345678"), ("+86 138 1234 5678", "13812345678"),
                             ("+8613812345678", "13812345678"), ("0086 138-1234-5678", "13812345678"), ("(+86) 138 1234 5678", "13812345678"),
                             ("010-6552 1234", "1065521234"), ("+86 10 6552 1234", "1065521234"), ("0086 10 65521234", "1065521234"), ("+86 (0)10 6552 1234", "1065521234"),
                             ("+44 20 7946 0958", "+442079460958"), ("0044 20 7946 0958", "+442079460958"), ("+852 2345 6789", "+85223456789"),
                             ("86 138 1234 5678", "8613812345678"),   // no + nor 00: as dialled at home
                             // Dots and slashes between the digits; an extension is the same line.
                             ("010.6552.1234", "1065521234"), ("010/6552 1234", "1065521234"), ("0755-8123 4567 转 8012", "75581234567"),
                             ("0755 8123 4567 分机8012", "75581234567"), ("+44 20 7946 0958 ext. 12", "+442079460958"), ("+44 20 7946 0958 x12", "+442079460958")] {
            #expect(china.key(of: typed) == key, "\(typed)")
        }
        let uk = try PhoneNumbering(countryCode: "+44", trunkPrefix: "0")
        #expect(uk.key(of: "020 7946 0958") == uk.key(of: "+44 20 7946 0958") && uk.key(of: "+44 (0)20 7946 0958") == "2079460958")
        #expect(uk.key(of: "+86 138 1234 5678") == "+8613812345678")
        let italy = try PhoneNumbering(countryCode: "39", trunkPrefix: "none")
        #expect(italy.key(of: "06 1234 5678") == italy.key(of: "+39 06 1234 5678"))
        #expect(PhoneNumbering.digitsOnly.key(of: "+86 138 1234 5678") == "8613812345678")
        #expect(try PhoneNumbering(countryCode: "none", trunkPrefix: "") == .digitsOnly)
        // A setting that is no calling code names its option.
        for (code, trunk, field) in [("0086", "0", "phone_country_code"), ("8a", "0", "phone_country_code"), ("1234", "0", "phone_country_code"),
                                     ("86", "00 0", "phone_trunk_prefix"), ("86", "x", "phone_trunk_prefix")] {
            #expect { try PhoneNumbering(countryCode: code, trunkPrefix: trunk) } throws: { ($0 as? ConfigError)?.key == field }
        }
    }

    /// Every sealer this build has: the one intake uses (BoringSSL directly, where its module can be
    /// imported) and swift-crypto's, its fallback, so that the fallback is tested in every build.
    static let sealers: [any ContactSealing.Type] = {
        var all: [any ContactSealing.Type] = [SwiftCryptoGCMSealer.self]
        #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
        all.append(BoringGCMSealer.self)
        #endif
        return all
    }()

    /// Every fingerprinting this build has, likewise.
    static let fingerprinters: [any ContactFingerprinting.Type] = {
        var all: [any ContactFingerprinting.Type] = [SwiftCryptoKeyedSHA256.self]
        #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
        all.append(BoringKeyedSHA256.self)
        #endif
        return all
    }()

    /// Intake seals with BoringSSL directly wherever swift-crypto's module for it can be imported
    /// (this build's SwiftPM lets it): a change that lost the import would fall back unseen.
    @Test func intakeSealsAndFingerprintsThroughBoringSSLDirectly() {
        #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
        #expect(GCMSealer.self == BoringGCMSealer.self && KeyedSHA256.self == BoringKeyedSHA256.self)
        #expect(Self.sealers.count == 2 && Self.fingerprinters.count == 2)
        #else
        #expect(GCMSealer.self == SwiftCryptoGCMSealer.self && KeyedSHA256.self == SwiftCryptoKeyedSHA256.self)
        #endif
    }

    /// What every sealer writes is what swift-crypto's `AES.GCM` opens: nonce, ciphertext and tag,
    /// bound to the authenticated data; appended after what the output already held.
    @Test(arguments: sealers.indices)
    func contactsAreSealedAsSwiftCryptosAESGCMOpensThem(_ which: Int) throws {
        let key = SymmetricKey(size: .bits256)
        let sealerType = Self.sealers[which]
        let sealer = try sealerType.init(key: key)
        for length in [0, 1, 15, 16, 17, 63, 64, 65, 200, 4_000] {
            let plain = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ length) }
            let nonce = (0..<12).map { UInt8(truncatingIfNeeded: $0 &+ length) }
            let aad = Array("L1-\(length)".utf8)
            var out: [UInt8] = [1, 2, 3]
            try plain.withUnsafeBytes { p in
                try nonce.withUnsafeBytes { n in try aad.withUnsafeBytes { a in try sealer.seal(p, nonce: n, authenticating: a, appendingTo: &out) } }
            }
            #expect(out.prefix(3) == [1, 2, 3] && out.count == 3 + 12 + length + 16, "\(length) bytes")
            let box = try AES.GCM.SealedBox(combined: Data(out.dropFirst(3)))
            #expect(Array(box.nonce) == nonce)
            #expect(try Array(AES.GCM.open(box, using: key, authenticating: aad)) == plain, "\(length) bytes")
            #expect(throws: (any Error).self) { try AES.GCM.open(box, using: key, authenticating: Array("L1-x".utf8)) }
            // And swift-crypto's own seal with the same nonce gives the same bytes.
            let theirs = try AES.GCM.seal(plain, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
            #expect(Array(theirs.combined!) == Array(out.dropFirst(3)), "\(sealerType), \(length) bytes")
        }
        #expect(throws: (any Error).self) { try sealerType.init(key: SymmetricKey(size: .bits128)) }
        let shortNonce = [UInt8](repeating: 1, count: 8)
        var out: [UInt8] = [9]
        #expect(throws: (any Error).self) {
            try shortNonce.withUnsafeBytes { n in try sealer.seal(UnsafeRawBufferPointer(start: nil, count: 0), nonce: n, authenticating: n, appendingTo: &out) }
        }
        #expect(out == [9], "a refused seal leaves the output as it was")
    }

    /// Contact fingerprints are stored and compared across restarts: every keyed HMAC this build has
    /// must give exactly swift-crypto's `HMAC<SHA256>` codes, for every key and message length.
    @Test(arguments: fingerprinters.indices)
    func contactFingerprintsAreHMACSHA256(_ which: Int) throws {
        for keyBytes in [1, 16, 32, 63, 64, 65, 100, 200] {
            let key = SymmetricKey(data: (0..<keyBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ keyBytes) })
            let hmac = Self.fingerprinters[which].init(key: key)
            for length in [0, 1, 11, 55, 56, 63, 64, 65, 119, 120, 128, 1_000] {
                let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ length) }
                let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
                let code = hmac.authenticationCode(message)
                #expect(ContactPrint.encode([code]) == Array(expected.prefix(16)), "\(type(of: hmac)), key \(keyBytes) bytes, message \(length) bytes")
            }
        }
        // And the two fingerprints of a contact are the HMACs of its normalised phone and e-mail.
        let key = SymmetricKey(size: .bits256)
        var contact = Liaison_V1_Contact()
        contact.phone = "+86 138-1234-5678"
        contact.email = "  Someone@Example.ORG "
        func expected(_ keys: [String]) -> [[UInt8]] {
            keys.map { Array(Array(HMAC<SHA256>.authenticationCode(for: Array($0.utf8), using: key)).prefix(16)) }
        }
        // The phone as dialled at home (the country code of the force's own numbers left out) ...
        #expect(NearDuplicates(key: key).fingerprints(contact).map { ContactPrint.encode([$0]) }
                == expected(["phone:13812345678", "email:someone@example.org"]))
        // ... or, with no national numbering, every digit as typed.
        #expect(NearDuplicates(key: key, numbering: .digitsOnly).fingerprints(contact).map { ContactPrint.encode([$0]) }
                == expected(["phone:8613812345678", "email:someone@example.org"]))
    }

    @Test func sealedContactIsBoundToItsCase() throws {
        let vault = try ContactVault(keys: [("k1", SymmetricKey(size: .bits256))])
        var c = Liaison_V1_Contact()
        c.email = "li.wei@example.org"
        let sealed = try vault.seal(c, caseNumber: "L1-0000001")
        #expect(try vault.open(sealed, caseNumber: "L1-0000001").contact == c)
        #expect(throws: (any Error).self) { try vault.open(sealed, caseNumber: "L1-0000002") }
        #expect(throws: (any Error).self) { try ContactVault.parse("k1 not-base64!") }
        let twice = "k1 \(Data(repeating: 1, count: 32).base64EncodedString())\nk1 \(Data(repeating: 2, count: 32).base64EncodedString())\n"
        #expect { try ContactVault.parse(twice) } throws: { "\($0)".contains("contact key id k1 is given twice") }
        let parsed = try ContactVault.parse("# keys\nnew \(Data(repeating: 1, count: 32).base64EncodedString())\nold \(Data(repeating: 2, count: 32).base64EncodedString())\n")
        #expect(parsed.currentKeyID == "new")
        // A key file saved on Windows or pasted from a password manager: line ends \r\n, a
        // byte-order mark, blank lines. The same keys; an error names the line an editor shows.
        let windows = try ContactVault.parse("\u{FEFF}# keys\r\n\r\nnew \(Data(repeating: 1, count: 32).base64EncodedString())\r\nold \(Data(repeating: 2, count: 32).base64EncodedString())\r\n")
        #expect(windows.currentKeyID == "new" && windows.order == ["new", "old"])
        #expect(try windows.open(parsed.seal(c, caseNumber: "L1-0000001"), caseNumber: "L1-0000001").contact == c)
        #expect { try ContactVault.parse("# keys\r\n\r\nk1 not-base64!\r\n") } throws: { "\($0)".contains("contact key line 3:") }
        // Named with the file, never quoting what may be a key.
        #expect { try ContactVault.parse("k1 not-base64!", source: "/etc/liaison/contact-keys") } throws: {
            "\($0)".contains("line 1 (/etc/liaison/contact-keys): the key of k1 is not base64") && !"\($0)".contains("not-base64!")
        }
        #expect { try ContactVault.parse("k1 \(Data(repeating: 1, count: 16).base64EncodedString())", source: "/etc/k") } throws: {
            "\($0)".contains("must be 32 bytes (AES-256) (/etc/k)")
        }
    }

    /// A key file named but never made (the systemd unit names /etc/liaison/contact-keys): the
    /// error says how to make one.
    @Test func aMissingKeyFileSaysHowToMakeOne() throws {
        let dir = try TempDir()
        #expect { try ContactVault.resolve(path: dir.file("contact-keys"), dataDir: dir.path, environment: [:]) } throws: {
            let text = "\($0)"
            return text.hasPrefix("configuration error at contact-keys: cannot read \(dir.file("contact-keys")): No such file or directory")
                && text.contains("openssl rand -base64 32")
        }
    }

    @Test func generatedKeyFileIsOwnerOnlyKeptAndReused() throws {
        let dir = try TempDir()
        let data = dir.path + "/data"
        let (first, source) = try ContactVault.resolve(path: nil, dataDir: data, environment: [:])
        #expect(source.contains("generated key file"))
        let file = data + "/contact-keys"
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int)
        #expect(mode & 0o077 == 0, "key file mode \(String(mode, radix: 8))")
        #expect(try FileManager.default.contentsOfDirectory(atPath: data) == ["contact-keys"], "a temporary file was left behind")
        // The next start reads the same key: what the first sealed, the second opens.
        let (second, _) = try ContactVault.resolve(path: nil, dataDir: data, environment: [:])
        #expect(second.currentKeyID == first.currentKeyID)
        var c = Liaison_V1_Contact()
        c.phone = "13800000000"
        #expect(try second.open(try first.seal(c, caseNumber: "L1-0000001"), caseNumber: "L1-0000001").contact == c)
        // A key file that cannot be written is an error naming it (the temporary file's name is
        // taken by a directory, which stops root too).
        let blocked = dir.path + "/blocked"
        try FileManager.default.createDirectory(atPath: blocked + "/contact-keys.new-\(getpid())", withIntermediateDirectories: true)
        #expect { try ContactVault.resolve(path: nil, dataDir: blocked, environment: [:]) } throws: { error in
            "\(error)".contains("cannot create the contact key file \(blocked)/contact-keys: open")
        }
        #expect(!FileManager.default.fileExists(atPath: blocked + "/contact-keys"))
    }

    /// A retry whose stored contact was sealed with a key since taken out of the key file gets an
    /// error of its own; the submissions that arrived with it are stored as usual.
    @Test func aRetryWhoseContactKeyIsGoneFailsAloneNotItsBatch() throws {
        let dir = try TempDir()
        var withContact = feedback("sealed-with-k1")
        withContact.contact.phone = "13800000000"
        do {
            let intake = try makeIntake(dir)
            #expect(intake.handle([request(.submitFeedback(withContact))])[0].feedbackAccepted.caseNumber == "L1-0000001")
        }
        // Restarted with only a new key: k1, which sealed the stored contact, is gone.
        let intake = try makeIntake(dir, keys: [("k2", SymmetricKey(size: .bits256))])
        let replies = intake.handle([request(.submitFeedback(feedback("other-1", kind: .praise))),
                                     request(.submitFeedback(withContact)),
                                     request(.submitFeedback(feedback("other-2", kind: .suggestion)))])
        #expect(replies[0].feedbackAccepted.caseNumber == "L1-0000002", "\(replies[0])")
        #expect(replies[2].feedbackAccepted.caseNumber == "L1-0000003", "\(replies[2])")
        guard case .error(let e)? = replies[1].result else {
            Issue.record("the retry cannot be compared, so it cannot be acknowledged: \(replies[1])")
            return
        }
        #expect(e.code == .internal && e.message.contains("L1-0000001") && e.message.contains("k1"), "\(e)")
        #expect(intake.log.head == 3)
    }

    /// At start intake counts the stored contacts by the key that sealed them; contacts sealed with
    /// a key no longer configured are an error in the log, named by key and count.
    @Test func storedContactsAreCountedByKeyAtStartAndAMissingKeyIsLogged() throws {
        let dir = try TempDir()
        func open(_ keys: [(String, SymmetricKey)], _ logger: Logger = Logger(label: "t")) throws -> IntakeService {
            let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
            return try IntakeService(log: try EventLog(store: store, stream: "intake-1"), casePrefix: "L1", vault: try ContactVault(keys: keys), logger: logger)
        }
        func withPhone(_ id: String, _ phone: String) -> Liaison_V1_SubmitFeedback {
            var f = feedback(id, text: "Contact me about \(id), a different matter each time.")
            f.contact.phone = phone
            return f
        }
        let k1 = SymmetricKey(size: .bits256), k2 = SymmetricKey(size: .bits256)
        do {
            let intake = try open([("k1", k1)])
            #expect(intake.contactKeys == ContactKeyCensus(configured: [("k1", 0)], unknown: [:]))
            _ = intake.handle([request(.submitFeedback(withPhone("a", "13800000001"))), request(.submitFeedback(withPhone("b", "13800000002"))), request(.submitFeedback(feedback("anon")))])
        }
        do {
            // Rotated: k2 on top, k1 kept.
            let intake = try open([("k2", k2), ("k1", k1)])
            #expect(intake.contactKeys == ContactKeyCensus(configured: [("k2", 0), ("k1", 2)], unknown: [:]))
            #expect(intake.contactKeys.summary == "0 sealed with k2 (current), 2 with k1")
            _ = intake.handle([request(.submitFeedback(withPhone("c", "13800000003")))])
        }
        // k1 taken out too early, and one stored contact damaged.
        let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
        try store.pool.write { db in try db.execute(sql: "UPDATE submissions SET contact = x'07' WHERE case_seq = 2") }
        let captured = CapturedLog()
        let intake = try open([("k2", k2)], captured.logger)
        #expect(intake.contactKeys == ContactKeyCensus(configured: [("k2", 1)], unknown: ["k1": 1, "?": 1]), "\(intake.contactKeys)")
        let errors = captured.lines.filter { $0.hasPrefix("error") }
        #expect(errors.count == 2 && errors.contains { $0.contains("1 stored contact(s) are sealed with key 'k1', which is not in the contact keys") }, "\(captured.lines)")
        #expect(captured.lines.contains { $0.hasPrefix("info stored contact data: 1 sealed with k2 (current)") }, "\(captured.lines)")
    }

    /// Re-sealing moves every readable contact to the current key, bound to the same case; a
    /// damaged one is reported and left; running it again does nothing.
    @Test func resealingMovesEveryContactToTheCurrentKey() throws {
        let dir = try TempDir()
        let k1 = SymmetricKey(size: .bits256), k2 = SymmetricKey(size: .bits256)
        var numbers: [String] = []
        do {
            let intake = try makeIntake(dir, keys: [("k1", k1)])
            for i in 1...3 {
                var f = feedback("r\(i)", text: "Matter number \(i) is a different one: \(String(repeating: "x", count: i * 9))")
                f.contact.phone = "1380000000\(i)"
                numbers.append(intake.handle([request(.submitFeedback(f))])[0].feedbackAccepted.caseNumber)
            }
            _ = intake.handle([request(.submitFeedback(feedback("anonymous")))])
        }
        let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
        try store.pool.write { db in try db.execute(sql: "UPDATE submissions SET contact = x'0105' WHERE case_seq = 3") }
        let log = try EventLog(store: store, stream: "intake-1")
        let rotated = try ContactVault(keys: [("k2", k2), ("k1", k1)])
        var seen: [Int] = []
        let report = try IntakeService.resealContacts(log, vault: rotated, batchSize: 1) { seen.append($0.resealed) }
        #expect(report == ResealReport(resealed: 2, keyMissing: [:], damaged: 1) && seen.last == 2 && !report.isComplete)
        #expect(try store.pool.read { db in try ContactKeyCensus.take(db, vault: rotated) } == ContactKeyCensus(configured: [("k2", 2), ("k1", 0)], unknown: ["?": 1]))
        #expect(try IntakeService.resealContacts(log, vault: rotated).resealed == 0)
        // Only k2 now: the re-sealed contacts open, each bound to its own case.
        let newOnly = try ContactVault(keys: [("k2", k2)])
        for (i, number) in numbers.prefix(2).enumerated() {
            let sealed = try #require(try store.pool.read { db in try Data.fetchOne(db, sql: "SELECT contact FROM submissions WHERE case_number = ?", arguments: [number]) })
            #expect(try newOnly.open(sealed, caseNumber: number).phone == "1380000000\(i + 1)")
            #expect(throws: (any Error).self) { try newOnly.open(sealed, caseNumber: numbers[1 - i]) }
        }
        // A contact copied into another case's row does not open there: damaged, not a missing key.
        try store.pool.write { db in try db.execute(sql: "UPDATE submissions SET contact = (SELECT contact FROM submissions WHERE case_seq = 1) WHERE case_seq = 3") }
        let k3 = SymmetricKey(size: .bits256)
        #expect(try IntakeService.resealContacts(log, vault: try ContactVault(keys: [("k3", k3), ("k2", k2)])) == ResealReport(resealed: 2, keyMissing: [:], damaged: 1))
        // And a key that is not in the file is named.
        #expect(try IntakeService.resealContacts(log, vault: try ContactVault(keys: [("k4", k2)])) == ResealReport(resealed: 0, keyMissing: ["k3": 2, "k2": 1], damaged: 0))
    }
}
