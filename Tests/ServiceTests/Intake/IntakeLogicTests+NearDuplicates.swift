import Crypto
import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Logging
import Testing
@testable import Intake

/// Near-duplicates: accepted, linked to the first, never dropped.
extension IntakeLogicTests {
    @Test func nearDuplicatesAreAcceptedAndLinkedNeverDropped() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        func from(_ id: String, phone: String = "138 1234 5678", email: String = "", text: String) -> Liaison_V1_Request {
            var f = feedback(id, text: text)
            if !phone.isEmpty { f.contact.phone = phone }
            if !email.isEmpty { f.contact.email = email }
            return request(.submitFeedback(f))
        }
        let text = "The patrol car has been parked on the pavement outside number 8 Lotus Lane all week."
        let r = intake.handle([
            from("n1", text: text),
            from("n2", phone: "+86 13812345678", text: text + "!!"),                                              // same phone, nearly the same
            from("n3", text: "Thank you for finding my bicycle so quickly."),                                   // same phone, other matter
            from("n4", phone: "13900000000", text: text),                                                        // other citizen
            request(.submitFeedback(feedback("n5", text: text))),                                                // anonymous
            from("n6", phone: "", email: "LI.WEI@example.org", text: text),
            from("n7", phone: "", email: "Li.Wei@Example.org", text: "the patrol car has been parked on the pavement outside number 8 lotus lane all week"),
        ]).map(\.feedbackAccepted)
        #expect(r.allSatisfy { !$0.caseNumber.isEmpty && !$0.duplicate })          // every one accepted as its own case
        #expect(r[1].linkedCaseNumber == r[0].caseNumber)
        #expect(r[2].linkedCaseNumber.isEmpty && r[3].linkedCaseNumber.isEmpty && r[4].linkedCaseNumber.isEmpty)
        #expect(r[6].linkedCaseNumber == r[5].caseNumber)
        let events = try intake.log.replay(after: 0, limit: 20, prefixes: []).events
        #expect(events.count == 7)
        #expect(events[1].feedbackReceived.linkedCaseNumber == r[0].caseNumber)
        // The link survives a retry.
        #expect(intake.handle([from("n2", phone: "+86 13812345678", text: text + "!!")])[0].feedbackAccepted.linkedCaseNumber == r[0].caseNumber)
        // The same number written with the international prefix, and without a space: the same caller.
        #expect(intake.handle([from("n8", phone: "0086-138-1234-5678", text: text + "?")])[0].feedbackAccepted.linkedCaseNumber == r[0].caseNumber)
        #expect(NearDuplicates.similarity("abc def", "ABC-DEF") == 1)
        #expect(NearDuplicates.similarity("noise at night", "bicycle stolen") < 0.2)
        #expect(NearDuplicates.similarity("派出所民警态度很差", "派出所民警态度很差！") == 1)
        #expect(NearDuplicates.similarity("ab", "AB") == 1 && NearDuplicates.similarity("ab", "ba") == 0)
    }

    @Test func nearDuplicateLinksSurviveARestartAndEndWithTheWindow() throws {
        let dir = try TempDir()
        let clock = ManualClock(Date(timeIntervalSince1970: 1_790_000_000))
        func intake() throws -> IntakeService {
            let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
            return try IntakeService(log: try EventLog(store: store, stream: "intake-1"), casePrefix: "L1",
                                     vault: try ContactVault(keys: [("k1", IntakeLogicTests.key)]), clock: clock, logger: Logger(label: "t"))
        }
        func from(_ id: String, _ text: String) -> Liaison_V1_Request {
            var f = feedback(id, text: text)
            f.contact.phone = "13812345678"
            return request(.submitFeedback(f))
        }
        let text = "Motorbikes race past the school gate on Lotus Lane every evening after nine."
        let first = try intake().handle([from("w1", text)])[0].feedbackAccepted
        #expect(first.linkedCaseNumber.isEmpty)
        // A restart: the window's contacts are read back from the database.
        clock.advance(by: 3_600)
        let restarted = try intake()
        #expect(restarted.recentContacts.withLock { $0.count } == 1)
        let second = restarted.handle([from("w2", text + " Again tonight.")])[0].feedbackAccepted
        #expect(second.linkedCaseNumber == first.caseNumber)
        // Past the window (24 h after both), the same text from the same caller is a case of its own.
        clock.advance(by: 25 * 3_600)
        let later = try intake()
        #expect(later.recentContacts.withLock { $0.count } == 0)
        #expect(later.handle([from("w3", text)])[0].feedbackAccepted.linkedCaseNumber.isEmpty)
        // Only the contact's fingerprints are in the row, never the phone number.
        let prints = try later.log.store.pool.read { db in try Data.fetchAll(db, sql: "SELECT contact_prints FROM submissions") }
        #expect(prints.count == 3 && prints.allSatisfy { $0.count == 16 && $0.range(of: Data("13812345678".utf8)) == nil })
    }

    @Test func recentContactsForgetARolledBackBatchAndPruneTheWindow() {
        var recent = RecentContacts()
        let a = ContactPrint(hi: 1, lo: 2), b = ContactPrint(hi: 3, lo: 4)
        recent.add(a, .init(caseSeq: 1, at: 100), window: 50)
        recent.add(b, .init(caseSeq: 2, at: 110), window: 50)
        recent.add(a, .init(caseSeq: 3, at: 120), window: 50)
        #expect(recent.recent(a, since: 0).map(\.caseSeq) == [3, 1])       // newest first
        #expect(recent.recent(a, since: 110).map(\.caseSeq) == [3])        // the window
        #expect(recent.recent(a, since: 0, limit: 1).map(\.caseSeq) == [3])
        recent.forget(from: 2)                                               // the batch from case 2 on rolled back
        #expect(recent.recent(a, since: 0).map(\.caseSeq) == [1] && recent.recent(b, since: 0).isEmpty)
        recent.add(b, .init(caseSeq: 2, at: 180), window: 50)                // case 1 (at 100) fell out of the window
        #expect(recent.count == 1 && recent.recent(a, since: 0).isEmpty)
        #expect(ContactPrint.decode(Data(ContactPrint.encode([a, b]))) == [a, b])
        // Full within the window: the older half goes, memory stays bounded.
        var full = RecentContacts(capacity: 1_000)
        for i in 0..<5_000 { full.add(ContactPrint(hi: UInt64(i), lo: 0), .init(caseSeq: Int64(i), at: 1_000 + Double(i)), window: 86_400) }
        #expect(full.count <= 1_000 && full.byPrint.count == full.count)
        #expect(!full.recent(ContactPrint(hi: 4_999, lo: 0), since: 0).isEmpty && full.recent(ContactPrint(hi: 0, lo: 0), since: 0).isEmpty)
    }

    /// The similarity of sorted trigram arrays is exactly the Jaccard similarity of the trigram
    /// sets, for ASCII (read byte by byte) and any other text (read by Unicode properties).
    @Test func trigramSimilarityIsTheJaccardOfTheTrigramSets() async {
        func referenceSet(_ s: String) -> Set<UInt64> {
            let scalars = s.lowercased().unicodeScalars.filter { $0.properties.isAlphabetic || $0.properties.numericType != nil }.map(\.value)
            guard scalars.count >= 3 else { return scalars.isEmpty ? [] : [scalars.reduce(UInt64(1) << 63) { $0 << 21 | UInt64($1) }] }
            return Set((0...(scalars.count - 3)).map { UInt64(scalars[$0]) << 42 | UInt64(scalars[$0 + 1]) << 21 | UInt64(scalars[$0 + 2]) })
        }
        func reference(_ a: String, _ b: String) -> Double {
            let x = referenceSet(a), y = referenceSet(b)
            return x.isEmpty && y.isEmpty ? 1 : Double(x.intersection(y).count) / Double(x.union(y).count)
        }
        var rng = SystemRandomNumberGenerator()
        let alphabets: [[Character]] = [Array("abcAB 1-9,.!"), Array("aaab"), Array("派出所民警态度很差！ 1a"), Array("ÉéÀàΣσ١٢3 x"), Array("ab")]
        for i in 0..<2_000 {
            if i % 100 == 0 { await Task.yield() }   // the other tests' turn on the cooperative pool
            let letters = alphabets.randomElement(using: &rng)!
            let a = String((0..<Int.random(in: 0...40, using: &rng)).map { _ in letters.randomElement(using: &rng)! })
            let b = Bool.random(using: &rng) ? a + String(letters.randomElement(using: &rng)!)
                                             : String((0..<Int.random(in: 0...40, using: &rng)).map { _ in letters.randomElement(using: &rng)! })
            #expect(NearDuplicates.trigrams(a) == referenceSet(a).sorted(), "\(a)")
            #expect(NearDuplicates.similarity(a, b) == reference(a, b), "\(a) | \(b)")
        }
        // The sort behind them, on short and long arrays, with values that differ in any byte.
        for n in [0, 1, 2, 63, 64, 65, 1_000, 5_000] {
            for spread in [UInt64(0xFF), 0xFFFF_FFFF, .max, 0xFF00_0000_0000_0000] {
                var values = (0..<n).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) & spread }
                let expected = values.sorted()
                NearDuplicates.radixSort(&values)
                #expect(values == expected, "\(n) values within \(String(spread, radix: 16))")
            }
        }
        let long = String(repeating: "The officer at the desk was helpful and kind. ", count: 90)
        #expect(NearDuplicates.trigrams(long) == referenceSet(long).sorted())
    }

    /// One contact writing thousands of times keeps only its newest cases, so each of its
    /// submissions is checked against at most twenty; entries it let go leave the FIFO without
    /// touching its newer ones.
    @Test func aContactKeepsItsNewestCasesOnly() {
        var recent = RecentContacts(capacity: 1_000, perContact: 20)
        let flood = ContactPrint(hi: 9, lo: 9), other = ContactPrint(hi: 1, lo: 1)
        recent.add(other, .init(caseSeq: 0, at: 1_000), window: 86_400)
        for i in 1...5_000 { recent.add(flood, .init(caseSeq: Int64(i), at: 1_000 + Double(i)), window: 86_400) }
        #expect(recent.byPrint[flood]?.count == 20 && recent.count <= 1_000)
        #expect(recent.recent(flood, since: 0).map(\.caseSeq) == Array((4_981...5_000).reversed()))
        #expect(recent.recent(other, since: 0).isEmpty, "pushed out by the capacity")
        // A rolled-back batch takes back what it added; the cases it pushed out stay out.
        recent.forget(from: 4_991)
        #expect(recent.recent(flood, since: 0).map(\.caseSeq) == Array((4_981...4_990).reversed()))
        recent.add(flood, .init(caseSeq: 4_991, at: 6_000), window: 86_400)
        #expect(recent.recent(flood, since: 0).first?.caseSeq == 4_991 && recent.byPrint[flood]?.count == 11)
        // The window still empties it.
        recent.add(other, .init(caseSeq: 5_000, at: 200_000), window: 86_400)
        #expect(recent.byPrint[flood] == nil && recent.count == 1)
    }

    /// The trigram cache gives back what it made for the same text of the same case; a case number
    /// given out again (after a rollback) with another text gets that text's trigrams; memory stays
    /// within its bound.
    @Test func theTrigramCacheAnswersOnlyForTheSameText() {
        var cache = TrigramCache(maxTrigrams: 100)
        let a = "the street light at the school crossing is out", b = "a bicycle was stolen from the rack"
        #expect(cache.trigrams(of: a, caseSeq: 1) == NearDuplicates.trigrams(a))
        let held = cache.count
        #expect(cache.trigrams(of: a, caseSeq: 1) == NearDuplicates.trigrams(a) && cache.count == held)
        #expect(cache.trigrams(of: b, caseSeq: 1) == NearDuplicates.trigrams(b))
        #expect(cache.count == NearDuplicates.trigrams(b).count)
        for seq in 2...50 { _ = cache.trigrams(of: a + " \(seq)", caseSeq: Int64(seq)) }
        #expect(cache.count <= 100)
        #expect(cache.trigrams(of: a + " 50", caseSeq: 50) == NearDuplicates.trigrams(a + " 50"))
    }

    /// A near-duplicate check reads a bounded amount of stored text, the contact's newest cases
    /// first: a short text is compared with its contact's last twenty, a long one with the last few.
    @Test func aNearDuplicateCheckReadsABoundedAmountOfText() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        func from(_ id: String, _ text: String) -> Liaison_V1_Request {
            var f = feedback(id, text: text)
            f.contact.phone = "13812345678"
            return request(.submitFeedback(f))
        }
        // Words of letters drawn from a generator seeded by the matter: different matters share
        // almost no trigrams.
        func matter(_ n: Int, words: Int) -> String {
            var state = UInt64(n + 1) &* 0x9E37_79B9_7F4A_7C15
            func letter() -> Character {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Character(UnicodeScalar(UInt8(ascii: "a") + UInt8((state >> 33) % 26)))
            }
            return (0..<words).map { _ in String((0..<5).map { _ in letter() }) }.joined(separator: " ")
        }
        // Twenty short, different matters: the first is still compared, and linked.
        let short = intake.handle((0..<20).map { from("s\($0)", matter($0, words: 12)) }).map(\.feedbackAccepted)
        #expect(short.allSatisfy { $0.linkedCaseNumber.isEmpty })
        #expect(intake.handle([from("s-again", matter(0, words: 12) + " again")])[0].feedbackAccepted.linkedCaseNumber == short[0].caseNumber)
        // Then six of 3,990 characters each. A repeat of the newest is linked. A repeat of the
        // oldest is not: the check reads the newest first and stops once it has read 16 KiB (the
        // repeat just stored and four more), before it reaches it.
        let long = intake.handle((100..<106).map { from("l\($0)", String(matter($0, words: 700).prefix(3_990))) }).map(\.feedbackAccepted)
        #expect(long.allSatisfy { $0.linkedCaseNumber.isEmpty && !$0.caseNumber.isEmpty })
        #expect(intake.handle([from("l-newest", String(matter(105, words: 700).prefix(3_990)) + "!")])[0].feedbackAccepted.linkedCaseNumber == long[5].caseNumber)
        let oldest = intake.handle([from("l-oldest", String(matter(100, words: 700).prefix(3_990)) + "!")])[0].feedbackAccepted
        #expect(!oldest.caseNumber.isEmpty && oldest.linkedCaseNumber.isEmpty)
        #expect((4 * 3_991..<5 * 3_991).contains(IntakeService.nearDuplicateReadBudget))
    }

    @Test func fingerprintsStoredByTheOldSchemaStillLinkAfterTheMigration() throws {
        let dir = try TempDir()
        let path = dir.file("intake.sqlite")
        let vault = try ContactVault(keys: [("k1", IntakeLogicTests.key)])
        // A database as intake-v2 left it: the fingerprint (base64 of the whole HMAC) in its own table.
        do {
            let queue = try DatabaseQueue(path: path)
            var m = DatabaseMigrator()
            Store.runtimeMigrations(&m)
            IntakeService.migrations(&m)
            try m.migrate(queue, upTo: "intake-v2-near-duplicates")
            var c = Liaison_V1_Contact()
            c.phone = "138-1234-5678"
            let printed = NearDuplicates(key: vault.fingerprintKey).fingerprints(c)
            #expect(printed.count == 1)
            var full = HMAC<SHA256>(key: vault.fingerprintKey)
            full.update(data: Data("phone:13812345678".utf8))
            let legacy = Data(full.finalize()).base64EncodedString()
            #expect(ContactPrint.decode(Data(base64Encoded: legacy)!.prefix(16)) == printed)
            let body: Data = try feedback("old", text: "Loud music from the karaoke bar at number 12 every night until 3 am.").serializedBytes()
            try queue.write { db in
                try db.execute(sql: """
                    INSERT INTO submissions (case_seq, submission_id, case_number, tracking_token, body, contact, received_at, state, public_note, updated_at)
                    VALUES (1, 'old', 'L1-0000001', 'TOKEN', ?, NULL, ?, 'received', '', ?)
                    """, arguments: [body, Date().timeIntervalSince1970, Date().timeIntervalSince1970])
                try db.execute(sql: "INSERT INTO contact_fingerprints (fingerprint, case_number, received_at) VALUES (?, 'L1-0000001', ?)",
                               arguments: [legacy, Date().timeIntervalSince1970])
            }
        }
        let intake = try makeIntake(dir)
        var f = feedback("new", text: "Loud music from the karaoke bar at number 12 every night until 3 am!")
        f.contact.phone = "13812345678"
        #expect(intake.handle([request(.submitFeedback(f))])[0].feedbackAccepted.linkedCaseNumber == "L1-0000001")
        let tables = try intake.log.store.pool.read { db in try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
        #expect(!tables.contains("contact_fingerprints"))
        // intake-v4 and v5 rebuilt the table without the case-number and submission-id indexes; the
        // old case is still found by its number and token, and its id still answers a retry (its
        // body stays in its row: intake-v6 stores new bodies only in their events).
        let indexed = try intake.log.store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT ii.name FROM pragma_index_list('submissions') il JOIN pragma_index_info(il.name) ii")
        }
        #expect(indexed == [])
        let old = intake.handle([request(.getFeedbackStatus(.with { $0.caseNumber = "L1-0000001"; $0.trackingToken = "TOKEN" }))])[0]
        #expect(old.feedbackStatus.state == "received")
        let retry = intake.handle([request(.submitFeedback(feedback("old", text: "Loud music from the karaoke bar at number 12 every night until 3 am.")))])[0]
        #expect(retry.feedbackAccepted.caseNumber == "L1-0000001" && retry.feedbackAccepted.duplicate)
    }

    /// An earlier submission of the same citizen whose stored body is damaged is skipped by the
    /// near-duplicate check: the new submission and its batch are stored as usual.
    @Test func aDamagedEarlierSubmissionDoesNotStopTheNextFromTheSameCitizen() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var first = feedback("first", text: "The street light at the school crossing has been out for a week.")
        first.contact.phone = "13800000001"
        #expect(intake.handle([request(.submitFeedback(first))])[0].feedbackAccepted.caseNumber == "L1-0000001")
        // The body is stored in the submission's event (intake-v6): damage it there.
        _ = try intake.log.store.pool.writeWithoutTransaction { db in
            try db.execute(sql: "UPDATE events SET data = x'FFFFFFFF' WHERE seq = (SELECT event_seq FROM submissions WHERE case_seq = 1)")
        }
        var second = first
        second.submissionID = "second"
        let replies = intake.handle([request(.submitFeedback(second)), request(.submitFeedback(feedback("bystander")))])
        #expect(replies.map(\.feedbackAccepted.caseNumber) == ["L1-0000002", "L1-0000003"], "\(replies)")
        #expect(replies[0].feedbackAccepted.linkedCaseNumber.isEmpty)
    }
}
