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
    static let configuration = CommandConfiguration(
        abstract: "Print the office's report: counts, overdue cases, rates and opinion alerts.",
        discussion: """
            Counts by kind, channel, unit, priority and state; the cases overdue for a first \
            response; the response, resolution and satisfaction rates of the 12 calendar months to this one by \
            unit, category, officer and month; and the opinion alerts of the last 7 days (a surge \
            of similar complaints about one unit). A rate reads "on time / due": a case is due once \
            it was answered (resolved) or its deadline passed without it. --json prints the whole \
            report as protobuf JSON.
            """)

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
                                    ("by priority", r.byPriority), ("by state", r.byState),
                                    ("open week, people confirmed (campaign venue)", r.openWeekConfirmed),
                                    ("open week, people who came (checked in at the door)", r.openWeekAttended)] where !counts.isEmpty {
                print("\n\(title):")
                // Keys written out (a category is what a citizen typed), padded to the longest, never cut.
                let keys = counts.map { PlainText.escapingControls(Output.oneLine($0.key)) }
                let width = max(20, keys.map(TerminalWidth.columns).max() ?? 0)
                for (key, c) in zip(keys, counts) { print("  \(TerminalWidth.padded(key, to: width)) \(c.count)") }
            }
            print("\noverdue (first response): \(r.overdue.count)")
            for o in r.overdue.prefix(20) { print("  \(o.caseNumber)  \(o.unit)  due \(Output.time(o.due))") }
            print(RateTable.text(r), terminator: "")
            if !r.liaisonCoverage.isEmpty {
                print("\nhousehold liaison programme (households visited: met at least once):")
                print(Output.table(["YEAR", "STATION", "OFFICERS", "HOUSEHOLDS", "VISITED", "VISITS"], r.liaisonCoverage.map {
                    ["\($0.year)", $0.station, "\($0.officers)", "\($0.households)", "\($0.householdsVisited)/\($0.households)", "\($0.visits)"]
                }))
            }
            print("\nopinion alerts, last 7 days: \(r.opinionAlerts.count)")
            for a in r.opinionAlerts { print("  " + RateTable.alertLine(a)) }
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

/// The report's rates and opinion alerts as text. What the services send (a category a citizen
/// typed) is written out by ``Output/table(_:_:)``, never left to drive the terminal.
enum RateTable {
    /// "3/4 75%", or "-" when none was due.
    static func rate(_ onTime: UInt64, _ due: UInt64) -> String {
        guard due > 0 else { return "-" }
        return "\(onTime)/\(due) \(Int((100 * Double(onTime) / Double(due)).rounded()))%"
    }

    static func row(_ label: String, _ r: Liaison_V1_Rate) -> [String] {
        [label, "\(r.cases)", rate(r.respondedOnTime, r.responseDue), rate(r.resolvedOnTime, r.resolutionDue),
         rate(r.satisfied, r.rated), r.rated == 0 ? "-" : String(format: "%.1f", r.meanRating)]
    }

    static func text(_ r: Liaison_V1_Report) -> String {
        var rows = [row("all", r.ratesAll)]
        for (title, rates) in [("by unit (accountable)", r.ratesByUnit), ("by category", r.ratesByCategory),
                               ("by officer (assigned)", r.ratesByOfficer), ("by month (\(r.timeZone))", r.ratesByMonth)] where !rates.isEmpty {
            rows.append([title + ":", "", "", "", "", ""])
            rows += rates.map { row("  " + $0.key, $0) }
        }
        // The month the rates start, in the zone whose months they count (not this terminal's).
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM"
        f.timeZone = TimeZone(identifier: r.timeZone) ?? .current
        return "\nrates of the cases opened since \(f.string(from: r.ratesSince.date)) (on time / due; satisfied: rated 4 or 5 of 5):\n"
            // A group's title row has empty cells: no padding after it.
            + Output.table(["", "cases", "answered on time", "resolved on time", "satisfied", "rating"], rows)
                .split(separator: "\n", omittingEmptySubsequences: false)
                .map { String($0.reversed().drop { $0 == " " }.reversed()) }.joined(separator: "\n") + "\n"
    }

    static func alertLine(_ a: Liaison_V1_OpinionAlert) -> String {
        let area = a.area.isEmpty ? "(address only)" : a.area
        let cases = a.caseNumbers.prefix(5).joined(separator: ", ") + (a.caseNumbers.count > 5 ? ", ..." : "")
        let line = "\(Output.time(a.windowEnd))  \(a.category) about \(area): \(a.count) complaints in 24 h, usually "
            + String(format: "%.1f", a.usual) + " a day\(a.late ? " (raised late)" : ""); cases \(cases)"
        return PlainText.escapingControls(Output.oneLine(line))
    }
}
