import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit one piece of public feedback and print its case number and tracking token.",
        discussion: """
            Give the citizen the case number and the tracking token: with both they can ask for the
            status (liaison status). Leave out --name/--phone/--email for an anonymous submission.
            A retry with the same --submission-id never makes a second case.
            """)

    @OptionGroup var client: ClientOptions

    @Option(help: "complaint, praise, suggestion, inquiry, tip, help_request or mediation_request.")
    var kind: String
    @Option(help: "hotline, web, app, walk_in, letter, liaison_visit, open_week or social_media.")
    var channel: String = "hotline"
    @Option(help: "What the citizen said (at most 4,000 characters).")
    var text: String
    @Option(help: "Unit code the feedback concerns (a unit or an address is required).")
    var unit: String = ""
    @Option(help: "Free address where it happened.")
    var address: String = ""
    @Option(help: "Badge number of the officer it concerns, if any.")
    var officer: String = ""
    @Option(help: "Category, e.g. traffic, noise, service-attitude.")
    var category: String = ""
    @Option(help: "Citizen's name (omit all contact options for anonymous).")
    var name: String = ""
    @Option(help: "Citizen's phone.")
    var phone: String = ""
    @Option(help: "Citizen's e-mail.")
    var email: String = ""
    @Option(help: "Language of the text (BCP 47), e.g. zh-CN.")
    var language: String = ""
    @Option(help: "Client-chosen id; reuse it to retry safely. Default: a new random id.")
    var submissionId: String = UUID().uuidString.lowercased()

    func validate() throws {
        if Liaison_V1_FeedbackKind(name: kind) == nil {
            throw ValidationError("--kind '\(kind)' is not one of: \(Liaison_V1_FeedbackKind.named.map(\.0).joined(separator: ", "))")
        }
        if Liaison_V1_Channel(name: channel) == nil {
            throw ValidationError("--channel '\(channel)' is not one of: \(Liaison_V1_Channel.named.map(\.0).joined(separator: ", "))")
        }
    }

    func run() throws {
        var s = Liaison_V1_SubmitFeedback()
        s.submissionID = submissionId
        s.kind = Liaison_V1_FeedbackKind(name: kind)!
        s.channel = Liaison_V1_Channel(name: channel)!
        s.text = text
        s.unit = unit
        s.address = address
        s.officerBadge = officer
        s.category = category
        s.language = language
        s.occurredAt = .init(date: Date())
        if !(name.isEmpty && phone.isEmpty && email.isEmpty) {
            s.contact.name = name
            s.contact.phone = phone
            s.contact.email = email
        }
        do {
            let a = try client.call("intake", .submitFeedback(s)).feedbackAccepted
            if client.json { print(Output.json(a)) } else {
                print("case \(a.caseNumber)  tracking token \(a.trackingToken)\(a.duplicate ? "  (already submitted)" : "")")
            }
        } catch { reportFailure(error) }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a citizen the public state of their case.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The case number, e.g. L1-0000042.")
    var caseNumber: String
    @Option(help: "The tracking token given with the case number.")
    var token: String

    func run() throws {
        var q = Liaison_V1_GetFeedbackStatus()
        q.caseNumber = caseNumber
        q.trackingToken = token
        do {
            let st = try client.call("intake", .getFeedbackStatus(q)).feedbackStatus
            if client.json { print(Output.json(st)) } else {
                print("case \(st.caseNumber): \(st.state) (updated \(Output.time(st.updatedAt)))\(st.publicNote.isEmpty ? "" : "\n\(st.publicNote)")")
            }
        } catch { reportFailure(error) }
    }
}
