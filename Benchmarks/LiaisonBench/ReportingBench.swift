import ArgumentParser
import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Reporting

/// `liaison-bench reporting`: reporting's own work in-process (no sockets): events applied per
/// second as its consumers apply them (the counts, each case's share of the rates, the complaints
/// counted for the opinion alerts), and how long a report takes at that many cases, beside the raw
/// limit of a report that would read every case (one pass of SQLite over the cases table).
struct ReportingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reporting",
        abstract: "Reporting's logic in-process: events applied/s, and a report's time at N cases beside one SQLite pass over them.")

    @Option(help: "Cases, each with its feedback and five life-cycle events, opened over the last 11 months.") var cases = 100_000
    @Option(help: "Events applied per transaction (a consumer applies what arrived together).") var batch = 100
    @Option(help: "Repeat and print medians.") var runs = 3

    func run() throws {
        Leftovers.cleanUpOnInterruption()
        var applied: [Double] = [], reportMs: [Double] = [], rawMs: [Double] = []
        let now = Date()
        for r in 1...max(1, runs) {
            let dir = NSTemporaryDirectory() + "liaison-bench-r-" + UUID().uuidString.prefix(8)
            try Leftovers.directory(dir)
            defer { Leftovers.removed(dir) }
            let clock = ManualClock(now)
            let log = try EventLog(store: Store(path: dir + "/r.sqlite", migrations: ReportingService.migrations), stream: "reporting-bench")
            let service = ReportingService(log: log, clock: clock)
            let events = Self.events(cases: cases, now: now)
            var t0 = DispatchTime.now().uptimeNanoseconds
            for chunk in stride(from: 0, to: events.count, by: batch) {
                try log.write { db, out in
                    for e in events[chunk..<min(chunk + batch, events.count)] { try service.apply(db, out, e) }
                }
            }
            applied.append(Double(events.count) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9))
            // Five reports, each made afresh (a second later), the first on a cold statement cache.
            var times: [Double] = []
            var report = Liaison_V1_Report()
            for _ in 0..<5 {
                clock.advance(by: 1)
                t0 = DispatchTime.now().uptimeNanoseconds
                report = try service.report()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            reportMs.append(Self.median(times))
            // The raw limit: SQLite reading every case once, summing what the rates count.
            var raw: [Double] = []
            for _ in 0..<5 {
                t0 = DispatchTime.now().uptimeNanoseconds
                _ = try log.store.pool.read { db in
                    try Row.fetchOne(db, sql: """
                        SELECT COUNT(*), SUM(responded_at IS NOT NULL), SUM(responded_on_time), SUM(resolved_at IS NOT NULL),
                               SUM(resolved_on_time), SUM(rating > 0), SUM(rating >= 4) FROM cases WHERE +opened_at >= 0
                        """)
                }
                raw.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
            rawMs.append(Self.median(raw))
            print("run \(r): \(Int(applied.last!)) events applied/s (\(events.count) events, batches of \(batch)); "
                  + "report \(String(format: "%.1f", reportMs.last!)) ms at \(report.casesTotal) cases "
                  + "(\(report.ratesByOfficer.count) officers, \(report.opinionAlerts.count) opinion alerts); "
                  + "one SQLite pass over the cases \(String(format: "%.1f", rawMs.last!)) ms")
        }
        let report = Self.median(reportMs), raw = Self.median(rawMs)
        print("reporting, in-process, median of \(applied.count): \(Int(Self.median(applied))) events applied/s; "
              + "report \(String(format: "%.1f", report)) ms at \(cases) cases = "
              + "\(String(format: "%.2f", report / raw)) × one SQLite pass over them (\(String(format: "%.1f", raw)) ms); "
              + "peak RSS \(Self.peakRSSMiB()) MiB")
    }

    static func median(_ xs: [Double]) -> Double { Figures.median(xs) }

    static func peakRSSMiB() -> Int { Figures.peakRSSKiB(getpid()) / 1_024 }

    /// Each case as the streams would carry it: its feedback, opened, assigned, answered within
    /// its day, nine in ten resolved, a third of those rated; complaints of five categories about
    /// ten stations.
    static func events(cases: Int, now: Date) -> [Liaison_V1_Event] {
        let kinds: [Liaison_V1_FeedbackKind] = [.complaint, .praise, .suggestion, .inquiry, .tip, .helpRequest, .mediationRequest]
        let categories = ["noise", "conduct", "traffic", "fraud", ""]
        var events: [Liaison_V1_Event] = []
        events.reserveCapacity(cases * 6)
        var seq: UInt64 = 0
        func event(_ topic: String, at: Date, _ fill: (inout Liaison_V1_Event) -> Void) -> Liaison_V1_Event {
            seq += 1
            var e = Liaison_V1_Event()
            e.seq = seq
            e.topic = topic
            e.occurredAt = .init(date: at)
            fill(&e)
            return e
        }
        for i in 0..<cases {
            let number = "L1-\(String(format: "%07d", i + 1))"
            let opened = now.addingTimeInterval(-Double(cases - i) / Double(cases) * 330 * 86_400)
            let kind = kinds[i % kinds.count], category = categories[i % categories.count]
            let unit = "STN-\(i % 10)", officer = "PC-\(i % 800)"
            let respondBy = opened.addingTimeInterval(86_400), resolveBy = opened.addingTimeInterval(5 * 86_400)
            events.append(event(Topic.feedbackReceived, at: opened) { e in
                e.feedbackReceived.caseNumber = number
                e.feedbackReceived.feedback.kind = kind
                e.feedbackReceived.feedback.category = category
                e.feedbackReceived.feedback.unit = unit
                e.feedbackReceived.feedback.channel = .hotline
            })
            events.append(event(Topic.caseOpened, at: opened) { e in
                e.caseOpened.caseNumber = number
                e.caseOpened.kind = kind
                e.caseOpened.category = category
                e.caseOpened.unit = unit
                e.caseOpened.accountableUnit = unit
                e.caseOpened.priority = "P2"
                e.caseOpened.respondBy = .init(date: respondBy)
                e.caseOpened.resolveBy = .init(date: resolveBy)
            })
            var steps: [(Liaison_V1_CaseAction, String, TimeInterval)] = [(.assign, "assigned", 600), (.respond, "responded", 3_600)]
            if i % 10 != 0 { steps.append((.resolve, "resolved", 2 * 86_400)) }
            if i % 10 != 0, i % 3 == 0 { steps.append((.confirmResolution, "resolved", 3 * 86_400)) }
            for (action, state, after) in steps {
                events.append(event(action.topic, at: opened.addingTimeInterval(after)) { e in
                    e.caseUpdated.caseNumber = number
                    e.caseUpdated.action = action
                    e.caseUpdated.toState = state
                    e.caseUpdated.unit = unit
                    e.caseUpdated.accountableUnit = unit
                    e.caseUpdated.officer = officer
                    e.caseUpdated.respondBy = .init(date: respondBy)
                    e.caseUpdated.resolveBy = .init(date: resolveBy)
                    e.caseUpdated.satisfaction = action == .confirmResolution ? UInt32(1 + i % 5) : 0
                })
            }
        }
        return events
    }
}
