import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime
import ZeroMQ

struct Contact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a case's contact data (operators only; every disclosure is recorded).",
        discussion: """
            Needs an operator secret (--credential-file, or $LIAISON_OPERATOR_SECRET) and a reason. \
            Intake records who read which case's contact data and why, durably, before it answers: \
            the case's audit trail shows it (liaison case show), and so does intake's stream \
            (liaison disclosures, or liaison events tail --stream intake-1 --topic contact.disclosed).

              liaison contact L1-42 --reason "follow-up call on the resolved complaint"
            """)

    @OptionGroup var client: ClientOptions
    @Argument(help: "The case number (any letter case; L1-42 is L1-0000042).", transform: CaseNumberText.normalized)
    var caseNumber: String
    @Option(help: "Why the contact data is needed; recorded with the disclosure.")
    var reason: String
    @Option(help: "Who reads it (operator id or badge). Default: $LIAISON_ACTOR, else $USER.")
    var actor: String?
    @Option(help: "File holding the operator secret (first line).")
    var credentialFile: String?

    func run() throws {
        do {
            var r = Liaison_V1_Request()
            r.credential = try OperatorSecret.read(file: credentialFile)
            r.getContact.caseNumber = caseNumber
            r.getContact.actor = Actor.resolve(actor)
            r.getContact.reason = reason
            let reply = try client.call("intake", r, instance: try client.intakeInstance(of: caseNumber))
            let info = reply.contactInfo
            if client.json { print(Output.json(info)); return }
            if info.hasErasedAt {
                print("case \(info.caseNumber): contact data erased \(Output.time(info.erasedAt)) under intake's retention (kept for a time after the case ended)")
                return
            }
            // Each field named, and only those given: a caller who left a phone alone is not a row of blanks.
            let given = [("name", info.contact.name), ("phone", info.contact.phone), ("email", info.contact.email)].filter { !$0.1.isEmpty }
            let own = info.anonymous ? "anonymous" : given.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            // What intake took out of the text, where the text says "[phone: in the contact]":
            // perhaps the citizen's, perhaps someone they wrote about (the text around it says).
            let fromText = info.fromText.isEmpty ? "" : "; in the text: " + info.fromText.joined(separator: ", ")
            print("case \(info.caseNumber): " + own + fromText)
        } catch { reportFailure(error) }
    }
}

/// The operator secret a command sends: the first secret of `--credential-file` (without the name
/// its line may give), else `$LIAISON_OPERATOR_SECRET` read the same way.
enum OperatorSecret {
    static func read(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let file { return try OperatorCredentials.secrets(inFile: file).first ?? "" }
        return OperatorCredentials.parse(environment["LIAISON_OPERATOR_SECRET"] ?? "").secret
    }
}

/// Who gives a command or reads data, as recorded: `--actor`, else `$LIAISON_ACTOR`, else `$USER`
/// (a variable set empty counts as unset).
enum Actor {
    static func resolve(_ given: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        given ?? [environment["LIAISON_ACTOR"], environment["USER"]].lazy.compactMap { $0 }.first { !$0.isEmpty } ?? "operator"
    }
}

/// `liaison disclosures`: the privacy officer's view of who was given which citizen's contact data.
struct Disclosures: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List who was given which case's contact data, when and why, and which contacts were erased.",
        discussion: """
            Reads the contact.disclosed and contact.erased events of every intake instance (they hold \
            who, why and which case, never the contact itself), oldest first. Every `liaison contact` \
            that returned data, or found the case anonymous, is one line.

              liaison disclosures --case L1-42
              liaison disclosures --actor PC-1001
              liaison disclosures --since 2026-11-01 --until 2026-12-01     (a month's, this machine's time zone)
            """)

    @OptionGroup var client: ClientOptions
    @Option(name: .customLong("case"), help: "Only this case (any letter case; L1-42 is L1-0000042).", transform: CaseNumberText.normalized)
    var caseNumber: String?
    @Option(help: "Only what this operator was given: the actor recorded (--actor, $LIAISON_ACTOR or $USER of the reader), the name of the operator secret presented, or of the operator's CURVE key.")
    var actor: String?
    @Option(help: "Only from this moment on: a date (2026-11-01, from its start), a local time (2026-11-01 08:30) or one with a zone.")
    var since: String?
    @Option(help: "Only before this moment (a date: before its start).")
    var until: String?

    /// A date alone is its start, in this machine's time zone.
    static func moment(_ text: String) -> Date? { FeedbackFile.time(text) ?? FeedbackFile.time(text + " 00:00") }

    func validate() throws {
        for (flag, value) in [("--since", since), ("--until", until)] {
            if let value, Self.moment(value) == nil {
                throw ValidationError("\(flag) '\(value)' is not a date or time like 2026-11-01, 2026-11-01 08:30 or 2026-11-01T08:30:00+08:00")
            }
        }
        // Swapped by mistake, they would list nothing and say so as if none had been disclosed.
        if let from = since.flatMap(Self.moment), let to = until.flatMap(Self.moment), to <= from {
            throw ValidationError("--until \(until!) is not after --since \(since!): nothing could fall between them")
        }
    }

    func run() throws {
        do {
            let topo = try client.loadTopology()
            let ctx = try client.context()
            defer { ctx.terminate() }
            let (from, before) = (since.flatMap(Self.moment), until.flatMap(Self.moment))
            var events: [Liaison_V1_Event] = []
            for inst in topo.instances(of: "intake") {
                let c = client.requestClient(ctx, inst)
                defer { c.reset() }
                var after: UInt64 = 0
                while true {
                    var r = Liaison_V1_Replay()
                    r.afterSeq = after
                    r.limit = 1_000
                    r.topicPrefixes = [Topic.contactDisclosed, Topic.contactErased]
                    let batch = try c.call(.replay(r)).replayBatch
                    events += batch.events.filter { matches($0, from: from, before: before) }
                    guard batch.more, batch.lastSeq > after else { break }
                    after = batch.lastSeq
                }
            }
            events.sort { ($0.occurredAt.seconds, $0.occurredAt.nanos, $0.stream, $0.seq) < ($1.occurredAt.seconds, $1.occurredAt.nanos, $1.stream, $1.seq) }
            if client.json {
                for e in events { print(Output.json(e)) }
                return
            }
            if events.isEmpty {
                print("no contact data was disclosed or erased" + (caseNumber.map { " for case \($0)" } ?? "") + (actor.map { " to \($0)" } ?? "")
                      + (since.map { " since \($0)" } ?? "") + (until.map { " before \($0)" } ?? ""))
                return
            }
            print(Output.table(["WHEN", "CASE", "WHO", "WHAT", "WHY"], events.map { e in
                switch e.payload {
                case .contactErased(let x)?:
                    return [Output.time(e.occurredAt), x.caseNumber, "retention", "erased", x.why]
                default:
                    let d = e.contactDisclosed
                    return [Output.time(e.occurredAt), d.caseNumber, Output.who(actor: d.actor, credentialName: d.credentialName), d.anonymous ? "anonymous: none stored" : "contact given", d.reason]
                }
            }))
        } catch { reportFailure(error) }
    }

    /// Whether `e` is one asked for: of the case and operator given, at `from` or later and before `before`.
    func matches(_ e: Liaison_V1_Event, from: Date?, before: Date?) -> Bool {
        let at = e.occurredAt.date
        if let from, at < from { return false }
        if let before, at >= before { return false }
        switch e.payload {
        case .contactDisclosed(let d)?:
            return (caseNumber.map { $0 == d.caseNumber } ?? true) && (actor.map { $0 == d.actor || $0 == d.credentialName || OperatorCredentials.keyName($0) == d.credentialName } ?? true)
        case .contactErased(let x)?:
            return (caseNumber.map { $0 == x.caseNumber } ?? true) && actor == nil
        default:
            return false
        }
    }
}
