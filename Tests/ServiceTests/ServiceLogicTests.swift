import Crypto
import Foundation
import GRDB
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import Logging
import Testing
@testable import Handler
@testable import Intake
@testable import Reporting
@testable import Scheduler

final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "liaison-svc-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

func feedback(_ id: String = UUID().uuidString, kind: Liaison_V1_FeedbackKind = .complaint, text: String = "The officer was rude",
              unit: String = "STN-EAST-01", officer: String = "") -> Liaison_V1_SubmitFeedback {
    var f = Liaison_V1_SubmitFeedback()
    f.submissionID = id
    f.kind = kind
    f.channel = .hotline
    f.text = text
    f.unit = unit
    f.officerBadge = officer
    return f
}

/// The demo city with `extra` units added (`(code, type, parent)`), written as a unit directory
/// file at `path`: a unit that opens.
func writeUnits(_ path: String, adding extra: [(String, String, String)]) throws {
    var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(UnitDirectory.demo)) as! [String: Any]
    var units = json["units"] as! [[String: Any]]
    for (code, type, parent) in extra { units.append(["code": code, "name": "New " + code, "type": type, "parent": parent]) }
    json["units"] = units
    try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
}

func request(_ body: Liaison_V1_Request.OneOf_Body) -> Liaison_V1_Request {
    var r = Liaison_V1_Request()
    r.body = body
    return r
}

/// An operator's request for a case's contact data, naming who and why as every one must.
func contactQuery(_ caseNumber: String, actor: String = "desk-7", reason: String = "follow-up call") -> Liaison_V1_GetContact {
    .with { $0.caseNumber = caseNumber; $0.actor = actor; $0.reason = reason }
}

@Suite struct IntakeLogicTests {
    struct Rule: CustomTestStringConvertible, Sendable {
        let name: String
        let field: String
        let change: @Sendable (inout Liaison_V1_SubmitFeedback) -> Void
        var testDescription: String { name }
    }

    static let rules: [Rule] = [
        Rule(name: "no submission id", field: "submit_feedback.submission_id") { $0.submissionID = "" },
        Rule(name: "long submission id", field: "submit_feedback.submission_id") { $0.submissionID = String(repeating: "x", count: 129) },
        Rule(name: "kind missing", field: "submit_feedback.kind") { $0.kind = .unspecified },
        Rule(name: "kind unknown number", field: "submit_feedback.kind") { $0.kind = .UNRECOGNIZED(42) },
        Rule(name: "channel missing", field: "submit_feedback.channel") { $0.channel = .unspecified },
        Rule(name: "channel unknown number", field: "submit_feedback.channel") { $0.channel = .UNRECOGNIZED(9) },
        Rule(name: "text blank", field: "submit_feedback.text") { $0.text = "  \n " },
        Rule(name: "text of zero-width characters alone", field: "submit_feedback.text") { $0.text = "\u{200B}\u{2060} \u{FEFF}\u{3164}" },
        Rule(name: "text with a NUL (SQLite would keep the text up to it)", field: "submit_feedback.text") { $0.text = "ok\u{0}and the rest" },
        Rule(name: "text with an escape sequence", field: "submit_feedback.text") { $0.text = "hello \u{1B}[2J" },
        Rule(name: "text with a C1 control", field: "submit_feedback.text") { $0.text = "hello \u{9B}31m" },
        Rule(name: "text with a delete", field: "submit_feedback.text") { $0.text = "hello\u{7F}" },
        Rule(name: "submission id with a NUL", field: "submit_feedback.submission_id") { $0.submissionID = "sub-1\u{0}x" },
        Rule(name: "address with a backspace", field: "submit_feedback.address") { $0.unit = ""; $0.address = "12 Park Road\u{08}" },
        Rule(name: "category with a line feed", field: "submit_feedback.category") { $0.category = "noise\nlevel: critical" },
        Rule(name: "name with an escape", field: "submit_feedback.contact.name") { $0.contact.name = "Li\u{1B}]0;x\u{7}" },
        Rule(name: "e-mail with an escape", field: "submit_feedback.contact.email") { $0.contact.email = "li\u{1B}[8m@example.org" },
        Rule(name: "text too long", field: "submit_feedback.text") { $0.text = String(repeating: "警", count: 4_001) },
        Rule(name: "text of one character and 20,000 combining marks", field: "submit_feedback.text") {
            $0.text = "e" + String(repeating: "\u{0301}", count: 20_000)
        },
        Rule(name: "address of combining marks", field: "submit_feedback.address") { $0.address = "a" + String(repeating: "\u{0301}", count: 2_001) },
        Rule(name: "no unit nor address", field: "submit_feedback.unit") { $0.unit = ""; $0.address = " " },
        Rule(name: "unit not in the directory", field: "submit_feedback.unit") { $0.unit = "STN-MOON-99" },
        Rule(name: "unit far longer than any code", field: "submit_feedback.unit") { $0.unit = String(repeating: "STN-", count: 30_000) },
        Rule(name: "address too long", field: "submit_feedback.address") { $0.address = String(repeating: "a", count: 501) },
        Rule(name: "badge malformed", field: "submit_feedback.officer_badge") { $0.officerBadge = "officer smith" },
        Rule(name: "badge without digits", field: "submit_feedback.officer_badge") { $0.officerBadge = "PC-ABC" },
        Rule(name: "category too long", field: "submit_feedback.category") { $0.category = String(repeating: "c", count: 65) },
        Rule(name: "language malformed", field: "submit_feedback.language") { $0.language = "chinese please" },
        Rule(name: "language one letter", field: "submit_feedback.language") { $0.language = "z" },
        Rule(name: "language first part too long", field: "submit_feedback.language") { $0.language = "zhongwen" },
        Rule(name: "language digits first", field: "submit_feedback.language") { $0.language = "12-CN" },
        Rule(name: "language empty part", field: "submit_feedback.language") { $0.language = "zh--CN" },
        Rule(name: "language empty part, POSIX style", field: "submit_feedback.language") { $0.language = "zh__CN" },
        Rule(name: "language trailing dash", field: "submit_feedback.language") { $0.language = "zh-" },
        Rule(name: "language part too long", field: "submit_feedback.language") { $0.language = "en-abcdefghi" },
        Rule(name: "language not ASCII", field: "submit_feedback.language") { $0.language = "zh-Ĥans" },
        Rule(name: "occurred in the future", field: "submit_feedback.occurred_at") { $0.occurredAt = .init(date: Date().addingTimeInterval(3_600)) },
        Rule(name: "occurred before 2000", field: "submit_feedback.occurred_at") { $0.occurredAt = .init(date: Date(timeIntervalSince1970: 0)) },
        Rule(name: "phone with letters", field: "submit_feedback.contact.phone") { $0.contact.phone = "call me maybe" },
        Rule(name: "phone too short", field: "submit_feedback.contact.phone") { $0.contact.phone = "123" },
        Rule(name: "phone with a + inside", field: "submit_feedback.contact.phone") { $0.contact.phone = "0755+81234567" },
        Rule(name: "phone extension in words", field: "submit_feedback.contact.phone") { $0.contact.phone = "0755-8123 4567 ext twelve" },
        Rule(name: "phone extension marker alone", field: "submit_feedback.contact.phone") { $0.contact.phone = "0755-8123 4567 ext" },
        Rule(name: "phone extension of 7 digits", field: "submit_feedback.contact.phone") { $0.contact.phone = "0755-8123 4567 x1234567" },
        Rule(name: "phone with something after its extension", field: "submit_feedback.contact.phone") { $0.contact.phone = "0755-8123 4567 x12 or 13" },
        Rule(name: "phone of two numbers", field: "submit_feedback.contact.phone") { $0.contact.phone = "13812345678, 13912345678" },
        Rule(name: "e-mail without domain", field: "submit_feedback.contact.email") { $0.contact.email = "li.wei@" },
        Rule(name: "e-mail with spaces", field: "submit_feedback.contact.email") { $0.contact.email = "li wei@example.org" },
        Rule(name: "e-mail over 254 bytes in few characters", field: "submit_feedback.contact.email") {
            $0.contact.email = "li@example.org" + String(repeating: "\u{0301}", count: 1_000)
        },
        Rule(name: "name too long", field: "submit_feedback.contact.name") { $0.contact.name = String(repeating: "n", count: 101) },
        Rule(name: "empty contact", field: "submit_feedback.contact") { $0.contact = .init() },
        Rule(name: "contact of blanks", field: "submit_feedback.contact") { $0.contact.name = "   "; $0.contact.email = "\u{3000}" },
        Rule(name: "phone of blanks", field: "submit_feedback.contact.phone") { $0.contact.phone = "  " },
    ]

    /// A badge read out with a space or a slash is refused (a badge is stored as one spelling), and
    /// the one meant is offered.
    @Test func aBadgeWithASpaceIsRefusedWithTheBadgeMeant() {
        for (typed, meant) in [("PC 10472", "PC-10472"), ("pc / 10472", "PC-10472"), ("ＰＣ　１０４７２", "PC-10472")] {
            var f = feedback()
            f.officerBadge = typed
            let e = SubmissionRules().check(f)
            #expect(e?.field == "submit_feedback.officer_badge" && e?.message.hasSuffix("did you mean \(meant)?") == true, "\(String(describing: e))")
        }
        var f = feedback()
        f.officerBadge = "officer smith"
        #expect(SubmissionRules().check(f)?.message.contains("did you mean") == false)
    }

    @Test(arguments: rules)
    func everyRuleNamesItsField(rule: Rule) {
        var f = feedback()
        rule.change(&f)
        let e = SubmissionRules().check(f)
        #expect(e?.code == .invalidArgument)
        #expect(e?.field == rule.field)
    }

    /// A control character is named with its place, never sent back (an escape sequence quoted in
    /// the reply would act on the clerk's terminal); a letter's tabs and lines, right-to-left marks
    /// and text without any ASCII are taken as they are.
    @Test func controlCharactersAreNamedAndLineBreaksKept() {
        var f = feedback()
        f.text = "第一行\u{1B}[2J"
        let e = SubmissionRules().check(f)
        #expect(e?.field == "submit_feedback.text")
        #expect(e?.message == "text holds a control character, U+001B (escape) at character 4: remove it (tabs, line and page breaks may stay)")
        #expect(e?.message.unicodeScalars.contains { $0.value < 0x20 } == false)
        // A value quoted in any error has its control characters written out.
        var unit = feedback()
        unit.unit = "STN\u{1B}[31m"
        let quoted = SubmissionRules().check(unit)
        #expect(quoted?.field == "submit_feedback.unit" && quoted?.message.hasPrefix("unit 'STN\\u001B[31m' is not in the unit directory") == true,
                "\(String(describing: quoted))")
        for text in ["Dear Sir,\r\n\tthe road\nis closed\u{C}Page 2\u{B}of the letter", "\u{200F}شكوى\u{200E} 12", "噪音扰民", "\u{200B}x"] {
            var ok = feedback()
            ok.text = text
            ok.address = "1 Park Road\nFlat 2"
            #expect(SubmissionRules().check(ok) == nil, "\(text.debugDescription)")
        }
    }

    /// A refused field of any size is named, and only its start is sent back: the error reply stays
    /// small, and a long unit is not compared letter by letter with every code in the directory.
    @Test func aLongRefusedValueIsNamedWithoutBeingSentBack() {
        let long = String(repeating: "X", count: 100_000)
        let cases: [(String, (inout Liaison_V1_SubmitFeedback) -> Void)] = [
            ("submit_feedback.unit", { $0.unit = long }),
            ("submit_feedback.officer_badge", { $0.officerBadge = long }),
            ("submit_feedback.language", { $0.language = long }),
            ("submit_feedback.contact.phone", { $0.contact.phone = long }),
            ("submit_feedback.contact.email", { $0.contact.email = long }),
        ]
        for (field, change) in cases {
            var f = feedback()
            change(&f)
            let e = SubmissionRules().check(f)
            #expect(e?.field == field)
            #expect((e?.message.count ?? .max) < 200, "\(field): \(e?.message.prefix(300) ?? "")")
            #expect(e?.message.contains("'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX…' (100000 characters)") == true, "\(field)")
        }
        // One character of 100,000 combining marks: cut by code points, not by characters.
        let marks = SubmissionRules().check(feedback(unit: "S" + String(repeating: "\u{0301}", count: 100_000)))
        #expect(marks?.field == "submit_feedback.unit" && (marks?.message.utf8.count ?? .max) < 300)
        // Not a mistyped code: no nearest codes are looked for.
        let unit = SubmissionRules().check(feedback(unit: long))
        #expect(unit?.message.contains("nearest") == false)
        #expect(unit?.message.contains("a place goes in address") == true)
        // A short value is quoted whole, as before.
        var phone = feedback()
        phone.contact.phone = "call me maybe"
        #expect(SubmissionRules().check(phone)?.message.hasPrefix("'call me maybe' is not a phone number") == true)
        // A time from the future says how far ahead it is, against which clock, and what is allowed:
        // hours ahead is a desk's local time sent as UTC, or the wrong zone.
        let now = Date(timeIntervalSince1970: 1_796_500_000)   // 2026-12-05T19:46:40Z
        var wrongZone = feedback()
        wrongZone.occurredAt = .init(date: now.addingTimeInterval(8 * 3_600 + 90))
        let future = SubmissionRules().check(wrongZone, now: now)
        #expect(future?.field == "submit_feedback.occurred_at")
        #expect(future?.message == "occurred_at 2026-12-06T03:48:10Z is in the future: 8 h 1 min after intake's clock (2026-12-05T19:46:40Z), "
            + "and at most 5 min ahead is allowed for clocks that drift; was it given in the wrong time zone?", "\(future?.message ?? "")")
        wrongZone.occurredAt = .init(date: now.addingTimeInterval(400))
        #expect(SubmissionRules().check(wrongZone, now: now)?.message.contains("is in the future: 6 min after") == true)
        wrongZone.occurredAt = .init(date: now.addingTimeInterval(3 * 86_400))
        #expect(SubmissionRules().check(wrongZone, now: now)?.message.contains("is in the future: 3 days after") == true)
        // Any 64-bit count of seconds a request may carry is refused, without a year in the billions.
        for seconds in [Int64.max, Int64.max - 1, Int64(1) << 62, 253_402_300_800] {   // the last: year 10000
            wrongZone.occurredAt.seconds = seconds
            wrongZone.occurredAt.nanos = 999_999_999
            let far = SubmissionRules().check(wrongZone, now: now)
            #expect(far?.field == "submit_feedback.occurred_at" && far?.message.contains("more than 100 years after") == true, "\(seconds)")
        }
        wrongZone.occurredAt = .init(date: now.addingTimeInterval(99 * 365 * 86_400))
        #expect(SubmissionRules().check(wrongZone, now: now)?.message.contains("is in the future: 36135 days after") == true)
        wrongZone.occurredAt = .init(date: now.addingTimeInterval(299))
        #expect(SubmissionRules().check(wrongZone, now: now) == nil)
        #expect(Spelling.editDistance(Array("STN-EAST-1".utf8), Array("STN-EAST-01".utf8)) == 1)
        #expect(Spelling.editDistance(Array("kitten".utf8), Array("sitting".utf8)) == 3)
        #expect(Spelling.editDistance([], Array("abc".utf8)) == 3)
        #expect(Spelling.editDistance(Array("STN-EATS-01".utf8), Array("STN-EAST-01".utf8)) == 1)
        #expect(Spelling.editDistance(Array("ca".utf8), Array("abc".utf8)) == 3)   // no edit twice over one letter
    }

    @Test func validSubmissionsPass() {
        let rules = SubmissionRules()
        #expect(rules.check(feedback()) == nil)
        var f = feedback(unit: "")
        f.address = "8 Lotus Lane"
        #expect(rules.check(f) == nil)
        #expect(rules.check(feedback(text: String(repeating: "警", count: 4_000))) == nil)
        var full = feedback(officer: "PC-10472")
        full.language = "zh-Hans-CN"
        full.occurredAt = .init(date: Date().addingTimeInterval(60))     // within clock skew
        full.contact.name = "李伟"
        full.contact.phone = "+86 (138) 0000-0000"
        full.contact.email = "li.wei@example.org"
        full.category = "conduct"
        #expect(rules.check(full) == nil)
        #expect(rules.check(feedback(unit: "CPO-NORTH-07")) == nil)
        for tag in ["en", "ZH", "yue-HK", "sr-Latn-RS", "de-1996", "en-abcdefgh"] {
            var tagged = feedback()
            tagged.language = tag
            #expect(rules.check(tagged) == nil, "\(tag)")
        }
        // As a clerk types them: any letter case, stray spaces.
        #expect(rules.check(feedback(unit: " cpo-north-07 ", officer: " pc-10472 ")) == nil)
        // The directory's spelling is found as typed or in any letter case; nothing else is.
        #expect(rules.directoryCode("CPO-NORTH-07") == "CPO-NORTH-07" && rules.directoryCode("cpo-North-07") == "CPO-NORTH-07")
        #expect(rules.directoryCode("CPO-NORTH-7") == nil && rules.directoryCode("") == nil)
        // An unknown unit is answered with the codes nearest to what was typed.
        let typo = rules.check(feedback(unit: "STN-EAST-1"))
        #expect(typo?.field == "submit_feedback.unit")
        #expect(typo?.message.contains("nearest: STN-EAST-01") == true)
        // A station that does not exist is answered with stations, not with the districts whose
        // codes are fewer letters away; a code typed without a dash with the nearest of all.
        #expect(UnitDirectory.demo.nearestCodes(to: "STN-MOON").allSatisfy { $0.hasPrefix("STN-") }, "\(UnitDirectory.demo.nearestCodes(to: "STN-MOON"))")
        #expect(UnitDirectory.demo.nearestCodes(to: "cpo-east-3").first == "CPO-EAST-03")
        #expect(UnitDirectory.demo.nearestCodes(to: "SUPERVISON").first == "SUPERVISION")
    }

    /// A unit may be given by its name, as a clerk hears it or a web form lists it: taken as its
    /// code when the name is one unit's, and a name not quite right is answered with the units
    /// whose names hold the words typed (before, the nearest codes by their letters: `Riverside`
    /// got CITY-BUREAU, SUPERVISION and DIST-EAST).
    @Test func aUnitGivenByItsNameIsThatUnit() throws {
        let rules = SubmissionRules()
        for typed in ["Riverside Police Station", " riverside  police STATION ", "Ｒｉｖｅｒｓｉｄｅ Ｐｏｌｉｃｅ Ｓｔａｔｉｏｎ"] {
            var f = feedback(unit: typed)
            #expect(rules.check(f) == nil, "\(typed): \(String(describing: rules.check(f)))")
            _ = rules.canonicalize(&f)
            #expect(f.unit == "STN-EAST-01", "\(typed)")
        }
        let near = try #require(rules.check(feedback(unit: "Riverside station")))
        #expect(near.field == "submit_feedback.unit" && near.message.hasSuffix("('Riverside Police Station' is STN-EAST-01); did you mean STN-EAST-01?"), "\(near.message)")
        let words = try #require(rules.check(feedback(unit: "Elm Road")))
        #expect(words.message.hasSuffix("; a place goes in address") && words.message.contains("(nearest: "), "\(words.message)")
        #expect(UnitDirectory.demo.nearestCodes(to: "Harbor Police Station") == ["STN-EAST-02"], "a word with a letter off is that word")
        #expect(UnitDirectory.demo.nearestCodes(to: "Police Station") == ["STN-EAST-01", "STN-EAST-02", "STN-WEST-01"], "the most words, then the nearest codes")
        #expect(UnitDirectory.demo.nearestCodes(to: "Lotus Lane police").first == "CPO-EAST-03")
        // A force's names in Chinese: the name whole is the unit; part of it finds it.
        var chinese = UnitDirectory.demo
        chinese.units.append(.init(code: "STN-EAST-08", name: "滨江派出所", type: .station, parent: "DIST-EAST"))
        #expect(SubmissionRules(units: chinese).check(feedback(unit: "滨江派出所")) == nil)
        #expect(chinese.nearestCodes(to: "滨江") == ["STN-EAST-08"])
        // A name two units share names neither.
        var twice = UnitDirectory.demo
        twice.units.append(.init(code: "STN-EAST-09", name: "Riverside Police Station", type: .station, parent: "DIST-EAST"))
        #expect(SubmissionRules(units: twice).check(feedback(unit: "Riverside Police Station"))?.field == "submit_feedback.unit")
        #expect(twice.code(typed: "Riverside Police Station") == nil && UnitDirectory.demo.code(typed: "riverside police station") == "STN-EAST-01")
        // Sent once by name and again by code: the same submission, not a conflict.
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let byName = intake.handle([request(.submitFeedback(feedback("named", unit: "Riverside Police Station")))])[0].feedbackAccepted
        let byCode = intake.handle([request(.submitFeedback(feedback("named", unit: "STN-EAST-01")))])[0].feedbackAccepted
        #expect(byName.caseNumber == "L1-0000001" && byCode.caseNumber == byName.caseNumber && byCode.duplicate)
        let stored = try intake.log.replay(after: 0, limit: 10, prefixes: []).events.map(\.feedbackReceived.feedback.unit)
        #expect(stored == ["STN-EAST-01"], "\(stored)")
    }

    @Test func unitsAndBadgesAreStoredAndPublishedAsTheDirectorySpellsThem() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        // Typed by a clerk: the unit in small letters with spaces around, the badge likewise.
        let typed = feedback("typed", unit: " stn-east-01 ", officer: " east-1234 ")
        let first = intake.handle([request(.submitFeedback(typed))])
        #expect(first[0].feedbackAccepted.caseNumber == "L1-0000001" && !first[0].feedbackAccepted.duplicate)
        // The handler routes `$unit` by the directory's code: the event must carry that spelling.
        let event = try #require(try intake.log.replay(after: 0, limit: 10, prefixes: []).events.first)
        #expect(event.feedbackReceived.feedback.unit == "STN-EAST-01")
        #expect(event.feedbackReceived.feedback.officerBadge == "EAST-1234")
        // A retry as typed, and the same submission in its canonical form, are the stored one.
        var canonical = typed
        canonical.unit = "STN-EAST-01"
        canonical.officerBadge = "EAST-1234"
        let retries = intake.handle([request(.submitFeedback(typed)), request(.submitFeedback(canonical))])
        #expect(retries.allSatisfy { $0.feedbackAccepted.caseNumber == "L1-0000001" && $0.feedbackAccepted.duplicate })
        // A submission stored as sent, before intake stored the canonical form, still takes its retry.
        var old = feedback("stored-as-sent", unit: "stn-west-01 ")
        let stored = intake.handle([request(.submitFeedback(old))])[0].feedbackAccepted.caseNumber
        try intake.log.store.pool.write { db in
            try db.execute(sql: "UPDATE submissions SET body = ? WHERE case_number = ?", arguments: [try old.serializedBytes() as Data, stored])
        }
        let retry = intake.handle([request(.submitFeedback(old))])
        #expect(retry[0].feedbackAccepted.caseNumber == stored && retry[0].feedbackAccepted.duplicate)
        // Another body under that id is still a conflict.
        old.text = "something else"
        #expect(intake.handle([request(.submitFeedback(old))])[0].error.code == .conflict)
    }

    static let key = SymmetricKey(size: .bits256)

    func makeIntake(_ dir: TempDir, keys: [(String, SymmetricKey)] = [("k1", IntakeLogicTests.key)]) throws -> IntakeService {
        let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
        return try IntakeService(log: try EventLog(store: store, stream: "intake-1"), casePrefix: "L1", vault: try ContactVault(keys: keys),
                             operators: .init(secrets: ["op-secret"]), logger: Logger(label: "t"))
    }

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

    /// A community office that opens is known to intake once its unit directory is reloaded
    /// (SIGHUP), without a restart; a directory that does not load is refused whole.
    @Test func aReloadedUnitDirectoryTakesANewUnitAndABadOneIsRefused() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let opened = feedback("new-office", unit: "CPO-EAST-99")
        #expect(intake.handle([request(.submitFeedback(opened))])[0].error.field == "submit_feedback.unit")
        let path = dir.file("units.json")
        try writeUnits(path, adding: [("CPO-EAST-99", "community_office", "STN-EAST-01")])
        try intake.reloadUnits(path: path, environment: [:])
        let accepted = intake.handle([request(.submitFeedback(opened))])[0].feedbackAccepted
        #expect(!accepted.caseNumber.isEmpty && !accepted.duplicate)
        // A directory naming a parent it does not have: refused, the one in force stays.
        try writeUnits(path, adding: [("CPO-EAST-98", "community_office", "STN-NOWHERE")])
        #expect { try intake.reloadUnits(path: path, environment: [:]) } throws: { ($0 as? ConfigError)?.key.hasSuffix(".parent") == true }
        #expect(!intake.handle([request(.submitFeedback(feedback("after-bad", unit: "CPO-EAST-99")))])[0].feedbackAccepted.caseNumber.isEmpty)
        // Without a file, the demo city again: the new office is unknown.
        try intake.reloadUnits(path: nil, environment: [:])
        #expect(intake.handle([request(.submitFeedback(feedback("demo-again", unit: "CPO-EAST-99")))])[0].error.field == "submit_feedback.unit")
    }

    /// A web form or a desk typed with a Chinese input method in full-width mode sends
    /// `ＳＴＮ－ＥＡＳＴ－０１`, `１３８ １２３４ ５６７８`, `li＠example.org`: accepted as the same unit,
    /// badge, number and address (they were refused as not a unit, not a phone number), stored and
    /// published in ASCII, and one caller with the same caller typing in ASCII.
    @Test func fullWidthInputIsTheSameUnitBadgePhoneAndEmail() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        func fullWidth(_ s: String) -> String {
            String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value > 0x20 && $0.value < 0x7F ? Unicode.Scalar($0.value + 0xFEE0)! : $0 }))
        }
        let text = "The patrol car has been parked on the pavement outside number 8 Lotus Lane all week."
        var wide = feedback("wide", text: text, unit: fullWidth("stn-east-01"), officer: fullWidth("east-1234"))
        wide.contact.phone = fullWidth("138") + "\u{3000}" + fullWidth("1234 5678")
        wide.language = "zh_CN"
        wide.contact.email = fullWidth("li.wei@example.org")
        #expect(wide.unit.utf8.count == 33 && SubmissionRules().check(wide) == nil)
        let first = intake.handle([request(.submitFeedback(wide))])[0].feedbackAccepted
        #expect(!first.caseNumber.isEmpty)
        let event = try #require(try intake.log.replay(after: 0, limit: 10, prefixes: []).events.first)
        #expect(event.feedbackReceived.feedback.unit == "STN-EAST-01" && event.feedbackReceived.feedback.officerBadge == "EAST-1234")
        #expect(event.feedbackReceived.feedback.language == "zh-CN", "a POSIX locale's zh_CN is published as the tag zh-CN")
        var q = request(.getContact(contactQuery(first.caseNumber)))
        q.credential = "op-secret"
        let contact = intake.handle([q])[0].contactInfo.contact
        #expect(contact.phone == "138 1234 5678" && contact.email == "li.wei@example.org", "\(contact)")
        // The same caller in ASCII, nearly the same words: linked to the first.
        var narrow = feedback("narrow", text: text + "!")
        narrow.contact.phone = "13812345678"
        #expect(intake.handle([request(.submitFeedback(narrow))])[0].feedbackAccepted.linkedCaseNumber == first.caseNumber)
        // The retry as first sent is that submission.
        #expect(intake.handle([request(.submitFeedback(wide))])[0].feedbackAccepted.duplicate)
        // Full-width that is still not a unit or a number is refused, quoting what was typed.
        var wrong = feedback("wrong", unit: fullWidth("stn-moon-99"))
        #expect(SubmissionRules().check(wrong)?.message.contains("nearest: STN-") == true)
        wrong = feedback("wrong")
        wrong.contact.phone = fullWidth("12")
        #expect(SubmissionRules().check(wrong)?.field == "submit_feedback.contact.phone")
        // A web form's blanks around the fields are not part of them: accepted and stored trimmed.
        var padded = feedback("padded", text: "The crossing light at school gate 9 is broken")
        padded.contact.name = "  Zhou Min "
        padded.contact.phone = " 13912345678 "
        padded.contact.email = " zhou.min@example.org\t"
        #expect(SubmissionRules().check(padded) == nil)
        let paddedCase = intake.handle([request(.submitFeedback(padded))])[0].feedbackAccepted.caseNumber
        var asked = request(.getContact(contactQuery(paddedCase)))
        asked.credential = "op-secret"
        let stored = intake.handle([asked])[0].contactInfo.contact
        #expect(stored.name == "Zhou Min" && stored.phone == "13912345678" && stored.email == "zhou.min@example.org", "\(stored)")
        // A blank name beside a phone: the phone is the contact.
        var blankName = feedback("blank-name", text: "Thanks to the officer at the harbour")
        blankName.contact.name = "   "
        blankName.contact.phone = "13912340000"
        let blankCase = intake.handle([request(.submitFeedback(blankName))])[0].feedbackAccepted.caseNumber
        asked.getContact = contactQuery(blankCase)
        #expect(intake.handle([asked])[0].contactInfo.contact.name == "")
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

    /// A phone is taken as people write one: with dots (`01.23.45.67.89`) or a slash
    /// (`030/1234567`) between its digits, and with an extension (a switchboard's caller), which a
    /// clerk had to leave out or put in the text.
    @Test func phoneNumbersAreTakenAsWritten() {
        for phone in ["555.123.4567", "01.23.45.67.89", "+49 30/1234567", "(0755) 8123-4567", "0755-8123 4567 ext 12", "0755-8123 4567 EXT.12",
                      "0755-8123 4567 Ext: 8012", "+1 555 123 4567 x12", "+1 555 123 4567 extension 123456", "0755-8123 4567#8012",
                      "0755-8123 4567 转 8012", "0755-81234567转8012", "0755 8123 4567 分机 8012", "0755 8123 4567 内线 12 ",
                      "０７５５－８１２３ ４５６７ ｅｘｔ １２"] {
            var f = feedback()
            f.contact.phone = phone
            #expect(SubmissionRules().check(f) == nil, "\(phone): \(String(describing: SubmissionRules().check(f)))")
        }
    }

    /// An address copied from a mail program with its name, or from a web page as a link, is
    /// refused with the address meant; a list of addresses is refused as such. Before, the link
    /// was stored as the address (`mailto:li@example.org`) and the name's form was only "not an
    /// e-mail address".
    @Test func anEMailCopiedWithItsNameOrAsALinkIsRefusedWithTheAddressMeant() {
        for (typed, says) in [("Li Wei <li.wei@example.org>", "; did you mean li.wei@example.org?"),
                              ("mailto:li.wei@example.org", "; did you mean li.wei@example.org?"),
                              ("\"Li, Wei\" <LI.WEI@example.org>", "; did you mean LI.WEI@example.org?"),
                              ("li.wei@example.org; wang@example.org", ": one address only (the others can go in the text)"),
                              ("li.wei@example.org, wang@example.org", ": one address only (the others can go in the text)"),
                              ("li(wei)@example.org", ""), ("li@exa:mple.org", "")] {
            var f = feedback()
            f.contact.email = typed
            let e = SubmissionRules().check(f)
            #expect(e?.field == "submit_feedback.contact.email" && e?.message.hasSuffix("is not an e-mail address" + says) == true, "\(typed): \(String(describing: e))")
        }
        for plain in ["li.wei@example.org", "li.wei+police@example.org", "李伟@例子.中国", "o'brien@example.ie"] {
            var f = feedback()
            f.contact.email = plain
            #expect(SubmissionRules().check(f) == nil, "\(plain)")
        }
    }

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

    /// A full disk fails every commit: each submission is answered `unavailable` with a retry hint
    /// (nothing acknowledged), the log gets the first failure, then a line every ten seconds, and
    /// one line when commits work again; the same submissions then go in.
    @Test func aFullDiskIsAnsweredUnavailableAndLoggedWithoutFlooding() throws {
        let dir = try TempDir()
        let clock = ManualClock(Date(timeIntervalSince1970: 1_790_000_000))
        let captured = CapturedLog()
        let store = try Store(path: dir.file("intake.sqlite"), migrations: IntakeService.migrations)
        let intake = try IntakeService(log: try EventLog(store: store, stream: "intake-1"), casePrefix: "L1",
                                       vault: try ContactVault(keys: [("k1", IntakeLogicTests.key)]), clock: clock, logger: captured.logger)
        #expect(intake.handle([request(.submitFeedback(feedback("before")))])[0].feedbackAccepted.caseNumber == "L1-0000001")
        // The database may not grow any more: what a full disk does to a commit.
        try store.pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count")!
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        let long = String(repeating: "The lights at the crossing are out again. ", count: 90)
        func batch(_ n: Int) -> [Liaison_V1_Request] { (0..<20).map { request(.submitFeedback(feedback("full-\(n)-\($0)", text: long))) } }
        for n in 0..<50 {
            for reply in intake.handle(batch(n)) {
                #expect(reply.error.code == .unavailable && reply.error.retryAfterMs > 0, "\(reply)")
            }
        }
        func errors() -> [String] { captured.lines.filter { $0.hasPrefix("error commit failed") } }
        #expect(errors().count == 1 && errors()[0].contains("1 in a row") && errors()[0].contains("full"), "\(captured.lines)")
        clock.advance(by: 11)
        _ = intake.handle(batch(50))
        #expect(errors().count == 2 && errors()[1].contains("failed; 51 in a row") && errors()[1].contains("similar_lines_left_out=49"), "\(errors())")
        try store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1073741823") }
        let retried = intake.handle(batch(0)).map(\.feedbackAccepted)
        #expect(retried.allSatisfy { !$0.caseNumber.isEmpty && !$0.duplicate }, "nothing of the failed batches was stored")
        #expect(captured.lines.contains { $0.hasPrefix("notice commit works again after 51 failure(s)") }, "\(captured.lines)")
        #expect(intake.log.head == 21)
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
    @Test func trigramSimilarityIsTheJaccardOfTheTrigramSets() {
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
        for _ in 0..<2_000 {
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

    @Test func acceptsRetriesAndConflictsInOneBatch() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        var withContact = feedback("a")
        withContact.contact.name = "Li Wei"
        withContact.contact.phone = "13800000000"
        let replies = intake.handle([
            request(.submitFeedback(withContact)),
            request(.submitFeedback(feedback("b", kind: .praise))),
            request(.submitFeedback(withContact)),                         // retry in the same batch
            request(.submitFeedback(feedback("a", text: "something else"))), // same id, other body
            request(.submitFeedback(feedback("c", text: ""))),              // invalid
        ])
        #expect(replies[0].feedbackAccepted.caseNumber == "L1-0000001" && !replies[0].feedbackAccepted.duplicate)
        #expect(replies[1].feedbackAccepted.caseNumber == "L1-0000002")
        #expect(replies[2].feedbackAccepted.caseNumber == "L1-0000001" && replies[2].feedbackAccepted.duplicate)
        #expect(replies[2].feedbackAccepted.trackingToken == replies[0].feedbackAccepted.trackingToken)
        #expect(replies[3].error.code == .conflict && replies[3].error.field == "submit_feedback.submission_id")
        #expect(replies[4].error.field == "submit_feedback.text")
        // Two events, in order, without contact data.
        let events = try intake.log.replay(after: 0, limit: 10, prefixes: []).events
        #expect(events.map(\.feedbackReceived.caseNumber) == ["L1-0000001", "L1-0000002"])
        #expect(events.allSatisfy { !$0.feedbackReceived.feedback.hasContact && $0.topic == Topic.feedbackReceived })
        // Written by hand around the stored body (WireWriter): the stored bytes are swift-protobuf's
        // own encoding of the event they decode to. The body is stored once, in the event: the
        // submission's row names the event and keeps no copy.
        let stored = try intake.log.store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT e.data, s.body, s.event_seq, s.case_number FROM events e JOIN submissions s ON s.event_seq = e.seq ORDER BY e.seq")
        }
        #expect(stored.count == 2)
        for (row, event) in zip(stored, events) {
            #expect([UInt8](row["data"] as Data) == (try event.serializedBytes() as [UInt8]))
            #expect((row["body"] as Data).isEmpty && row["event_seq"] as UInt64 == event.seq)
            #expect(row["case_number"] as String == event.feedbackReceived.caseNumber)
            #expect(event.stream == "intake-1" && event.eventID.count == 36)
        }
        #expect(events[0].feedbackReceived.feedback.text == withContact.text && events[1].feedbackReceived.feedback.kind == .praise)
        // A retry after a restart gets the stored acknowledgement.
        let again = try makeIntake(dir).handle([request(.submitFeedback(withContact))])
        #expect(again[0].feedbackAccepted.caseNumber == "L1-0000001" && again[0].feedbackAccepted.duplicate)
    }

    @Test func submissionIdsThatShareAHashAreStillToldApart() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        // Every id hashes alike: each lookup finds another id's case first and must scan.
        intake.submissionKeys.withLock { $0.hash = { _ in 42 } }
        let a = feedback("a"), b = feedback("b", kind: .praise), c = feedback("c", kind: .inquiry)
        let first = intake.handle([request(.submitFeedback(a)), request(.submitFeedback(b))])
        #expect(first.map(\.feedbackAccepted.caseNumber) == ["L1-0000001", "L1-0000002"])
        #expect(first.allSatisfy { !$0.feedbackAccepted.duplicate })
        let second = intake.handle([request(.submitFeedback(b)), request(.submitFeedback(c)), request(.submitFeedback(a)),
                                    request(.submitFeedback(feedback("c", text: "another text")))])
        #expect(second[0].feedbackAccepted.caseNumber == "L1-0000002" && second[0].feedbackAccepted.duplicate)
        #expect(second[1].feedbackAccepted.caseNumber == "L1-0000003" && !second[1].feedbackAccepted.duplicate)
        #expect(second[2].feedbackAccepted.caseNumber == "L1-0000001" && second[2].feedbackAccepted.duplicate)
        #expect(second[3].error.code == .conflict)
        #expect(intake.log.head == 3)
    }

    @Test func submissionIdsAreReadBackAtStartAndForgottenWhenACommitRollsBack() throws {
        let dir = try TempDir()
        do {
            let intake = try makeIntake(dir)
            _ = intake.handle((0..<50).map { request(.submitFeedback(feedback("id-\($0)"))) })
        }
        let intake = try makeIntake(dir)
        #expect(intake.submissionKeys.withLock { $0.count } == 50)
        // A transaction that fails after its inserts leaves no id behind in memory.
        try intake.log.store.pool.writeWithoutTransaction { db in
            try db.execute(sql: "CREATE TRIGGER fail_51 BEFORE INSERT ON events WHEN NEW.seq = 52 BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
        }
        let failed = intake.handle([request(.submitFeedback(feedback("id-50"))), request(.submitFeedback(feedback("id-51")))])
        #expect(failed.allSatisfy { $0.error.code == .unavailable })
        #expect(intake.submissionKeys.withLock { $0.count } == 50)
        try intake.log.store.pool.writeWithoutTransaction { db in try db.execute(sql: "DROP TRIGGER fail_51") }
        let retried = intake.handle([request(.submitFeedback(feedback("id-50"))), request(.submitFeedback(feedback("id-51")))])
        #expect(retried.map(\.feedbackAccepted.caseNumber) == ["L1-0000051", "L1-0000052"])
        #expect(retried.allSatisfy { !$0.feedbackAccepted.duplicate })
    }

    @Test func aLargeBatchWithRetriesInsideKeepsEveryContactWithItsOwnCase() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        func withContact(_ id: String, _ n: Int) -> Liaison_V1_SubmitFeedback {
            var f = feedback(id, text: "Case \(n): the street light on road \(n) has been out for weeks")
            f.contact.name = "Caller \(n)"
            f.contact.phone = "1380000\(String(format: "%04d", n))"
            return f
        }
        _ = intake.handle([request(.submitFeedback(withContact("early", 0)))])
        // A retry and a reused id early in the batch take no case number; every contact is sealed
        // for the case its submission does get.
        var batch = (1...20).map { request(.submitFeedback(withContact("b\($0)", $0))) }
        batch.insert(request(.submitFeedback(withContact("early", 0))), at: 2)
        batch.insert(request(.submitFeedback(withContact("b1", 99))), at: 5)
        let replies = intake.handle(batch)
        #expect(replies[2].feedbackAccepted.caseNumber == "L1-0000001" && replies[2].feedbackAccepted.duplicate)
        #expect(replies[5].error.code == .conflict)
        let fresh = replies.enumerated().filter { ![2, 5].contains($0.offset) }.map(\.element.feedbackAccepted)
        #expect(fresh.map(\.caseNumber) == (2...21).map { CaseNumber.format(prefix: "L1", sequence: Int64($0)) })
        for (n, accepted) in fresh.enumerated() {
            let q = contactQuery(accepted.caseNumber)
            var r = request(.getContact(q))
            r.credential = "op-secret"
            #expect(intake.handle([r])[0].contactInfo.contact.name == "Caller \(n + 1)")
        }
        // Retried as a whole, the batch gets its stored acknowledgements back.
        let again = intake.handle(batch)
        #expect(zip(again, replies).allSatisfy { $0.feedbackAccepted.caseNumber == $1.feedbackAccepted.caseNumber && $0.error.code == $1.error.code })
        #expect(again.filter { $0.feedbackAccepted.duplicate }.count == 21)
    }

    /// A batch as big as a busy minute's group commit: every event and every sealed contact stays
    /// with its own submission, and an id new in the batch that comes again later in it is that
    /// submission's retry (or a conflict), not a second case.
    @Test func aFullBatchKeepsEachSubmissionWithItsOwnCaseAndTakesRetriesInsideIt() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        func numbered(_ n: Int) -> Liaison_V1_SubmitFeedback {
            var f = feedback("p\(n)", text: "Report \(n): the bus shelter on stop \(n) is broken")
            f.contact.name = "Caller \(n)"
            f.contact.phone = "1390000\(String(format: "%04d", n))"
            return f
        }
        var batch = (0..<64).map { request(.submitFeedback(numbered($0))) }
        batch.append(request(.submitFeedback(numbered(3))))       // the same submission again: a retry
        var reused = numbered(7)
        reused.contact.name = "Someone else"                          // the same id, another contact
        batch.append(request(.submitFeedback(reused)))
        let replies = intake.handle(batch)
        #expect(intake.log.transactions == 1)
        #expect((0..<64).allSatisfy { replies[$0].feedbackAccepted.caseNumber == CaseNumber.format(prefix: "L1", sequence: Int64($0 + 1)) })
        #expect(replies[64].feedbackAccepted.caseNumber == "L1-0000004" && replies[64].feedbackAccepted.duplicate)
        #expect(replies[64].feedbackAccepted.trackingToken == replies[3].feedbackAccepted.trackingToken)
        #expect(replies[65].error.code == .conflict && replies[65].error.field == "submit_feedback.submission_id")
        let rows = try intake.log.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM submissions") }
        #expect(rows == 64)
        let events = try intake.log.replay(after: 0, limit: 100, prefixes: []).events
        #expect(events.map(\.seq) == (1...64).map { UInt64($0) })
        #expect(events.enumerated().allSatisfy { n, e in
            e.feedbackReceived.caseNumber == CaseNumber.format(prefix: "L1", sequence: Int64(n + 1))
                && e.feedbackReceived.feedback.text.hasPrefix("Report \(n):") && !e.feedbackReceived.feedback.hasContact
        })
        for n in [0, 3, 7, 31, 63] {
            let q = contactQuery(CaseNumber.format(prefix: "L1", sequence: Int64(n + 1)))
            var r = request(.getContact(q))
            r.credential = "op-secret"
            #expect(intake.handle([r])[0].contactInfo.contact.name == "Caller \(n)")
        }
    }

    @Test func concurrentSubmissionsShareOneTransaction() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let before = intake.log.transactions
        let replies = intake.handle((0..<100).map { request(.submitFeedback(feedback("g\($0)"))) })
        #expect(replies.allSatisfy { !$0.feedbackAccepted.caseNumber.isEmpty })
        #expect(intake.log.transactions - before == 1)     // group commit: one fsync'd transaction
        #expect(intake.log.head == 100)
        // A lone submission is committed on its own, at once.
        _ = intake.handle([request(.submitFeedback(feedback("lone")))])
        #expect(intake.log.transactions - before == 2)
    }

    @Test func statusNeedsTheRightToken() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let a = intake.handle([request(.submitFeedback(feedback("x")))])[0].feedbackAccepted
        var q = Liaison_V1_GetFeedbackStatus()
        q.caseNumber = a.caseNumber
        q.trackingToken = a.trackingToken
        let ok = intake.handle([request(.getFeedbackStatus(q))])[0]
        #expect(ok.feedbackStatus.state == "received" && ok.feedbackStatus.caseNumber == a.caseNumber)
        // As read out over the phone: lower case, stray spaces.
        q.caseNumber = " " + a.caseNumber.lowercased() + " "
        q.trackingToken = a.trackingToken.lowercased() + " "
        let typed = intake.handle([request(.getFeedbackStatus(q))])[0]
        #expect(typed.feedbackStatus.state == "received" && typed.feedbackStatus.caseNumber == a.caseNumber, "\(typed)")
        // The token in groups of four, as it is read out or written down.
        let t = Array(a.trackingToken)
        let groups: [String] = stride(from: 0, to: 16, by: 4).map { String(t[$0..<($0 + 4)]) }
        for grouped in [groups.joined(separator: " "), groups.joined(separator: "-").lowercased()] {
            q.trackingToken = grouped
            #expect(intake.handle([request(.getFeedbackStatus(q))])[0].feedbackStatus.caseNumber == a.caseNumber, "\(grouped)")
        }
        // Typed with a full-width input method (a web form in Chinese): number and token both.
        func fullWidth(_ s: String) -> String {
            String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value > 0x20 && $0.value < 0x7F ? Unicode.Scalar($0.value + 0xFEE0)! : $0 }))
        }
        q.caseNumber = fullWidth(a.caseNumber.replacingOccurrences(of: "-000000", with: "-"))
        q.trackingToken = fullWidth(groups.joined(separator: "-")).replacingOccurrences(of: "－", with: "\u{3000}")
        #expect(q.caseNumber.unicodeScalars.allSatisfy { $0.value > 0xFF00 } && q.trackingToken.utf8.count > 40)
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].feedbackStatus.caseNumber == a.caseNumber, "\(q)")
        q.caseNumber = a.caseNumber
        q.trackingToken = "WRZNGWRZNGWRZNG2"
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].error.code == .notFound)
        // Read out without its zeros, it is the same case.
        q.trackingToken = a.trackingToken
        q.caseNumber = "l1-1"
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].feedbackStatus.caseNumber == a.caseNumber)
        // Found by its sequence, but only under its whole number: not another instance's prefix,
        // not with more zeros, not garbage.
        for other in ["L2-0000001", "L2-1", "L1-00000001"] {
            q.caseNumber = other
            #expect(intake.handle([request(.getFeedbackStatus(q))])[0].error.code == .notFound, "\(other)")
        }
        // Not the form of a case number: the citizen is told to read it again, and what it looks like.
        for other in ["L1-0000001x", "L1-", "0000001", "my complaint", "L1-00000000000000000000001"] {
            q.caseNumber = other
            let e = intake.handle([request(.getFeedbackStatus(q))])[0].error
            #expect(e.code == .invalidArgument && e.field == "get_feedback_status.case_number" && e.message.contains("as L1-0000042"), "\(other): \(e)")
        }
        // A token of the wrong form: what is wrong with it, not "no case". A token of the right
        // form that is not the case's: not found, as an unknown case (the token is the key).
        q.caseNumber = a.caseNumber
        for (typed, says) in [(String(a.trackingToken.dropLast()), "this one has 15"), (a.trackingToken + "A", "this one has 17"),
                              (String(a.trackingToken.dropLast()) + "0", "no '0' (character 16)"),
                              ("O" + String(a.trackingToken.dropFirst()).lowercased(), "no 'O' (character 1)")] {
            q.trackingToken = typed
            let e = intake.handle([request(.getFeedbackStatus(q))])[0].error
            #expect(e.code == .invalidArgument && e.field == "get_feedback_status.tracking_token" && e.message.contains(says), "\(typed): \(e)")
        }
        q.trackingToken = a.trackingToken.first == "2" ? "3" + a.trackingToken.dropFirst() : "2" + a.trackingToken.dropFirst()
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].error.code == .notFound)
        #expect(CaseNumber.sequence(of: "L1-0000042") == 42 && CaseNumber.sequence(of: "L12-12345678") == 12_345_678)
        #expect(CaseNumber.sequence(of: "L1-12a") == nil && CaseNumber.sequence(of: "L1-") == nil && CaseNumber.sequence(of: "42") == nil)
        q.caseNumber = a.caseNumber
        q.trackingToken = ""
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].error.field == "get_feedback_status.tracking_token")
        #expect(TrackingToken.make().count == 16)
        // Far longer than any case number or token (one of them 100,000 combining marks): not
        // found, and only the start of it sent back. The token read out with its spaces still fits.
        for (caseNumber, token) in [(String(repeating: "L1-", count: 30_000), a.trackingToken),
                                    (a.caseNumber, "A" + String(repeating: "\u{0301}", count: 100_000)),
                                    ("L" + String(repeating: "\u{0301}", count: 100_000), a.trackingToken)] {
            q.caseNumber = caseNumber
            q.trackingToken = token
            let refused = intake.handle([request(.getFeedbackStatus(q))])[0]
            #expect(refused.error.code == .notFound && refused.error.field == "get_feedback_status.case_number")
            #expect(refused.error.message.utf8.count < 300)
        }
        q.caseNumber = "  " + a.caseNumber.lowercased() + "  "
        q.trackingToken = "  " + groups.joined(separator: " - ") + "  "
        #expect(intake.handle([request(.getFeedbackStatus(q))])[0].feedbackStatus.caseNumber == a.caseNumber)
    }

    @Test func statusFollowsTheCaseWithPublicStateAndPublicNotesOnly() throws {
        let dir = try TempDir()
        let intake = try makeIntake(dir)
        let a = intake.handle([request(.submitFeedback(feedback("follow")))])[0].feedbackAccepted
        func status() -> Liaison_V1_FeedbackStatus {
            intake.handle([request(.getFeedbackStatus(.with { $0.caseNumber = a.caseNumber; $0.trackingToken = a.trackingToken }))])[0].feedbackStatus
        }
        func apply(_ action: Liaison_V1_CaseAction, to state: String, note: String = "", into: String = "") throws {
            var e = Liaison_V1_Event()
            e.topic = action.topic
            e.occurredAt = .init(date: Date())
            e.caseUpdated.caseNumber = a.caseNumber
            e.caseUpdated.action = action
            e.caseUpdated.toState = state
            e.caseUpdated.publicNote = note
            e.caseUpdated.mergedInto = into
            try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, e, ownPrefix: "L1") }
        }
        var opened = Liaison_V1_Event()
        opened.caseOpened.caseNumber = a.caseNumber
        try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, opened, ownPrefix: "L1") }
        #expect(status().state == "being_handled")
        try apply(.transfer, to: "transferred")          // internal movement: still just "being handled"
        #expect(status().state == "being_handled" && status().publicNote.isEmpty)
        try apply(.respond, to: "responded", note: "We are on it")
        try apply(.note, to: "responded")                // an internal note carries no text
        #expect(status().state == "responded" && status().publicNote == "We are on it")
        try apply(.awaitCitizen, to: "awaiting_citizen")
        #expect(status().state == "waiting_for_you")
        try apply(.merge, to: "merged", into: "L1-0000001")
        #expect(status().state == "merged" && status().publicNote.contains("L1-0000001"))
        #expect(IntakeService.publicState("not_police_responsibility") == "referred_elsewhere")
    }

    /// The citizen of a duplicate holds no token for the case it was merged into: their status
    /// follows that case's state (through a chain of merges, and for a case of another intake),
    /// with their own case's note, never the other citizen's.
    @Test func aMergedCaseShowsItsCitizenHowTheCaseItJoinedGoes() throws {
        let dir = try TempDir()
        var intake = try makeIntake(dir)
        let acks = intake.handle((1...4).map { request(.submitFeedback(feedback("dup-\($0)"))) }).map(\.feedbackAccepted)
        let (a, b, c, d) = (acks[0], acks[1], acks[2], acks[3])
        func status(_ x: Liaison_V1_FeedbackAccepted) -> Liaison_V1_FeedbackStatus {
            intake.handle([request(.getFeedbackStatus(.with { $0.caseNumber = x.caseNumber; $0.trackingToken = x.trackingToken }))])[0].feedbackStatus
        }
        func apply(_ number: String, _ action: Liaison_V1_CaseAction, to state: String, note: String = "", into: String = "") throws {
            var e = Liaison_V1_Event()
            e.topic = action.topic
            e.occurredAt = .init(date: Date())
            e.caseUpdated.caseNumber = number
            e.caseUpdated.action = action
            e.caseUpdated.toState = state
            e.caseUpdated.publicNote = note
            e.caseUpdated.mergedInto = into
            try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, e, ownPrefix: "L1") }
        }
        for x in acks {
            var opened = Liaison_V1_Event()
            opened.caseOpened.caseNumber = x.caseNumber
            try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, opened, ownPrefix: "L1") }
        }
        try apply(a.caseNumber, .respond, to: "responded", note: "Mr Wang, we spoke to the bar owner")
        // c joins b while b is being handled; then b joins a, which has been answered.
        try apply(c.caseNumber, .merge, to: "merged", into: b.caseNumber)
        #expect(status(c).state == "being_handled" && status(c).publicNote.contains("joined with case \(b.caseNumber)"), "\(status(c))")
        try apply(b.caseNumber, .merge, to: "merged", into: a.caseNumber)
        #expect(status(b).state == "responded", "\(status(b))")
        #expect(status(b).publicNote == IntakeService.mergedNote(a.caseNumber))
        // a goes on: b and c (now following a) see its state, never a's notes to its own citizen.
        try apply(a.caseNumber, .resolve, to: "resolved", note: "Mr Wang, the bar now closes at 22:00")
        for x in [b, c] {
            #expect(status(x).state == "resolved" && !status(x).publicNote.contains("Wang"), "\(status(x))")
        }
        #expect(status(a).publicNote == "Mr Wang, the bar now closes at 22:00")
        // The office may write to a merged case's citizen: a public note on it.
        try apply(b.caseNumber, .note, to: "merged", note: "Thank you: the bar's hours have changed.")
        #expect(status(b).state == "resolved" && status(b).publicNote == "Thank you: the bar's hours have changed.")
        // A case that came in through another intake: its events reach every intake. It was answered
        // before d joined it (its events heard first, on its own partition's stream): d shows that
        // at once, then each of its moves.
        var other = Liaison_V1_Event()
        other.caseOpened.caseNumber = "L2-0000009"
        try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, other, ownPrefix: "L1") }
        try apply("L2-0000009", .respond, to: "responded", note: "Ms Zhao, we are looking into it")
        try apply(d.caseNumber, .merge, to: "merged", into: "L2-0000009")
        #expect(status(d).state == "responded" && status(d).publicNote == IntakeService.mergedNote("L2-0000009"), "\(status(d))")
        try apply("L2-0000009", .close, to: "closed")
        #expect(status(d).state == "closed")
        // A case of this intake joining a case of another, which then joins a third: its followers
        // take the third's state as heard, not wait for its next move.
        let e = intake.handle([request(.submitFeedback(feedback("dup-5")))])[0].feedbackAccepted
        for (number, state) in [("L2-0000010", "assigned"), ("L3-0000004", "resolved")] {
            other.caseOpened.caseNumber = number
            try intake.log.write { db, _ in try IntakeService.applyCaseEvent(db, other, ownPrefix: "L1") }
            try apply(number, .assign, to: state)
        }
        try apply(e.caseNumber, .merge, to: "merged", into: "L2-0000010")
        #expect(status(e).state == "being_handled")
        try apply("L2-0000010", .merge, to: "merged", into: "L3-0000004")
        #expect(status(e).state == "resolved", "\(status(e))")
        // A case number of another instance whose prefix starts like this one's is not this one's.
        #expect(!IntakeService.isOwn("L10-0000001", prefix: "L1") && IntakeService.isOwn("L1-0000001", prefix: "L1") && !IntakeService.isOwn("L1-", prefix: "L1"))
        // Kept across a restart.
        intake = try makeIntake(dir)
        #expect(status(c).state == "resolved" && status(d).state == "closed" && status(e).state == "resolved")
        try apply(a.caseNumber, .close, to: "closed")
        #expect(status(b).state == "closed" && status(c).state == "closed")
        // The merged case's own row still says merged: its contact's retention counts from the merge.
        let own = try intake.log.store.pool.read { db in try String.fetchOne(db, sql: "SELECT state FROM submissions WHERE case_number = ?", arguments: [b.caseNumber]) }
        #expect(own == "merged")
        // A restore that set one handler partition's stream back forgets what that stream told of the
        // other intakes' cases; it is heard again as the stream is applied again.
        let others = ["L2-0000009", "L2-0000010", "L3-0000004"]
        let handlers = ["handler-1", "handler-2"]
        let setBack = CasePartition.owner(of: "L2-0000009", count: 2)
        try intake.log.store.pool.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS cursor_setbacks (stream TEXT PRIMARY KEY, from_seq INTEGER NOT NULL, to_seq INTEGER NOT NULL, at REAL NOT NULL)")
            try db.execute(sql: "INSERT INTO cursor_setbacks VALUES (?, 9, 5, 0)", arguments: [handlers[setBack]])
        }
        try intake.rebuildStatusesAfterRestore(handlers: handlers)
        let kept = try intake.log.store.pool.read { db in try String.fetchAll(db, sql: "SELECT case_number FROM other_case_states ORDER BY case_number") }
        #expect(kept == others.filter { CasePartition.owner(of: $0, count: 2) != setBack })
    }
}

@Suite struct SchedulerAndReportingLogicTests {
    func opened(_ number: String, respondBy: Date, seq: UInt64) -> Liaison_V1_Event {
        var e = Liaison_V1_Event()
        e.stream = "handler-1"; e.seq = seq; e.topic = Topic.caseOpened
        e.caseOpened.caseNumber = number
        e.caseOpened.unit = "STN-EAST-01"
        e.caseOpened.priority = "P1"
        e.caseOpened.respondBy = .init(date: respondBy)
        e.caseOpened.resolveBy = .init(date: respondBy.addingTimeInterval(3600))
        return e
    }

    func updated(_ number: String, _ action: Liaison_V1_CaseAction, at: Date, seq: UInt64) -> Liaison_V1_Event {
        var e = Liaison_V1_Event()
        e.stream = "handler-1"; e.seq = seq; e.topic = action.topic; e.occurredAt = .init(date: at)
        e.caseUpdated.caseNumber = number
        e.caseUpdated.action = action
        e.caseUpdated.unit = "STN-EAST-01"
        return e
    }

    @Test func followUpsFireOnceWhenDueAndSurviveRestart() throws {
        let dir = try TempDir()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = ManualClock(t0)
        func make() throws -> SchedulerService {
            let store = try Store(path: dir.file("s.sqlite"), migrations: SchedulerService.migrations)
            return SchedulerService(log: try EventLog(store: store, stream: "scheduler-1"), clock: clock)
        }
        var s = try make()
        let day: TimeInterval = 24 * 3_600
        try s.log.write { db, out in
            // Opening a case schedules nothing; resolving it schedules the follow-up call a day later.
            try s.apply(db, out, opened("A", respondBy: t0.addingTimeInterval(60), seq: 1))
            try s.apply(db, out, updated("A", .resolve, at: t0.addingTimeInterval(60 - day), seq: 2))
            try s.apply(db, out, updated("B", .resolve, at: t0.addingTimeInterval(7200 - day), seq: 3))
            // C is confirmed before its call: the follow-up is cancelled.
            try s.apply(db, out, updated("C", .resolve, at: t0.addingTimeInterval(30 - day), seq: 4))
            try s.apply(db, out, updated("C", .confirmResolution, at: t0, seq: 5))
        }
        // Nothing due yet: the round only reads (no write transaction, no lock), and says when.
        let idleBefore = s.log.transactions
        let idle = try s.fireDue()
        #expect(idle.fired == 0 && idle.next == t0.addingTimeInterval(60) && s.log.transactions == idleBefore)
        clock.advance(by: 61)
        let first = try s.fireDue()
        #expect(first.fired == 1 && first.next == t0.addingTimeInterval(7200))
        #expect(try s.fireDue().fired == 0)
        s = try make()   // restart: the timer table is durable
        clock.advance(by: 3 * 3600)
        #expect(try s.fireDue().fired == 1)
        let events = try s.log.replay(after: 0, limit: 10, prefixes: []).events
        #expect(events.map(\.followupDue.caseNumber) == ["A", "B"])
        #expect(events.map(\.followupDue.late) == [false, true])
        let list = s.handle([request(.listFollowups(.init()))])[0].followupList
        #expect(list.followups.map(\.state).sorted() == ["cancelled", "due", "due"])
    }

    @Test func reportCountsEveryStream() throws {
        let dir = try TempDir()
        let store = try Store(path: dir.file("r.sqlite"), migrations: ReportingService.migrations)
        let log = try EventLog(store: store, stream: "reporting-1")
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let clock = ManualClock(t0)
        let r = ReportingService(log: log, clock: clock)
        try log.write { db, out in
            for (i, k) in [Liaison_V1_FeedbackKind.complaint, .complaint, .praise].enumerated() {
                var e = Liaison_V1_Event()
                e.feedbackReceived.caseNumber = "C\(i)"
                e.feedbackReceived.feedback = feedback(kind: k)
                try r.apply(db, out, e)
                try r.apply(db, out, opened("C\(i)", respondBy: t0.addingTimeInterval(Double(i) * 3600 + 60), seq: UInt64(i + 1)))
            }
            try r.apply(db, out, opened("C0", respondBy: t0, seq: 1))   // a duplicate is not counted twice
            var due = Liaison_V1_Event()
            due.followupDue.caseNumber = "C0"
            try r.apply(db, out, due)
        }
        var rep = try r.report()
        #expect(rep.feedbackTotal == 3 && rep.casesTotal == 3 && rep.followupsDue == 1)
        #expect(rep.byKind.map { "\($0.key)=\($0.count)" } == ["complaint=2", "praise=1"])
        #expect(rep.byUnit.map { "\($0.key)=\($0.count)" } == ["STN-EAST-01=3"])
        #expect(rep.byState.map { "\($0.key)=\($0.count)" } == ["triaged=3"])
        #expect(rep.overdue.isEmpty)
        // Asked again with nothing applied within the same second: the same report, not made again.
        let made = r.reportsMade.load(ordering: .relaxed)
        for _ in 0..<100 { #expect(try r.report() == rep) }
        #expect(r.reportsMade.load(ordering: .relaxed) == made)
        clock.advance(by: 2 * 3600)
        rep = try r.report()
        #expect(rep.overdue.map(\.caseNumber) == ["C0", "C1"])
        // An event applied: made again at once, within the same second.
        try log.write { db, out in
            var e = Liaison_V1_Event()
            e.feedbackReceived.caseNumber = "C9"
            e.feedbackReceived.feedback = feedback(kind: .tip)
            try r.apply(db, out, e)
        }
        #expect(try r.report().feedbackTotal == 4)
        #expect(r.reportsMade.load(ordering: .relaxed) == made + 2)
    }
}

@Suite struct IntakeFormattingTests {
    @Test func caseNumbersArePaddedToSevenDigits() {
        #expect(CaseNumber.format(prefix: "L1", sequence: 42) == "L1-0000042")
        #expect(CaseNumber.format(prefix: "L3", sequence: 12_345_678) == "L3-12345678")
        #expect(CaseNumber.format(prefix: "L1", sequence: 1) == "L1-0000001" && CaseNumber.format(prefix: "L12", sequence: 0) == "L12-0000000")
        #expect(CaseNumber.format(prefix: "L1", sequence: 9_999_999) == "L1-9999999" && CaseNumber.format(prefix: "L1", sequence: 10_000_000) == "L1-10000000")
        #expect(CaseNumber.sequence(of: CaseNumber.format(prefix: "L2", sequence: 123_456_789_012)) == 123_456_789_012)
        // As typed or read out: any case, spaces around, the zeros left out.
        for (typed, stored) in [(" l1-42 ", "L1-0000042"), ("L1-0000042", "L1-0000042"), ("l3-12345678", "L3-12345678"),
                                ("L1-1", "L1-0000001"), ("L1-123456", "L1-0123456"), ("L1-", "L1-"), ("-42", "-42"),
                                ("42", "42"), ("L1-4x", "L1-4X"), ("L1-٤٢", "L1-٤٢"),
                                // Read out with a pause for the dash, spaced around it; typed with a
                                // full-width input method; pasted with a typographic dash.
                                ("L1 42", "L1-0000042"), (" l1  42 ", "L1-0000042"), ("L1 - 42", "L1-0000042"), ("L1\t42", "L1-0000042"),
                                ("Ｌ１－４２", "L1-0000042"), ("ｌ１\u{3000}４２", "L1-0000042"), ("L1–42", "L1-0000042"), ("L1−0000042", "L1-0000042"),
                                ("L1 4 2", "L1 4 2"), ("L 1-42", "L1-0000042")] {
            #expect(CaseNumberText.normalized(typed) == stored, "\(typed)")
        }
        // The intake instance a case came in through: L{n} is instance n-1, as intake numbers them.
        for (number, instance) in [("L1-0000042", 0), ("L2-0000001", 1), ("L12-0000007", 11), (CaseNumber.format(prefix: "L3", sequence: 5), 2),
                                   ("L0-0000001", nil), ("L01-0000001", nil), ("X1-0000001", nil), ("L-0000001", nil), ("L1", nil), ("", nil),
                                   ("L99999-1", nil)] as [(String, Int?)] {
            #expect(CaseOrigin.intakeInstance(of: number) == instance, "\(number)")
        }
    }

    @Test func trackingTokensUseTheReadableAlphabet() {
        var seen = Set<String>()
        for _ in 0..<500 {
            let t = TrackingToken.make()
            #expect(t.count == 16 && t.allSatisfy { TrackingToken.alphabet.contains($0) })
            seen.insert(t)
        }
        #expect(seen.count == 500)
    }

    @Test func trimmingCoversUnicodeWhiteSpace() {
        #expect("  \u{3000}投诉\n\t".trimmedWhitespace == "投诉")
        #expect(" \u{00A0}\u{2003} ".trimmedWhitespace.isEmpty)
        #expect("a b".trimmedWhitespace == "a b")
        // Ending (or starting) in ASCII white space or in non-ASCII white space, one side at a time.
        #expect("STN-EAST-01\n".trimmedWhitespace == "STN-EAST-01" && "\tSTN".trimmedWhitespace == "STN")
        #expect("投诉\u{3000}".trimmedWhitespace == "投诉" && "\u{2003}x".trimmedWhitespace == "x" && "x\u{85}".trimmedWhitespace == "x")
        #expect("~".trimmedWhitespace == "~" && "\u{1}a".trimmedWhitespace == "\u{1}a")
    }
}
