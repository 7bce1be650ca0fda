import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime
import Synchronization
import ZeroMQ

struct Submit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit one piece of public feedback and print its case number and tracking token.",
        discussion: """
            Give the citizen the case number and the tracking token: with both they can ask for \
            the status (liaison status). Leave out --name/--phone/--email for an anonymous \
            submission. A retry with the same --submission-id never makes a second case: when \
            intake does not answer, or on Ctrl-C while it waits, the id is printed. A \
            number written into the text is kept private too: intake seals it with the contact \
            (liaison contact reads it back).
            """)

    @OptionGroup var client: ClientOptions

    @Option(help: "A JSON-lines file of submissions (a desk's batch), UTF-8: one object a line with SubmitFeedback's fields; kind and channel by short name; name, phone and email at the top level or in \"contact\". Each line's case number is printed; a bad line (bad JSON, unknown kind, not UTF-8) is named and the others go in. A file that is one JSON array of such objects (a web tool's export) is taken too, its objects numbered as lines; so is a spreadsheet saved as CSV whose first row names the fields (kind,channel,unit,text,phone, or as a desk heads its columns: Phone number, 电话, 内容), its rows numbered as the spreadsheet numbers them (line 2 is the row under the header). Any of them may be in UTF-16 with its byte-order mark (Excel's \"Unicode Text\", Notepad's \"Unicode\").")
    var file: String?

    @Option(help: "With --file: how many lines are on their way to intake at once (1: one after another).")
    var inFlight: Int = 32

    @Option(help: ArgumentHelp("With --file: how many lines go in one request (submit_batch; at most \(maxBatchSubmissions), and never more than --in-flight). Each line is still answered on its own. 1: one line a request, as intakes before submit_batch take them (an intake that does not know it is sent one line a request anyway). After intake has been silent for --timeout, the lines go again in halves and later requests carry half as many, growing back as answers come: long letters over a thin line get through.",
                               valueName: "lines"))
    var perRequest: Int = 16

    @Option(help: "complaint, praise, suggestion, inquiry, tip, help_request or mediation_request (or as a Chinese desk writes them: 投诉, 表扬, 建议, 咨询, 举报, 求助, 调解).")
    var kind: String = ""
    @Option(help: "hotline, web, app, walk_in, letter, liaison_visit, open_week or social_media. Default: hotline. With --file: the channel of the lines that name none (a file has no default).")
    var channel: String?
    @Option(help: "What the citizen said (at most 4,000 characters). A phone number, e-mail address, ID or bank card number in it is taken out by intake into the sealed contact, a marker in its place (the receipt says how many).")
    var text: String?
    @Option(help: "Read the text from this file (UTF-8, or UTF-16 with its byte-order mark as Notepad saves \"Unicode\"; - for standard input): a letter typed up, a long call's notes.")
    var textFile: String?
    @Option(help: "Unit code the feedback concerns, or the unit's name in the unit directory (Riverside Police Station): a unit or an address is required.")
    var unit: String = ""
    @Option(help: "Free address where it happened.")
    var address: String = ""
    @Option(help: "Badge number of the officer it concerns, if any.")
    var officer: String = ""
    @Option(help: "Category, e.g. traffic, noise. A complaint about police conduct whose officer the citizen cannot name: officer-conduct, conduct, service-attitude, misconduct, abuse-of-power or corruption (the default policy sends it to the supervision office, as one with --officer).")
    var category: String = ""
    @Option(help: "Citizen's name (omit all contact options for anonymous).")
    var name: String = ""
    @Option(help: "Citizen's phone.")
    var phone: String = ""
    @Option(help: "Citizen's e-mail.")
    var email: String = ""
    @Option(help: "Language of the text (BCP 47), e.g. zh-CN.")
    var language: String = ""
    @Option(help: "When it happened, if the citizen said: 2026-11-29 08:30 (this machine's time zone) or ISO 8601 with a zone (2026-11-29T08:30:00+08:00). Intake records when it was received either way.")
    var occurredAt: String?
    @Option(help: "Client-chosen id; reuse it to retry safely. Default: a new random id, printed if no answer comes.")
    var submissionId: String?
    @Option(help: "The intake instance that takes it, by its stream as liaison streams lists it (intake-2), where the topology has several: a retry goes to the same one. Default: the first (intake-1).")
    var intake: String?
    @Flag(help: ArgumentHelp("Ask for each field in turn, show the whole, and send it on yes (a hotline desk's form); a field intake refuses is asked again. What is given as a flag is not asked: liaison submit --ask --channel walk_in --unit CPO-EAST-03 at a community police office's desk.",
                             discussion: "Also what `liaison submit` does on a terminal with neither --kind, --text nor --file."))
    var ask = false

    /// The form, not flags alone: asked for, or nothing to submit given on a terminal.
    var asking: Bool {
        ask || (file == nil && kind.isEmpty && text == nil && textFile == nil && isatty(0) == 1 && isatty(2) == 1)
    }

    /// The intake instance `--intake` names, else the topology's first.
    func intakeEndpoint() throws -> Topology.Instance {
        guard let intake else { return try client.endpoint("intake") }
        let all = try client.loadTopology().instances(of: "intake")
        guard let chosen = all.first(where: { $0.stream == intake.trimmingCharacters(in: .whitespaces).lowercased() }) else {
            throw ValidationError("--intake '\(intake)' is not an intake instance of the topology: \(all.map(\.stream).joined(separator: ", "))")
        }
        return chosen
    }

    func validate() throws {
        if inFlight < 1 { throw ValidationError("--in-flight must be at least 1") }
        if perRequest < 1 || perRequest > maxBatchSubmissions {
            throw ValidationError("--per-request must be 1 to \(maxBatchSubmissions): the lines one request carries")
        }
        if let channel, Liaison_V1_Channel(name: channel) == nil {
            throw ValidationError("--" + FeedbackFile.unknownName("channel", channel, Liaison_V1_Channel.named.map(\.0)))
        }
        if file == "-" {
            // A line without an id is known again by the file's name, its number and its text; a
            // pipe has no name to know it by, and sent again it could not be told from new work.
            throw ValidationError("--file - (standard input) is not taken: save the lines to a file and give its path, so that sending it again is known for what it is")
        }
        if file != nil {
            // A line of the file says all of its submission; a flag beside it would be ignored.
            let single: [(String, Bool)] = [
                ("--kind", !kind.isEmpty), ("--text", text != nil), ("--text-file", textFile != nil), ("--unit", !unit.isEmpty),
                ("--address", !address.isEmpty), ("--officer", !officer.isEmpty),
                ("--category", !category.isEmpty), ("--name", !name.isEmpty), ("--phone", !phone.isEmpty),
                ("--email", !email.isEmpty), ("--language", !language.isEmpty),
                ("--occurred-at", occurredAt != nil), ("--submission-id", submissionId != nil),
            ]
            let given = single.filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ValidationError("\(given.joined(separator: ", ")) cannot go with --file: each line of the file carries its own fields")
            }
            if ask { throw ValidationError("--ask cannot go with --file: the form asks for one submission") }
            return
        }
        if asking {
            if textFile != nil { throw ValidationError("--text-file cannot go with --ask: give the text in the form, or the text file with the other flags") }
        } else {
            if kind.isEmpty { throw ValidationError("--kind is required (or give --file, or --ask for a form)") }
            if text == nil && textFile == nil { throw ValidationError("--text (or --text-file) is required (or give --file)") }
        }
        if !kind.isEmpty, Liaison_V1_FeedbackKind(name: kind) == nil {
            throw ValidationError("--" + FeedbackFile.unknownName("kind", kind, Liaison_V1_FeedbackKind.named.map(\.0)))
        }
        // Given but empty goes to intake, whose refusal names the field (text must not be empty).
        if text != nil && textFile != nil { throw ValidationError("--text and --text-file cannot go together: give the text one way") }
        if let occurredAt, FeedbackFile.time(occurredAt) == nil {
            throw ValidationError(FeedbackFile.notATime("--occurred-at", occurredAt))
        }
    }

    func run() throws {
        if let file { return submitFile(file) }
        // Chosen here, not as the option's default: a default is printed in --help, and a random
        // id there reads as one every clerk should use.
        let submissionId = self.submissionId ?? UUID().uuidString.lowercased()
        var s = Liaison_V1_SubmitFeedback()
        s.submissionID = submissionId
        if let kind = Liaison_V1_FeedbackKind(name: kind) { s.kind = kind }
        s.channel = Liaison_V1_Channel(name: channel ?? "hotline")!
        if asking { return submitAsking(s) }
        do { s.text = try text ?? Self.readText(textFile ?? "") } catch { reportFailure(error) }
        s.unit = unit
        s.address = address
        s.officerBadge = officer
        s.category = category
        s.language = language
        // Only what the citizen said: a time filled in here would differ on every run, and running
        // the same command again (a clerk retrying after a crash) would be a conflict, not the
        // same case.
        if let occurredAt, let t = FeedbackFile.time(occurredAt) { s.occurredAt = .init(date: t) }
        if !(name.isEmpty && phone.isEmpty && email.isEmpty) {
            s.contact.name = name
            s.contact.phone = phone
            s.contact.email = email
        }
        // The id is what makes a second try safe, and the clerk may not have chosen it: said on
        // Ctrl-C too, which a clerk presses when intake is slow to answer.
        let retry = "Try again with the same id, which never makes a second case:\n  add --submission-id \(submissionId) to the same command"
        let interruptions = interruptionNote { (retry, submissionId) }
        defer { interruptions.forEach { $0.cancel() } }
        do {
            let ctx = try client.context()
            defer { ctx.terminate() }
            let rc = client.requestClient(ctx, try intakeEndpoint())
            defer { rc.reset() }
            let a = try rc.submit(s)
            if client.json { print(Output.json(a)) } else {
                print(Self.receipt(a))
            }
        } catch {
            // No answer (or a store that failed): intake may have stored it all the same.
            let uncertain = Self.mayHaveBeenStored(error)
            reportFailure(error, hint: uncertain ? "Intake may or may not have stored it. " + retry : nil,
                          json: uncertain ? ["submission_id": submissionId] : [:])
        }
    }
}

extension Submit {
    /// Far more than any text intake takes (4,000 characters, at most 16,000 bytes): a file this
    /// big is the wrong file, and is not read whole.
    static let textFileLimit = 64 * 1024

    /// The text in `path` (`-`: standard input), UTF-8, without the line end a file closes with.
    static func readText(_ path: String) throws -> String {
        let handle: FileHandle
        if path == "-" { handle = FileHandle.standardInput } else {
            guard let h = FileHandle(forReadingAtPath: path) else {
                throw ValidationError("--text-file \(path): cannot be read (\(String(cString: strerror(errno))))")
            }
            handle = h
        }
        defer { if path != "-" { try? handle.close() } }
        let data = try handle.read(upToCount: textFileLimit + 1) ?? Data()
        if data.count > textFileLimit {
            throw ValidationError("--text-file \(path) is over \(textFileLimit / 1024) KiB; a text is at most 4,000 characters: is it the right file?")
        }
        if let kind = FeedbackFile.binaryKind(data, name: path) {
            throw ValidationError("--text-file \(path) is \(kind.what), not text: save its text as a .txt file (UTF-8) and give that, or type it in with --ask")
        }
        // Notepad's "Unicode" (UTF-16 with its byte-order mark) says what it is: taken as it is.
        let utf16: String?
        do { utf16 = try FeedbackFile.utf16Text(data) } catch { throw ValidationError("--text-file \(path): \((error as? FeedbackFile.LineError)?.message ?? "\(error)")") }
        guard let text = utf16 ?? String(validating: data, as: UTF8.self) else {
            throw ValidationError("--text-file \(path) is not UTF-8 text (saved in another encoding, GBK say? save it as UTF-8)")
        }
        // One Character, "\r\n" included (saved on Windows).
        return text.last?.isNewline == true ? String(text.dropLast()) : text
    }

    /// ``SubmitForm``: the fields not given as flags asked in turn, the whole shown, sent on yes,
    /// and a field intake refuses asked again and the same submission sent again.
    func submitAsking(_ start: Liaison_V1_SubmitFeedback) {
        var form = SubmitForm()
        form.submission = start
        form.submission.text = text ?? ""
        form.submission.unit = unit
        form.submission.address = address
        form.submission.officerBadge = officer
        form.submission.category = category
        form.submission.language = language
        form.submission.contact.name = name
        form.submission.contact.phone = phone
        form.submission.contact.email = email
        if let occurredAt, let t = FeedbackFile.time(occurredAt) {
            form.submission.occurredAt = .init(date: t)
            form.occurredAtTyped = occurredAt
        }
        let flags: [(SubmitForm.Field, Bool)] = [
            (.kind, !kind.isEmpty), (.channel, channel != nil), (.unit, !unit.isEmpty), (.address, !address.isEmpty),
            (.officer, !officer.isEmpty), (.category, !category.isEmpty), (.occurredAt, occurredAt != nil), (.text, text != nil),
            (.name, !name.isEmpty), (.phone, !phone.isEmpty), (.email, !email.isEmpty),
        ]
        form.given = Set(flags.filter(\.1).map(\.0))
        // Sent and not answered: the form as one command, for Ctrl-C as for no answer.
        let sending = Mutex<(hint: String, id: String)?>(nil)
        let interruptions = interruptionNote { sending.withLock { $0 } }
        defer { interruptions.forEach { $0.cancel() } }
        do {
            try form.fill()
            guard try form.confirmed() else { throw SubmitForm.Abandoned() }
            let ctx = try client.context()
            defer { ctx.terminate() }
            let rc = client.requestClient(ctx, try intakeEndpoint())
            defer { rc.reset() }
            while true {
                do {
                    let waiting = (hint: "Run this once intake answers; it never makes a second case:\n  \(form.commandLine())", id: form.submission.submissionID)
                    sending.withLock { $0 = waiting }
                    let a = try rc.submit(form.submission)
                    print(client.json ? Output.json(a) : Self.receipt(a))
                    return
                } catch let refused as WireError where refused.code == .invalidArgument && !SubmitForm.fields(refused: refused.field).isEmpty {
                    // Nothing was stored: the field is asked again, the rest kept, and the same
                    // submission (same id) sent once more.
                    sending.withLock { $0 = nil }
                    form.say("intake refused it: \(refused.message)\n")
                    let fields = SubmitForm.fields(refused: refused.field)
                    if fields.count == 1, let meant = SubmitForm.meant(in: refused.message) { form.take(meant, for: fields[0]) }
                    for field in fields { try form.ask(field) }
                    form.settleContact()
                    guard try form.confirmed() else { throw SubmitForm.Abandoned() }
                }
            }
        } catch let abandoned as SubmitForm.Abandoned {
            reportFailure(ValidationError(abandoned.description))
        } catch {
            let uncertain = Self.mayHaveBeenStored(error)
            // What the form took is written out as one command: run again, it is the same body
            // under the same id, the same case however it went.
            reportFailure(error, hint: uncertain ? """
                Intake may or may not have stored it. Run this once intake answers; it never makes a second case:
                  \(form.commandLine())
                """ : nil, json: uncertain ? ["submission_id": form.submission.submissionID] : [:])
        }
    }

    /// Calls `handler` on Ctrl-C or SIGTERM (on a queue of its own), instead of the command ending
    /// there; a second one ends it at once. Keep the sources for as long as it should hold (cancel
    /// them after).
    static func onInterrupt(_ handler: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                for other in [SIGINT, SIGTERM] { signal(other, SIG_DFL) }
                handler()
            }
            source.resume()
            return source
        }
    }

    /// On Ctrl-C or SIGTERM, ends the command (status 130) saying what became of the submission:
    /// when `waiting` gives a hint, one is on its way and intake may have stored it, so the hint
    /// (how to send it again under the same id) is printed, and with --json the id; else nothing
    /// was submitted.
    func interruptionNote(_ waiting: @escaping @Sendable () -> (hint: String, id: String)?) -> [DispatchSourceSignal] {
        let json = client.json
        return Self.onInterrupt {
            if let w = waiting() {
                if json {
                    print(Output.errorJSON(code: "interrupted", message: "interrupted while waiting for intake: it may or may not have stored it", extra: ["submission_id": w.id]))
                    fflush(nil)
                }
                printError("\ninterrupted while waiting for intake: it may or may not have stored it.\n\(w.hint)\n")
            } else {
                printError("\ninterrupted: nothing was submitted\n")
            }
            _exit(130)
        }
    }

    /// No answer, or a store that failed: intake may have stored the submission all the same, and
    /// only the same id sent again is safe.
    static func mayHaveBeenStored(_ error: Error) -> Bool {
        error is ClientError || [.unavailable, .internal].contains((error as? WireError)?.code)
    }

    /// A file's line that names no channel, with no --channel given.
    static let noChannel = WireError.invalidArgument("submit_feedback.channel", #"the line names no channel: name it on the line ("channel": "walk_in") or give --channel for every line that names none"#)

    /// What is printed for line `n` that failed: `line 7: invalid_argument (…): …`, or with
    /// `--json` the error as JSON with its line, on standard output with the lines that went in.
    func lineFailure(_ n: Int, _ error: Error) -> String {
        if client.json { return Output.errorJSON(error, line: n) }
        return error is FeedbackFile.LineError ? "\(error)" : "line \(n): \(error)"
    }

    /// What the clerk reads out: the case number, the token in groups of four (one word for the
    /// shell, easy to read over the phone; `status` takes it either way), and whether the
    /// submission was already stored or nearly repeats an earlier case.
    static func receipt(_ a: Liaison_V1_FeedbackAccepted) -> String {
        var line = "case \(a.caseNumber)  tracking token \(grouped(a.trackingToken))"
        if a.duplicate { line += "  (already submitted)" }
        if !a.linkedCaseNumber.isEmpty { line += "  (near-duplicate of \(a.linkedCaseNumber): same caller, similar text)" }
        if a.contactFromText > 0 {
            line += "  (\(a.contactFromText) phone, ID or card number(s) or e-mail address(es) in the text kept with the sealed contact)"
        }
        return line
    }

    /// `4J5RNKCR6CGJJXUQ` as `4J5R-NKCR-6CGJ-JXUQ`.
    static func grouped(_ token: String) -> String {
        guard token.count > 4 else { return token }
        let chars = Array(token)
        return stride(from: 0, to: chars.count, by: 4).map { String(chars[$0..<min($0 + 4, chars.count)]) }.joined(separator: "-")
    }

    /// Lines in one request: `--per-request`, never more than `--in-flight`.
    var linesPerRequest: Int { min(perRequest, inFlight) }

    /// Requests on their way at once, so that about `--in-flight` lines are.
    var requestsInFlight: Int { max(1, inFlight / linesPerRequest) }

    /// Submits every line of a JSON-lines file over one connection, `--in-flight` at a time (so the
    /// lines share intake's group commits); prints each line's case number (or its error) in line
    /// order, and a progress bar on a terminal. The file is read as the lines go out, so a file of
    /// any size takes the same memory. Exits non-zero if any line failed.
    ///
    /// Ctrl-C (or SIGTERM) stops the reading: the lines on their way are answered and printed,
    /// then where the file stopped and how to go on, and the exit status is 130. A second Ctrl-C
    /// ends it at once.
    func submitFile(_ path: String) {
        var reader: FeedbackFile.Lines
        var totalLines: Int?
        do {
            if let document = try FeedbackFile.document(path: path) {
                // One JSON document (an array, or one object over several lines) or a CSV sheet:
                // its objects or rows are taken as the lines of a JSON-lines file, numbered in order.
                let n = document.items.count
                switch document.item {
                case "line":
                    printError("\(path) is \(document.what): its lines are numbered as in the file\n")
                case "row":
                    // As the spreadsheet numbers them, so that the clerk puts right the row named.
                    printError("\(path) is \(document.what), not JSON lines: its \(n) row(s) are numbered below as in the sheet, whose row 1 names the fields\n")
                default:
                    printError("\(path) is \(document.what), not JSON lines: its \(n) \(document.item)(s) are numbered below as lines 1-\(n), in order\n")
                }
                reader = FeedbackFile.Lines(data: document.lines)
                totalLines = document.numbers.last ?? 0
            } else {
                reader = try FeedbackFile.Lines(path: path)
                // The bar needs the file's length in lines: counted first, only for a bar on a terminal.
                totalLines = isatty(2) == 1 ? try? FeedbackFile.countLines(path: path) : nil
            }
        } catch { reportFailure(error) }
        let source = (path as NSString).lastPathComponent
        let showProgress = isatty(2) == 1 && (totalLines ?? 0) >= 20
        var order = LineOrder()
        var submitted = 0
        var storedBefore = 0   // answered "already submitted"
        var failures = FailedLines()
        func flush() {
            let done = order.takePrintable()
            guard !done.isEmpty || showProgress else { return }
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }   // the bar's line, cleared
            for o in done {
                if o.failed && !client.json {
                    fflush(nil)   // the lines printed before it come first when both streams go to one file
                    printError("error: \(o.message)\n")
                } else {
                    print(o.message)
                }
            }
            if showProgress, let total = totalLines {
                fflush(nil)   // the printed lines before the bar
                let through = min(order.settledThrough ?? 0, total)
                let width = 30, filled = through * width / max(1, total)
                let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
                FileHandle.standardError.write(Data("\r[\(bar)] line \(through) of \(total)".utf8))
            }
        }
        // Each submission sent: the reader's line it came from, by the index submitMany gives it.
        var sentLines: [Int: Int] = [:]
        var sent = 0
        // Stopped by the clerk: no line is read after it, and what is on its way is still answered
        // and printed (the output cut mid-line, with case numbers never shown, was the alternative).
        let interrupted = StopFlag()
        let interruptions = Self.onInterrupt { interrupted.set() }
        defer { interruptions.forEach { $0.cancel() } }
        do {
            let ctx = try client.context()
            defer { ctx.terminate() }
            let rc = client.requestClient(ctx, try intakeEndpoint())
            defer { rc.reset() }
            try rc.submitMany(next: {
                // The next good line; a bad one is reported in its place and the reading goes on.
                while !interrupted.isSet, let (n, line) = try reader.next() {
                    switch line.flatMap({ FeedbackFile.parse($0, line: n, source: source) }) {
                    case .failure(let e):
                        failures.note(line: n, e)
                        order.settle(order.add(line: n), lineFailure(n, e), failed: true)
                        flush()
                    case .success(var f):
                        // A desk's file may leave the channel to the command: all its lines came in
                        // the same way. A file has no default channel (a batch of letters is not
                        // hotline calls): a line naming none without --channel is refused here, with
                        // the way out, and never sent.
                        if f.channel == .unspecified {
                            guard let channel else {
                                failures.note(line: n, Self.noChannel)
                                order.settle(order.add(line: n), lineFailure(n, Self.noChannel), failed: true)
                                flush()
                                continue
                            }
                            f.channel = Liaison_V1_Channel(name: channel)!
                        }
                        sentLines[sent] = order.add(line: n)
                        sent += 1
                        return f
                    }
                }
                return nil
            }, inFlight: requestsInFlight, perRequest: linesPerRequest) { i, outcome in
                guard let slot = sentLines.removeValue(forKey: i) else { return }
                let n = order.line(slot)
                if case .success(let a) = outcome, a.duplicate { storedBefore += 1 }
                switch outcome {
                case .success(let a) where client.json:
                    submitted += 1
                    order.settle(slot, #"{"line":\#(n),"case_number":"\#(a.caseNumber)","tracking_token":"\#(a.trackingToken)","duplicate":\#(a.duplicate),"linked_case_number":"\#(a.linkedCaseNumber)","contact_from_text":\#(a.contactFromText)}"#, failed: false)
                case .success(let a):
                    submitted += 1
                    order.settle(slot, "line \(n): " + Self.receipt(a), failed: false)
                case .failure(let e):
                    failures.note(line: n, e)
                    order.settle(slot, lineFailure(n, e), failed: true)
                }
                flush()
            }
        } catch {
            // Nothing read yet (no intake endpoint configured, say): only the error.
            if reader.lineNumber == 0 { reportFailure(error) }
            // No more answers will come: what did come is still told, in line order, and each line
            // sent but unanswered is named, so the clerk knows which ones are in doubt.
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            var unanswered = 0
            for o in order.takeAll() {
                fflush(nil)
                if let message = o.message {
                    if o.failed && !client.json { printError("error: \(message)\n") } else { print(message) }
                } else {
                    unanswered += 1
                    if client.json {
                        print(Output.errorJSON(code: "no_answer", message: "no answer from intake; it may or may not be stored", line: o.line))
                    } else {
                        printError("error: line \(o.line): no answer from intake; it may or may not be stored\n")
                    }
                }
            }
            fflush(nil)
            let read = reader.lineNumber
            FileHandle.standardError.write(Data("""
                \(submitted) lines acknowledged, \(unanswered) sent without an answer; the file was read through line \(read).
                Submitting the same file again is safe: lines already stored come back marked already submitted.

                """.utf8))
            // The lines refused before intake stopped answering: to put right before sending again.
            if let summary = failures.summary(stored: submitted) { printError(summary) }
            reportFailure(error)
        }
        fflush(nil)
        if showProgress { printError("\n") }
        if submitted + failures.count == 0 && !interrupted.isSet {
            // The wrong export, or today's still empty: said plainly, not as "0 of 0 submitted".
            printError("\(path) holds no submission (it is empty, or holds only blank lines and # comments, or a sheet's header row alone): nothing was sent\n")
            return
        }
        printError("\(submitted) of \(submitted + failures.count) submitted\n")
        // Which lines to put right, and how to send them without sending the others twice.
        if let summary = failures.summary(stored: submitted) { printError(summary) }
        if storedBefore > 0 {
            // A line without an id is known by the file's name, its number and its text: said in
            // sum, so that a new file taken in part for an old one of the same name is noticed.
            printError("""
                \(storedBefore) of them had been stored before, their receipts marked already submitted: the same line, word for word, at the same place of a file named \(source) sent before, or the same submission_id.
                If this file is new work, give such lines a submission_id of their own.

                """)
        }
        if interrupted.isSet {
            let through = reader.lineNumber
            printError("""
                stopped: the file was read through line \(through)\(totalLines.map { " of \($0)" } ?? ""), and every line sent was answered above.
                To go on, submit the same file again: lines already stored come back marked already submitted.

                """)
            Foundation.exit(130)
        }
        if failures.count > 0 { Foundation.exit(1) }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a citizen the public state of their case.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "The case number, e.g. L1-0000042 (any letter case; L1-42 is L1-0000042).", transform: CaseNumberText.normalized)
    var caseNumber: String
    @Argument(help: ArgumentHelp("The tracking token given with the case number, as the citizen reads it out: spaces, dashes and letter case do not matter (7KQ2 M8XW 4N3P DRJT).",
                                 valueName: "token"))
    var tokenWords: [String] = []
    @Option(help: "The tracking token, as an option (the same as giving it after the case number).")
    var token: String?

    func validate() throws {
        if token != nil && !tokenWords.isEmpty {
            throw ValidationError("give the tracking token once: after the case number or with --token, not both")
        }
        if token == nil && tokenWords.isEmpty {
            throw ValidationError("the tracking token is missing: liaison status \(caseNumber) 7KQ2-M8XW-4N3P-DRJT")
        }
    }

    func run() throws {
        var q = Liaison_V1_GetFeedbackStatus()
        q.caseNumber = caseNumber
        // Intake ignores spaces, dashes and letter case in the token; the words typed apart are one token.
        q.trackingToken = token ?? tokenWords.joined(separator: " ")
        do {
            // Asked of the intake instance that made the case: only it holds the token.
            let instance = try client.intakeInstance(of: CaseNumberText.normalized(caseNumber))
            let st = try client.call("intake", .getFeedbackStatus(q), instance: instance).feedbackStatus
            if client.json { print(Output.json(st)) } else {
                // Read to the citizen: "being handled", not the protocol's being_handled.
                let state = st.state.replacingOccurrences(of: "_", with: " ")
                print("case \(st.caseNumber): \(state) (updated \(Output.time(st.updatedAt)))\(st.publicNote.isEmpty ? "" : "\n\(st.publicNote)")")
            }
        } catch { reportFailure(error) }
    }
}
