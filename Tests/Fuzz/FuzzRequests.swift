import Foundation
import Handler
import Intake
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Scheduler
import SwiftProtobuf

/// What the services do with a request's bytes before their databases: framing and decoding (the
/// hand reader beside swift-protobuf), intake's submission rules and the handler's command fields;
/// the scheduler's open-week and liaison-programme requests, answered by a scheduler on a database
/// of its own (in /dev/shm where there is one, so that its fsyncs cost little; made on the first
/// such request, removed at exit); and the same bytes as a hotline desk's JSON-lines file
/// (`liaison submit --file`). Any input must
/// leave them standing and get an answer that names a field (or line) and stays small; whatever the
/// hand reader reads must be what swift-protobuf reads.
///
/// Two builds:
/// - with `-D FUZZING -sanitize=fuzzer,address` (scripts/fuzz-requests.sh), a libFuzzer target that
///   mutates inputs guided by coverage;
/// - without (`make test` runs it on the golden requests), a command that replays the files it is
///   given: a corpus, or a finding to reproduce.
enum FuzzRequests {
    static let rules = SubmissionRules()

    /// The scheduler the fuzzer's requests go to; its clock stands still.
    static let scheduler: SchedulerService = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()
        let dir = base + "liaison-fuzz-scheduler-\(getpid())"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm/" : NSTemporaryDirectory()) + "liaison-fuzz-scheduler-\(getpid())") }
        let vault = ContactVault.throwaway()
        let store = try! Store(path: dir + "/s.sqlite", migrations: SchedulerService.migrations(vault: vault))
        return SchedulerService(log: try! EventLog(store: store, stream: "scheduler-fuzz"), clock: ManualClock(Date(timeIntervalSince1970: 1_790_000_000)),
                                vault: vault)
    }()

    /// A scheduler request: answered, and when refused, with a field under the request's own name
    /// (or `body`), a short message and nothing a terminal would act on; never `internal`.
    static func checkScheduler(_ request: Liaison_V1_Request, _ name: String) {
        let reply = scheduler.handle([request])[0]
        guard case .error(let error)? = reply.result else { return }
        expect(error.code != .internal, "internal error: \(error.message)")
        expect(error.field.hasPrefix(name + ".") || error.field == "body", "the refusal names \(error.field)")
        expect(error.message.utf8.count < 600, "an error of \(error.message.utf8.count) bytes: \(error.message.prefix(200))")
        expectPlain(error.message)
    }

    static func check(_ bytes: [UInt8]) {
        checkRequest(bytes)
        checkDeskFile(bytes)
    }

    /// Every line of a desk's file is read as a submission or refused with its line number.
    static func checkDeskFile(_ bytes: [UInt8]) {
        let lines = FeedbackFile.lines(of: Data(bytes))
        var previous = 0
        for (number, text) in lines {
            expect(number > previous, "line numbers out of order: \(number) after \(previous)")
            previous = number
            guard case .success(let line) = text else { continue }
            if case .failure(let error) = FeedbackFile.parse(line, line: number, source: "fuzz") {
                expect(error.line == number, "line \(number)'s error names line \(error.line)")
            }
        }
        // The same bytes as a sheet or a JSON document: its items, or refused whole at line 1.
        do {
            if let document = try FeedbackFile.document(head: bytes, more: { _ in [] }) {
                for (i, item) in document.items.enumerated() {
                    if case .failure(let error) = FeedbackFile.parse(item, line: i + 1, source: "fuzz") {
                        expect(error.line == i + 1, "item \(i + 1)'s error names line \(error.line)")
                    }
                }
                // Each item read back at its number (a sheet's row as the spreadsheet numbers it).
                expect(document.numbers.count == document.items.count && zip(document.numbers, document.numbers.dropFirst()).allSatisfy { $0 < $1 },
                       "numbers \(document.numbers) for \(document.items.count) items")
                if document.item != "line" {
                    let read = FeedbackFile.lines(of: document.lines)
                    expect(read.map(\.line) == document.numbers && read.map { try? $0.text.get() } == document.items,
                           "items read back as \(read.map(\.line)), not at \(document.numbers)")
                }
            }
        } catch let error as FeedbackFile.LineError {
            expect(error.line == 1 && (error.message.contains("nothing was sent") || error.message.contains("MiB")), "a refused document: \(error)")
        } catch {
            expect(false, "a document refused with \(error)")
        }
        // As UTF-16 (little-endian, its mark in front): what decodes is the same code units again.
        if let text = try? FeedbackFile.utf16Text([0xFF, 0xFE] + bytes) {
            let again = Array(text.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
            expect(again == bytes, "UTF-16 decoded to \(text.debugDescription), not the bytes given")
        }
    }

    static func checkRequest(_ bytes: [UInt8]) {
        let incoming = Framing.parseRequest(frames: [[1, 2, 3], [], bytes])
        switch incoming.request {
        case .failure(let error):
            expect(!error.field.isEmpty, "a refused request names no field: \(error)")
            expect(error.message.utf8.count < 400, "an error of \(error.message.utf8.count) bytes")
            expectPlain(error.message)
        case .success(let request):
            if let plain = WireReader.submission(bytes) {
                expect(plain == request, "the hand reader read \(plain), swift-protobuf \(request)")
            }
            if case .caseCommand(let command)? = request.body {
                do {
                    try CaseLifecycle.checkFields(command)
                } catch {
                    expect(error.field.hasPrefix("case_command."), "the refusal names \(error.field)")
                    expect(error.message.utf8.count < 400, "an error of \(error.message.utf8.count) bytes: \(error.message.prefix(200))")
                    expectPlain(error.message)
                }
            }
            switch request.body {
            case .submitFeedback(let submission)?:
                checkSubmission(submission, inBatchAt: nil)
            case .submitBatch(let batch)?:
                // A batch weighs its submissions in the request loop's bounds.
                expect(incoming.weight == max(1, batch.submissions.count), "a batch of \(batch.submissions.count) weighs \(incoming.weight)")
                if let error = SubmissionRules.checkBatch(batch) {
                    expect(error.field == "submit_batch.submissions", "the refusal names \(error.field)")
                    expectPlain(error.message)
                } else {
                    for (j, submission) in batch.submissions.enumerated() { checkSubmission(submission, inBatchAt: j) }
                }
            case .planCampaign?: checkScheduler(request, "plan_campaign")
            case .addSession?: checkScheduler(request, "add_session")
            case .registerForSession?: checkScheduler(request, "register_for_session")
            case .cancelRegistration?: checkScheduler(request, "cancel_registration")
            case .assignDuty?: checkScheduler(request, "assign_duty")
            case .getCampaign?: checkScheduler(request, "get_campaign")
            case .pairHousehold?: checkScheduler(request, "pair_household")
            case .recordVisit?: checkScheduler(request, "record_visit")
            case .getProgramme?: checkScheduler(request, "get_programme")
            case .getSessionList?: checkScheduler(request, "get_session_list")
            case .checkIn?: checkScheduler(request, "check_in")
            case .cancelSession?: checkScheduler(request, "cancel_session")
            case .getRegistration?: checkScheduler(request, "get_registration")
            default:
                expect(incoming.weight == 1, "a request that is no batch weighs \(incoming.weight)")
            }
        }
    }

    /// A submission alone, or submission `inBatchAt` of a batch: refused naming its field (by its
    /// place in the batch), or accepted holding nothing a terminal or a log line would act on.
    static func checkSubmission(_ submission: Liaison_V1_SubmitFeedback, inBatchAt index: Int?) {
        var submission = submission
        if let error = rules.check(submission, now: Date(timeIntervalSince1970: 1_800_000_000)) {
            let field = index.map { SubmissionRules.fieldInBatch(error.field, index: $0) } ?? error.field
            expect(field.hasPrefix(index.map { "submit_batch.submissions[\($0)]." } ?? "submit_feedback."), "the refusal names \(field)")
            expect(error.message.utf8.count < 400, "an error of \(error.message.utf8.count) bytes: \(error.message.prefix(200))")
            expectPlain(error.message)
        } else {
            // What is stored and shown holds no control character but a letter's lines.
            for value in [submission.text, submission.address] {
                expect(PlainText.firstControl(in: value, lineBreaks: true) == nil, "accepted with a control character: \(value.debugDescription)")
            }
            for value in [submission.submissionID, submission.category, submission.contact.name, submission.contact.email, submission.contact.phone, submission.unit, submission.officerBadge] {
                expect(PlainText.firstControl(in: value, lineBreaks: false) == nil, "accepted with a control character: \(value.debugDescription)")
            }
            // What the form would offer to move out of the text is what stands at its place.
            if let found = ContactInText.first(in: submission.text) {
                expect(String(submission.text[found.range]) == found.value, "ContactInText found \(found) in \(submission.text.debugDescription)")
            }
            // What intake takes out: each what stands at its place, in order, none overlapping,
            // the first the form would find; once marked, nothing is left to find.
            let taken = ContactInText.all(in: submission.text)
            expect(taken.first == ContactInText.first(in: submission.text), "all and first disagree in \(submission.text.debugDescription)")
            expect(zip(taken, taken.dropFirst()).allSatisfy { $0.range.upperBound <= $1.range.lowerBound }, "overlapping \(taken)")
            expect(taken.allSatisfy { String(submission.text[$0.range]) == $0.value }, "ContactInText took \(taken) from \(submission.text.debugDescription)")
            let marked = ContactInText.withMarkers(submission.text, replacing: taken)
            expect(ContactInText.first(in: marked) == nil, "left in \(marked.debugDescription)")
            // An accepted phone's key for the near-duplicate check is digits (a + in front).
            if !submission.contact.phone.isEmpty {
                let key = PhoneNumbering.standard.key(of: TypedText.plainASCII(submission.contact.phone))
                expect(key.utf8.enumerated().allSatisfy { $1 >= 0x30 && $1 <= 0x39 || ($0 == 0 && $1 == UInt8(ascii: "+")) },
                       "phone \(submission.contact.phone.debugDescription) has the key \(key.debugDescription)")
            }
            _ = rules.canonicalize(&submission)
            expect(rules.check(submission, now: Date(timeIntervalSince1970: 1_800_000_000)) == nil,
                   "a valid submission is refused once put in canonical form")
        }
    }

    /// An error goes back to a terminal and into log lines: no control character in it, whatever
    /// the request held.
    static func expectPlain(_ message: String) {
        expect(!message.unicodeScalars.contains { $0.value < 0x20 || ($0.value >= 0x7F && $0.value <= 0x9F) },
               "an error with a control character: \(message.debugDescription)")
    }

    static func expect(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition {
            FileHandle.standardError.write(Data("liaison-fuzz-requests: \(message())\n".utf8))
            abort()
        }
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The executable's entry point (SwiftPM links `main` to `<module>_main`): libFuzzer's driver,
/// which parses its own options and calls back with each input.
@_cdecl("FuzzRequests_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runFuzzerDriver(&argc, &argv) { data, size in
        FuzzRequests.check(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
}
#else
@main
struct ReplayInputs {
    static func main() throws {
        let paths = CommandLine.arguments.dropFirst()
        if paths.isEmpty {
            print("usage: liaison-fuzz-requests FILE|DIR...  (replays inputs; scripts/fuzz-requests.sh fuzzes)")
            return
        }
        var count = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CocoaError(.fileNoSuchFile) }
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).map { path + "/" + $0 }
                : [path]
            for file in files {
                FuzzRequests.check([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))))
                count += 1
            }
        }
        print("liaison-fuzz-requests: \(count) inputs, every one answered")
    }
}
#endif
