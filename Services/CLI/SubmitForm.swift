import Foundation
import LiaisonClient
import LiaisonCodec

/// `liaison submit --ask`: a hotline desk's form on the terminal. Each field is asked in turn (a
/// field given as a flag is taken as given and not asked), the whole is shown, and on the clerk's
/// yes it goes to intake. A field intake refuses is asked again with intake's reason, the rest
/// kept, and the same submission sent again: nothing is typed twice, and no shell quoting stands
/// between the caller's words and the case.
///
/// Prompts go to standard error, answers come from standard input a line at a time, so the form
/// works as well with answers piped in (a test, a script) as typed.
struct SubmitForm {
    /// The fields the form asks, in order.
    enum Field: CaseIterable {
        case kind, channel, unit, address, officer, category, occurredAt, text, name, phone, email
    }

    var submission = Liaison_V1_SubmitFeedback()
    /// What the clerk typed for `occurred_at`, shown in the summary as typed.
    var occurredAtTyped = ""
    /// Fields given as flags: not asked unless intake refuses them.
    var given: Set<Field> = []
    /// Reads one line of the clerk's answer; nil at the end of the input.
    let readAnswer: () -> String?

    /// The clerk gave up (end of input, or no at the confirmation): nothing was sent.
    struct Abandoned: Error, CustomStringConvertible {
        var description: String { "the form was left before it was sent: nothing was submitted" }
    }

    init(readAnswer: @escaping () -> String? = { readLine(strippingNewline: true) }) {
        self.readAnswer = readAnswer
    }

    func say(_ text: String) { printError(text) }

    func read(_ prompt: String) throws -> String {
        say(prompt)
        guard let line = readAnswer() else { throw Abandoned() }
        return line.trimmingCharacters(in: .whitespaces)
    }

    /// A free-text field's answer, `current` shown when there is one: Enter keeps it, `-` clears it.
    func read(_ prompt: String, keeping current: String) throws -> String {
        guard !current.isEmpty else { return try read(prompt + ": ") }
        let typed = try read("\(prompt) [\(Output.oneLine(current))] (Enter keeps it, - clears it): ")
        return typed.isEmpty ? current : typed == "-" ? "" : typed
    }

    /// A name of `names` from what was typed: the name, its number in the list (1-based), or the
    /// start of one name only (`comp`, `help`). Nil, after saying why, for anything else.
    func choose(_ typed: String, among names: [String], field: String) -> String? {
        let t = typed.lowercased()
        if let n = Int(t), names.indices.contains(n - 1) { return names[n - 1] }
        if let exact = names.first(where: { $0 == t.replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "-", with: "_") }) { return exact }
        let starting = names.filter { $0.hasPrefix(t) }
        if starting.count == 1 { return starting[0] }
        say("  " + (starting.count > 1 ? "\(WireError.quoted(typed)) starts \(starting.joined(separator: ", ")): type more of it\n"
                                        : FeedbackFile.unknownName(field, typed, names) + "\n"))
        return nil
    }

    /// Asks `field` until the answer is one the form can take (intake checks the rest).
    mutating func ask(_ field: Field) throws {
        switch field {
        case .kind:
            let names = Liaison_V1_FeedbackKind.named.map(\.0)
            let listed = names.enumerated().map { "\($0 + 1) \($1)" }.joined(separator: ", ")
            while true {
                let typed = try read("kind (\(listed)): ")
                // A name as the flags take it (投诉 too), else its number or start.
                if let kind = Liaison_V1_FeedbackKind(name: typed) ?? choose(typed, among: names, field: "kind").flatMap(Liaison_V1_FeedbackKind.init(name:)) {
                    submission.kind = kind
                    return
                }
            }
        case .channel:
            let names = Liaison_V1_Channel.named.map(\.0)
            let current = submission.channel == .unspecified ? "hotline" : submission.channel.name
            while true {
                let typed = try read("channel [\(current)]: ")
                if typed.isEmpty { submission.channel = Liaison_V1_Channel(name: current)!; return }
                if let channel = Liaison_V1_Channel(name: typed) ?? choose(typed, among: names, field: "channel").flatMap(Liaison_V1_Channel.init(name:)) {
                    submission.channel = channel
                    return
                }
            }
        case .unit:
            submission.unit = try read("unit (code or name, as STN-EAST-01 or Riverside Police Station; Enter if the citizen gave a place instead)",
                                       keeping: submission.unit)
            // No unit: the place is what routes it.
            if submission.unit.isEmpty { submission.address = try read("address (where it happened)", keeping: submission.address) }
        case .address:
            submission.address = try read(submission.unit.isEmpty ? "address (where it happened)" : "address, if any", keeping: submission.address)
        case .officer:
            submission.officerBadge = try read("badge of the officer it concerns, if any", keeping: submission.officerBadge)
        case .category:
            submission.category = try read("category, if any (noise, traffic; conduct for police conduct when no badge is known)", keeping: submission.category)
        case .occurredAt:
            while true {
                let typed = try read("when it happened, if the citizen said (2026-11-29 08:30): ")
                if typed.isEmpty { submission.clearOccurredAt(); occurredAtTyped = ""; return }
                if let t = FeedbackFile.time(typed) {
                    submission.occurredAt = .init(date: t)
                    occurredAtTyped = typed
                    return
                }
                say("  " + FeedbackFile.notATime("the time", typed) + "\n")
            }
        case .text:
            let keep = submission.text.isEmpty ? "" : " (an empty first line keeps the text above)"
            say("what the citizen said (one or more lines; an empty line ends it)\(keep):\n")
            var lines: [String] = []
            while true {
                guard let line = readAnswer() else {
                    if lines.isEmpty { throw Abandoned() }
                    break
                }
                if line.trimmingCharacters(in: .whitespaces).isEmpty {
                    if lines.isEmpty && submission.text.isEmpty { continue }
                    break
                }
                lines.append(line)
            }
            if !lines.isEmpty {
                submission.text = lines.joined(separator: "\n")
                try offerToMoveContact()
            }
        case .name:
            submission.contact.name = try read("citizen's name (Enter for none; no name, phone nor e-mail: anonymous)", keeping: submission.contact.name)
        case .phone:
            submission.contact.phone = try read("phone", keeping: submission.contact.phone)
        case .email:
            submission.contact.email = try read("e-mail", keeping: submission.contact.email)
        }
    }

    /// A phone number or e-mail address written in the text (``ContactInText``), offered to the
    /// clerk as the citizen's own, to call or write back on: then it is the contact's phone or
    /// e-mail, and the text says where it went. Left in the text (someone else's number), intake
    /// takes it out all the same and seals it with the contact, apart from the citizen's own.
    /// Offered while the contact's field is empty or holds the same.
    mutating func offerToMoveContact() throws {
        // An identity or card number is never the way to reach anybody: intake takes it out all the same.
        while let found = ContactInText.all(in: submission.text).first(where: \.kind.reaches) {
            let current = found.kind == .phone ? submission.contact.phone : submission.contact.email
            guard current.isEmpty || current == found.value else { return }
            guard try yes("  the text holds \(found.kind == .phone ? "a phone number" : "an e-mail address"), \(found.value): "
                          + "the citizen's own, to \(found.kind == .phone ? "call" : "write") back on? [Y/n] ") else { return }
            submission.text.replaceSubrange(found.range, with: ContactInText.marker(found.kind))
            take(found.value, for: found.kind == .phone ? .phone : .email)
        }
    }

    /// The fields to ask again when intake refuses `field` (`submit_feedback.contact.phone`); empty
    /// when the form cannot mend it.
    static func fields(refused field: String) -> [Field] {
        switch field.replacingOccurrences(of: "submit_feedback.", with: "") {
        case "kind": [.kind]
        case "channel": [.channel]
        case "unit": [.unit]
        case "address": [.address]
        case "officer_badge": [.officer]
        case "category": [.category]
        case "occurred_at": [.occurredAt]
        case "text": [.text]
        case "contact.name": [.name]
        case "contact.phone": [.phone]
        case "contact.email": [.email]
        case "contact": [.name, .phone, .email]
        default: []
        }
    }

    /// The value intake offers in a refusal (`…; did you mean PC-1234?`), to stand as the field's
    /// answer the clerk keeps with Enter.
    static func meant(in message: String) -> String? {
        guard let range = message.range(of: "did you mean ", options: .backwards), message.hasSuffix("?") else { return nil }
        let meant = message[range.upperBound...].dropLast()
        return meant.isEmpty || meant.contains(" ") ? nil : String(meant)
    }

    /// Puts `value` in a free-text field (the value intake offered for it).
    mutating func take(_ value: String, for field: Field) {
        switch field {
        case .unit: submission.unit = value
        case .address: submission.address = value
        case .officer: submission.officerBadge = value
        case .category: submission.category = value
        case .name: submission.contact.name = value
        case .phone: submission.contact.phone = value
        case .email: submission.contact.email = value
        case .kind, .channel, .occurredAt, .text: break
        }
    }

    /// The whole submission as the clerk reads it back to the caller before sending.
    func summary() -> String {
        var lines = ["\(submission.kind.name) via \(submission.channel.name)"]
        if !submission.unit.isEmpty { lines.append("unit      \(submission.unit)") }
        if !submission.address.isEmpty { lines.append("address   \(submission.address)") }
        if !submission.officerBadge.isEmpty { lines.append("officer   \(submission.officerBadge)") }
        if !submission.category.isEmpty { lines.append("category  \(submission.category)") }
        if !occurredAtTyped.isEmpty { lines.append("when      \(occurredAtTyped)") }
        let contact = [submission.contact.name, submission.contact.phone, submission.contact.email].filter { !$0.isEmpty }
        lines.append("contact   \(contact.isEmpty ? "none (anonymous)" : contact.joined(separator: ", "))")
        lines.append("text      \(Output.indented(submission.text, width: 10))")
        return lines.joined(separator: "\n")
    }

    /// Asks every field not given, then for the clerk's yes; the contact is set only if any of it
    /// was given.
    mutating func fill() throws {
        say("New submission (Enter leaves a field out; end of input leaves the form unsent)\n")
        for field in Field.allCases where !given.contains(field) {
            // With no unit the address was asked with it.
            if field == .address && submission.unit.isEmpty { continue }
            try ask(field)
        }
        settleContact()
    }

    /// No name, phone nor e-mail: an anonymous submission, with no contact at all.
    mutating func settleContact() {
        let c = submission.contact
        if c.name.isEmpty && c.phone.isEmpty && c.email.isEmpty { submission.clearContact() }
    }

    /// The command that sends this very submission again (its id, every field as the form took
    /// it, the time to the second), for the clerk to run once intake answers: the same body under
    /// the same id is the same case, where the form filled in again could differ by a letter and
    /// be refused as a conflict.
    func commandLine() -> String {
        let s = submission
        var words = ["liaison", "submit", "--submission-id", s.submissionID, "--kind", s.kind.name, "--channel", s.channel.name]
        for (flag, value) in [("--unit", s.unit), ("--address", s.address), ("--officer", s.officerBadge), ("--category", s.category),
                              ("--language", s.language), ("--name", s.contact.name), ("--phone", s.contact.phone), ("--email", s.contact.email)]
            where !value.isEmpty {
            words += [flag, value]
        }
        if s.hasOccurredAt {
            let iso = ISO8601DateFormatter()
            iso.timeZone = .current
            words += ["--occurred-at", iso.string(from: s.occurredAt.date)]
        }
        words += ["--text", s.text]
        return words.map(Self.shellQuoted).joined(separator: " ")
    }

    /// `word` as a POSIX shell reads it back: as it is when it is plain, else in single quotes.
    static func shellQuoted(_ word: String) -> String {
        let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.,:/@+=".unicodeScalars.contains($0)) }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// Shows the submission and asks to send it.
    func confirmed() throws -> Bool {
        say("\n" + summary() + "\n")
        return try yes("send it? [Y/n] ")
    }

    /// A yes (Enter too) or a no to `prompt`, asked again for any other answer: a name typed where
    /// the form asked a question is not taken for a no.
    func yes(_ prompt: String) throws -> Bool {
        while true {
            let typed = try read(prompt)
            switch typed.lowercased() {
            case "", "y", "yes", "是": return true
            case "n", "no", "否": return false
            default: say("  \(WireError.quoted(typed)) is neither: answer y (or Enter) or n\n")
            }
        }
    }
}
