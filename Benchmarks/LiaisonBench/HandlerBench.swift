import ArgumentParser
import Foundation
import Handler
import LiaisonCodec
import LiaisonRuntime
import Logging

/// `liaison-bench handler`: the handler's own work in-process (no sockets): cases opened per second
/// from `feedback.received` events applied in batches as its consumer does, and case commands per
/// second, so it can be set beside intake's rate (the handler must keep up with intake).
struct HandlerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handler",
        abstract: "The handler's logic in-process: cases opened/s (policy, working calendar, deadlines, audit, event) and commands/s.")

    @Option(help: "Cases to open per run.") var cases = 5_000
    @Option(help: "Events applied per transaction (the consumer applies what arrived together).") var batch = 100
    @Option(help: "Repeat and print medians.") var runs = 3

    func run() throws {
        Leftovers.cleanUpOnInterruption()
        var opened: [Double] = [], commands: [Double] = []
        for r in 1...max(1, runs) {
            let dir = NSTemporaryDirectory() + "liaison-bench-h-" + UUID().uuidString.prefix(8)
            try Leftovers.directory(dir)
            defer { Leftovers.removed(dir) }
            let log = try EventLog(store: Store(path: dir + "/h.sqlite", migrations: HandlerService.migrations), stream: "handler-bench")
            let service = HandlerService(log: log, settings: try HandlerSettings.load(policyPath: nil, calendarDir: nil, units: .demo),
                                         logger: Logger(label: "bench"))
            let kinds: [Liaison_V1_FeedbackKind] = [.complaint, .praise, .suggestion, .inquiry, .tip, .helpRequest, .mediationRequest]
            let events: [Liaison_V1_Event] = (0..<cases).map { i in
                var e = Liaison_V1_Event()
                e.stream = "intake-1"
                e.seq = UInt64(i + 1)
                e.topic = Topic.feedbackReceived
                e.occurredAt = .init(date: Date())
                e.feedbackReceived.caseNumber = "L1-\(String(format: "%07d", i + 1))"
                var f = Liaison_V1_SubmitFeedback()
                f.kind = kinds[i % kinds.count]
                f.channel = .hotline
                f.unit = "STN-EAST-01"
                f.text = "Feedback \(i) about the station"
                if i % 5 == 0 { f.officerBadge = "PC-\(i)" }
                e.feedbackReceived.feedback = f
                return e
            }
            var t0 = DispatchTime.now().uptimeNanoseconds
            for chunk in stride(from: 0, to: events.count, by: batch) {
                try log.write { db, out in
                    for e in events[chunk..<min(chunk + batch, events.count)] { try service.apply(db, out, e) }
                }
            }
            opened.append(Double(cases) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9))
            let n = min(cases, 1_000)
            t0 = DispatchTime.now().uptimeNanoseconds
            for i in 0..<n {
                var c = Liaison_V1_CaseCommand()
                c.caseNumber = "L1-\(String(format: "%07d", i + 1))"
                c.action = .note
                c.actor = "bench"
                c.text = "A note"
                var req = Liaison_V1_Request()
                req.caseCommand = c
                _ = service.handle([req])
            }
            commands.append(Double(n) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9))
            print("run \(r): \(Int(opened.last!)) cases opened/s (batches of \(batch)), \(Int(commands.last!)) commands/s (one transaction each)")
        }
        let median = Figures.median
        print("handler, in-process, median of \(opened.count): \(Int(median(opened))) cases opened/s, \(Int(median(commands))) commands/s")
    }
}
