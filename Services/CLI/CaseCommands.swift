import ArgumentParser
import Foundation
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime

/// `liaison case ...`: one case, shown or moved through its life cycle. Each command goes to the
/// handler partition that owns the case.
struct CaseGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "case",
        abstract: "Show a case with its audit trail, or move it through its life cycle.",
        discussion: """
            States: triaged -> assigned -> in_progress -> responded -> resolved -> closed, and \
            awaiting_citizen (deadlines paused), escalated, transferred, merged, \
            not_police_responsibility, reopened. A command the case's state does not accept is \
            refused with the commands it does accept.

            Every command records who (--actor, else $LIAISON_ACTOR, else $USER), when, what and \
            why (--reason: optional, except for reopen, escalate, transfer, merge, not-police and \
            await, which need one). With an operator secret configured, give it with --credential-file or \
            $LIAISON_OPERATOR_SECRET.

              liaison case show L1-0000042
              liaison case assign L1-0000042 --unit STN-EAST-01 --officer PC-1234
              liaison case accept L1-0000042
              liaison case respond L1-0000042 "We will call you by Friday."
              liaison case resolve L1-0000042 "The officer apologised in person."
              liaison case confirm L1-0000042 --satisfaction 4
              liaison case close L1-0000042
            """,
        subcommands: [CaseShow.self, CaseAssign.self, CaseAccept.self, CaseNote.self, CaseRespond.self, CaseResolve.self,
                      CaseConfirm.self, CaseClose.self, CaseReopen.self, CaseEscalate.self, CaseTransfer.self, CaseMerge.self,
                      CaseNotPolice.self, CaseAwait.self, CaseResume.self])
}

extension CaseGroup {
    /// The handler names the commands a case accepts by their protocol names (`confirm_resolution`);
    /// a clerk reads them here as the commands to type (`confirm`). Each subcommand also answers to
    /// its protocol name, so either works.
    static let typedNames = ["confirm_resolution": "confirm", "not_police_responsibility": "not-police", "await_citizen": "await"]

    /// `actions` as the subcommands that give them, comma-separated.
    static func typed(_ actions: [String]) -> String {
        actions.map { typedNames[$0] ?? $0 }.joined(separator: ", ")
    }
}

/// The reason of a command whose life-cycle step does not require one (the audit trail's WHY).
struct CaseReason: ParsableArguments {
    @Option(help: "Why, if worth recording (the audit trail's WHY column).") var reason: String = ""
}

/// What every case command takes.
struct CaseCommandOptions: ParsableArguments {
    @OptionGroup var client: ClientOptions

    @Argument(help: "The case number, e.g. L1-0000042 (any letter case; L1-42 is L1-0000042).", transform: CaseNumberText.normalized)
    var caseNumber: String

    @Option(help: "Who gives the command (operator id or badge). Default: $LIAISON_ACTOR, else $USER.")
    var actor: String?

    @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.")
    var credentialFile: String?

    var resolvedActor: String { Actor.resolve(actor) }


    /// Sends `action` for the case to its owner and prints the result.
    func send(_ action: Liaison_V1_CaseAction, _ fill: (inout Liaison_V1_CaseCommand) -> Void = { _ in }) {
        do {
            var c = Liaison_V1_CaseCommand()
            c.caseNumber = caseNumber
            c.action = action
            c.actor = resolvedActor
            fill(&c)
            var r = Liaison_V1_Request()
            r.caseCommand = c
            r.credential = try OperatorSecret.read(file: credentialFile)
            let info = try client.call("handler", r, instance: try client.owner(of: caseNumber)).caseInfo
            if client.json { print(Output.json(info)); return }
            let last = info.audit.last
            print("\(info.caseNumber): \(action.name) done; \(last.map { "\($0.fromState) -> \($0.toState)" } ?? info.state)\(last.map { $0.detail.isEmpty ? "" : " (\($0.detail))" } ?? "")")
            print("unit \(info.unit) (accountable: \(info.accountableUnit))\(info.officer.isEmpty ? "" : ", officer \(info.officer)"); next: \(CaseGroup.typed(info.allowedActions))")
        } catch { reportFailure(error) }
    }
}

extension ClientOptions {
    /// The handler instance that owns `caseNumber` (its partition among the topology's handlers).
    func owner(of caseNumber: String) throws -> Int {
        CasePartition.owner(of: caseNumber, count: max(1, try loadTopology().instances(of: "handler").count))
    }

    /// A whole case with its audit trail, from its owner.
    func getCase(_ number: String) throws -> Liaison_V1_CaseInfo {
        try call("handler", .getCase(.with { $0.caseNumber = number }), instance: try owner(of: number)).caseInfo
    }
}

struct CaseShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a case in full with its audit trail.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "The case number (any letter case; L1-42 is L1-0000042).", transform: CaseNumberText.normalized) var caseNumber: String

    func run() throws {
        do {
            let c = try client.getCase(caseNumber)
            if client.json { print(Output.json(c)); return }
            print(CaseText.full(c))
        } catch { reportFailure(error) }
    }
}

enum CaseText {
    static func full(_ c: Liaison_V1_CaseInfo) -> String {
        var lines = [
            "case        \(c.caseNumber)   (owned by \(c.handlerStream))",
            "kind        \(c.kind.name) via \(c.channel.name)\(c.category.isEmpty ? "" : " (\(c.category))")\(c.confidential ? "  CONFIDENTIAL" : "")\(c.commendation ? "  commendation candidate" : "")",
            "state       \(c.state)\(c.paused ? " (deadlines paused)" : "")",
            "unit        \(c.unit)   accountable: \(c.accountableUnit)\(c.officer.isEmpty ? "" : "   officer: \(c.officer)")",
            "priority    \(c.priority)   rule: \(c.policyRule)",
            "opened      \(Output.time(c.openedAt))",
            "respond by  \(Output.time(c.respondBy))\(c.hasFirstResponseAt ? "   responded \(Output.time(c.firstResponseAt))" : "")",
            "resolve by  \(Output.time(c.resolveBy))\(c.hasResolvedAt ? "   resolved \(Output.time(c.resolvedAt))\(c.resolutionConfirmed ? " (confirmed)" : "")" : "")",
        ]
        if !c.officerBadge.isEmpty { lines.append("about       officer \(c.officerBadge)") }
        if !c.mergedInto.isEmpty { lines.append("merged into \(c.mergedInto)") }
        lines.append("text        \(Output.indented(c.text))")
        // Where intake took a number out of the text (`[phone: in the contact]`): how to read it.
        if ContactInText.Kind.allCases.contains(where: { c.text.contains(ContactInText.marker($0)) }) {
            lines.append("            (taken from the text and sealed: liaison contact \(c.caseNumber) --reason \"...\", operators only)")
        }
        if !c.publicNote.isEmpty { lines.append("public note \(Output.indented(c.publicNote))") }
        lines.append("next        \(CaseGroup.typed(c.allowedActions))")
        lines.append("\naudit trail:")
        lines.append(Output.table(["WHEN", "WHO", "WHAT", "STATE", "DETAIL", "WHY"], c.audit.map {
            [Output.time($0.at), Output.who(actor: $0.actor, credentialName: $0.credentialName), $0.action, $0.fromState == $0.toState ? $0.toState : "\($0.fromState.isEmpty ? "-" : $0.fromState) -> \($0.toState)", $0.detail, $0.reason]
        }))
        return lines.joined(separator: "\n")
    }
}

struct CaseAssign: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "assign", abstract: "Assign a case to a unit and/or an officer.")
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "The unit (code) that takes the case.") var unit: String = ""
    @Option(help: "The officer (badge) who takes the case.") var officer: String = ""
    @OptionGroup var why: CaseReason
    func run() { o.send(.assign) { $0.unit = unit; $0.officer = officer; $0.reason = why.reason } }
}

struct CaseAccept: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "accept", abstract: "The assignee takes the case up (in_progress).")
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "The officer (badge) taking it; default the one assigned, else the actor.") var officer: String = ""
    @OptionGroup var why: CaseReason
    func run() { o.send(.accept) { $0.officer = officer; $0.reason = why.reason } }
}

struct CaseNote: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "note", abstract: "Add a note: internal, or --public for the citizen to see.")
    @OptionGroup var o: CaseCommandOptions
    @Argument(help: "The note.") var text: String
    @Flag(help: "The citizen sees this note in the status reply.") var `public` = false
    @OptionGroup var why: CaseReason
    func run() { o.send(.note) { $0.text = text; $0.public = `public`; $0.reason = why.reason } }
}

struct CaseRespond: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "respond", abstract: "Record the response to the citizen (the first one meets the response deadline).")
    @OptionGroup var o: CaseCommandOptions
    @Argument(help: "What the citizen was told.") var text: String
    @OptionGroup var why: CaseReason
    func run() { o.send(.respond) { $0.text = text; $0.reason = why.reason } }
}

struct CaseResolve: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resolve", abstract: "Resolve the case with a summary (it counts once the citizen confirms).")
    @OptionGroup var o: CaseCommandOptions
    @Argument(help: "The resolution summary.") var summary: String
    @OptionGroup var why: CaseReason
    func run() { o.send(.resolve) { $0.text = summary; $0.reason = why.reason } }
}

struct CaseConfirm: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "confirm", abstract: "Record that the citizen confirms the resolution (from the follow-up call).", aliases: ["confirm_resolution"])
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "The citizen's satisfaction, 1 (very unsatisfied) to 5 (very satisfied).") var satisfaction: UInt32 = 0
    @OptionGroup var why: CaseReason
    func run() { o.send(.confirmResolution) { $0.satisfaction = satisfaction; $0.reason = why.reason } }
}

struct CaseClose: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "close", abstract: "Close a resolved (or not-police-responsibility) case.")
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "Why, if worth recording.") var reason: String = ""
    func run() { o.send(.close) { $0.reason = reason } }
}

struct CaseReopen: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reopen", abstract: "Reopen a case: the citizen disagrees with its resolution.")
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "Why it is reopened (required).") var reason: String = ""
    func run() { o.send(.reopen) { $0.reason = reason } }
}

struct CaseEscalate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "escalate", abstract: "Escalate a case to the unit above (or --unit); its priority rises.")
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "Why (required).") var reason: String = ""
    @Option(help: "The unit to escalate to; default the unit above.") var unit: String = ""
    func run() { o.send(.escalate) { $0.reason = reason; $0.unit = unit } }
}

struct CaseTransfer: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "transfer", abstract: "Transfer a case to another unit; the first unit stays accountable.")
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "The unit it goes to (required).") var unit: String = ""
    @Option(help: "Why (required).") var reason: String = ""
    func run() { o.send(.transfer) { $0.unit = unit; $0.reason = reason } }
}

struct CaseMerge: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "merge", abstract: "Merge a case into the case it duplicates.")
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "The case this one duplicates (required).", transform: CaseNumberText.normalized) var into: String = ""
    @Option(help: "Why (required).") var reason: String = ""
    func run() {
        // The handler that owns this case checks a target in its own partition whole; one another
        // partition owns, only for having been numbered. So ask that one's owner first: a case
        // merged already sends this one to the case it joined instead.
        do {
            let partitions = max(1, try o.client.loadTopology().instances(of: "handler").count)
            if !into.isEmpty, CasePartition.owner(of: into, count: partitions) != CasePartition.owner(of: o.caseNumber, count: partitions) {
                let target = try o.client.getCase(into)
                if target.state == "merged" {
                    throw ValidationError("case \(into) is itself merged into \(target.mergedInto); merge into \(target.mergedInto)")
                }
            }
        } catch { reportFailure(error) }
        o.send(.merge) { $0.mergeInto = into; $0.reason = reason }
    }
}

struct CaseNotPolice: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "not-police", abstract: "Mark a case as not police responsibility.", aliases: ["not_police_responsibility"])
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "Why (required).") var reason: String = ""
    @Option(help: "What the citizen is told (e.g. which authority to turn to).") var text: String = ""
    func run() { o.send(.markNotPoliceResponsibility) { $0.reason = reason; $0.text = text } }
}

struct CaseAwait: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "await", abstract: "Wait on the citizen (deadlines pause).", aliases: ["await_citizen"])
    @OptionGroup var o: CaseCommandOptions
    @Option(help: "What is needed from the citizen (required; the audit trail's WHY, not shown to them).") var reason: String = ""
    @Option(help: "What the citizen is asked for, in words for them: their status (liaison status) shows it until the case goes on (resume replaces it with --tell, else with thanks for the answer). Without it they read only 'waiting for you'.")
    var ask: String = ""
    func run() { o.send(.awaitCitizen) { $0.reason = reason; $0.text = ask } }
}

struct CaseResume: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "The citizen answered: deadlines run again.")
    @OptionGroup var o: CaseCommandOptions
    @OptionGroup var why: CaseReason
    @Option(help: "What the citizen is told now (their status shows it in place of what await --ask asked them).")
    var tell: String = ""
    func run() { o.send(.resume) { $0.reason = why.reason; $0.text = tell } }
}
