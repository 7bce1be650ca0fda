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

    @Test func onlyTheCallersErrorsAreRefusals() {
        #expect([Liaison_V1_ErrorCode.invalidArgument, .conflict, .notFound, .unauthorized].allSatisfy { $0.isRefusal })
        #expect(![Liaison_V1_ErrorCode.unavailable, .internal, .unspecified].contains { $0.isRefusal })
    }
}
