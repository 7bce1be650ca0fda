import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing

@Suite struct RequestCountsTests {
    @Test func theLastMinuteCountsAnsweredAndRefusedAndKeepsTheLatestRefusal() {
        let counts = RequestCounts()
        let t0 = 1_800_000_000.0
        counts.record(answered: 10, refused: 2, now: t0)
        counts.record(answered: 5, refused: 5, now: t0 + 30)
        counts.record(answered: 0, refused: 0, now: t0 + 31)
        #expect(counts.lastMinute(now: t0 + 30) == .init(answered: 15, refused: 7))
        // A minute on, the first second has left the window; two minutes on, all of it.
        #expect(counts.lastMinute(now: t0 + 60) == .init(answered: 5, refused: 5))
        #expect(counts.lastMinute(now: t0 + 120) == .init(answered: 0, refused: 0))
        // The same slot a minute later starts over.
        counts.record(answered: 1, refused: 0, now: t0 + 60)
        #expect(counts.lastMinute(now: t0 + 60) == .init(answered: 6, refused: 5))
        #expect(counts.refusedTotal.load(ordering: .relaxed) == 7)
        counts.noteRefusal(.with { $0.code = .invalidArgument; $0.field = "submit_feedback.unit"; $0.message = "unit 'X' is not …" })
        #expect(counts.lastRefusal?.what == "invalid_argument submit_feedback.unit")
        counts.noteRefusal(.with { $0.code = .unauthorized; $0.message = "no credential" })
        #expect(counts.lastRefusal?.what == "unauthorized")
    }

    /// The submissions the requests carried are counted beside them: a batch of 50 with one bad
    /// line is one request refused, 49 submissions accepted and one refused.
    @Test func submissionsAreCountedOneByOneBesideTheRequests() {
        let counts = RequestCounts()
        let t0 = 1_800_000_000.0
        counts.record(answered: 3, refused: 1, submissions: .init(accepted: 51, refused: 1), now: t0)
        counts.record(answered: 2, refused: 0, now: t0 + 10)   // status lookups: no submissions
        counts.record(answered: 1, refused: 1, submissions: .init(refused: 1), now: t0 + 59)
        #expect(counts.lastMinute(now: t0 + 59) == .init(answered: 6, refused: 2, submissions: 53, submissionsRefused: 2))
        #expect(counts.lastMinute(now: t0 + 60) == .init(answered: 3, refused: 1, submissions: 1, submissionsRefused: 1))
        #expect(counts.submissionsAccepted.load(ordering: .relaxed) == 51)
        #expect(counts.submissionsRefused.load(ordering: .relaxed) == 2)
        #expect(counts.refusedTotal.load(ordering: .relaxed) == 2)
    }

    /// The last minute's refusals are counted by code and field, most first: two mistakes at once
    /// (a web front's unit, a status page's tokens) are both named, where the latest is one of
    /// them. A batch's lines are one kind whatever their numbers, and a caller sending anything
    /// cannot make the list grow past eight and "other".
    @Test func refusalsAreCountedByKindOverTheLastMinute() {
        let counts = RequestCounts()
        let t0 = 1_800_000_000.0
        func refuse(_ code: Liaison_V1_ErrorCode, _ field: String, at t: Double, times: Int = 1) {
            for _ in 0..<times {
                counts.noteRefusal(.with { $0.code = code; $0.field = field; $0.message = "…" }, at: Date(timeIntervalSince1970: t))
            }
            counts.record(answered: times, refused: times, now: t)
        }
        refuse(.invalidArgument, "submit_feedback.unit", at: t0, times: 3)
        refuse(.notFound, "get_feedback_status.tracking_token", at: t0 + 10, times: 5)
        refuse(.invalidArgument, "submit_batch.submissions[3].text", at: t0 + 20)
        refuse(.invalidArgument, "submit_batch.submissions[41].text", at: t0 + 20)
        refuse(.unauthorized, "", at: t0 + 30)
        #expect(counts.lastMinute(now: t0 + 30).refusals == [
            .init(what: "not_found get_feedback_status.tracking_token", requests: 5),
            .init(what: "invalid_argument submit_feedback.unit", requests: 3),
            .init(what: "invalid_argument submit_batch.submissions[].text", requests: 2),
            .init(what: "unauthorized", requests: 1),
        ])
        #expect(counts.lastRefusal?.what == "unauthorized", "the latest stays as it was")
        // A minute on, the first second's unit refusals have left the window.
        #expect(counts.lastMinute(now: t0 + 60).refusals.map(\.what) == [
            "not_found get_feedback_status.tracking_token", "invalid_argument submit_batch.submissions[].text", "unauthorized"])
        #expect(counts.lastMinute(now: t0 + 200).refusals.isEmpty)

        // Twenty kinds in one second: eight kept, the rest summed as other, which stays last.
        let many = RequestCounts()
        for k in 0..<20 {
            many.noteRefusal(.with { $0.code = .invalidArgument; $0.field = "field_\(k)" }, at: Date(timeIntervalSince1970: t0))
        }
        many.noteRefusal(.with { $0.code = .invalidArgument; $0.field = "field_0" }, at: Date(timeIntervalSince1970: t0))
        let kinds = many.lastMinute(now: t0).refusals
        #expect(kinds.count == RequestCounts.kindsKept + 1, "\(kinds)")
        #expect(kinds.first == .init(what: "invalid_argument field_0", requests: 2))
        #expect(kinds.last == .init(what: RequestCounts.otherKinds, requests: 12))
        #expect(kinds.reduce(0) { $0 + $1.requests } == 21)
        // Twenty kinds over twenty seconds, eight each second at most: the minute keeps eight too.
        let spread = RequestCounts()
        for k in 0..<20 {
            spread.noteRefusal(.with { $0.code = .conflict; $0.field = "f\(k)" }, at: Date(timeIntervalSince1970: t0 + Double(k)))
        }
        let minute = spread.lastMinute(now: t0 + 20).refusals
        #expect(minute.count == RequestCounts.kindsKept + 1 && minute.last == .init(what: RequestCounts.otherKinds, requests: 12), "\(minute)")
    }

    @Test func aRefusalsKindLeavesOutOnlyTheNumbersOfElements() {
        #expect(RequestCounts.kind(of: "invalid_argument submit_batch.submissions[12].contact.phone") == "invalid_argument submit_batch.submissions[].contact.phone")
        #expect(RequestCounts.kind(of: "conflict submit_batch.submissions[0].submission_id") == "conflict submit_batch.submissions[].submission_id")
        #expect(RequestCounts.kind(of: "invalid_argument submit_feedback.unit") == "invalid_argument submit_feedback.unit")
        #expect(RequestCounts.kind(of: "invalid_argument a[x1]") == "invalid_argument a[x1]", "only digits are a number")
        #expect(RequestCounts.kind(of: "unauthorized") == "unauthorized")
    }

    @Test func onlyTheCallersErrorsAreRefusals() {
        #expect([Liaison_V1_ErrorCode.invalidArgument, .conflict, .notFound, .unauthorized].allSatisfy { $0.isRefusal })
        #expect(![Liaison_V1_ErrorCode.unavailable, .internal, .unspecified].contains { $0.isRefusal })
    }
}
