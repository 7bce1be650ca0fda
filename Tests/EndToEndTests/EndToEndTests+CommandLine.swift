import Foundation
import GRDB
import Testing

/// The command line a hotline clerk and an operator use, against the running set.
extension EndToEndTests {
    @Test func commandLineSubmitsTailsAndShowsStreams() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        func liaison(_ args: [String]) async throws -> (Int32, String) { try await set.cli(args) }
        let submit = try await liaison(["submit", "--kind", "complaint", "--channel", "walk_in", "--unit", "STN-EAST-01",
                                        "--officer", "PC-7", "--text", "Rude at the counter", "--submission-id", "cli-1", "--json"])
        #expect(submit.0 == 0, "\(submit.1)")
        #expect(submit.1.contains("\"case_number\":\"L1-0000001\""))
        // The same command again (a clerk retrying after a crash) is the same case, not a conflict.
        let retry = try await liaison(["submit", "--kind", "complaint", "--channel", "walk_in", "--unit", "STN-EAST-01",
                                       "--officer", "PC-7", "--text", "Rude at the counter", "--submission-id", "cli-1"])
        #expect(retry.0 == 0 && retry.1.contains("case L1-0000001") && retry.1.contains("(already submitted)"), "\(retry.1)")
        // The token is printed in groups of four, and the citizen's status check takes it so.
        let token = try #require(retry.1.firstMatch(of: /tracking token ([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})/)?.1, "\(retry.1)")
        let status = try await liaison(["status", "l1-0000001", "--token", String(token)])
        #expect(status.0 == 0 && status.1.contains("case L1-0000001:"), "\(status.1)")
        #expect(status.1.contains(": received") || status.1.contains(": being handled"), "\(status.1)")
        // As a citizen reads it out over the phone: after the case number, in lower case, in words.
        let spoken = token.lowercased().split(separator: "-").map(String.init)
        let byWords = try await liaison(["status", "L1-1"] + spoken)
        #expect(byWords.0 == 0 && byWords.1.contains("case L1-0000001:"), "\(byWords.1)")
        let noToken = try await liaison(["status", "L1-1"])
        #expect(noToken.0 != 0 && noToken.1.contains("tracking token is missing"), "\(noToken.1)")
        let twice = try await liaison(["status", "L1-1", String(token), "--token", String(token)])
        #expect(twice.0 != 0 && twice.1.contains("not both"), "\(twice.1)")
        let when = try await liaison(["submit", "--kind", "praise", "--text", "Helpful", "--unit", "STN-EAST-01",
                                      "--occurred-at", "yesterday"])
        #expect(when.0 != 0 && when.1.contains("--occurred-at"))
        let bad = try await liaison(["submit", "--kind", "rumour", "--text", "x", "--unit", "STN-EAST-01"])
        #expect(bad.0 != 0 && bad.1.contains("--kind"))
        // Blank or empty, the text is intake's to refuse, naming the field; only a missing --text is the command line's.
        for blank in [" ", ""] {
            let empty = try await liaison(["submit", "--kind", "praise", "--text", blank, "--unit", "STN-EAST-01"])
            #expect(empty.0 != 0 && empty.1.contains("submit_feedback.text") && !empty.1.contains("add --submission-id"), "\(empty.1)")
        }
        let noText = try await liaison(["submit", "--kind", "praise", "--unit", "STN-EAST-01"])
        #expect(noText.0 != 0 && noText.1.contains("--text (or --text-file) is required"), "\(noText.1)")

        #expect(await eventually(30) { await set.status("handler")?.headSeq == 1 })
        let tail = try await liaison(["events", "tail", "--stream", "handler-1", "--no-follow"])
        #expect(tail.0 == 0 && tail.1.split(separator: "\n").count == 1 && tail.1.contains("SUPERVISION"))
        let cases = try await liaison(["cases"])
        #expect(cases.1.contains("L1-0000001") && cases.1.contains("SUPERVISION"))
        #expect(try await eventually(30) {
            let s = try await liaison(["streams"])
            return s.1.contains("handler-1    intake-1     1        1     0")
        })
        // When it happened, if the citizen said.
        let dated = try await liaison(["submit", "--kind", "praise", "--text", "Helpful", "--unit", "STN-EAST-01",
                                       "--occurred-at", "2026-11-28T08:30:00+08:00", "--submission-id", "cli-dated"])
        #expect(dated.0 == 0 && dated.1.contains("case L1-0000002"), "\(dated.1)")
        // As a clerk types it, without a zone: the desk machine's local time (here Beijing time).
        let typed = try await set.cli(["submit", "--kind", "praise", "--text", "Helpful too", "--unit", "STN-EAST-01",
                                       "--occurred-at", "2026-11-28 08:30", "--submission-id", "cli-local"], environment: ["TZ": "Asia/Shanghai"])
        #expect(typed.0 == 0 && typed.1.contains("case L1-0000003"), "\(typed.1)")
        // The same caller again, about the same thing: its own case, and the clerk is told which it repeats.
        let caller = ["--kind", "complaint", "--unit", "STN-WEST-01", "--phone", "13900000042"]
        let firstCall = try await liaison(["submit"] + caller + ["--text", "The street lights on Bell Road are out again"])
        let secondCall = try await liaison(["submit"] + caller + ["--text", "The street lights on Bell Road are out again!"])
        let firstCase = try #require(firstCall.1.firstMatch(of: /case (L1-\d{7})/)?.1, "\(firstCall.1)")
        #expect(secondCall.0 == 0 && secondCall.1.contains("(near-duplicate of \(firstCase)"), "\(secondCall.1)")
        // A desk file's JSON output reports the link too.
        let thirdCall = set.dir + "/third-call.jsonl"
        try #"{"kind":"complaint","channel":"hotline","unit":"STN-WEST-01","phone":"13900000042","text":"The street lights on Bell Road are out again!!"}"#
            .write(toFile: thirdCall, atomically: true, encoding: .utf8)
        let linkedJSON = try await liaison(["submit", "--file", thirdCall, "--json"])
        #expect(linkedJSON.0 == 0 && linkedJSON.1.contains(#""linked_case_number":"\#(firstCase)""#), "\(linkedJSON.1)")
        let received = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback)
        let instants = ["cli-dated", "cli-local"].map { id in received.first { $0.submissionID == id }?.occurredAt.seconds }
        #expect(instants == [1_795_825_800, 1_795_825_800])   // 2026-11-28T00:30:00Z, both
        // A desk's batch file: each line's case number, a bad line named, and a second run changes nothing.
        let batch = set.dir + "/desk.jsonl"
        try """
            {"kind":"praise","channel":"hotline","text":"Thank you for the quick help","unit":"STN-WEST-01"}
            {"kind":"rumour","channel":"hotline","text":"?","unit":"STN-WEST-01"}
            {"kind":"inquiry","channel":"letter","text":"How do I renew my ID card?","address":"3 Bell Tower Rd"}
            """.write(toFile: batch, atomically: true, encoding: .utf8)
        let first = try await liaison(["submit", "--file", batch])
        #expect(first.0 == 1 && first.1.contains("line 1: case L1-") && first.1.contains("line 3: case L1-"))
        #expect(first.1.contains("line 2") && first.1.contains("rumour") && first.1.contains("2 of 3 submitted"))
        // The closing summary names the line to put right, and how to send it without the others twice.
        #expect(first.1.contains("1 not submitted: line 2 (1 for kind)") && first.1.contains("the 2 stored come back marked already submitted"), "\(first.1)")
        let again = try await liaison(["submit", "--file", batch])
        #expect(again.1.components(separatedBy: "(already submitted)").count == 3)
        // The next day's file of the same name is new work, not a conflict with yesterday's lines;
        // yesterday's line kept where it was is still known.
        try """
            {"kind":"complaint","channel":"hotline","text":"The officer at the desk was rude","unit":"STN-WEST-01"}
            {"kind":"rumour","channel":"hotline","text":"?","unit":"STN-WEST-01"}
            {"kind":"inquiry","channel":"letter","text":"How do I renew my ID card?","address":"3 Bell Tower Rd"}
            """.write(toFile: batch, atomically: true, encoding: .utf8)
        let nextDay = try await liaison(["submit", "--file", batch])
        #expect(nextDay.1.contains("line 1: case L1-") && !nextDay.1.contains("line 1: case L1-0000001") && !nextDay.1.contains("conflict"), "\(nextDay.1)")
        #expect(!nextDay.1.split(separator: "\n").contains { $0.hasPrefix("line 1:") && $0.contains("already submitted") }, "\(nextDay.1)")
        #expect(nextDay.1.split(separator: "\n").contains { $0.hasPrefix("line 3:") && $0.contains("already submitted") }, "\(nextDay.1)")
        // With --json every line is answered in JSON, a failed one too, with its error's stable code
        // and field: a script reading the output need not parse the text meant for people.
        let asJSON = try await liaison(["submit", "--file", batch, "--json"])
        let objects = asJSON.1.split(separator: "\n").filter { $0.hasPrefix("{") }
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(asJSON.0 == 1 && objects.map { $0["line"] as? Int } == [1, 2, 3], "\(asJSON.1)")
        let lineError = objects.count == 3 ? objects[1]["error"] as? [String: String] : nil
        #expect(lineError?["code"] == "invalid_argument" && lineError?["message"]?.contains("rumour") == true, "\(asJSON.1)")
        // A web tool's export, one JSON array printed over many lines: each object goes in (read
        // line by line, the lines with a trailing comma were refused and the last object sent), and
        // the same export sent again changes nothing.
        let export = set.dir + "/export.json"
        try """
            [
              {"kind": "praise", "channel": "web", "unit": "STN-WEST-01", "text": "The officer found my lost dog"},
              {"kind": "suggestion", "channel": "web", "address": "Bell Road", "text": "A crossing light near the school, please"}
            ]
            """.write(toFile: export, atomically: true, encoding: .utf8)
        let exported = try await liaison(["submit", "--file", export])
        #expect(exported.0 == 0 && exported.1.contains("is one JSON document, not JSON lines: its 2 object(s)")
                && exported.1.contains("line 1: case L1-") && exported.1.contains("line 2: case L1-") && exported.1.contains("2 of 2 submitted"), "\(exported.1)")
        let exportedAgain = try await liaison(["submit", "--file", export])
        #expect(exportedAgain.1.components(separatedBy: "(already submitted)").count == 3, "\(exportedAgain.1)")
        // A desk's spreadsheet saved as CSV, its first row naming the fields: each row goes in
        // (the unit tests read the rows: a landline keeps its leading 0), and once only.
        let sheet = set.dir + "/calls.csv"
        // Its rows are numbered as the spreadsheet numbers them (the header is row 1), so that the
        // row named as refused is the one the clerk puts right.
        try "kind,channel,unit,text,phone\ncomplaint,hotline,STN-EAST-01,\"Loud music, again\",010 6552 1234\npraise,hotline,STN-MOON,Thanks,\n"
            .write(toFile: sheet, atomically: true, encoding: .utf8)
        let fromSheet = try await liaison(["submit", "--file", sheet])
        #expect(fromSheet.0 == 1 && fromSheet.1.contains("is a CSV sheet with a header row (comma-separated), not JSON lines: its 2 row(s) are numbered below as in the sheet, whose row 1 names the fields")
                && fromSheet.1.contains("line 2: case L1-") && fromSheet.1.contains("error: line 3: invalid_argument (submit_feedback.unit)")
                && fromSheet.1.contains("1 not submitted: line 3 (1 for unit)"), "\(fromSheet.1)")
        // A sheet with its header row alone (the wrong export, or today's still empty) says so.
        let headerOnly = set.dir + "/empty.csv"
        try "kind,channel,unit,text\n".write(toFile: headerOnly, atomically: true, encoding: .utf8)
        let fromEmpty = try await liaison(["submit", "--file", headerOnly])
        #expect(fromEmpty.0 == 0 && fromEmpty.1.contains("holds no submission") && fromEmpty.1.contains("nothing was sent")
                && !fromEmpty.1.contains("0 of 0 submitted"), "\(fromEmpty.1)")
        // The workbook itself, given in place of its CSV: refused whole, saying what to give instead.
        let workbook = set.dir + "/calls.xlsx"
        try Data([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 200)).write(to: URL(fileURLWithPath: workbook))
        let fromWorkbook = try await liaison(["submit", "--file", workbook])
        #expect(fromWorkbook.0 == 1 && fromWorkbook.1.contains("is a spreadsheet workbook (.xlsx, .ods) or another zip archive, not text: save the sheet as CSV UTF-8")
                && fromWorkbook.1.contains("nothing was sent") && !fromWorkbook.1.contains("UTF-8 (save the file as UTF-8"), "\(fromWorkbook.1)")
        let asText = try await liaison(["submit", "--kind", "complaint", "--unit", "STN-EAST-01", "--text-file", workbook])
        #expect(asText.0 != 0 && asText.1.contains("--text-file \(workbook) is a spreadsheet workbook"), "\(asText.1)")
        let sheetAgain = try await liaison(["submit", "--file", sheet])
        #expect(sheetAgain.1.contains("line 2: case L1-") && sheetAgain.1.contains("(already submitted)"), "\(sheetAgain.1)")
        let unknownUnit = try await liaison(["submit", "--kind", "praise", "--unit", "STN-MOON", "--text", "Thanks", "--json"])
        let refusal = unknownUnit.1.split(separator: "\n").first { $0.hasPrefix("{") }
            .flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: [String: String]] }
        #expect(unknownUnit.0 == 1 && refusal?["error"]?["field"] == "submit_feedback.unit"
                && refusal?["error"]?["message"]?.contains("nearest: STN-") == true, "\(unknownUnit.1)")

        // The operator sees each database's size and its WAL's, as the services report them.
        let intakeStatus = try #require(await set.status("intake"))
        let walOnDisk = (try FileManager.default.attributesOfItem(atPath: set.dir + "/data/intake-1.sqlite-wal")[.size] as? NSNumber)?.uint64Value
        #expect(intakeStatus.databaseBytes >= 4_096 && intakeStatus.walBytes > 0)
        #expect(intakeStatus.commitsLastMinute >= 3 && intakeStatus.commitMaxUsLastMinute >= intakeStatus.commitMeanUsLastMinute)
        #expect(intakeStatus.commitMeanUsLastMinute > 0)
        #expect(walOnDisk != nil && intakeStatus.walBytes <= walOnDisk! + 1_000_000)
        let sizes = try await liaison(["streams"])
        #expect(sizes.1.contains("DATABASE") && sizes.1.contains("WAL") && sizes.1.contains(" KiB"), "\(sizes.1)")
        #expect(sizes.1.contains("COMMITS/MIN") && (sizes.1.contains(" ms") || sizes.1.contains(" µs")), "\(sizes.1)")

        set.kill9("reporting")
        let streams = try await liaison(["streams"])
        #expect(streams.1.contains("DOWN"))

        // A letter typed up in a file: its text whole, but for the (Windows) line end it closes with.
        let letter = set.dir + "/letter.txt"
        try Data("Dear Sir,\r\nThe officer at the desk was kind.\r\n".utf8).write(to: URL(fileURLWithPath: letter))
        let typedUp = try await liaison(["submit", "--kind", "praise", "--channel", "letter", "--unit", "STN-EAST-01",
                                         "--text-file", letter, "--submission-id", "letter-1"])
        #expect(typedUp.0 == 0, "\(typedUp.1)")
        let letters = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback).filter { $0.submissionID == "letter-1" }
        #expect(letters.map(\.text) == ["Dear Sir,\r\nThe officer at the desk was kind."], "\(letters)")
        // The same letter saved by Notepad as "Unicode" (UTF-16 with its byte-order mark): the same text.
        let unicode = set.dir + "/letter-unicode.txt"
        try Data([0xFF, 0xFE] + Array("Dear Sir,\r\n警官很友善。\r\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }).write(to: URL(fileURLWithPath: unicode))
        let notepad = try await liaison(["submit", "--kind", "praise", "--channel", "letter", "--unit", "STN-EAST-01",
                                         "--text-file", unicode, "--submission-id", "letter-2"])
        #expect(notepad.0 == 0, "\(notepad.1)")
        let fromNotepad = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback).filter { $0.submissionID == "letter-2" }
        #expect(fromNotepad.map(\.text) == ["Dear Sir,\r\n警官很友善。"], "\(fromNotepad)")
        let latin1 = set.dir + "/latin1.txt"
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: latin1))
        let notUTF8 = try await liaison(["submit", "--kind", "praise", "--unit", "STN-EAST-01", "--text-file", latin1])
        #expect(notUTF8.0 != 0 && notUTF8.1.contains("--text-file \(latin1) is not UTF-8 text"), "\(notUTF8.1)")
        let both = try await liaison(["submit", "--kind", "praise", "--unit", "STN-EAST-01", "--text", "x", "--text-file", letter])
        #expect(both.0 != 0 && both.1.contains("--text and --text-file cannot go together"), "\(both.1)")
        // A tail read through `head`: once head has its line and goes, the tail ends quietly
        // (it crashed on the closed pipe before).
        let piped = try await LiaisonSet.runProgram("/bin/bash", ["-c",
            "'\(LiaisonSet.binDir)/liaison' events tail --stream intake-1 --topology '\(set.topologyPath)' | head -1; exit ${PIPESTATUS[0]}"])
        #expect(piped.status == 0 && piped.output.hasPrefix("{\"stream\":\"intake-1\"") && !piped.output.contains("Fatal error"), "\(piped.output.prefix(600))")
    }

    /// Intake does not answer: the clerk is given the submission id the command chose, so that
    /// trying again cannot make a second case whatever happened.
    @Test func aSubmitWithoutAnswerNamesTheIdToRetryWith() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let args = ["submit", "--kind", "praise", "--unit", "STN-EAST-01", "--text", "Kind officer", "--timeout", "200", "--retries", "1"]
        let chosen = try await set.cli(args)
        #expect(chosen.status == 3, "\(chosen.output)")
        let id = try #require(chosen.output.firstMatch(of: /add --submission-id ([0-9a-f-]{36}) to the same command/)?.1, "\(chosen.output)")
        #expect(UUID(uuidString: String(id)) != nil)
        let given = try await set.cli(args + ["--submission-id", "desk7-0042"])
        #expect(given.output.contains("add --submission-id desk7-0042 to the same command"), "\(given.output)")
        // A refusal is certain: no such hint.
        let refused = try await set.cli(["submit", "--kind", "rumour", "--unit", "STN-EAST-01", "--text", "x"])
        #expect(refused.status != 0 && refused.output.contains("--kind") && !refused.output.contains("--submission-id"), "\(refused.output)")
        // The help does not print a random id as if it were the default to use.
        let help = try await set.cli(["submit", "--help"])
        #expect(help.output.contains("--submission-id") && help.output.firstMatch(of: /[0-9a-f]{8}-[0-9a-f]{4}-/) == nil, "\(help.output)")
        // A flag for one submission beside --file would be ignored: it is refused, named.
        let file = set.dir + "/desk.jsonl"
        try Data().write(to: URL(fileURLWithPath: file))
        let mixed = try await set.cli(["submit", "--file", file, "--kind", "praise", "--submission-id", "desk7-0042"])
        #expect(mixed.status == 64 && mixed.output.contains("--kind, --submission-id cannot go with --file"), "\(mixed.output)")
        let piped = try await set.cli(["submit", "--file", "-"])
        #expect(piped.status == 64 && piped.output.contains("--file - (standard input) is not taken: save the lines to a file"), "\(piped.output)")
    }

    /// Ctrl-C in the middle of a desk's big file: the reading stops, the lines on their way are
    /// answered and printed whole, the clerk is told where the file stopped, and the same file sent
    /// again finishes it without a second case. (Ctrl-C used to end the command at once: its output
    /// cut in the middle of a line, the last case numbers never shown.)
    @Test func aFileStoppedWithCtrlCSaysWhereItStoppedAndGoesOnWhenSentAgain() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let lines = 5_000
        let file = set.dir + "/desk.jsonl"
        let text = (1...lines).map { #"{"kind":"praise","channel":"web","unit":"STN-EAST-01","text":"thanks \#($0)"}"# }.joined(separator: "\n")
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        let (p, outPath, errPath) = try started(set, ["submit", "--file", file, "--in-flight", "8"])
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        // Its first receipts written (a file's output goes out in blocks), then Ctrl-C.
        #expect(await eventually(60) { ((try? FileManager.default.attributesOfItem(atPath: outPath)[.size] as? Int) ?? 0) > 0 })
        kill(p.processIdentifier, SIGINT)
        #expect(await eventually(30) { !p.isRunning })
        p.waitUntilExit()
        let out = try String(contentsOfFile: outPath, encoding: .utf8), err = try String(contentsOfFile: errPath, encoding: .utf8)
        #expect(p.terminationStatus == 130, "\(err)")
        let through = try #require(err.firstMatch(of: /stopped: the file was read through line (\d+), and every line sent was answered above/)
            .flatMap { Int($0.1) }, "\(err)")
        #expect(through < lines && err.contains("To go on, submit the same file again"), "\(err)")
        // Every line read was sent and its receipt printed whole, in order: none left in doubt.
        let receipts = out.split(separator: "\n")
        #expect(receipts.count == through, "\(receipts.count) receipts for \(through) lines read")
        for (i, r) in receipts.enumerated() where r.wholeMatch(of: /line (\d+): case L1-\d{7}  tracking token [2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}/)?.1 != "\(i + 1)" {
            Issue.record("receipt \(i + 1): \(r)")
            break
        }
        #expect(await set.status("intake")?.headSeq == UInt64(through), "intake stored what was acknowledged, no more")
        // The same file again: the rest goes in, what went in before is answered as before.
        let again = try await set.cli(["submit", "--file", file])
        #expect(again.status == 0 && again.output.contains("\(lines) of \(lines) submitted"), "\(again.output.suffix(500))")
        #expect(again.output.components(separatedBy: "(already submitted)").count - 1 == through)
        #expect(again.output.contains("\(through) of them had been stored before, their receipts marked already submitted: the same line, word for word, at the same place of a file named desk.jsonl sent before"), "\(again.output.suffix(500))")
        #expect(await set.status("intake")?.headSeq == UInt64(lines))
    }

    /// `liaison ARGS` started on the set's topology, its output and errors going to files of their
    /// own (read them once it has ended); `input` is its standard input (else none).
    func started(_ set: LiaisonSet, _ args: [String], input: Pipe? = nil) throws -> (Process, out: String, err: String) {
        let tag = UUID().uuidString.prefix(8)
        let outPath = set.dir + "/cli-\(tag).out", errPath = set.dir + "/cli-\(tag).err"
        for path in [outPath, errPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
        p.arguments = args + ["--topology", set.topologyPath]
        p.environment = LiaisonSet.childEnvironment([:])
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardInput = input ?? FileHandle.nullDevice
        try p.run()
        return (p, outPath, errPath)
    }

    /// Whether process `pid` has its own handlers for all of `signals` (`SigCgt` in /proc): the
    /// moment a Ctrl-C is its to answer, not the default's to end it.
    func catches(_ pid: Int32, _ signals: [Int32]) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
              let mask = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return signals.allSatisfy { mask & (1 << UInt64($0 - 1)) != 0 }
    }

    /// Ctrl-C while `liaison submit` waits for an intake that does not answer: it says the
    /// submission may have been stored and gives the id to send it again under (the clerk did not
    /// choose it), which then makes one case however often it is sent. A form interrupted before
    /// it is sent says nothing was submitted. (Ctrl-C used to end the command without a word.)
    @Test func ctrlCWhileWaitingForIntakeGivesTheIdToTryAgainWith() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let command = ["submit", "--kind", "praise", "--unit", "STN-EAST-01", "--text", "Thank you for finding my bike"]
        let (p, outPath, errPath) = try started(set, command + ["--json"])
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
        #expect(await eventually(30) { catches(p.processIdentifier, [SIGINT, SIGTERM]) })
        kill(p.processIdentifier, SIGINT)
        #expect(await eventually(30) { !p.isRunning })
        p.waitUntilExit()
        let out = try String(contentsOfFile: outPath, encoding: .utf8), err = try String(contentsOfFile: errPath, encoding: .utf8)
        #expect(p.terminationStatus == 130, "\(out)\(err)")
        let id = try #require(out.firstMatch(of: /"code":"interrupted".*"submission_id":"([0-9a-f-]{36})"/)?.1, "\(out)")
        #expect(err.contains("interrupted while waiting for intake: it may or may not have stored it.")
                && err.contains("add --submission-id \(id) to the same command"), "\(err)")
        try set.start("intake")
        try await set.waitReady(["intake"])
        for again in [false, true] {
            let run = try await set.cli(command + ["--submission-id", String(id)])
            #expect(run.status == 0 && run.output.contains("case L1-0000001 ") && run.output.contains("(already submitted)") == again, "\(run.output)")
        }
        // The form, Ctrl-C while the clerk is still typing.
        let typing = Pipe()
        let (form, _, formErr) = try started(set, ["submit", "--ask"], input: typing)
        defer { if form.isRunning { kill(form.processIdentifier, SIGKILL) } }
        #expect(await eventually(30) { catches(form.processIdentifier, [SIGINT, SIGTERM]) })
        kill(form.processIdentifier, SIGINT)
        #expect(await eventually(30) { !form.isRunning })
        form.waitUntilExit()
        try? typing.fileHandleForWriting.close()
        let said = try String(contentsOfFile: formErr, encoding: .utf8)
        #expect(form.terminationStatus == 130 && said.contains("interrupted: nothing was submitted"), "\(said)")
        #expect(await set.status("intake")?.headSeq == 1)
    }

    /// A hotline clerk takes a call with `liaison submit --ask`: each field asked in turn (a kind by
    /// its start, a unit by its name, a time the form cannot read asked again), the whole read back,
    /// and what intake refuses asked again with intake's reason, the badge it offers kept with
    /// Enter, the rest as typed, until the same submission goes in once.
    @Test func aHotlineClerkFillsTheFormAndMendsWhatIntakeRefuses() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let answers = [
            "comp", "",                                  // kind by its start; channel: hotline
            "Riverside", "",                             // a unit by a word of its name; no address
            "pc 1234", "",                               // a badge read out with a space; no category
            "yesterday", "2026-12-05 21:30",             // not a time: asked again
            "The officer at the desk shouted at me", "and would not take my report. Card 6222 0212 3456 7894. Call me on 138 1234 5678.", "",
            "Li Wei", "n",                               // the phone in the text (the card is not offered): left there, once the
                                                         // name typed too soon is not taken for an answer
            "Li Wei", "555", "",                         // a phone too short
            "y",
            "",                                          // intake offers PC-1234: Enter keeps it
            "y",
            "",                                          // intake offers STN-EAST-01 for Riverside: Enter keeps it
            "y",
            "0755-8123 4567 ext 12",                     // the phone asked again
            "y",
        ]
        let answersPath = set.dir + "/answers.txt"
        try Data((answers.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: answersPath))
        let run = try await LiaisonSet.runProgram("/bin/bash", ["-c",
            "'\(LiaisonSet.binDir)/liaison' submit --ask --submission-id desk-form-1 --topology '\(set.topologyPath)' < '\(answersPath)'"])
        #expect(run.status == 0 && run.output.contains("case L1-0000001  tracking token "), "\(run.output)")
        #expect(run.output.contains("the time 'yesterday' is not a time like"), "\(run.output)")
        #expect(run.output.contains("'Li Wei' is neither: answer y (or Enter) or n"), "\(run.output)")
        #expect(run.output.contains("intake refused it: 'pc 1234' is not a badge number") && run.output.contains("[PC-1234] (Enter keeps it"), "\(run.output)")
        #expect(run.output.contains("intake refused it: '555' is not a phone number"), "\(run.output)")
        #expect(run.output.contains("unit      Riverside") && run.output.contains("contact   Li Wei, 555"), "the whole read back: \(run.output)")
        #expect(run.output.contains("did you mean STN-EAST-01?") && run.output.contains("[STN-EAST-01] (Enter keeps it"), "\(run.output)")
        let stored = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback)
        #expect(stored.count == 1, "one submission, however many times it was sent")
        let f = try #require(stored.first)
        #expect(f.kind == .complaint && f.channel == .hotline && f.unit == "STN-EAST-01" && f.officerBadge == "PC-1234")
        // The number left in the text (not the caller's own) is taken out by intake all the same,
        // and the receipt says so.
        #expect(f.text == "The officer at the desk shouted at me\nand would not take my report. Card [card number: in the contact]. Call me on [phone: in the contact]."
                && f.submissionID == "desk-form-1", "\(f.text)")
        #expect(run.output.contains("the text holds a phone number, 138 1234 5678: the citizen's own, to call back on?"), "\(run.output)")
        #expect(!run.output.contains("6222 0212 3456 7894: the citizen's own"), "a card is no way to reach anybody: \(run.output)")
        #expect(run.output.contains("(2 phone, ID or card number(s) or e-mail address(es) in the text kept with the sealed contact)"), "\(run.output)")
        #expect(!f.hasContact, "the contact is sealed, never published")
        // Given up before sending (the input ends): nothing submitted, and said so.
        let partial = set.dir + "/partial.txt"
        try Data("praise\n\n".utf8).write(to: URL(fileURLWithPath: partial))
        let left = try await LiaisonSet.runProgram("/bin/bash", ["-c",
            "'\(LiaisonSet.binDir)/liaison' submit --ask --topology '\(set.topologyPath)' < '\(partial)'"])
        #expect(left.status != 0 && left.output.contains("nothing was submitted"), "\(left.output)")
        #expect(try await set.call("intake", .replay(.init())).replayBatch.events.count == 1)
    }

    /// The form sent while intake does not answer: the clerk is given one command holding what
    /// the form took, the same id included, and once intake is up it goes in, and again is the
    /// same case (a form filled in again could differ by a letter and be refused as a conflict).
    @Test func aFormIntakeDidNotAnswerIsGivenBackAsOneCommand() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let answers = ["tip", "walk", "", "Elm Road 12, by the school", "", "drugs", "", "Someone sells pills at the gate;",
                       "it's every night, \"around 9\". Write to tip.giver@example.org", "", "",   // moved to the contact
                       "", "", "", "y"]
        let answersPath = set.dir + "/answers.txt"
        try Data((answers.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: answersPath))
        let unanswered = try await LiaisonSet.runProgram("/bin/bash", ["-c",
            "'\(LiaisonSet.binDir)/liaison' submit --ask --timeout 300 --retries 2 --topology '\(set.topologyPath)' < '\(answersPath)'"])
        #expect(unanswered.status != 0 && unanswered.output.contains("Run this once intake answers"), "\(unanswered.output)")
        let command = unanswered.output.split(separator: "\n", omittingEmptySubsequences: false)
            .drop(while: { !$0.hasPrefix("  liaison submit ") }).prefix(2).joined(separator: "\n")
        #expect(command.contains("--channel walk_in") && command.contains("--address 'Elm Road 12, by the school'") && !command.contains("--name")
                && command.contains("--email tip.giver@example.org") && command.contains("Write to [e-mail: in the contact]'"), "\(command)")
        try set.start("intake")
        try await set.waitReady(["intake"])
        let script = "'\(LiaisonSet.binDir)/'" + command.trimmingCharacters(in: .whitespaces) + " --topology '\(set.topologyPath)'"
        let first = try await LiaisonSet.runProgram("/bin/bash", ["-c", script])
        #expect(first.status == 0 && first.output.hasPrefix("case L1-0000001 ") && !first.output.contains("already"), "\(script)\n\(first.output)")
        let again = try await LiaisonSet.runProgram("/bin/bash", ["-c", script])
        #expect(again.status == 0 && again.output.contains("case L1-0000001 ") && again.output.contains("(already submitted)"), "\(again.output)")
        let stored = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback)
        #expect(stored.map(\.text) == ["Someone sells pills at the gate;\nit's every night, \"around 9\". Write to [e-mail: in the contact]"]
                && stored.first?.channel == .walkIn, "\(stored)")
    }

    /// `liaison streams --check` for monitoring: 0 and "all well" on a healthy set; 2 and a line for
    /// each problem (an instance down, a disk under its warning level).
    @Test func streamsCheckExitsTwoAndListsWhatNeedsTheOperator() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll(["reporting": ["--disk-free-warning-mib", "100000000"]])
        try await set.waitReady()
        let warned = await eventually(20) { (try? await set.cli(["streams", "--check"]))?.output.contains("reporting-1: the disk of its database has") == true }
        #expect(warned, "\(set.logs())")
        set.kill9("scheduler")
        #expect(await eventually(10) { await set.status("scheduler") == nil })
        let sick = try await set.cli(["streams", "--check", "--timeout", "500"])
        #expect(sick.status == 2, "\(sick.output)")
        #expect(sick.output.contains("PROBLEM: scheduler-1: DOWN (") && sick.output.contains("PROBLEM: reporting-1: the disk of its database has"), "\(sick.output)")
        // On a slow machine the check may come ten seconds after the kill: then the consumers of
        // scheduler-1 have also heard nothing from it for that long, a third problem of the same cause.
        let others = sick.output.split(separator: "\n").filter { $0.hasPrefix("PROBLEM: ") && !$0.contains("has heard nothing from scheduler-1") }
        #expect(others.count == 2, "\(sick.output)")
        try set.start("scheduler")
        set.terminate("reporting")
        try set.start("reporting")
        try await set.waitReady()
        let well = try await set.cli(["streams", "--check"])
        #expect(well.status == 0 && well.output.contains("CHECK: all well"), "\(well.output)")
        // With --json the statuses stay JSON and the check still decides the exit status.
        set.kill9("scheduler")
        #expect(await eventually(10) { await set.status("scheduler") == nil })
        let json = try await set.cli(["streams", "--check", "--json", "--timeout", "500"])
        #expect(json.status == 2 && json.output.contains("PROBLEM: scheduler-1: DOWN ("), "\(json.output)")
    }

    /// A consumer whose cursor is beyond its upstream's head (databases from different moments)
    /// is shown as AHEAD in `liaison streams`, with a line saying what it means; before, its lag
    /// read 0.
    @Test func streamsShowsAConsumerAheadOfItsUpstream() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        _ = try await submitAll(set, 0..<3, prefix: "ahead")
        #expect(await eventually(20) { await set.status("intake")?.consumers.first { $0.stream == "handler-1" }?.appliedSeq == 3 })
        set.terminate("intake")
        try await DatabaseQueue(path: set.dir + "/data/intake-1.sqlite").write { db in
            try db.execute(sql: "UPDATE consumer_cursors SET applied_seq = 1000 WHERE stream = 'handler-1'")
        }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let streams = try await set.cli(["streams"])
        #expect(streams.output.contains("AHEAD 997"), "\(streams.output)")
        #expect(streams.output.contains("intake-1 has applied 1000 events of handler-1, whose head is 3"), "\(streams.output)")
        // The intake log says it too.
        #expect(await eventually(10) { set.logs().contains("upstream is behind what this consumer applied") }, "\(set.logs().suffix(2_000))")
    }
}
