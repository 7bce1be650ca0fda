import Foundation
import LiaisonClient
import LiaisonCodec
import Testing

@Suite struct FeedbackFileTests {
    @Test func shortNamesAndDefaultIDs() throws {
        let f = try FeedbackFile.parse(#"{"kind":"help_request","channel":"walk_in","text":"Locked out","unit":"CPO-NORTH-07","contact":{"phone":"13800000000"}}"#,
                                       line: 7, source: "desk.jsonl").get()
        #expect(f.kind == .helpRequest && f.channel == .walkIn && f.contact.phone == "13800000000")
        #expect(f.submissionID == "desk.jsonl:7")
        let g = try FeedbackFile.parse(#"{"submission_id":"x1","kind":"FEEDBACK_KIND_PRAISE","channel":"CHANNEL_WEB","text":"t","unit":"U"}"#,
                                       line: 1, source: "f").get()
        #expect(g.kind == .praise && g.submissionID == "x1")
    }

    @Test func badLinesNameTheProblem() {
        let e1 = FeedbackFile.parse("not json", line: 3, source: "f")
        #expect((try? e1.get()) == nil)
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"rumour","text":"t"}"#, line: 4, source: "f") {
            #expect(e.line == 4 && e.message.contains("rumour"))
        } else { Issue.record("expected a failure") }
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","colour":"blue"}"#, line: 5, source: "f") {
            // Named, with the fields a line takes: not swift-protobuf's `unknownField("colour")`.
            #expect(e.line == 5 && e.message.hasPrefix(#"unknown field "colour"; a line takes submission_id, kind"#), "\(e.message)")
        } else { Issue.record("an unknown field should be refused") }
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","contact":{"mobile":"138"}}"#, line: 6, source: "f") {
            #expect(e.message == #"unknown field "mobile" in "contact"; it takes name, phone, email"#, "\(e.message)")
        } else { Issue.record("an unknown contact field should be refused") }
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","phone":"1","contact":{"phone":"2"}}"#, line: 7, source: "f") {
            #expect(e.message.contains(#""phone" is given twice"#), "\(e.message)")
        } else { Issue.record("a contact field given twice should be refused") }
    }

    /// When it happened: RFC 3339 as protobuf's JSON has it, or a local time as a desk's export writes it.
    @Test func occurredAtTakesZonedAndLocalTimes() throws {
        let zoned = try FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"2026-11-28T08:30:00+08:00"}"#, line: 1, source: "f").get()
        #expect(zoned.occurredAt.seconds == 1_795_825_800)
        // Every digit a zoned time has is kept, as before local times were taken.
        let precise = try FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"2026-11-28T00:30:00.123456Z"}"#, line: 1, source: "f").get()
        #expect(precise.occurredAt.seconds == 1_795_825_800 && precise.occurredAt.nanos == 123_456_000)
        let local = try FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"2026-11-28 08:30"}"#, line: 2, source: "f").get()
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        let expected = try #require(calendar.date(from: DateComponents(year: 2026, month: 11, day: 28, hour: 8, minute: 30)))
        #expect(local.occurredAt.seconds == Int64(expected.timeIntervalSince1970))
        guard case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"last Tuesday"}"#, line: 3, source: "f") else {
            Issue.record("a time that is not one should be refused"); return
        }
        #expect(e.line == 3 && e.message.hasPrefix("occurred_at 'last Tuesday' is not a time"), "\(e.message)")
    }

    /// A desk's export writes the caller's name, phone and e-mail beside the other fields.
    @Test func contactFieldsMayStandAtTheTopLevel() throws {
        let f = try FeedbackFile.parse(#"{"kind":"complaint","channel":"hotline","text":"t","unit":"U","name":"王芳","phone":"13800000001","contact":{"email":"w@example.org"}}"#,
                                       line: 1, source: "f").get()
        #expect(f.contact.name == "王芳" && f.contact.phone == "13800000001" && f.contact.email == "w@example.org")
        let anonymous = try FeedbackFile.parse(#"{"kind":"tip","channel":"web","text":"t","unit":"U"}"#, line: 2, source: "f").get()
        #expect(!anonymous.hasContact)
    }

    /// A file with a byte-order mark, Windows line ends, comments, blank lines and one line in GBK:
    /// every line keeps its own number, and only the GBK one is an error.
    @Test func fileLinesKeepTheirNumbersAndABadEncodingIsOneLinesError() throws {
        var data = Data([0xEF, 0xBB, 0xBF])                                    // BOM
        data.append(Data(#"{"kind":"praise","text":"a","unit":"U"}"#.utf8 + [0x0D, 0x0A]))         // 1
        data.append(Data("# the night shift\r\n".utf8))                                            // 2
        data.append(Data("   \n".utf8))                                                              // 3
        data.append(Data(#"{"kind":"inquiry","text":""#.utf8) + Data([0xC5, 0xC9, 0xB3, 0xF6]) + Data(#"","unit":"U"}"#.utf8 + [0x0A]))  // 4: GBK
        data.append(Data(#"{"kind":"tip","text":"派出所","unit":"U"}"#.utf8))                          // 5, no final newline
        let lines = FeedbackFile.lines(of: data)
        #expect(lines.map(\.line) == [1, 4, 5])
        let first = try lines[0].text.get()
        #expect(try FeedbackFile.parse(first, line: 1, source: "f").get().kind == .praise)
        guard case .failure(let e) = lines[1].text else { Issue.record("the GBK line should be an error"); return }
        #expect(e.line == 4 && e.message.contains("UTF-8"))
        #expect(try FeedbackFile.parse(try lines[2].text.get(), line: 5, source: "f").get().text == "派出所")
    }
}
