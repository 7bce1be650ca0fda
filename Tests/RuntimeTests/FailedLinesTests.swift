import LiaisonClient
import LiaisonCodec
import Testing

/// The closing summary of a desk's file: which lines failed and why, found without scrolling back.
@Suite struct FailedLinesTests {
    @Test func nothingFailedSaysNothing() {
        #expect(FailedLines().summary(stored: 12) == nil)
    }

    /// Lines noted as their answers come (out of order) are listed in order, runs as ranges, and a
    /// long list is cut with how many lines more.
    @Test func failedLinesAreListedInOrderAsRanges() {
        var failures = FailedLines()
        for n in [9, 2, 5, 3, 4, 12, 7] { failures.note(line: n, WireError.invalidArgument("submit_feedback.unit", "unknown unit")) }
        #expect(failures.count == 7)
        #expect(failures.listed() == "2-5, 7, 9, 12")
        #expect(failures.listed(limit: 2) == "2-5, 7 and 2 more")
        var many = FailedLines()
        for n in stride(from: 1, through: 20_000, by: 1) { many.note(line: n, WireError.invalidArgument("submit_feedback.channel", "no channel")) }
        #expect(many.listed() == "1-20000")
    }

    /// Why, by the field at fault: intake's refusals by their field, a line refused before it was
    /// sent by the field it names, else as written; an error without a field by its code.
    @Test func reasonsAreCountedByField() throws {
        var failures = FailedLines()
        failures.note(line: 1, WireError.invalidArgument("submit_feedback.unit", "unknown unit"))
        failures.note(line: 2, WireError.invalidArgument("submit_feedback.unit", "unknown unit"))
        failures.note(line: 3, WireError.invalidArgument("submit_feedback.contact.phone", "not a phone"))
        failures.note(line: 4, WireError(.unavailable, "overloaded", retryAfterMs: 50))
        let unknownKind = FeedbackFile.parse(#"{"kind":"rumour","channel":"web","text":"t","unit":"U"}"#, line: 5, source: "f")
        let notJSON = FeedbackFile.parse(#"{"kind":"praise","#, line: 6, source: "f")
        for result in [unknownKind, notJSON] {
            guard case .failure(let e) = result else { Issue.record("line accepted: \(result)"); continue }
            failures.note(line: e.line, e)
        }
        let summary = try #require(failures.summary(stored: 10))
        #expect(summary.hasPrefix("6 not submitted: lines 1-6 (2 for unit, 1 for contact.phone, 1 for kind, 1 for the line as written, 1 for unavailable)"), "\(summary)")
        #expect(summary.contains("Put the 5 refused right where they stand and submit the same file again: the 10 stored come back marked already submitted; the others go in as they are."), "\(summary)")
        #expect(summary.contains("Do not delete or add lines"), "\(summary)")
        var one = FailedLines()
        one.note(line: 8, WireError.invalidArgument("submit_feedback.text", "empty"))
        #expect(try #require(one.summary(stored: 0)).hasPrefix("1 not submitted: line 8 (1 for text)"))
        #expect(one.summary(stored: 0)?.contains("already submitted") == false)
        #expect(one.summary(stored: 0)?.contains("Put it right where it stands and submit the same file again.") == true, "\(one.summary(stored: 0) ?? "")")
        // Lines intake could not take then (overloaded, its own fault) are only to be sent again.
        var busy = FailedLines()
        busy.note(line: 3, WireError(.unavailable, "overloaded", retryAfterMs: 50))
        busy.note(line: 4, WireError(.internal, "disk"))
        let later = try #require(busy.summary(stored: 7))
        #expect(later.contains("Intake could not take them then: submit the same file again in a while: the 7 stored come back marked already submitted.")
                && !later.contains("Put ") && !later.contains("corrected"), "\(later)")
    }
}
