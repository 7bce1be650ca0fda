import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime

struct Cases: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List cases across every handler partition, most urgent first (complaints are P1).",
        discussion: """
            Filter by unit (responsible or accountable), state and officer; --overdue shows open \
            cases past their response or resolution deadline (paused and finished cases excluded). \
            If a handler partition does not answer, the others' cases are shown, a warning names \
            it, and the exit status is 4.
            """)

    @OptionGroup var client: ClientOptions
    @Option(help: "Only cases this unit is responsible or accountable for.")
    var unit: String = ""
    @Option(help: "Only cases in this state (triaged, assigned, in_progress, responded, resolved, closed, ...).")
    var state: String = ""
    @Option(help: "Only cases assigned to this officer (badge).")
    var officer: String = ""
    @Flag(help: "Only open cases past a deadline.")
    var overdue = false
    @Option(help: "At most this many cases (1 to 1,000).")
    var limit: UInt32 = 50
    @Option(help: "Show one case in full instead of a list (same as `liaison case show`).")
    var show: String?

    func validate() throws {
        try ListLimit.check(limit)
    }

    func run() throws {
        do {
            if let number = show {
                let c = try client.getCase(number)
                if client.json { print(Output.json(c)) } else { print(CaseText.full(c)) }
                return
            }
            var q = Liaison_V1_ListCases()
            q.unit = unit
            q.state = state
            q.officer = officer
            q.overdueOnly = overdue
            q.limit = limit
            // Every partition holds its own cases: ask each and merge.
            let handlers = try client.loadTopology().instances(of: "handler").count
            var cases: [Liaison_V1_CaseInfo] = []
            var total: UInt64 = 0
            var missing: [String] = []
            for i in 0..<max(1, handlers) {
                do {
                    let list = try client.call("handler", .listCases(q), instance: i).caseList
                    cases += list.cases
                    total += list.total
                } catch let e as ClientError where handlers > 1 {
                    // One partition down: show the others' cases and say which are missing.
                    missing.append("handler partition \(i + 1)/\(handlers): \(e)")
                }
            }
            cases.sort { ($0.priority, $0.respondBy.seconds, $0.caseNumber) < ($1.priority, $1.respondBy.seconds, $1.caseNumber) }
            cases = Array(cases.prefix(Int(limit)))
            if client.json {
                for c in cases { print(Output.json(c)) }
            } else {
                print(Output.table(["CASE", "PRI", "KIND", "UNIT", "ACCOUNTABLE", "OFFICER", "STATE", "RESPOND BY", "RESOLVE BY"],
                                   cases.map { [$0.caseNumber, $0.priority, $0.kind.name, $0.unit, $0.accountableUnit, $0.officer, $0.state,
                                                Output.time($0.respondBy), Output.time($0.resolveBy)] }))
                print("\(cases.count) of \(total) case(s)")
            }
            if !missing.isEmpty {
                for m in missing { printError("warning: no answer from \(m); its cases are missing\n") }
                Foundation.exit(4)
            }
        } catch { reportFailure(error) }
    }
}

/// How many a list may ask a service for (the services cap it at 1,000).
enum ListLimit {
    static func check(_ limit: UInt32) throws {
        guard (1...1_000).contains(limit) else { throw ValidationError("--limit is 1 to 1,000, not \(limit)") }
    }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the office's report: counts by kind, channel, unit, state, and overdue cases.")

    @OptionGroup var client: ClientOptions

    func run() throws {
        do {
            let r = try client.call("reporting", .getReport(.init())).report
            if client.json { print(Output.json(r)); return }
            print("Liaison report, \(Output.time(r.generatedAt))")
            print("feedback received  \(r.feedbackTotal)")
            print("cases opened       \(r.casesTotal)")
            print("follow-ups due     \(r.followupsDue)")
            for (title, counts) in [("by kind", r.byKind), ("by channel", r.byChannel), ("by unit", r.byUnit),
                                    ("by priority", r.byPriority), ("by state", r.byState)] where !counts.isEmpty {
                print("\n\(title):")
                for c in counts { print("  \(c.key.padding(toLength: 20, withPad: " ", startingAt: 0)) \(c.count)") }
            }
            print("\noverdue (first response): \(r.overdue.count)")
            for o in r.overdue.prefix(20) { print("  \(o.caseNumber)  \(o.unit)  due \(Output.time(o.due))") }
        } catch { reportFailure(error) }
    }
}

struct Followups: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the follow-up calls to citizens whose cases were resolved, those due first.",
        discussion: """
            The scheduler makes a follow-up due a while after a case is resolved (liaison-scheduler \
            --followup-after-hours) and cancels it when the resolution is confirmed, or the case is \
            reopened, closed or merged. To make the call and record it:

              liaison contact L1-0000042 --reason "follow-up call"
              liaison case confirm L1-0000042 --satisfaction 4     (or: liaison case reopen L1-0000042 --reason "...")
            """)

    @OptionGroup var client: ClientOptions
    @Flag(help: "Only the calls that are due now (not those still waiting for their time).")
    var due = false
    @Option(help: "At most this many (1 to 1,000).")
    var limit: UInt32 = 50

    func validate() throws {
        try ListLimit.check(limit)
    }

    func run() throws {
        do {
            var q = Liaison_V1_ListFollowups()
            q.dueOnly = due
            q.limit = limit
            let list = try client.call("scheduler", .listFollowups(q)).followupList.followups
            if client.json {
                for f in list { print(Output.json(f)) }
                return
            }
            print(Output.table(["CASE", "UNIT", "DUE", "STATE"], list.map { [$0.caseNumber, $0.unit, Output.time($0.dueAt), $0.state] }))
            print("\(list.count) follow-up(s)\(due ? " due" : "")")
        } catch { reportFailure(error) }
    }
}
