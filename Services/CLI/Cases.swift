import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime

struct Cases: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List cases, most urgent first (complaints are P1).",
        discussion: "Filter by unit and state; --overdue shows cases whose first-response deadline has passed.")

    @OptionGroup var client: ClientOptions
    @Option(help: "Only cases of this unit.")
    var unit: String = ""
    @Option(help: "Only cases in this state.")
    var state: String = ""
    @Flag(help: "Only cases past their first-response deadline.")
    var overdue = false
    @Option(help: "At most this many cases (up to 1,000).")
    var limit: UInt32 = 50
    @Option(help: "Show one case in full instead of a list.")
    var show: String?

    func run() throws {
        do {
            if let number = show {
                var q = Liaison_V1_GetCase()
                q.caseNumber = number
                let c = try client.call("handler", .getCase(q)).caseInfo
                if client.json { print(Output.json(c)); return }
                print("""
                    case        \(c.caseNumber)
                    kind        \(c.kind.name) via \(c.channel.name)\(c.category.isEmpty ? "" : " (\(c.category))")
                    unit        \(c.unit)
                    priority    \(c.priority)
                    state       \(c.state)
                    opened      \(Output.time(c.openedAt))
                    respond by  \(Output.time(c.respondBy))
                    resolve by  \(Output.time(c.resolveBy))\(c.officerBadge.isEmpty ? "" : "\nofficer     \(c.officerBadge)")
                    text        \(c.text)
                    """)
                return
            }
            var q = Liaison_V1_ListCases()
            q.unit = unit
            q.state = state
            q.overdueOnly = overdue
            q.limit = limit
            let list = try client.call("handler", .listCases(q)).caseList
            if client.json {
                for c in list.cases { print(Output.json(c)) }
                return
            }
            print(Output.table(["CASE", "PRI", "KIND", "UNIT", "STATE", "RESPOND BY"],
                               list.cases.map { [$0.caseNumber, $0.priority, $0.kind.name, $0.unit, $0.state, Output.time($0.respondBy)] }))
            print("\(list.cases.count) of \(list.total) case(s)")
        } catch { reportFailure(error) }
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
