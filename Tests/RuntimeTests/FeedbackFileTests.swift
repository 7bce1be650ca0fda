import Foundation
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import SwiftProtobuf
import Testing

@Suite struct FeedbackFileTests {
    @Test func shortNamesAndDefaultIDs() throws {
        let f = try FeedbackFile.parse(#"{"kind":"help_request","channel":"walk_in","text":"Locked out","unit":"CPO-NORTH-07","contact":{"phone":"13800000000"}}"#,
                                       line: 7, source: "desk.jsonl").get()
        #expect(f.kind == .helpRequest && f.channel == .walkIn && f.contact.phone == "13800000000")
        #expect(f.submissionID.hasPrefix("desk.jsonl:7:") && f.submissionID.count == "desk.jsonl:7:".count + 16, "\(f.submissionID)")
        let g = try FeedbackFile.parse(#"{"submission_id":"x1","kind":"FEEDBACK_KIND_PRAISE","channel":"CHANNEL_WEB","text":"t","unit":"U"}"#,
                                       line: 1, source: "f").get()
        #expect(g.kind == .praise && g.submissionID == "x1")
    }

    /// A line's id is the same whenever the same line of the same file is sent, and differs for
    /// another line at the same place: tomorrow's `calls.jsonl`, or another desk's.
    @Test func aLineIsKnownAgainByItsFileNumberAndText() throws {
        let line = #"{"kind":"praise","channel":"hotline","text":"Thank you","unit":"STN-EAST-01"}"#
        func id(_ text: String, _ n: Int, _ source: String = "calls.jsonl") throws -> String {
            try FeedbackFile.parse(text, line: n, source: source).get().submissionID
        }
        #expect(try id(line, 1) == id(line, 1))
        #expect(try id(line, 1) != id(line.replacingOccurrences(of: "Thank you", with: "Thank you!"), 1))
        #expect(try id(line, 1) != id(line, 2))   // the same words said by two callers
        #expect(try id(line, 1) != id(line, 1, "other.jsonl"))
        // A file's long name is cut, the id staying within intake's 128 bytes.
        let long = String(repeating: "长", count: 60) + ".jsonl"
        let longID = try id(line, 123_456, long)
        #expect(longID.utf8.count <= 128 && longID.hasPrefix(String(repeating: "长", count: 26) + ":123456:"), "\(longID)")
    }

    @Test func badLinesNameTheProblem() {
        let e1 = FeedbackFile.parse("not json", line: 3, source: "f")
        #expect((try? e1.get()) == nil)
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"rumour","text":"t"}"#, line: 4, source: "f") {
            #expect(e.line == 4 && e.message.contains("rumour") && !e.message.contains("did you mean"))
        } else { Issue.record("expected a failure") }
        // A slip of the keyboard gets the name it was meant to be; walk-in is walk_in.
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"complain","text":"t"}"#, line: 8, source: "f") {
            #expect(e.message.hasSuffix("did you mean complaint?"), "\(e.message)")
        } else { Issue.record("expected a failure") }
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","channel":"hotlien","text":"t"}"#, line: 9, source: "f") {
            #expect(e.message.hasSuffix("did you mean hotline?"), "\(e.message)")
        } else { Issue.record("expected a failure") }
        #expect((try? FeedbackFile.parse(#"{"kind":"Help-Request","channel":"walk-in","text":"t"}"#, line: 10, source: "f").get())?.channel == .walkIn)
        // What a clerk may call it is suggested, not taken in its place.
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"Compliment","channel":"hotline","text":"t"}"#, line: 11, source: "f") {
            #expect(e.message.hasSuffix("did you mean praise?"), "\(e.message)")
        } else { Issue.record("a word that is not a kind should be refused") }
        #expect(FeedbackFile.unknownName("channel", "phone", Liaison_V1_Channel.named.map(\.0)).hasSuffix("did you mean hotline?"))
        // A line that stops being JSON: where, as an editor counts columns (characters, not bytes).
        for (text, column, after) in [(#"{"kind":"complaint" "channel":"hotline"}"#, 21, #"'"channel":"hotline"}'"#),
                                      (#"{"text":"民警态度","kind":praise}"#, 23, "'praise}'")] {
            if case .failure(let e) = FeedbackFile.parse(text, line: 12, source: "f") {
                #expect(e.message.hasPrefix("not valid JSON at column \(column): \(after)"), "\(e.message)")
            } else { Issue.record("expected a failure") }
        }
        if case .failure(let e) = FeedbackFile.parse(#"{"text":"unfinished}"#, line: 13, source: "f") {
            #expect(e.message.contains("ends inside it"), "\(e.message)")
        } else { Issue.record("expected a failure") }
        // A day without a time of day is told so; the time is not made up.
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"2026-12-05"}"#, line: 15, source: "f") {
            #expect(e.message.hasPrefix("occurred_at '2026-12-05' has a date but no time of day"), "\(e.message)")
        } else { Issue.record("a date alone should be refused") }
        #expect(FeedbackFile.notATime("--occurred-at", "yesterday").contains("is not a time like"))
        if case .failure(let e) = FeedbackFile.parse(#"[{"kind":"praise"}]"#, line: 14, source: "f") {
            #expect(e.message.hasPrefix("not a JSON object"), "\(e.message)")
        } else { Issue.record("expected a failure") }
        #expect(Spelling.meant("tpi", among: ["tip", "web"]) == "tip" && Spelling.meant("xyz", among: ["tip", "web"]) == nil)
        #expect(Spelling.meant("social", among: Liaison_V1_Channel.named.map(\.0)) == nil)
        #expect(Spelling.meant(String(repeating: "a", count: 100_000), among: ["tip"]) == nil)
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","colour":"blue"}"#, line: 5, source: "f") {
            // Named, with the fields a line takes: not swift-protobuf's `unknownField("colour")`.
            #expect(e.line == 5 && e.message.hasPrefix(#"unknown field "colour"; a line takes submission_id, kind"#), "\(e.message)")
        } else { Issue.record("an unknown field should be refused") }
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","contact":{"mobile":"138"}}"#, line: 6, source: "f") {
            #expect(e.message == #"unknown field "mobile" in "contact"; it takes name, phone, email"#, "\(e.message)")
        } else { Issue.record("an unknown contact field should be refused") }
        // A key with a slip in it names the field it was meant to be, at the top and in the contact.
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","txt":"t","unit":"U"}"#, line: 11, source: "f") {
            #expect(e.message.hasPrefix(#"unknown field "txt" (did you mean "text"?); a line takes"#), "\(e.message)")
        } else { Issue.record("an unknown field should be refused") }
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","phnoe":"138"}"#, line: 12, source: "f") {
            #expect(e.message.hasPrefix(#"unknown field "phnoe" (did you mean "phone"?)"#), "\(e.message)")
        } else { Issue.record("an unknown field should be refused") }
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","contact":{"emial":"a@b.cn"}}"#, line: 13, source: "f") {
            #expect(e.message == #"unknown field "emial" in "contact" (did you mean "email"?); it takes name, phone, email"#, "\(e.message)")
        } else { Issue.record("an unknown contact field should be refused") }
        if case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","phone":"1","contact":{"phone":"2"}}"#, line: 7, source: "f") {
            #expect(e.message.contains(#""phone" is given twice"#), "\(e.message)")
        } else { Issue.record("a contact field given twice should be refused") }
    }

    /// When it happened: RFC 3339 as protobuf's JSON has it, or a local time as a desk's export writes it.
    @Test func occurredAtTakesZonedAndLocalTimes() throws {
        let zoned = try FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"2026-11-28T08:30:00+08:00"}"#, line: 1, source: "f").get()
        #expect(zoned.occurredAt.seconds == 1_795_825_800)
        // Every digit a zoned time has is kept, as before local times were taken.
        let precise = try FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"2026-11-28T00:30:00.123456Z"}"#, line: 1, source: "f").get()
        #expect(precise.occurredAt.seconds == 1_795_825_800 && precise.occurredAt.nanos == 123_456_000)
        let local = try FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"2026-11-28 08:30"}"#, line: 2, source: "f").get()
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        let expected = try #require(calendar.date(from: DateComponents(year: 2026, month: 11, day: 28, hour: 8, minute: 30)))
        #expect(local.occurredAt.seconds == Int64(expected.timeIntervalSince1970))
        // As a spreadsheet in a Chinese locale writes it into a CSV, the year first: the same time.
        // A day-first or month-first date is ambiguous (11/12/2026) and stays refused.
        for typed in ["2026/11/28 8:30", "2026/11/28 08:30:00", "2026-11-28 8:30"] {
            #expect(FeedbackFile.time(typed).map { Int64($0.timeIntervalSince1970) } == Int64(expected.timeIntervalSince1970), "\(typed)")
        }
        #expect(FeedbackFile.time("28/11/2026 08:30") == nil && FeedbackFile.time("11/28/2026 8:30") == nil)
        #expect(FeedbackFile.notATime("occurred_at", "2026/11/28").contains("has a date but no time of day"))
        guard case .failure(let e) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":"last Tuesday"}"#, line: 3, source: "f") else {
            Issue.record("a time that is not one should be refused"); return
        }
        #expect(e.line == 3 && e.message.hasPrefix("occurred_at 'last Tuesday' is not a time"), "\(e.message)")
        // Text that is not ASCII, or long, is no time, and never reaches Foundation's formatters
        // (the fuzzer's leak finding: a date with U+40000 in it); a long one is quoted bounded.
        #expect(FeedbackFile.time("2026-11-2\u{40000}9 08:30") == nil && FeedbackFile.time("２０２６-11-29 08:30") == nil)
        #expect(FeedbackFile.time(String(repeating: "2026-11-29 08:30 ", count: 10)) == nil)
        #expect(FeedbackFile.time("2026-11-29 08:30") != nil)
        let long = String(repeating: "9", count: 5_000)
        guard case .failure(let e2) = FeedbackFile.parse(#"{"kind":"praise","text":"t","unit":"U","occurred_at":""# + long + #""}"#, line: 4, source: "f") else {
            Issue.record("a long time should be refused"); return
        }
        #expect(e2.message.contains("(5000 characters)") && e2.message.count < 300, "\(e2.message)")
    }

    /// A desk's export writes the caller's name, phone and e-mail beside the other fields.
    @Test func contactFieldsMayStandAtTheTopLevel() throws {
        let f = try FeedbackFile.parse(#"{"kind":"complaint","channel":"hotline","text":"t","unit":"U","name":"王芳","phone":"13800000001","contact":{"email":"w@example.org"}}"#,
                                       line: 1, source: "f").get()
        #expect(f.contact.name == "王芳" && f.contact.phone == "13800000001" && f.contact.email == "w@example.org")
        let anonymous = try FeedbackFile.parse(#"{"kind":"tip","channel":"web","text":"t","unit":"U"}"#, line: 2, source: "f").get()
        #expect(!anonymous.hasContact)
    }

    /// A file with a byte-order mark, Windows line ends, comments, blank lines and one line in GBK:
    /// every line keeps its own number, and only the GBK one is an error.
    @Test func fileLinesKeepTheirNumbersAndABadEncodingIsOneLinesError() throws {
        var data = Data([0xEF, 0xBB, 0xBF])                                    // BOM
        data.append(Data(#"{"kind":"praise","text":"a","unit":"U"}"#.utf8 + [0x0D, 0x0A]))         // 1
        data.append(Data("# the night shift\r\n".utf8))                                            // 2
        data.append(Data("   \n".utf8))                                                              // 3
        data.append(Data(#"{"kind":"inquiry","text":""#.utf8) + Data([0xC5, 0xC9, 0xB3, 0xF6]) + Data(#"","unit":"U"}"#.utf8 + [0x0A]))  // 4: GBK
        data.append(Data(#"{"kind":"tip","text":"派出所","unit":"U"}"#.utf8))                          // 5, no final newline
        let lines = FeedbackFile.lines(of: data)
        #expect(lines.map(\.line) == [1, 4, 5])
        let first = try lines[0].text.get()
        #expect(try FeedbackFile.parse(first, line: 1, source: "f").get().kind == .praise)
        guard case .failure(let e) = lines[1].text else { Issue.record("the GBK line should be an error"); return }
        #expect(e.line == 4 && e.message.contains("UTF-8"))
        #expect(try FeedbackFile.parse(try lines[2].text.get(), line: 5, source: "f").get().text == "派出所")
    }

    /// The file of the test above, read a few bytes at a time: the byte-order mark, the `\r\n`, the
    /// Chinese characters and the lines themselves cut between reads give the same lines as reading
    /// it whole.
    @Test func readingInChunksGivesTheSameLines() throws {
        var data = Data([0xEF, 0xBB, 0xBF])
        data.append(Data(#"{"kind":"praise","text":"a","unit":"U"}"#.utf8 + [0x0D, 0x0A]))
        data.append(Data("# the night shift\r\n   \n\n".utf8))
        data.append(Data(#"{"kind":"inquiry","text":""#.utf8) + Data([0xC5, 0xC9, 0xB3, 0xF6]) + Data(#"","unit":"U"}"#.utf8 + [0x0A]))
        data.append(Data(#"{"kind":"tip","text":"派出所门口的路灯坏了","unit":"U"}"#.utf8))
        func summary(_ lines: [(line: Int, text: Result<String, FeedbackFile.LineError>)]) -> [String] {
            lines.map { l in
                switch l.text {
                case .success(let t): "\(l.line) ok \(t)"
                case .failure(let e): "\(l.line) error \(e.message)"
                }
            }
        }
        let whole = summary(FeedbackFile.lines(of: data))
        #expect(whole.count == 3 && whole[0].hasPrefix("1 ok {") && whole[1].hasPrefix("5 error not valid UTF-8") && whole[2].hasPrefix("6 ok {"), "\(whole)")
        for chunk in [1, 2, 3, 4, 5, 7, 13, 64, 4_096] {
            var reader = FeedbackFile.Lines(data: data, chunkSize: chunk)
            var got: [(line: Int, text: Result<String, FeedbackFile.LineError>)] = []
            while let l = try reader.next() { got.append(l) }
            #expect(summary(got) == whole, "chunks of \(chunk)")
            #expect(reader.lineNumber == 6)
        }
        // A file that is only a byte-order mark, or empty, has no lines; the mark's first byte alone
        // is a line that is not UTF-8.
        for tiny in [Data([0xEF, 0xBB, 0xBF]), Data()] {
            var reader = FeedbackFile.Lines(data: tiny, chunkSize: 1)
            #expect(try reader.next() == nil)
        }
        var partial = FeedbackFile.Lines(data: Data([0xEF]), chunkSize: 1)
        let line = try #require(try partial.next())
        #expect(line.line == 1 && (try? line.text.get()) == nil)
    }

    /// A line past the limit (no submission is near it) is an error of its own and is never held
    /// whole; the lines after it still go in. A file without a single line end is read in bounded
    /// memory too.
    @Test func anOverlongLineIsItsOwnErrorAndMemoryStaysBounded() async throws {
        let limit = 1_000, chunk = 256
        var data = Data(#"{"kind":"praise","text":"first","unit":"U"}"#.utf8 + [0x0A])
        data.append(Data(repeating: UInt8(ascii: "x"), count: 50_000))
        data.append(Data(("\n" + #"{"kind":"praise","text":"third","unit":"U"}"# + "\n").utf8))
        data.append(Data(repeating: UInt8(ascii: "y"), count: 5_000))   // the last line, no line end
        var reader = FeedbackFile.Lines(data: data, chunkSize: chunk, maxLineBytes: limit)
        var got: [(Int, Bool, String)] = []
        while let l = try reader.next() {
            switch l.text {
            case .success(let t): got.append((l.line, true, t))
            case .failure(let e): got.append((l.line, false, e.message))
            }
        }
        #expect(got.map(\.0) == [1, 2, 3, 4])
        #expect(got.map(\.1) == [true, false, true, false])
        #expect(got[1].2.hasPrefix("longer than 1000 bytes"), "\(got[1].2)")
        #expect(got[2].2.contains("third"))
        #expect(reader.peakBufferedBytes <= limit + 2 * chunk, "held \(reader.peakBufferedBytes) bytes")

        // 64 MiB without a line end, made as it is read: held a chunk and a limit at a time. Read
        // on a thread of its own (seconds in a debug build), not on the cooperative pool, which
        // every other test running beside it needs.
        let endless = try await Threads.run(name: "64 MiB") { () -> (lines: [Int], peak: Int) in
            var left = 64 << 20
            var endless = FeedbackFile.Lines(chunkSize: 1 << 16, maxLineBytes: 1 << 20) { n in
                let k = min(n, left)
                left -= k
                return [UInt8](repeating: UInt8(ascii: "z"), count: k)
            }
            var lines: [Int] = []
            while let l = try endless.next() { lines.append(l.line) }
            return (lines, endless.peakBufferedBytes)
        }
        #expect(endless.lines == [1])
        #expect(endless.peak <= (1 << 20) + 2 * (1 << 16), "held \(endless.peak) bytes")
    }

    /// What `liaison submit --file` prints: every line in file order, each as soon as the lines
    /// before it are settled, whatever order the answers come in; what was printed is let go.
    @Test func answersArePrintedInLineOrder() {
        var order = LineOrder()
        let slots = (1...5).map { order.add(line: $0 * 10) }
        order.settle(slots[2], "c", failed: false)
        order.settle(slots[1], "b", failed: true)
        #expect(order.takePrintable().isEmpty, "line 10 is still waiting")
        #expect(order.firstUnsettledLine == 10)
        order.settle(slots[0], "a", failed: false)
        let out = order.takePrintable()
        #expect(out.map(\.message) == ["a", "b", "c"] && out.map(\.failed) == [false, true, false])
        #expect(order.settledThrough == 30 && order.firstUnsettledLine == 40)
        #expect(order.line(slots[4]) == 50)
        // Many lines later the front is dropped, and the slots still find their lines.
        var last = slots[4]
        for n in 6...5_000 { last = order.add(line: n * 10) }
        order.settle(slots[3], "d", failed: false)
        order.settle(slots[4], "e", failed: false)
        for slot in (slots[4] + 1)...last { order.settle(slot, "x", failed: false) }
        #expect(order.takePrintable().count == 4_997)
        #expect(order.settledThrough == 50_000 && order.firstUnsettledLine == nil)
        let more = order.add(line: 50_010)
        #expect(order.line(more) == 50_010)

        // No more answers will come: everything not yet taken, settled or not, in order.
        let waitingLine = order.add(line: 50_020)
        let answered = order.add(line: 50_030)
        order.settle(answered, "late", failed: false)
        _ = waitingLine
        let rest = order.takeAll()
        #expect(rest.map(\.line) == [50_010, 50_020, 50_030])
        #expect(rest.map(\.message) == [nil, nil, "late"])
        #expect(order.takePrintable().isEmpty && order.firstUnsettledLine == nil)
        let after = order.add(line: 50_040)
        order.settle(after, "next", failed: false)
        #expect(order.takePrintable().map(\.message) == ["next"])
    }

    /// A file is read from disk as from memory; one that cannot be read is named with the reason.
    @Test func aFileOnDiskAndOneThatCannotBeRead() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("feedback-file-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("desk.jsonl").path
        try Data("# header\n{\"kind\":\"praise\",\"text\":\"a\",\"unit\":\"U\"}\r\n\n{\"kind\":\"tip\",\"text\":\"b\",\"unit\":\"U\"}".utf8)
            .write(to: URL(fileURLWithPath: path))
        var reader = try FeedbackFile.Lines(path: path, chunkSize: 5)
        var numbers: [Int] = []
        while let l = try reader.next() { numbers.append(l.line); #expect((try? l.text.get()) != nil) }
        #expect(numbers == [2, 4])
        #expect(try FeedbackFile.countLines(path: path) == 4, "the last line has no line end and still counts")
        #expect(throws: FeedbackFile.FileError.self) { try FeedbackFile.countLines(path: dir.path) }

        #expect(throws: FeedbackFile.FileError.self) { try FeedbackFile.Lines(path: dir.appendingPathComponent("missing.jsonl").path) }
        do {
            _ = try FeedbackFile.Lines(path: dir.path)
            Issue.record("a directory should be refused")
        } catch let e as FeedbackFile.FileError {
            #expect(e.description == "cannot read \(dir.path): it is a directory")
        }
        do {
            _ = try FeedbackFile.Lines(path: dir.appendingPathComponent("missing.jsonl").path)
        } catch let e as FeedbackFile.FileError {
            #expect(e.description.hasSuffix("missing.jsonl: No such file or directory"), "\(e)")
        }
    }
}

/// A web tool's export is often one JSON document, not JSON lines.
@Suite struct FeedbackFileDocumentTests {
    func file(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "doc-\(UUID().uuidString).json"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func anArrayOfObjectsIsTakenAsItsObjectsInOrder() throws {
        let path = try file("\u{FEFF}[\n  {\"text\":\"thanks\",\"kind\":\"praise\"},\n  {\"kind\":\"tip\",\"text\":\"a/b\"},\n  \"stray\"\n]\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = try #require(try FeedbackFile.document(path: path)?.items)
        #expect(lines == [#"{"kind":"praise","text":"thanks"}"#, #"{"kind":"tip","text":"a/b"}"#, #""stray""#])
        // The same lines every time (keys sorted): the same default submission ids.
        #expect(try FeedbackFile.document(path: path)?.items == lines)
        if case .success = FeedbackFile.parse(lines[2], line: 3, source: "doc.json") { Issue.record("a string is not a submission") }
    }

    /// An export that wraps its list in an object of one key, printed or on one line: the list's
    /// objects are the submissions (it was taken for one submission with an unknown field "data").
    @Test func aListWrappedInAnObjectIsTakenAsItsObjects() throws {
        for text in ["{\n  \"data\": [\n    {\"kind\":\"praise\",\"text\":\"thanks\"},\n    {\"kind\":\"tip\",\"text\":\"a\"}\n  ]\n}\n",
                     #"{"records":[{"kind":"praise","text":"thanks"},{"kind":"tip","text":"a"}]}"# + "\n"] {
            let path = try file(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            let document = try #require(try FeedbackFile.document(path: path), "\(text)")
            #expect(document.what.hasPrefix("one JSON document, its '") && document.what.hasSuffix("' list") && document.item == "object")
            #expect(document.items == [#"{"kind":"praise","text":"thanks"}"#, #"{"kind":"tip","text":"a"}"#])
        }
        // A key given twice inside the list refuses the file, naming it: nothing is dropped in silence.
        let twice = try file(#"{"data":[{"kind":"praise","text":"a","text":"b"}]}"#)
        defer { try? FileManager.default.removeItem(atPath: twice) }
        #expect { try FeedbackFile.document(path: twice) } throws: { ($0 as? FeedbackFile.LineError)?.message.contains("gives \"text\" twice") == true }
        // One line of JSON lines that is a submission stays a line.
        let single = try file(#"{"kind":"praise","text":"thanks","unit":"STN-EAST-01"}"# + "\n")
        defer { try? FileManager.default.removeItem(atPath: single) }
        #expect(try FeedbackFile.document(path: single) == nil)
    }

    @Test func oneObjectOverSeveralLinesIsOneSubmission() throws {
        let path = try file("{\n  \"kind\": \"praise\",\n  \"text\": \"thanks\"\n}\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try FeedbackFile.document(path: path)?.items == [#"{"kind":"praise","text":"thanks"}"#])
    }

    @Test func jsonLinesAreLeftToTheLineReader() throws {
        for text in ["{\"kind\":\"praise\",\"text\":\"a\"}\n{\"kind\":\"tip\",\"text\":\"b\"}\n", "# desk 7\n{\"kind\":\"tip\"}\n", "",
                     "{\"kind\":\"praise\",\n\"text\":\"a\"}\n{\"kind\":\"tip\"}\n"] {
            let path = try file(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(try FeedbackFile.document(path: path)?.items == nil, "\(text.debugDescription)")
        }
    }

    @Test func anArrayThatDoesNotParseIsRefusedWhole() throws {
        let path = try file("[\n  {\"kind\":\"praise\",\"text\":\"a\"}\n  {\"kind\":\"tip\",\"text\":\"b\"}\n]\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect { try FeedbackFile.document(path: path)?.items } throws: { error in
            let e = error as? FeedbackFile.LineError
            return e?.line == 1 && e?.message.contains("starts as a JSON array but is not valid JSON") == true && e?.message.contains("nothing was sent") == true
        }
    }
}

/// Values as a web tool's export writes them.
@Suite struct FeedbackFileValueTests {
    func message(_ line: String) -> String? {
        if case .failure(let e) = FeedbackFile.parse(line, line: 4, source: "export.jsonl") { return e.message }
        return nil
    }

    @Test func nullIsLeftOutAndAContactOfNullsIsNone() throws {
        let f = try FeedbackFile.parse(#"{"kind":"praise","channel":"web","text":"t","unit":"U","address":null,"name":null,"phone":null,"contact":{"email":null}}"#,
                                       line: 1, source: "f").get()
        #expect(!f.hasContact && f.address.isEmpty)
        let g = try FeedbackFile.parse(#"{"kind":"praise","channel":"web","text":"t","unit":"U","name":"Li Wei","email":null}"#, line: 1, source: "f").get()
        #expect(g.contact.name == "Li Wei" && g.contact.email.isEmpty)
    }

    @Test(arguments: [
        (#"{"kind":"praise","text":"t","phone":13800000001}"#, #""phone" is a number (13800000001), not text: put it in quotes ("13800000001"); a number loses a leading 0"#),
        (#"{"kind":"praise","text":"t","contact":{"phone":1065521234}}"#, #""phone" is a number (1065521234), not text"#),
        (#"{"submission_id":123,"kind":"praise","text":"t"}"#, #""submission_id" is a number (123), not text"#),
        (#"{"kind":"praise","text":["a","b"]}"#, #""text" is a list, not text: give it as one string in quotes"#),
        (#"{"kind":"praise","text":"t","unit":{"code":"U"}}"#, #""unit" is an object, not text"#),
        (#"{"kind":"praise","text":"t","category":true}"#, #""category" is a number or true/false (1), not text"#),
        (#"{"kind":"praise","text":"t","contact":"Li Wei, 138..."}"#, #""contact" is text, not an object like {"name": "...""#),
    ])
    func aValueThatIsNotTextIsNamed(line: String, says: String) {
        let m = message(line)
        #expect(m?.hasPrefix(says) == true, "\(m ?? "accepted")")
    }
}

/// What Foundation's JSON reader passes over in silence: a key given twice (it keeps the last and
/// drops the other) and half of a UTF-16 pair (it says the line "ends" there).
@Suite struct FeedbackFileSilentJSONTests {
    func message(_ line: String) -> String? {
        if case .failure(let e) = FeedbackFile.parse(line, line: 2, source: "desk.jsonl") { return e.message }
        return nil
    }

    @Test func aKeyGivenTwiceIsRefusedByName() {
        #expect(message(#"{"kind":"praise","channel":"hotline","unit":"U","text":"first","text":"second"}"#)
            == #""text" is given twice: keep one (a JSON reader would keep the last and drop the other)"#)
        #expect(message(#"{"kind":"praise","channel":"hotline","unit":"U","text":"t","contact":{"phone":"13800000001","phone":"13800000002"}}"#)?
            .hasPrefix(#""phone" is given twice"#) == true)
        // The same name in two objects, or inside a text, is no repeat.
        #expect(message(#"{"kind":"praise","channel":"hotline","unit":"U","name":"Li","contact":{"phone":"13800000001"},"text":"\"name\":1, {\"name\":2}"}"#) == nil)
    }

    @Test func repeatedKeysAreFoundInEachObjectAsWritten() {
        let text = #"[{"a":1,"b":{"a":2,"c":[{"a":3}]}}, {"x":"}\",{\"x\":","x":2}, 7, {"y":[1,{"y":1,"y":2}],"y":3}]"#
        let found = JSONText.repeatedKeys(Array(text.utf8))
        #expect(found.map(\.key) == ["x", "y"] && found.map(\.item) == [1, 3])
        let bytes = Array(text.utf8)
        #expect(found.map { String(decoding: bytes[$0.itemBytes], as: UTF8.self) }
            == [#"{"x":"}\",{\"x\":","x":2}"#, #"{"y":[1,{"y":1,"y":2}],"y":3}"#])
        #expect(JSONText.repeatedKeys(Array(#"{"k":1,"K":2,"k\u0020":3}"#.utf8)).isEmpty)
        #expect(JSONText.repeatedKeys(Array(#" {"k":1, "k" : 2}"#.utf8)).map(\.key) == ["k"])
        // Foundation reads UTF-16 without its mark too; as UTF-8 bytes it may close what it never
        // opened, and is passed over, not trapped on.
        #expect(JSONText.repeatedKeys(Array("}]{\"a\":1}".utf8)).isEmpty)
        let utf16 = String(decoding: Array(#"{"text":"}}","text":"x"}"#.utf8).flatMap { [$0, 0] }, as: UTF8.self)
        #expect(message(utf16) != nil)
    }

    @Test func halfACharacterIsNamedWithItsColumn() throws {
        #expect(message(#"{"kind":"praise","text":"灯坏了 \ud83d here"}"#)
            == #"not valid JSON at column 30: '\ud83d' is half of a character (one of a UTF-16 pair without the other): write the character itself, or both halves"#)
        #expect(message(#"{"kind":"praise","text":"\ud83d\ude00\uDE00"}"#)?.hasPrefix(#"not valid JSON at column 38: '\uDE00' is half"#) == true)
        // Both halves are a character; an escaped backslash before "ud83d" is no escape.
        #expect(message(#"{"kind":"praise","channel":"web","unit":"U","text":"\ud83d\ude00 \\ud83d"}"#) == nil)
        #expect(try FeedbackFile.parse(#"{"kind":"praise","channel":"web","unit":"U","text":"\ud83d\ude00 \\ud83d"}"#, line: 1, source: "f").get().text == "😀 \\ud83d")
    }

    /// The items of a file (a JSON document or a sheet) of `text`.
    func itemsOf(_ text: String) throws -> [String] {
        let path = NSTemporaryDirectory() + "silent-\(UUID().uuidString)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try #require(try FeedbackFile.document(path: path)?.items)
    }

    @Test func aDocumentsObjectWithAKeyTwiceIsRefusedAloneAndTheOthersGoIn() throws {
        let items = try itemsOf("[\n {\"kind\":\"praise\",\"text\":\"a\"},\n {\"kind\":\"tip\",\n  \"text\":\"b\",\r\n  \"text\":\"c\"},\n {\"kind\":\"tip\",\"text\":\"d\"}\n]\n")
        #expect(items.count == 3 && items[0] == #"{"kind":"praise","text":"a"}"# && items[2] == #"{"kind":"tip","text":"d"}"#)
        #expect(!items[1].contains("\n") && !items[1].contains("\r"), "\(items[1].debugDescription)")
        #expect(message(items[1])?.hasPrefix(#""text" is given twice"#) == true, "\(items[1])")
        // One object printed over several lines, a key twice.
        let lines = try itemsOf("{\n \"kind\": \"tip\",\n \"kind\": \"praise\"\n}\n")
        #expect(lines.count == 1 && message(lines[0])?.hasPrefix(#""kind" is given twice"#) == true, "\(lines)")
    }

    /// 电话 and 手机 are both a phone: a row with one of them goes in, a row with both is refused.
    @Test func twoColumnsOfOneFieldBothFilledAreRefusedForThatRow() throws {
        let items = try itemsOf("类型,渠道,单位,内容,电话,手机\n投诉,热线,STN-EAST-01,噪音,010 6552 1234,\n表扬,热线,STN-EAST-01,谢谢,010 6552 1234,138 1234 5678\n咨询,热线,STN-EAST-01,问题,,138 1234 5678\n")
        #expect(items.count == 3)
        #expect(try FeedbackFile.parse(items[0], line: 1, source: "s").get().contact.phone == "010 6552 1234")
        #expect(message(items[1])?.hasPrefix(#""phone" is given twice"#) == true, "\(items[1])")
        #expect(try FeedbackFile.parse(items[2], line: 3, source: "s").get().contact.phone == "138 1234 5678")
    }
}

/// A desk that keeps its calls in a spreadsheet saves them as CSV.
@Suite struct FeedbackFileSheetTests {
    func file(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "sheet-\(UUID().uuidString).csv"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aSheetWithAHeaderRowIsTakenRowByRow() throws {
        let sheet = "\u{FEFF}kind,channel,unit,text,phone,name\r\n"
            + "complaint,hotline,STN-EAST-01,\"Loud music, again\nsince 23:00, \"\"party\"\"\",010 6552 1234,\r\n"
            + ",,,,,\r\n"
            + "praise,walk_in,CPO-NORTH-07,Thanks,,Li Wei\r\n"
        let path = try file(Array(sheet.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let document = try #require(try FeedbackFile.document(path: path))
        #expect(document.item == "row" && document.what.contains("comma-separated") && document.items.count == 2)
        let first = try FeedbackFile.parse(document.items[0], line: 1, source: "calls.csv").get()
        #expect(first.kind == .complaint && first.text == "Loud music, again\nsince 23:00, \"party\"" && first.contact.phone == "010 6552 1234")
        #expect(first.contact.name.isEmpty)
        let second = try FeedbackFile.parse(document.items[1], line: 2, source: "calls.csv").get()
        #expect(second.channel == .walkIn && second.contact.name == "Li Wei" && second.contact.phone.isEmpty)
        // The same sheet, the same lines: the same default ids when it is sent again.
        #expect(try FeedbackFile.document(path: path)?.items == document.items)
        // Numbered as the spreadsheet numbers its rows: the header is row 1, a cell's line break
        // does not start a row, the empty row 3 counts. "line 4" is the row the clerk finds as 4.
        #expect(document.numbers == [2, 4])
        #expect(FeedbackFile.lines(of: document.lines).map(\.line) == [2, 4])
        #expect(FeedbackFile.lines(of: document.lines).compactMap { try? $0.text.get() } == document.items)
    }

    /// A phone that Excel shows as `1.38E+10` (a long number in a cell of general format) is saved
    /// so into the CSV, its digits gone: the row is refused saying so and how to get them back,
    /// where intake said only that it is not a phone number. A hexadecimal id is not taken for it.
    @Test func aLongNumberAsASpreadsheetShowsItIsRefusedSayingSo() throws {
        let path = try file(Array("kind,channel,unit,text,phone,badge\npraise,hotline,STN-EAST-01,Thanks,1.38E+10,\ntip,hotline,STN-EAST-01,Lights,,1E+11\npraise,hotline,STN-EAST-01,Thanks,138 0000 0000,\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let document = try #require(try FeedbackFile.document(path: path))
        let results = zip(document.items, document.numbers).map { FeedbackFile.parse($0, line: $1, source: "calls.csv") }
        guard results.count == 3, case .failure(let phone) = results[0], case .failure(let badge) = results[1], case .success(let fine) = results[2] else {
            Issue.record("\(results)"); return
        }
        #expect(phone.line == 2 && phone.field == "phone" && phone.message.hasPrefix(#""phone" is '1.38E+10', a long number as a spreadsheet shows it: its digits are lost. Format the column as Text"#), "\(phone.message)")
        #expect(badge.line == 3 && badge.field == "officer_badge", "\(badge)")
        #expect(fine.contact.phone == "138 0000 0000")
        let hex = FeedbackFile.parse(#"{"submission_id":"1e10","kind":"praise","channel":"web","text":"t","unit":"U"}"#, line: 1, source: "f")
        #expect(try hex.get().submissionID == "1e10")
    }

    /// The workbook given in place of its CSV, a letter as a Word document, a PDF or a scan: refused
    /// whole, saying what the file is and what to give instead, where each of its "lines" was
    /// refused as not UTF-8 with advice about GBK.
    @Test(arguments: [
        ([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00] as [UInt8], "calls.xlsx", "spreadsheet workbook", "CSV UTF-8"),
        ([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00], "letter.docx", "word-processor document (.docx)", "--text-file"),
        ([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0x00], "calls.xls", "old format (.xls)", "CSV UTF-8"),
        ([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0x00], "letter.doc", "Word document (.doc)", "--text-file"),
        (Array("%PDF-1.7\n".utf8), "letter.pdf", "a PDF", "--text-file"),
        ([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "scan.png", "an image", "--ask"),
        ([0xFF, 0xD8, 0xFF, 0xE0, 0x00], "photo.jpg", "an image", "--ask"),
    ])
    func aFileThatIsNotTextIsRefusedWholeSayingWhatItIs(head: [UInt8], name: String, what: String, todo: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(name).path
        try Data(head + [UInt8](repeating: 0x41, count: 300)).write(to: URL(fileURLWithPath: path))
        #expect { try FeedbackFile.document(path: path) } throws: { error in
            guard let e = error as? FeedbackFile.LineError else { return false }
            return e.line == 1 && e.message.contains(what) && e.message.contains(todo) && e.message.hasSuffix("nothing was sent")
        }
        // Text that merely starts with the same letters is text.
        #expect(FeedbackFile.binaryKind(Array("PK,kind,text\n".utf8), name: "calls.csv") == nil)
        #expect(FeedbackFile.binaryKind(Array(#"{"kind":"praise"}"#.utf8), name: "x.jsonl") == nil)
    }

    /// A blank line above the header counts as the spreadsheet's row 1, as do empty rows at the end.
    @Test func rowsAreNumberedAsTheSheetNumbersThemWhateverIsBlank() throws {
        let path = try file(Array("\nkind,text,unit\n\ntip,Broken light,STN-EAST-01\n,,\npraise,Thanks,STN-EAST-01\n,,\n,,\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let document = try #require(try FeedbackFile.document(path: path))
        #expect(document.items.count == 2 && document.numbers == [4, 6], "\(document.numbers)")
        #expect(FeedbackFile.lines(of: document.lines).map(\.line) == [4, 6])
    }

    @Test func semicolonsAndTabsAsExcelWritesThemElsewhere() throws {
        for (sheet, named) in [("kind;text;address\ntip;Broken light;Harbour Rd 5\n", "semicolon"), ("kind\ttext\tunit\ntip\tBroken light\tSTN-EAST-01\n", "tab")] {
            let path = try file(Array(sheet.utf8))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let document = try #require(try FeedbackFile.document(path: path))
            #expect(document.what.contains(named) && document.items.count == 1)
            #expect(try FeedbackFile.parse(document.items[0], line: 1, source: "s").get().text == "Broken light")
        }
    }

    @Test func whatIsNotASheetIsLeftAloneAndABrokenSheetIsRefusedWhole() throws {
        for text in ["hello, world\n", "{\"kind\":\"tip\",\"text\":\"a\"}\n", "kind\n tip\n", "kind,priority\ntip,high\n"] {
            let path = try file(Array(text.utf8))
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(try FeedbackFile.document(path: path) == nil, "\(text.debugDescription)")
        }
        let open = try file(Array("kind,text\ntip,\"never closed\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: open) }
        #expect { try FeedbackFile.document(path: open) } throws: { ($0 as? FeedbackFile.LineError)?.message.contains("a \" left open") == true }
        let gbk = try file(Array("kind,text\ntip,".utf8) + [0xC5, 0xC9, 0xB3, 0xF6] + [0x0A])
        defer { try? FileManager.default.removeItem(atPath: gbk) }
        #expect { try FeedbackFile.document(path: gbk) } throws: { ($0 as? FeedbackFile.LineError)?.message.contains("CSV UTF-8") == true }
        // A cell past the header's names is an unknown field, named by its column.
        let extra = try file(Array("kind,text\ntip,light,oops\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: extra) }
        let line = try #require(try FeedbackFile.document(path: extra)?.items.first)
        if case .failure(let e) = FeedbackFile.parse(line, line: 1, source: "s") {
            #expect(e.message.hasPrefix("unknown field \"column 3\""), "\(e.message)")
        } else { Issue.record("a cell past the header went in") }
    }

    /// A call system's export has columns of its own (Agent, Duration): the sheet is refused whole,
    /// naming them, where it was not taken for a sheet at all and each line was refused as not
    /// JSON ("a comma, quote or brace missing"). A slip in a header is offered its field.
    @Test func aColumnNamingNoFieldRefusesTheSheetNamingIt() throws {
        let export = try file(Array("kind,channel,unit,text,phone,Agent,Duration\npraise,hotline,STN-EAST-01,Thanks,13800000000,A7,3:20\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: export) }
        #expect { try FeedbackFile.document(path: export) } throws: { error in
            guard let e = error as? FeedbackFile.LineError else { return false }
            return e.line == 1 && e.message.hasPrefix("the sheet's columns 'Agent' (column 6), 'Duration' (column 7) name no field of a submission: delete them")
                && e.message.hasSuffix("nothing was sent")
        }
        let slip = try file(Array("kind;txt;unit\ntip;Broken light;STN-EAST-01\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: slip) }
        #expect { try FeedbackFile.document(path: slip) } throws: { error in
            (error as? FeedbackFile.LineError)?.message.hasPrefix("the sheet's column 'txt' (column 2, did you mean text?) names no field") == true
        }
        // A column of row numbers, as Chinese sheets keep one (序号), is left out, not refused.
        let numbered = try file(Array("序号,类型,内容,单位\n1,建议,路灯坏了,STN-EAST-01\n2,表扬,谢谢,STN-EAST-01\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: numbered) }
        let rows = try #require(try FeedbackFile.document(path: numbered))
        #expect(rows.items.count == 2 && !rows.items[0].contains("序号") && !rows.items[0].contains("\"1\""), "\(rows.items)")
        #expect(try FeedbackFile.parse(rows.items[1], line: 3, source: "s").get().kind == .praise)
        // A column without a header (a stray comma Excel kept): only a row that fills it is refused.
        let stray = try file(Array("kind,text,unit,\ntip,Broken light,STN-EAST-01,\npraise,Thanks,STN-EAST-01,x\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: stray) }
        let document = try #require(try FeedbackFile.document(path: stray))
        #expect(document.numbers == [2, 3])
        #expect(try FeedbackFile.parse(document.items[0], line: 2, source: "s").get().text == "Broken light")
        guard case .failure(let e) = FeedbackFile.parse(document.items[1], line: 3, source: "s") else { Issue.record("a filled column without a header went in"); return }
        #expect(e.message.hasPrefix("unknown field \"column 4\""), "\(e.message)")
    }

    /// A Chinese desk's sheet, headers and kinds and channels in Chinese, as its clerks keep it:
    /// taken as the same sheet in the fields' names (it was not even taken for a sheet).
    @Test func aSheetInChineseIsTakenAsItsFields() throws {
        let sheet = "编号,类型,渠道,派出所,内容,联系人,电话,发生时间\n"
            + "desk3-001,投诉,热线,STN-EAST-01,民警态度恶劣,李伟,138 1234 5678,2026-12-05 21:30\n"
            + "desk3-002,求助,来访,Riverside Police Station,钱包丢了,,,\n"
        let path = try file(Array(sheet.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let document = try #require(try FeedbackFile.document(path: path))
        #expect(document.item == "row" && document.items.count == 2)
        let first = try FeedbackFile.parse(document.items[0], line: 1, source: "calls.csv").get()
        #expect(first.submissionID == "desk3-001" && first.kind == .complaint && first.channel == .hotline && first.unit == "STN-EAST-01")
        #expect(first.text == "民警态度恶劣" && first.contact.name == "李伟" && first.contact.phone == "138 1234 5678" && first.hasOccurredAt)
        let second = try FeedbackFile.parse(document.items[1], line: 2, source: "calls.csv").get()
        #expect(second.kind == .helpRequest && second.channel == .walkIn && !second.hasContact)
        // English headers as a desk writes them.
        let english = try file(Array("Type,Source,Station,Description,Phone number,E-mail\ntip,web,STN-EAST-01,Broken light,010 6552 1234,a@b.cn\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: english) }
        let row = try FeedbackFile.parse(try #require(try FeedbackFile.document(path: english)?.items.first), line: 1, source: "s").get()
        #expect(row.kind == .tip && row.channel == .web && row.contact.phone == "010 6552 1234" && row.contact.email == "a@b.cn")
        #expect(Liaison_V1_FeedbackKind(name: " 表扬 ") == .praise && Liaison_V1_Channel(name: "开放周") == .openWeek)
    }

    /// UTF-16 with its byte-order mark, as Excel saves "Unicode Text" (where its CSV is GBK) and
    /// Notepad saves "Unicode": was refused line by line as not UTF-8; now decoded and taken as the
    /// same file in UTF-8 would be.
    @Test func aFileInUTF16IsTakenAsTheSameFileInUTF8() throws {
        func utf16(_ text: String, little: Bool) -> [UInt8] {
            (little ? [0xFF, 0xFE] : [0xFE, 0xFF]) + Array(text.utf16).flatMap { little ? [UInt8($0 & 0xFF), UInt8($0 >> 8)] : [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        }
        // Excel's "Unicode Text": tab-separated, Windows line ends, a cell with a tab quoted.
        let sheet = "kind\tchannel\tunit\ttext\tphone\r\ncomplaint\thotline\tSTN-EAST-01\t\"噪音\t扰民 😠\"\t0755-8123 4567\r\ntip\tweb\tSTN-EAST-01\tBroken light\t\r\n"
        let plainPath = try file(Array(sheet.utf8))
        defer { try? FileManager.default.removeItem(atPath: plainPath) }
        let plain = try #require(try FeedbackFile.document(path: plainPath))
        for little in [true, false] {
            let path = try file(utf16(sheet, little: little))
            defer { try? FileManager.default.removeItem(atPath: path) }
            let document = try #require(try FeedbackFile.document(path: path))
            #expect(document.what == plain.what + ", in UTF-16" && document.item == "row" && document.items == plain.items)
            let first = try FeedbackFile.parse(document.items[0], line: 1, source: "calls.txt").get()
            #expect(first.text == "噪音\t扰民 😠" && first.contact.phone == "0755-8123 4567")
        }
        // JSON lines: its lines as in the file, blank and comment lines numbered too.
        let lines = "{\"kind\":\"tip\",\"text\":\"a\",\"unit\":\"STN-EAST-01\"}\r\n\r\n# a comment\r\n{\"kind\":\"praise\",\"text\":\"谢谢\",\"unit\":\"STN-EAST-01\"}\r\n"
        let path = try file(utf16(lines, little: true))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let document = try #require(try FeedbackFile.document(path: path))
        #expect(document.item == "line" && document.what == "JSON lines, in UTF-16")
        let read = FeedbackFile.lines(of: Data(document.items.joined(separator: "\n").utf8)).map(\.line)
        #expect(read == FeedbackFile.lines(of: Data(lines.utf8)).map(\.line) && read == [1, 4])
        // Damaged UTF-16: refused whole, saying so.
        for bytes in [utf16("kind,text\ntip,a", little: true) + [0x41], utf16("kind,text\ntip,", little: true) + [0x3D, 0xD8, 0x41, 0x00]] {
            let broken = try file(bytes)
            defer { try? FileManager.default.removeItem(atPath: broken) }
            #expect { try FeedbackFile.document(path: broken) } throws: { ($0 as? FeedbackFile.LineError)?.message.contains("nothing was sent") == true }
        }
    }
}

/// A phone number or e-mail address written into a text, which `liaison submit --ask` offers to
/// move into the sealed contact.
@Suite struct ContactInTextTests {
    @Test func phonesAndAddressesInATextAreFound() {
        for (text, kind, value) in [("call me back on 138 1234 5678 please", ContactInText.Kind.phone, "138 1234 5678"),
                                    ("my card 6222021234567894 was charged", .cardNumber, "6222021234567894"),
                                    ("请回电13812345678谢谢", .phone, "13812345678"),
                                    ("my number: +86 (0755) 8123-4567.", .phone, "+86 (0755) 8123-4567"),
                                    ("write to li.wei@example.org.", .email, "li.wei@example.org"),
                                    ("邮箱 李伟@例子.中国 谢谢", .email, "李伟@例子.中国")] {
            let found = ContactInText.first(in: text)
            #expect(found?.kind == kind && found?.value == value, "\(text): \(String(describing: found))")
            if let found { #expect(String(text[found.range]) == value) }
        }
    }

    /// Intake takes every one out: found in order, none overlapping another, an address whose
    /// first part is digits (`12345678@qq.com`) an address, not a phone; once each is replaced by
    /// its marker, nothing is left to find.
    @Test func everyPhoneAndAddressInATextIsFoundOnceAndMarked() {
        for (text, values, marked) in [
            ("qq 12345678@qq.com or 138 1234 5678", ["12345678@qq.com", "138 1234 5678"], "qq [e-mail: in the contact] or [phone: in the contact]"),
            ("13812345678.li@example.org", ["13812345678", "li@example.org"], "[phone: in the contact].[e-mail: in the contact]"),
            ("a@b.cn,c@d.cn 0755 8123 4567", ["a@b.cn", "c@d.cn", "0755 8123 4567"], "[e-mail: in the contact],[e-mail: in the contact] [phone: in the contact]"),
            ("on 2026-12-05 call 110", [], "on 2026-12-05 call 110"),
            // Typed in full width with a Chinese input method, and written against Chinese.
            ("请回电１３８ １２３４ ５６７８，谢谢", ["１３８ １２３４ ５６７８"], "请回电[phone: in the contact]，谢谢"),
            ("邮箱ｌｉ＠ｅｘａｍｐｌｅ．ｏｒｇ谢谢", ["ｌｉ＠ｅｘａｍｐｌｅ．ｏｒｇ"], "邮箱[e-mail: in the contact]谢谢"),
            ("邮箱li@example.org。电话（０７５５）８１２３－４５６７", ["li@example.org", "（０７５５）８１２３－４５６７"],
             "邮箱[e-mail: in the contact]。电话[phone: in the contact]"),
            ("李伟@例子.中国 写信", ["李伟@例子.中国"], "[e-mail: in the contact] 写信"),
            // Right after an address, a number stands apart once the address is marked (found by
            // fuzzing: `qq.com-(021)` had left the phone in the text, glued to the address).
            ("12345678@qq.com-(021) 6543-2109", ["12345678@qq.com", "(021) 6543-2109"], "[e-mail: in the contact]-[phone: in the contact]"),
            // An address ends on a letter or a digit, as a domain does: not on what is written after it.
            ("write to li@qq.com_ or li.wei@example.org-- or 李伟@例子.中国－ 谢谢", ["li@qq.com", "li.wei@example.org", "李伟@例子.中国"],
             "write to [e-mail: in the contact]_ or [e-mail: in the contact]-- or [e-mail: in the contact]－ 谢谢"),
            // A dash of typesetting is in no address: it stands between the address and the words.
            ("邮箱：李伟@例子.中国——谢谢；或者 li@example.org—thanks", ["李伟@例子.中国", "li@example.org"],
             "邮箱：[e-mail: in the contact]——谢谢；或者 [e-mail: in the contact]—thanks"),
            ("li@example.org/13812345678", ["li@example.org", "13812345678"], "[e-mail: in the contact]/[phone: in the contact]"),
            // Right before an address that begins with digits, a number apart from them is read on
            // its own (found by fuzzing: `1764325 8@qq.com` left the phone, standing apart once the
            // address was marked).
            ("谢谢1764325 8@qq.com (021) 6543-2109", ["1764325", "8@qq.com", "(021) 6543-2109"],
             "谢谢[phone: in the contact] [e-mail: in the contact] [phone: in the contact]"),
            ("call 0755 8123 4567 or 12345678@qq.com", ["0755 8123 4567", "12345678@qq.com"], "call [phone: in the contact] or [e-mail: in the contact]"),
            ("(021) 6543-2109@qq.com", ["6543-2109@qq.com"], "(021) [e-mail: in the contact]"),
            ("２０２６－１２－０５ 下午", [], "２０２６－１２－０５ 下午"),
            ("pasted from a letter: 0755‐8123‐4567 (U+2010)", ["0755‐8123‐4567"], "pasted from a letter: [phone: in the contact] (U+2010)"),
            // Resident identity numbers: 18 digits, or 17 and an X, with a birth date and the
            // right check digit; with a slip in it, it is no number of anybody's and stays.
            ("身份证号11010519491231002X，电话13812345678", ["11010519491231002X", "13812345678"],
             "身份证号[ID number: in the contact]，电话[phone: in the contact]"),
            ("ID 110101 19900307 4477 and 110101199003074478", ["110101 19900307 4477"], "ID [ID number: in the contact] and 110101199003074478"),
            ("order 123456789012345678 shipped", [], "order 123456789012345678 shipped"),
            // Bank card numbers: 16–19 digits beginning as a card network's do, with the Luhn
            // check digit last, in a card's groups of four or in one run. A slip in one, or a
            // number no network gives (a waybill's 1…, an order's 30…, 21…), stays; an 18-digit
            // identity number is one.
            ("转账到卡号6222 0212 3456 7894，请查", ["6222 0212 3456 7894"], "转账到卡号[card number: in the contact]，请查"),
            ("card 6228480012345678903, waybill 1234567890123452", ["6228480012345678903"],
             "card [card number: in the contact], waybill 1234567890123452"),
            ("orders 3012345678901231 and 2143567890123456787 (Luhn-valid both)", [],
             "orders 3012345678901231 and 2143567890123456787 (Luhn-valid both)"),
            ("卡号６２１２ ２６１２ ３４５６ ７８９０ １６", ["６２１２ ２６１２ ３４５６ ７８９０ １６"], "卡号[card number: in the contact]"),
            ("visa 4111 1111 1111 1112 (mistyped) and 4111-1111-1111-1111", ["4111-1111-1111-1111"],
             "visa 4111 1111 1111 1112 (mistyped) and [card number: in the contact]"),
            ("身份证 110105194912310038 卡 5200 0000 0000 0007", ["110105194912310038", "5200 0000 0000 0007"],
             "身份证 [ID number: in the contact] 卡 [card number: in the contact]"),
        ] {
            let found = ContactInText.all(in: text)
            #expect(found.map(\.value) == values, "\(text): \(found)")
            let withMarkers = ContactInText.withMarkers(text, replacing: found)
            #expect(withMarkers == marked)
            #expect(ContactInText.first(in: withMarkers) == nil)
        }
    }

    /// Before 2026-12-06 an address took a dash or an underscore written after it along, and a
    /// number right before an address beginning with digits was left; intake still reads texts so
    /// (``ContactInText/Reading/before20261206``) to know retries of what it stored then.
    @Test func textsAreStillReadAsBefore20261206() {
        let text = "12345678@qq.com-(021) 6543-2109, li@qq.com_ or 7654321 8@qq.com and li.wei@example.org. 李伟@例子.中国—谢谢"
        #expect(ContactInText.all(in: text, reading: .before20261206).map(\.value)
                == ["12345678@qq.com-", "(021) 6543-2109", "li@qq.com_", "8@qq.com", "li.wei@example.org", "李伟@例子.中国—谢谢"])
        #expect(ContactInText.all(in: text, reading: .current).map(\.value)
                == ["12345678@qq.com", "(021) 6543-2109", "li@qq.com", "7654321", "8@qq.com", "li.wei@example.org", "李伟@例子.中国"])
        #expect(ContactInText.all(in: text) == ContactInText.all(in: text, reading: .current))
    }

    /// Intake reads every text's bytes, sixteen at a time, before walking its characters: the
    /// same answer as byte by byte, for texts of every length (past the 4,080 bytes after which
    /// its lanes are summed) and every place of the digits and the `@`.
    @Test func theByteCountBeforeTheWalkAnswersAsByteByByte() async {
        var rng = SystemRandomNumberGenerator()
        // `伐` is E4 BC 90: its last two bytes are those of `０` (EF BC 90).
        let pieces = ["a", "1", " ", "é", "１", "中", "伐", "＠"]
        for n in [0, 1, 6, 7, 15, 16, 17, 31, 33, 120, 4_079, 4_080, 4_081, 4_200, 9_000] {
            for _ in 0..<40 {
                // Mostly letters, a few digits, rarely an `@`: answers of both kinds.
                let text = String((0..<n).map { _ -> Character in
                    let r = Int.random(in: 0..<1_000, using: &rng)
                    return Character(r < 3 ? "@" : r < (n > 100 ? 5 : 300) ? "1" : ["１", "＠"].contains(pieces[r % 8]) && r > 20 ? "b" : pieces[r % 8])
                }.map(String.init).joined().prefix(n))
                let bytes = Array(text.utf8)
                // ASCII digits and `@`, and a 0xBC before 0x90–0x99 (a full-width digit) or 0xA0 (`＠`).
                let wide = zip(bytes, bytes.dropFirst()).filter { $0 == 0xBC && $1 &- 0x90 < 10 }.count
                let wideAt = zip(bytes, bytes.dropFirst()).contains { $0 == 0xBC && $1 == 0xA0 }
                let naive = bytes.contains(UInt8(ascii: "@")) || wideAt || bytes.filter { $0 &- 48 < 10 }.count + wide >= 7
                #expect(ContactInText.mayHold(text) == naive, "\(text.utf8.count) bytes")
                await Task.yield()   // seconds of work in a debug build: the other tests' turn on the pool
            }
        }
    }

    @Test func numbersThatAreNotPhonesAreLeftAlone() {
        for text in ["case L1-0000042 again", "on 2026-12-05 at 21:30", "on 05.12.2026", "plate 粤B12345", "unit STN-EAST-01",
                     "about 3 hours", "room 12345", "@ the station", "ref ABC1234567", "12345678km", "user@localhost"] {
            #expect(ContactInText.first(in: text) == nil, "\(text): \(String(describing: ContactInText.first(in: text)))")
        }
    }
}

/// A line's object is written back as JSON for protobuf's reader by ``JSONText/written(_:)``, not
/// Foundation's writer (two fifths of a desk's file's time): the submission read from it must be
/// the one Foundation's bytes give, whatever the strings hold, or a file sent again after the
/// change would find its stored lines in conflict.
@Suite struct JSONTextWriterTests {
    static let stringFields = ["submission_id", "text", "unit", "address", "officer_badge", "language", "category"]
    static let pools: [[Unicode.Scalar]] = [
        (0x00...0x7F).compactMap(Unicode.Scalar.init),                       // ASCII, control characters, " \ /
        ["\u{7F}", "\u{80}", "\u{9F}", "é", "ß", "\u{2028}", "\u{2029}", "\u{FEFF}", "\u{301}", "\u{200D}"],
        ["派", "出", "所", "电", "话", "\u{3000}", "，", "。"],
        ["😀", "👮", "\u{1F1E8}", "\u{1F1F3}", "\u{1F3FD}", "\u{10FFFF}"],
    ]

    static func randomString(_ rng: inout some RandomNumberGenerator) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...24, using: &rng) {
            let pool = pools.randomElement(using: &rng)!
            s.append(pool.randomElement(using: &rng)!)
        }
        return String(s)
    }

    static func viaFoundation(_ obj: [String: Any]) throws -> Liaison_V1_SubmitFeedback {
        try Liaison_V1_SubmitFeedback(jsonUTF8Data: JSONSerialization.data(withJSONObject: obj))
    }

    @Test func whatProtobufReadsFromItIsWhatItReadsFromFoundations() async throws {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<3_000 {
            if round % 100 == 0 { await Task.yield() }
            var obj: [String: Any] = [:]
            for key in Self.stringFields where Bool.random(using: &rng) { obj[key] = Self.randomString(&rng) }
            if Bool.random(using: &rng) { obj["kind"] = Liaison_V1_FeedbackKind.allCases.randomElement(using: &rng)!.rawValue }
            if Bool.random(using: &rng) { obj["channel"] = Liaison_V1_Channel.allCases.randomElement(using: &rng)!.rawValue }
            if Bool.random(using: &rng) {
                var contact: [String: Any] = [:]
                for key in ["name", "phone", "email"] where Bool.random(using: &rng) { contact[key] = Self.randomString(&rng) }
                obj["contact"] = contact
            }
            let bytes = try #require(JSONText.written(obj), "\(obj)")
            let mine = try Liaison_V1_SubmitFeedback(jsonUTF8Bytes: bytes)
            let theirs = try Self.viaFoundation(obj)
            #expect(mine == theirs, "\(obj)")
            #expect(try mine.serializedBytes() as [UInt8] == theirs.serializedBytes(), "the stored body, byte for byte")
        }
    }

    /// The field protobuf's reader names as unknown, which the command's "did you mean" reads.
    @Test func anUnknownFieldIsTheSameErrorEitherWay() throws {
        func unknown(_ bytes: [UInt8]) -> String {
            do { _ = try Liaison_V1_SubmitFeedback(jsonUTF8Bytes: bytes); return "none" }
            catch JSONDecodingError.unknownField(let name) { return name } catch { return "\(error)" }
        }
        for (obj, name) in [(["txt": "a"] as [String: Any], "txt"), (["text": "a", "contact": ["phnoe": "1"]], "phnoe")] {
            #expect(unknown(try #require(JSONText.written(obj))) == name)
            #expect(unknown(Array(try JSONSerialization.data(withJSONObject: obj))) == name)
        }
    }

    /// What it does not take is left to Foundation's writer: numbers and true/false as a line
    /// gives them, lists, nulls.
    @Test func valuesFromTheLineThatAreNotTextAreLeftToFoundation() throws {
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(#"{"kind":2,"x":true,"y":1.5}"#.utf8)) as? [String: Any])
        for key in ["kind", "x", "y"] { #expect(JSONText.written([key: parsed[key]!]) == nil, "\(key)") }
        #expect(JSONText.written(["text": ["a"]]) == nil)
        #expect(JSONText.written(["text": NSNull()]) == nil)
        #expect(JSONText.written(["contact": ["phone": 13800000001.0]]) == nil)
        #expect(JSONText.written(["text": "a\"b\\c\u{1}", "kind": 3]).map { String(decoding: $0, as: UTF8.self) }
                .map { $0 == #"{"text":"a\"b\\c\u0001","kind":3}"# || $0 == #"{"kind":3,"text":"a\"b\\c\u0001"}"# } == true)
    }

    /// A blank line and a # comment are passed over as before, also behind an ideographic space.
    @Test func blankLinesAndCommentsBehindAnyWhiteSpaceArePassedOver() throws {
        let text = "  \n\t# a comment\n\u{3000}\u{3000}\n\u{3000}# 注释\n \u{3000}x\n\u{3000}{\"kind\":\"praise\"}\n {\"kind\":\"tip\"}\n#\n"
        let lines = FeedbackFile.lines(of: Data(text.utf8))
        #expect(lines.map(\.line) == [5, 6, 7])
        #expect(try lines.map { try $0.text.get() } == [" \u{3000}x", "\u{3000}{\"kind\":\"praise\"}", " {\"kind\":\"tip\"}"])
    }
}
