import Foundation
import LiaisonCodec
import SwiftProtobuf

/// Reads a batch of submissions from JSON lines (a hotline desk's file): one object a line, with
/// the fields of `SubmitFeedback` (proto field names), kinds and channels by short name
/// (`"kind": "complaint"`, `"channel": "walk_in"`). The contact goes in `"contact": {"name",
/// "phone", "email"}`, or those three stand at the top level, as a desk's export may write them.
/// A line without `submission_id` gets one made of the file's name, the line's number and a
/// fingerprint of the line (``submissionID(source:line:text:)``): submitting the same file again
/// never makes second cases, and tomorrow's file of the same name, or another desk's, is not taken
/// for it.
public enum FeedbackFile {
    public struct LineError: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        /// The field at fault (`kind`, `occurred_at`), where one is; empty for a line that is not
        /// a submission at all (not JSON, an unknown field).
        public var field: String = ""
        public var description: String { "line \(line): \(message)" }

        public init(line: Int, message: String, field: String = "") {
            self.line = line
            self.message = message
            self.field = field
        }
    }

    /// The submission lines of a file's bytes, each with its 1-based line number: blank lines and
    /// lines starting with `#` are left out; a Windows line end (`\r\n`) and a UTF-8 byte-order mark
    /// are accepted. A line that is not valid UTF-8 (a file saved as GBK, say) is an error of its
    /// own, so the rest of the file still goes in. (``Lines`` reads a file the same way, a chunk at a
    /// time.)
    public static func lines(of data: Data) -> [(line: Int, text: Result<String, LineError>)] {
        var reader = Lines(data: data)
        var out: [(line: Int, text: Result<String, LineError>)] = []
        // Reading from memory cannot fail.
        while let line = try? reader.next() { out.append(line) }
        return out
    }

    /// The submission lines of a file, read a chunk at a time: a desk's file of any size takes the
    /// memory of one chunk and its longest line, never the whole file. The same lines as
    /// ``lines(of:)``; a line longer than `maxLineBytes` (no submission is anywhere near it: its
    /// text is at most 4,000 characters) is an error of its own and is skipped without being held.
    public struct Lines {
        /// Reads up to the given number of bytes; empty at the end of the file.
        private let read: (Int) throws -> [UInt8]
        private let chunkSize: Int
        public let maxLineBytes: Int
        private var buffer: [UInt8] = []
        /// Where the next line starts in `buffer`, and how far it has been searched for a line end.
        private var start = 0
        private var scanned = 0
        private var atEnd = false
        private var atStart = true
        /// The last line read (1-based, blank and comment lines counted): what a progress bar shows.
        public private(set) var lineNumber = 0
        /// The most bytes held at once, for tests of the bound.
        public private(set) var peakBufferedBytes = 0

        /// Reads the file at `path`.
        /// - Throws: ``FileError`` when the file cannot be opened (not found, no permission, a
        ///   directory); ``next()`` throws it when a read fails.
        public init(path: String, chunkSize: Int = 1 << 16, maxLineBytes: Int = 1 << 20) throws {
            let file = try OpenFile(path: path)
            self.init(chunkSize: chunkSize, maxLineBytes: maxLineBytes) { n in try file.read(upTo: n) }
        }

        /// Reads bytes already in memory, `chunkSize` at a time (tests give small chunks to cut
        /// lines, line ends and characters between reads).
        public init(data: Data, chunkSize: Int = 1 << 16, maxLineBytes: Int = 1 << 20) {
            var offset = data.startIndex
            self.init(chunkSize: chunkSize, maxLineBytes: maxLineBytes) { n in
                let end = min(data.endIndex, offset + n)
                defer { offset = end }
                return [UInt8](data[offset..<end])
            }
        }

        /// Reads from `read`, which returns up to the given number of bytes and nothing at the end.
        public init(chunkSize: Int = 1 << 16, maxLineBytes: Int = 1 << 20, read: @escaping (Int) throws -> [UInt8]) {
            self.read = read
            self.chunkSize = max(1, chunkSize)
            self.maxLineBytes = max(1, maxLineBytes)
        }

        /// The next submission line with its number, or nil at the end of the file.
        /// - Throws: when reading the file fails.
        public mutating func next() throws -> (line: Int, text: Result<String, LineError>)? {
            while let raw = try nextRawLine() {
                lineNumber += 1
                let number = lineNumber
                guard case .some(var slice) = raw else {
                    return (number, .failure(LineError(line: number, message: "longer than \(maxLineBytes) bytes: not one submission (is the file JSON lines?)")))
                }
                if slice.last == 0x0D { slice = slice.dropLast() }
                guard let text = String(validating: slice, as: UTF8.self) else {
                    return (number, .failure(LineError(line: number, message: "not valid UTF-8 (save the file as UTF-8; from GBK: iconv -f GBK -t UTF-8)")))
                }
                // A blank line or a # comment is passed over. Its first byte past spaces and tabs
                // says so at once; only a line that starts with other Unicode (an ideographic
                // space?) is trimmed as Foundation trims.
                switch slice.first(where: { $0 != 0x20 && $0 != 0x09 }) {
                case nil, UInt8(ascii: "#")?: continue
                case let b? where b < 0x80: return (number, .success(text))
                default:
                    let trimmed = text.trimmingCharacters(in: .whitespaces)
                    if !trimmed.isEmpty && !trimmed.hasPrefix("#") { return (number, .success(text)) }
                }
            }
            return nil
        }

        /// The next line's bytes without its `\n` (`.some(nil)` for a line over the limit, which is
        /// skipped unread), or nil at the end of the file.
        private mutating func nextRawLine() throws -> ArraySlice<UInt8>?? {
            var tooLong = false
            while true {
                if atStart {
                    // A byte-order mark is looked for once three bytes are in (or the file is shorter).
                    guard buffer.count >= 3 || atEnd else { try readChunk(); continue }
                    atStart = false
                    if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { buffer.removeFirst(3) }
                }
                if let end = buffer[scanned...].firstIndex(of: 0x0A) {
                    let line = buffer[start..<end]
                    start = end + 1
                    scanned = start
                    return tooLong ? .some(nil) : .some(line)
                }
                scanned = buffer.count
                if atEnd {
                    guard start < buffer.count || tooLong else { return nil }
                    let line = buffer[start...]
                    start = buffer.count
                    return tooLong ? .some(nil) : .some(line)
                }
                // Past the limit without a line end: drop what is held of this line and remember
                // it is too long, so a file without line ends is never held whole.
                if buffer.count - start > maxLineBytes {
                    tooLong = true
                    start = buffer.count
                }
                if start > 0 {
                    buffer.removeFirst(start)
                    scanned -= start
                    start = 0
                }
                try readChunk()
            }
        }

        private mutating func readChunk() throws {
            let more = try read(chunkSize)
            if more.isEmpty { atEnd = true } else { buffer.append(contentsOf: more) }
            peakBufferedBytes = max(peakBufferedBytes, buffer.count)
        }
    }

    /// The lines of the file at `path` (its line ends, and a last line without one), read a chunk
    /// at a time: what a progress bar counts to.
    /// - Throws: ``FileError`` when the file cannot be read.
    public static func countLines(path: String) throws -> Int {
        let file = try OpenFile(path: path)
        var count = 0, last: UInt8 = 0x0A
        while case let chunk = try file.read(upTo: 1 << 16), let end = chunk.last {
            for b in chunk where b == 0x0A { count += 1 }
            last = end
        }
        return last == 0x0A ? count : count + 1
    }

    /// The largest JSON document (an array) or CSV sheet taken whole; a bigger one is JSON lines' work.
    public static let maxDocumentBytes = 64 << 20

    /// A file that is not JSON lines in UTF-8, taken as its items: what it is (for the clerk) and
    /// its items as JSON lines.
    public struct Document: Sendable {
        /// `one JSON document`, `a CSV sheet with a header row (comma-separated)`, `JSON lines`
        /// (in UTF-16), each followed by `, in UTF-16` for a file in UTF-16.
        public let what: String
        /// What an item is: `object` or `row`; `line` for JSON lines in UTF-16, whose items are
        /// the file's lines, blank and comment lines included, numbered as in the file.
        public let item: String
        public let items: [String]
        /// Each item's number, as the clerk finds it: a sheet's row as the spreadsheet numbers it
        /// (the header is row 1, an empty row counts), so that "line 7" is row 7 in Excel; else
        /// 1, 2, 3, ...
        public let numbers: [Int]

        public init(what: String, item: String, items: [String], numbers: [Int]? = nil) {
            self.what = what
            self.item = item
            self.items = items
            self.numbers = numbers ?? items.indices.map { $0 + 1 }
        }

        /// The items as JSON lines, each at the line of its number (blank lines between), for
        /// ``Lines``, which numbers them so.
        public var lines: Data {
            var text = ""
            var line = 0
            for (item, number) in zip(items, numbers) {
                text += String(repeating: "\n", count: max(0, number - line - 1))
                text += item + "\n"
                line = number
            }
            return Data(text.utf8)
        }
    }

    /// What a file that is not text is, by its first bytes, and what a desk does instead: the
    /// workbook itself given in place of its CSV, a letter as a Word document, a PDF or a scan.
    /// Read as lines, such a file was refused line by line as "not valid UTF-8 (save the file as
    /// UTF-8; from GBK: iconv …)", which sends a clerk the wrong way. `name` (the file's name) tells
    /// a Word document from a workbook, both zip archives.
    public static func binaryKind(_ head: some Collection<UInt8>, name: String) -> (what: String, todo: String)? {
        let bytes = Array(head.prefix(8))
        let ext = (name as NSString).pathExtension.lowercased()
        let sheet = "save the sheet as CSV UTF-8 (Excel: File > Save As > CSV UTF-8 (Comma delimited)) and give that file"
        let letter = "a letter is one submission: save its text as a .txt file and give it with --text-file, or type it in with --ask"
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            return ["docx", "odt"].contains(ext) ? ("a word-processor document (.\(ext))", letter)
                : ("a spreadsheet workbook (.xlsx, .ods) or another zip archive", sheet)
        }
        if bytes.starts(with: [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            return ext == "doc" ? ("a Word document (.doc)", letter) : ("an Excel workbook of the old format (.xls) or another Office 97-2003 file", sheet)
        }
        if bytes.starts(with: Array("%PDF".utf8)) { return ("a PDF", letter) }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) || bytes.starts(with: [0xFF, 0xD8, 0xFF])
            || bytes.starts(with: Array("GIF8".utf8)) || bytes.starts(with: [0x49, 0x49, 0x2A, 0x00]) || bytes.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            return ("an image (a scan or a photo)", letter)
        }
        return nil
    }

    /// The text of UTF-16 bytes that start with a byte-order mark (`FF FE`, `FE FF`): what Windows
    /// Notepad saves as "Unicode" and Excel as "Unicode Text". Nil for other bytes; throws
    /// ``LineError`` (line 1) for UTF-16 that does not decode.
    public static func utf16Text(_ bytes: some Collection<UInt8>) throws -> String? {
        let little = bytes.starts(with: [0xFF, 0xFE]), big = bytes.starts(with: [0xFE, 0xFF])
        guard little || big else { return nil }
        var units: [UInt16] = []
        units.reserveCapacity(bytes.count / 2)
        var i = bytes.index(bytes.startIndex, offsetBy: 2)
        while i != bytes.endIndex {
            let a = bytes[i]
            i = bytes.index(after: i)
            guard i != bytes.endIndex else { throw LineError(line: 1, message: "the file is UTF-16 (it starts with its byte-order mark) but ends inside a character; nothing was sent") }
            let b = bytes[i]
            i = bytes.index(after: i)
            units.append(little ? UInt16(a) | UInt16(b) << 8 : UInt16(a) << 8 | UInt16(b))
        }
        var text = ""
        text.reserveCapacity(units.count)
        var decoder = UTF16()
        var iterator = units.makeIterator()
        var position = 0
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                text.unicodeScalars.append(scalar)
                position += 1
            case .emptyInput: break loop
            case .error:
                throw LineError(line: 1, message: "the file is UTF-16 (it starts with its byte-order mark) but character \(position + 1) is half a pair (a damaged file?); nothing was sent")
            }
        }
        return text
    }

    /// The file as its items when it is not JSON lines; nil for a file of JSON lines.
    ///
    /// - One JSON document (a web tool's export: an array of objects, or one object printed over
    ///   several lines): its objects. Read line by line such a file went in by halves: the array's
    ///   lines with a trailing comma were refused, the last object's line was sent.
    /// - A sheet saved as CSV (comma, semicolon or tab separated) whose first row names the fields
    ///   (`kind,channel,unit,text,phone`): its rows, an empty cell a field left out, a cell's text
    ///   kept as typed (a phone keeps its leading 0).
    ///
    /// Each item is one compact JSON line with sorted keys, so that the same file gives the same
    /// lines, and the same default submission ids, on every run.
    /// - Throws: ``LineError`` (line 1) for a document too big to take whole, or one that does not
    ///   parse, naming what to do; ``FileError`` when the file cannot be read.
    ///
    /// A file in UTF-16 with its byte-order mark (Notepad's "Unicode", Excel's "Unicode Text", a
    /// tab-separated sheet) is decoded whole, up to twice ``maxDocumentBytes``: a sheet or a JSON
    /// document is taken as above, JSON lines as its lines (item `line`).
    public static func document(path: String) throws -> Document? {
        let file = try OpenFile(path: path)
        var head = try file.read(upTo: 1 << 16)
        if let kind = binaryKind(head, name: path) {
            throw LineError(line: 1, message: "the file is \(kind.what), not text: \(kind.todo); nothing was sent")
        }
        if head.starts(with: [0xFF, 0xFE]) || head.starts(with: [0xFE, 0xFF]) {
            while case let chunk = try file.read(upTo: 1 << 20), !chunk.isEmpty {
                head.append(contentsOf: chunk)
                if head.count > 2 * maxDocumentBytes {
                    throw LineError(line: 1, message: "the file is UTF-16 and over \(2 * maxDocumentBytes >> 20) MiB: save it as UTF-8 (iconv -f UTF-16 -t UTF-8); nothing was sent")
                }
            }
            let text = try utf16Text(head)!
            let decoded = Array(text.utf8)
            if let d = try document(head: decoded, more: { _ in [] }) {
                return Document(what: d.what + ", in UTF-16", item: d.item, items: d.items, numbers: d.numbers)
            }
            return Document(what: "JSON lines, in UTF-16", item: "line", items: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        }
        if head.starts(with: [0xEF, 0xBB, 0xBF]) { head.removeFirst(3) }
        return try document(head: head, more: file.read(upTo:))
    }

    /// ``document(path:)`` of UTF-8 bytes: `head`, the file's start without a byte-order mark, and
    /// what `more` reads after it (empty at the end).
    package static func document(head: [UInt8], more: (Int) throws -> [UInt8]) throws -> Document? {
        guard let first = head.firstIndex(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }) else { return nil }
        /// The whole file from its first character, up to ``maxDocumentBytes``; `tooBig` says what
        /// to do with a bigger one.
        func whole(_ tooBig: String) throws -> Data {
            var data = Data(head[first...])
            if data.count > maxDocumentBytes { throw LineError(line: 1, message: tooBig) }
            while case let chunk = try more(1 << 20), !chunk.isEmpty {
                data.append(contentsOf: chunk)
                if data.count > maxDocumentBytes { throw LineError(line: 1, message: tooBig) }
            }
            return data
        }
        if let separator = csvSeparator(head[first...]) {
            let data = try whole("the sheet is over \(maxDocumentBytes >> 20) MiB: split it, or give it as JSON lines")
            guard let text = String(validating: data, as: UTF8.self) else {
                throw LineError(line: 1, message: "the sheet is not UTF-8 text (saved as CSV in GBK, say?): save it as \"CSV UTF-8\"; nothing was sent")
            }
            guard let records = csvRecords(text, separator: separator) else {
                throw LineError(line: 1, message: "the sheet ends inside a quoted cell (a \" left open); nothing was sent")
            }
            // Rows numbered as the spreadsheet numbers them: blank lines before the header count,
            // and so do empty rows, which are left out.
            let blankBefore = head[..<first].filter { $0 == 0x0A }.count
            let filled = records.indices.filter { records[$0].contains { !$0.trimmingCharacters(in: .whitespaces).isEmpty } }
            guard let headerIndex = filled.first else {
                throw LineError(line: 1, message: "the sheet has no header row naming its fields; nothing was sent")
            }
            let header = records[headerIndex]
            let rows = filled.dropFirst().map { (number: blankBefore + $0 + 1, cells: records[$0]) }
            // Each column's field: its header as the field's name, or as a desk writes it (电话, Phone
            // number). A column headed with no field (a call system's export: Agent, Duration) refuses
            // the sheet, naming it: refused row by row, every row said the same and none went in. A
            // column without a header is named by its number, and only a row that fills it is refused.
            let headings = header.map { $0.trimmingCharacters(in: .whitespaces) }
            let unknown = headings.indices.filter { !headings[$0].isEmpty && sheetField(headings[$0]) == nil && !isRowNumberHeader(headings[$0]) }
            if !unknown.isEmpty {
                let taken = fields.filter { $0 != "contact" } + contactFields
                let named = unknown.map { i in
                    "\(WireError.quoted(headings[i])) (column \(i + 1)\(Spelling.meant(headings[i], among: taken).map { ", did you mean \($0)?" } ?? ""))"
                }
                throw LineError(line: 1, message: "the sheet's column\(unknown.count == 1 ? "" : "s") \(named.joined(separator: ", ")) name\(unknown.count == 1 ? "s" : "") no field of a submission: delete \(unknown.count == 1 ? "it" : "them"), or head \(unknown.count == 1 ? "it" : "each") with a field's name (\(taken.joined(separator: ", "))) or as a desk writes it (Phone number, 电话, 内容); nothing was sent")
            }
            // nil: a column of row numbers (序号, No.), which a sheet keeps for its readers.
            let names: [String?] = headings.indices.map { i in
                headings[i].isEmpty ? "column \(i + 1)" : isRowNumberHeader(headings[i]) ? nil : sheetField(headings[i])
            }
            let lines = rows.map(\.cells).map { row -> String in
                var object: [String: Any] = [:]
                var again: [(String, String)] = []
                for (i, cell) in row.enumerated() where !cell.trimmingCharacters(in: .whitespaces).isEmpty {
                    // A cell past the header's names: an unknown field, named by its column. A row
                    // number: left out.
                    guard let name = i < names.count ? names[i] : "column \(i + 1)" else { continue }
                    if object[name] == nil { object[name] = cell } else { again.append((name, cell)) }
                }
                var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
                // Two columns of one field both filled in (电话 and 手机): both are written, so
                // that the row is refused naming the field, where a dictionary would keep one.
                for (name, cell) in again {
                    let pair = (try? JSONSerialization.data(withJSONObject: [name: cell], options: [.withoutEscapingSlashes])) ?? Data("{}".utf8)
                    data = pair.dropLast() + Data(",".utf8) + data.dropFirst()
                }
                return String(decoding: data, as: UTF8.self)
            }
            let named = separator == "\t" ? "tab" : separator == ";" ? "semicolon" : "comma"
            return Document(what: "a CSV sheet with a header row (\(named)-separated)", item: "row", items: lines, numbers: rows.map(\.number))
        }
        guard head[first] == UInt8(ascii: "[") || head[first] == UInt8(ascii: "{") else { return nil }
        // An object whose first line is whole is JSON lines' first line, unless it wraps the list.
        if head[first] == UInt8(ascii: "{") {
            let lineEnd = head[first...].firstIndex(of: 0x0A) ?? head.endIndex
            if let object = try? JSONSerialization.jsonObject(with: Data(head[first..<lineEnd])), wrappedList(object) == nil { return nil }
        }
        let data = try whole("the file is one JSON array of more than \(maxDocumentBytes >> 20) MiB: give it as JSON lines, one object a line (jq -c '.[]' FILE > FILE.jsonl)")
        let document: Any
        do { document = try JSONSerialization.jsonObject(with: data) } catch {
            // Not one document either: read as JSON lines, each line's fault named.
            if head[first] == UInt8(ascii: "{") { return nil }
            throw LineError(line: 1, message: "the file starts as a JSON array but is not valid JSON (\((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)")); nothing was sent")
        }
        let bytes = [UInt8](data)
        if let (key, list) = wrappedList(document) {
            if let r = JSONText.repeatedKeys(bytes).first {
                throw LineError(line: 1, message: "the file's \(WireError.quoted(key)) list gives \"\(r.key)\" twice in one of its objects: keep one (a JSON reader would keep the last and drop the other); nothing was sent")
            }
            return Document(what: "one JSON document, its \(WireError.quoted(key)) list", item: "object", items: list.map { item in
                let line = try? JSONSerialization.data(withJSONObject: item, options: [.sortedKeys, .withoutEscapingSlashes])
                return line.map { String(decoding: $0, as: UTF8.self) } ?? "null"
            })
        }
        let items = (document as? [Any]) ?? [document]
        // An object that gives a key twice goes as written, on one line, to be refused as its line
        // names it: the parsed object kept only the last of the two.
        var repeated: [Int: Range<Int>] = [:]
        for r in JSONText.repeatedKeys(bytes) { repeated[r.item] = r.itemBytes }
        // Each item as one line; a number or a string in the array is written as it stands and
        // refused as its line ("not a JSON object").
        return Document(what: "one JSON document", item: "object", items: items.enumerated().map { index, item in
            if let range = repeated[index] {
                // Line breaks outside strings are JSON's white space (inside one they are not JSON).
                return String(decoding: bytes[range].map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }, as: UTF8.self)
            }
            let line = try? JSONSerialization.data(withJSONObject: item, options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
            return line.map { String(decoding: $0, as: UTF8.self) } ?? "null"
        })
    }

    /// The list of an export that wraps it in an object of one key (`{"data": [...]}`,
    /// `{"records": [...]}`): its objects are the file's submissions. No submission is an object
    /// of one list of objects.
    static func wrappedList(_ document: Any) -> (key: String, list: [Any])? {
        guard let wrapper = document as? [String: Any], wrapper.count == 1, let (key, value) = wrapper.first,
              let list = value as? [Any], !list.isEmpty, list.allSatisfy({ $0 is [String: Any] }) else { return nil }
        return (key, list)
    }

    /// The separator of a CSV sheet whose first row is a header in which at least two columns name
    /// submission fields, or nil: a first line that is anything else is not taken for a sheet.
    static func csvSeparator(_ bytes: ArraySlice<UInt8>) -> Character? {
        let end = bytes.firstIndex(of: 0x0A) ?? bytes.endIndex
        guard let line = String(validating: bytes[bytes.startIndex..<end], as: UTF8.self) else { return nil }
        for separator: Character in [",", ";", "\t"] {
            let names = line.split(separator: separator, omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            // Two columns that name fields make a sheet; the others are named when it is read.
            if names.filter({ sheetField($0) != nil }).count >= 2 { return separator }
        }
        return nil
    }

    /// The submission field a sheet's column header names: the field's own name (`phone`), or a
    /// header as a desk writes it, in English (`Phone number`, `E-mail`, `Badge`) or in Chinese
    /// (`电话`, `内容`, `警号`). Nil for a header that names none.
    static func sheetField(_ header: String) -> String? {
        let typed = header.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        if fields.contains(typed) || contactFields.contains(typed) { return typed }
        return headerWords[typed] ?? headerWords[typed.replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: "-", with: " ")]
    }

    /// A column of row numbers, which a sheet keeps for its readers (`序号`, `No.`, `#`): left out.
    /// A row's number is not an id: rows are sorted and numbered again.
    static func isRowNumberHeader(_ header: String) -> Bool {
        ["序号", "行号", "no", "no.", "#", "row", "row no.", "nr."].contains(header.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// Headers a desk's sheet may have for each field.
    static let headerWords: [String: String] = {
        let words: [String: [String]] = [
            "submission_id": ["submission id", "id", "编号", "提交编号", "受理编号"],
            "kind": ["type", "feedback kind", "类型", "种类", "诉求类型", "反映类型"],
            "channel": ["source", "via", "渠道", "来源", "受理渠道"],
            "text": ["description", "details", "content", "what was said", "内容", "诉求内容", "反映内容", "事由", "描述"],
            "unit": ["unit code", "station", "单位", "涉及单位", "所属单位", "派出所"],
            "address": ["location", "place", "地址", "地点", "发生地点"],
            "officer_badge": ["badge", "officer", "officer badge", "badge number", "警号", "民警警号"],
            "category": ["类别", "分类"],
            "language": ["语言"],
            "occurred_at": ["occurred", "when", "date and time", "发生时间", "时间"],
            "name": ["citizen", "caller", "citizen name", "姓名", "联系人", "来电人"],
            "phone": ["phone number", "telephone", "tel", "mobile", "电话", "手机", "联系电话", "手机号"],
            "email": ["e mail", "mail", "email address", "邮箱", "电子邮件", "电子邮箱"],
        ]
        var table: [String: String] = [:]
        for (field, headers) in words { for h in headers { table[h] = field } }
        return table
    }()

    /// The records of CSV text (RFC 4180: a quoted cell may hold the separator, line breaks and
    /// `""` for a quote), every one of them, rows of empty cells included (the caller leaves them
    /// out, counting them as the spreadsheet does). Nil when a quote is left open.
    static func csvRecords(_ text: String, separator: Character) -> [[String]]? {
        var records: [[String]] = []
        var record: [String] = []
        var cell = ""
        var quoted = false
        var chars = text.makeIterator()
        var pending: Character? = nil
        func endRecord() {
            record.append(cell)
            cell = ""
            records.append(record)
            record = []
        }
        while let c = pending ?? chars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    let next = chars.next()
                    if next == "\"" { cell.append("\"") } else { quoted = false; pending = next }
                } else {
                    cell.append(c)
                }
            } else if c == "\"" && cell.isEmpty {
                quoted = true
            } else if c == separator {
                record.append(cell)
                cell = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                endRecord()
            } else {
                cell.append(c)
            }
        }
        if quoted { return nil }
        if !cell.isEmpty || !record.isEmpty { endRecord() }
        return records
    }

    /// A file that cannot be read, with the reason as the system gives it.
    public struct FileError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot read \(path): \(reason)" }
    }

    /// An open file, closed when the last reader lets it go.
    final class OpenFile {
        let path: String
        private let fd: Int32

        init(path: String) throws {
            self.path = path
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw FileError(path: path, reason: String(cString: strerror(errno))) }
            var st = stat()
            if fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                close(fd)
                throw FileError(path: path, reason: "it is a directory")
            }
        }

        deinit { close(fd) }

        /// Up to `count` bytes; none at the end of the file.
        func read(upTo count: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: count)
            while true {
                let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, count) }
                if n >= 0 {
                    out.removeLast(count - n)
                    return out
                }
                if errno != EINTR { throw FileError(path: path, reason: String(cString: strerror(errno))) }
            }
        }
    }

    /// What a clerk may call a kind or a channel, and the name it has here: suggested, never taken
    /// in its place (a "call" could be a hotline call or a liaison visit's phone call).
    static let otherWords: [String: String] = [
        "compliment": "praise", "thanks": "praise", "thank_you": "praise", "commendation": "praise",
        "question": "inquiry", "enquiry": "inquiry", "query": "inquiry",
        "idea": "suggestion", "proposal": "suggestion", "grievance": "complaint",
        "help": "help_request", "mediation": "mediation_request", "dispute": "mediation_request", "clue": "tip", "report": "tip",
        "phone": "hotline", "call": "hotline", "telephone": "hotline", "tel": "hotline", "110": "hotline", "12345": "hotline",
        "website": "web", "online": "web", "internet": "web", "mobile": "app", "wechat": "social_media", "weibo": "social_media",
        "post": "letter", "mail": "letter", "visit": "liaison_visit", "in_person": "walk_in", "desk": "walk_in",
        "open_day": "open_week", "openweek": "open_week",
    ]

    /// Parses one line (1-based `line` for messages and default ids).
    /// `kind 'complain' is not one of complaint, praise, …: did you mean complaint?`
    public static func unknownName(_ field: String, _ typed: String, _ names: [String]) -> String {
        let word = typed.lowercased().trimmingCharacters(in: .whitespaces)
        let meant = (Self.otherWords[word].flatMap { names.contains($0) ? $0 : nil } ?? Spelling.meant(typed, among: names))
            .map { ": did you mean \($0)?" } ?? ""
        return "\(field) \(WireError.quoted(typed)) is not one of \(names.joined(separator: ", "))\(meant)"
    }

    /// Where a line stops being JSON, as a clerk can find it in an editor: the column (counted in
    /// characters from 1) and the text from there. Foundation's parser gives the byte offset.
    static func notJSON(_ text: String, _ error: Error) -> String {
        let detail = (error as NSError).userInfo["NSDebugDescription"] as? String ?? ""
        // Foundation says a lone surrogate "ends" the text: it is found and named instead.
        if detail.contains("surrogate") || detail.contains("no high character"), let lone = JSONText.loneSurrogate(text) {
            return "not valid JSON at column \(lone.column): \(WireError.quoted(lone.escape)) is half of a character (one of a UTF-16 pair without the other): write the character itself, or both halves"
        }
        if detail.contains("end of file") || detail.contains("Unexpected end") {
            return "not valid JSON: the line ends inside it (a quote, brace or bracket left open)"
        }
        let digits = detail.split(whereSeparator: { !$0.isNumber }).last.flatMap { Int($0) }
        guard let offset = digits, offset <= text.utf8.count else { return "not valid JSON" }
        let head = String(decoding: text.utf8.prefix(offset), as: UTF8.self)
        let rest = String(decoding: text.utf8.dropFirst(offset), as: UTF8.self)
        return "not valid JSON at column \(head.count + 1): \(WireError.quoted(String(rest.prefix(24))))"
            + (rest.count > 24 ? "..." : "") + " (a comma, quote or brace missing just before it?)"
    }

    /// The submission id of a file's line that gives none: `calls.jsonl:7:3f9a0c2e51d7b846`, the
    /// file's name (its first 80 bytes), the line's number and the line's FNV-1a fingerprint. The
    /// same line of the same file is the same submission however often the file is sent (a run
    /// cut short, sent again); a different line at that place (the next day's `calls.jsonl`, a file
    /// of the same name from another desk, a line corrected) is a new one, where the name and
    /// number alone made it a `conflict` and refused the whole file.
    public static func submissionID(source: String, line: Int, text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 {
            hash ^= UInt64(b)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        var name = Substring(source)
        while name.utf8.count > 80 { name = name.dropLast() }
        return "\(name):\(line):\(String(repeating: "0", count: 16 - hex.count))\(hex)"
    }

    /// A line's values as a web tool's export may write them, made what a submission takes: a field
    /// that is `null` is left out (a contact of nulls alone is none: anonymous), and a field that
    /// must be text but is a number, a list or an object is refused by name. Protobuf's reader
    /// said only "malformedString"; a phone exported as a number has lost any leading 0 and is told
    /// to be quoted. Returns the refusal, or nil with `obj` ready.
    static func plainFields(_ obj: inout [String: Any]) -> String? {
        obj = obj.filter { !($0.value is NSNull) }
        if let contact = obj["contact"] {
            guard var c = contact as? [String: Any] else {
                return "\"contact\" is \(described(contact)), not an object like {\"name\": \"...\", \"phone\": \"...\", \"email\": \"...\"}"
            }
            c = c.filter { !($0.value is NSNull) }
            obj["contact"] = c.isEmpty ? nil : c
        }
        // kind and channel may be the enum's number too; the rest is text.
        let textFields = fields.filter { !["kind", "channel", "contact"].contains($0) } + contactFields
        for key in textFields {
            for value in [obj[key], (obj["contact"] as? [String: Any])?[key]] {
                guard let value, !(value is String) else { continue }
                if let number = value as? NSNumber, ["phone", "submission_id", "officer_badge"].contains(key) {
                    return "\"\(key)\" is a number (\(number)), not text: put it in quotes (\"\(number)\"); a number loses a leading 0"
                }
                return "\"\(key)\" is \(described(value)), not text: give it as one string in quotes"
            }
        }
        return nil
    }

    /// A JSON value as a clerk would name it: "a number (12)", "a list", "an object".
    static func described(_ value: Any) -> String {
        switch value {
        case let n as NSNumber: "a number or true/false (\(n))"
        case is [Any]: "a list"
        case is [String: Any]: "an object"
        case is String: "text"
        default: "not text"
        }
    }

    public static func parse(_ text: String, line: Int, source: String) -> Result<Liaison_V1_SubmitFeedback, LineError> {
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) } catch {
            return .failure(LineError(line: line, message: notJSON(text, error)))
        }
        guard var obj = parsed as? [String: Any] else {
            return .failure(LineError(line: line, message: "not a JSON object: each line is one submission, {\"kind\":\"complaint\",\"text\":\"...\",...}"))
        }
        if let repeated = JSONText.repeatedKeys(Array(text.utf8)).first {
            return .failure(LineError(line: line, message: "\"\(repeated.key)\" is given twice: keep one (a JSON reader would keep the last and drop the other)", field: repeated.key))
        }
        if let refused = plainFields(&obj) { return .failure(LineError(line: line, message: refused)) }
        for key in ["phone", "officer_badge", "submission_id"] {
            for case let value as String in [obj[key], (obj["contact"] as? [String: Any])?[key]] where isSpreadsheetNumber(value) {
                return .failure(LineError(line: line, message: spreadsheetNumber(key, value), field: key))
            }
        }
        if let k = obj["kind"] as? String, !k.hasPrefix("FEEDBACK_KIND_") {
            guard let kind = Liaison_V1_FeedbackKind(name: k) else {
                return .failure(LineError(line: line, message: unknownName("kind", k, Liaison_V1_FeedbackKind.named.map(\.0)), field: "kind"))
            }
            obj["kind"] = kind.rawValue
        }
        if let c = obj["channel"] as? String, !c.hasPrefix("CHANNEL_") {
            guard let channel = Liaison_V1_Channel(name: c) else {
                return .failure(LineError(line: line, message: unknownName("channel", c, Liaison_V1_Channel.named.map(\.0)), field: "channel"))
            }
            obj["channel"] = channel.rawValue
        }
        // When it happened, as a desk's export writes it: a zone-less local time is taken as this
        // machine's (see ``time(_:)``). A time with a zone is left to protobuf's own parser, which
        // keeps every digit of it: the same file submitted again must give the same bodies.
        if let when = obj["occurred_at"] as? String, zoned(when) == nil {
            guard let date = local(when) else {
                return .failure(LineError(line: line, message: notATime("occurred_at", when), field: "occurred_at"))
            }
            let rfc3339 = ISO8601DateFormatter()
            rfc3339.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            obj["occurred_at"] = rfc3339.string(from: date)
        }
        for key in contactFields where obj[key] != nil {
            var contact = obj["contact"] as? [String: Any] ?? [:]
            if contact[key] != nil {
                return .failure(LineError(line: line, message: "\"\(key)\" is given twice, at the top level and in \"contact\"", field: key))
            }
            contact[key] = obj.removeValue(forKey: key)
            obj["contact"] = contact
        }
        do {
            var f = if let bytes = JSONText.written(obj) {
                try Liaison_V1_SubmitFeedback(jsonUTF8Bytes: bytes)
            } else {
                try Liaison_V1_SubmitFeedback(jsonUTF8Data: JSONSerialization.data(withJSONObject: obj))
            }
            if f.submissionID.isEmpty { f.submissionID = submissionID(source: source, line: line, text: text) }
            return .success(f)
        } catch JSONDecodingError.unknownField(let name) {
            let inContact = (obj["contact"] as? [String: Any])?[name] != nil
            // A slip of the desk's ("txt", "phnoe") names the field meant, so the line is fixed at once.
            let meant = Spelling.meant(name, among: inContact ? contactFields : fields + contactFields)
                .map { " (did you mean \"\($0)\"?)" } ?? ""
            return .failure(LineError(line: line, message: inContact
                ? "unknown field \"\(name)\" in \"contact\"\(meant); it takes \(contactFields.joined(separator: ", "))"
                : "unknown field \"\(name)\"\(meant); a line takes \(fields.joined(separator: ", ")), and \(contactFields.joined(separator: ", ")) (or them inside \"contact\")"))
        } catch {
            return .failure(LineError(line: line, message: "not a valid submission: \(error)"))
        }
    }

    /// An ISO 8601 time with a zone (`Z` or an offset), with or without fractional seconds; or, as
    /// a clerk types it or a spreadsheet writes it, a date and time without a zone
    /// (`2026-11-29 08:30`, `2026-11-29T08:30:00`, `2026/11/29 8:30`), taken as this machine's
    /// local time.
    public static func time(_ text: String) -> Date? {
        zoned(text) ?? local(text)
    }

    /// A long number as a spreadsheet shows it in a cell of general format, `1.38E+10`, and
    /// writes it so into a CSV: the digits are gone (13800000000 and 13812345678 both read so).
    /// Only as Excel writes it, `E+`: a hexadecimal id (`1e10`) is not taken for one.
    static func isSpreadsheetNumber(_ value: String) -> Bool {
        value.utf8.count <= 40 && value.contains("E+")
            && value.trimmingCharacters(in: .whitespaces).wholeMatch(of: /[0-9](\.[0-9]+)?E\+[0-9]{1,3}/) != nil
    }

    /// Why such a value is refused, and how to get the number back.
    static func spreadsheetNumber(_ field: String, _ value: String) -> String {
        "\"\(field)\" is \(WireError.quoted(value)), a long number as a spreadsheet shows it: its digits are lost. "
            + "Format the column as Text, type the numbers again (or copy them from where they came from), and save the sheet again"
    }

    /// Why `text` is not a time ``time(_:)`` takes, for `field` (`--occurred-at`, `occurred_at`).
    public static func notATime(_ field: String, _ text: String) -> String {
        let t = text.trimmingCharacters(in: .whitespaces)
        // A day alone (what a citizen often remembers): the time of day is not made up here.
        if t.utf8.count == 10, local(t + " 00:00") != nil {
            return "\(field) \(WireError.quoted(text)) has a date but no time of day: add the time the citizen gives (\(t) 08:30), or leave \(field) out and say it in the text"
        }
        return "\(field) \(WireError.quoted(text)) is not a time like 2026-11-29 08:30 (this machine's time zone) or 2026-11-29T08:30:00+08:00"
    }

    /// Whether `text` may be a time at all: every form taken is ASCII and short. Anything else
    /// never reaches Foundation's date formatters, which leak memory on some non-ASCII text (the
    /// fuzzer found 128 bytes a call, in swift-corelibs-foundation's character sets).
    static func mayBeTime(_ text: String) -> Bool {
        text.utf8.count <= 64 && text.utf8.allSatisfy { $0 < 0x80 }
    }

    /// An ISO 8601 time with a zone (`Z` or an offset), with or without fractional seconds.
    static func zoned(_ text: String) -> Date? {
        guard mayBeTime(text) else { return nil }
        let text = text.trimmingCharacters(in: .whitespaces)
        let plain = ISO8601DateFormatter()
        if let d = plain.date(from: text) { return d }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// A date and time without a zone, in this machine's time zone.
    static func local(_ text: String) -> Date? {
        guard mayBeTime(text) else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        // The year first, so never ambiguous: also as a spreadsheet in a Chinese locale writes a
        // date and time into a CSV (2026/11/29 8:30), and with one-digit months, days and hours.
        for format in ["yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss",
                       "yyyy/M/d H:mm", "yyyy/M/d H:mm:ss", "yyyy-M-d H:mm", "yyyy-M-d H:mm:ss"] {
            formatter.dateFormat = format
            if let d = formatter.date(from: text.trimmingCharacters(in: .whitespaces)) { return d }
        }
        return nil
    }

    /// The fields a line may have (`SubmitFeedback`'s, by their proto names), for messages.
    static let fields = ["submission_id", "kind", "channel", "text", "unit", "address", "officer_badge", "category", "language", "occurred_at", "contact"]
    static let contactFields = ["name", "phone", "email"]
}
