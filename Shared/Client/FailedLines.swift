import LiaisonCodec

/// The lines of a desk's file that did not go in, for the closing summary: which ones (as ranges)
/// and why (by the field at fault), and how to send them without sending the rest twice. A clerk
/// with a file of thousands of lines should not have to scroll back through the receipts to find
/// the few that failed, nor delete them and send the file again: a line without a
/// `submission_id` is known by its place (``FeedbackFile/submissionID(source:line:text:)``), so
/// every line after a deleted one would make a second case.
public struct FailedLines {
    private var lines: [Int] = []
    private var reasons: [String: Int] = [:]
    /// Lines refused for what they say (to be put right), as against those intake could not take
    /// then (overloaded, a fault of its own), which go in as they are when sent again.
    private var refused = 0

    public init() {}

    /// How many lines failed.
    public var count: Int { lines.count }

    /// Notes line `line` as failed with `error`: intake's refusal (by its field), a line the
    /// command could not read as a submission, or intake could not take then (`unavailable`).
    public mutating func note(line: Int, _ error: Error) {
        lines.append(line)
        reasons[Self.reason(error), default: 0] += 1
        if Self.isRefusal(error) { refused += 1 }
    }

    /// Whether the line itself is wrong: refused by intake for what it says (a field, a
    /// conflicting id, a caller not allowed) or by the command before it was sent.
    static func isRefusal(_ error: Error) -> Bool {
        switch error {
        case let e as WireError: e.code.isRefusal
        case is FeedbackFile.LineError: true
        default: false
        }
    }

    /// What a failure is counted under: the field intake named (`unit`, `contact.phone`), else
    /// the error's code (`unavailable`); a line the command refused before sending it by the field
    /// it named (`kind`), else as "the line as written" (not JSON, an unknown field).
    static func reason(_ error: Error) -> String {
        switch error {
        case let e as WireError where !e.field.isEmpty:
            e.field.hasPrefix("submit_feedback.") ? String(e.field.dropFirst("submit_feedback.".count)) : e.field
        case let e as WireError: e.codeName
        case let e as FeedbackFile.LineError where !e.field.isEmpty: e.field
        case is FeedbackFile.LineError: "the line as written"
        default: "another error"
        }
    }

    /// The failed lines as ranges in order, `2, 5-7, 12`, at most `limit` of them, then how many
    /// lines more.
    public func listed(limit: Int = 12) -> String {
        var ranges: [ClosedRange<Int>] = []
        for n in lines.sorted() {
            if let last = ranges.last, n <= last.upperBound + 1 {
                ranges[ranges.count - 1] = last.lowerBound...max(last.upperBound, n)
            } else {
                ranges.append(n...n)
            }
        }
        let shown = ranges.prefix(limit)
        var text = shown.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ", ")
        let more = ranges.dropFirst(limit).reduce(0) { $0 + $1.count }
        if more > 0 { text += " and \(more) more" }
        return text
    }

    /// The closing summary, or nil when every line went in. `stored`: the lines that did.
    public func summary(stored: Int) -> String? {
        guard !lines.isEmpty else { return nil }
        let why = reasons.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.value) for \($0.key)" }.joined(separator: ", ")
        let again = stored > 0 ? ": the \(stored) stored come back marked already submitted" : ""
        // Lines intake could not take then need nothing but sending again; refused ones, putting right.
        let what: String
        if refused == 0 {
            what = "Intake could not take \(count == 1 ? "it" : "them") then: submit the same file again in a while\(again)."
        } else {
            let which = refused == count ? (refused == 1 ? "it" : "them") : (refused == 1 ? "the one refused" : "the \(refused) refused")
            what = "Put \(which) right where \(refused == 1 ? "it stands" : "they stand") and submit the same file again\(again)"
                + (refused == count ? "." : "; the others go in as they are.")
        }
        return """
            \(count) not submitted: line\(count == 1 ? "" : "s") \(listed()) (\(why)), each named above with what is wrong.
            \(what) Do not delete or add lines: a line without a submission_id is known by its place in the file, and the lines after one deleted or added would go in again as new cases.\(refused > 0 ? " (Or send the corrected lines alone, in a file of another name.)" : "")

            """
    }
}
