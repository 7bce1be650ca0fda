import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime

struct Contact: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a case's contact data (operators only; every disclosure is logged by intake).",
        discussion: "Needs an operator secret: --credential-file, or $LIAISON_OPERATOR_SECRET.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The case number (any letter case; L1-42 is L1-0000042).", transform: CaseNumberText.normalized)
    var caseNumber: String
    @Option(help: "File holding the operator secret (first line).")
    var credentialFile: String?

    func run() throws {
        do {
            let secret = try credentialFile.map { try OperatorCredentials.secrets(inFile: $0).first ?? "" }
                ?? ProcessInfo.processInfo.environment["LIAISON_OPERATOR_SECRET"] ?? ""
            var r = Liaison_V1_Request()
            r.credential = secret.trimmingCharacters(in: .whitespaces)
            r.getContact.caseNumber = caseNumber
            let reply = try client.call("intake", r)
            let info = reply.contactInfo
            if client.json { print(Output.json(info)); return }
            if info.anonymous { print("case \(info.caseNumber): anonymous"); return }
            print("case \(info.caseNumber): \(info.contact.name)  \(info.contact.phone)  \(info.contact.email)")
        } catch { reportFailure(error) }
    }
}
