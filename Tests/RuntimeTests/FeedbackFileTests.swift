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
            #expect(e.line == 5)
        } else { Issue.record("an unknown field should be refused") }
    }
}
