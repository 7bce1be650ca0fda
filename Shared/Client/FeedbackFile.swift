import Foundation
import LiaisonCodec
import SwiftProtobuf

/// Reads a batch of submissions from JSON lines (a hotline desk's file): one object a line, with
/// the fields of `SubmitFeedback` (proto field names), kinds and channels by short name
/// (`"kind": "complaint"`, `"channel": "walk_in"`). A line without `submission_id` gets
/// `<file name>:<line number>`, so submitting the same file again never makes second cases.
public enum FeedbackFile {
    public struct LineError: Error, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// Parses one line (1-based `line` for messages and default ids).
    public static func parse(_ text: String, line: Int, source: String) -> Result<Liaison_V1_SubmitFeedback, LineError> {
        guard var obj = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] else {
            return .failure(LineError(line: line, message: "not a JSON object"))
        }
        if let k = obj["kind"] as? String, !k.hasPrefix("FEEDBACK_KIND_") {
            guard let kind = Liaison_V1_FeedbackKind(name: k) else {
                return .failure(LineError(line: line, message: "kind '\(k)' is not one of \(Liaison_V1_FeedbackKind.named.map(\.0).joined(separator: ", "))"))
            }
            obj["kind"] = kind.rawValue
        }
        if let c = obj["channel"] as? String, !c.hasPrefix("CHANNEL_") {
            guard let channel = Liaison_V1_Channel(name: c) else {
                return .failure(LineError(line: line, message: "channel '\(c)' is not one of \(Liaison_V1_Channel.named.map(\.0).joined(separator: ", "))"))
            }
            obj["channel"] = channel.rawValue
        }
        do {
            let data = try JSONSerialization.data(withJSONObject: obj)
            var f = try Liaison_V1_SubmitFeedback(jsonUTF8Data: data)
            if f.submissionID.isEmpty { f.submissionID = "\(source):\(line)" }
            return .success(f)
        } catch {
            return .failure(LineError(line: line, message: "\(error)"))
        }
    }
}
