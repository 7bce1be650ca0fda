import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Testing
@testable import Intake

/// Every rule of `SubmitFeedback` names its field; what a clerk or citizen meant is taken.
extension IntakeLogicTests {
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
}
