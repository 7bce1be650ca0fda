import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime

struct Contact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a case's contact data (operators only; every disclosure is recorded).",
        discussion: """
            Needs an operator secret (--credential-file, or $LIAISON_OPERATOR_SECRET) and a reason. \
            Intake records who read which case's contact data and why, durably, before it answers: \
            the case's audit trail shows it (liaison case show), and so does intake's stream \
            (liaison events tail --stream intake-1 --topic contact.disclosed).

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
            let secret = try credentialFile.map { try OperatorCredentials.secrets(inFile: $0).first ?? "" }
                ?? ProcessInfo.processInfo.environment["LIAISON_OPERATOR_SECRET"] ?? ""
            var r = Liaison_V1_Request()
            r.credential = secret.trimmingCharacters(in: .whitespaces)
            r.getContact.caseNumber = caseNumber
            r.getContact.actor = Actor.resolve(actor)
            r.getContact.reason = reason
            let reply = try client.call("intake", r)
            let info = reply.contactInfo
            if client.json { print(Output.json(info)); return }
            if info.anonymous { print("case \(info.caseNumber): anonymous"); return }
            if info.hasErasedAt {
                print("case \(info.caseNumber): contact data erased \(Output.time(info.erasedAt)) under intake's retention (kept for a time after the case ended)")
                return
            }
            print("case \(info.caseNumber): \(info.contact.name)  \(info.contact.phone)  \(info.contact.email)")
        } catch { reportFailure(error) }
    }
}

/// Who gives a command or reads data, as recorded: `--actor`, else `$LIAISON_ACTOR`, else `$USER`
/// (a variable set empty counts as unset).
enum Actor {
    static func resolve(_ given: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        given ?? [environment["LIAISON_ACTOR"], environment["USER"]].lazy.compactMap { $0 }.first { !$0.isEmpty } ?? "operator"
    }
}
