import Foundation
import LiaisonCodec

/// The rules a submission must pass before intake accepts it. Each failure names its field.
public enum SubmissionRules {
    public static let maxTextCharacters = 4_000
    public static let maxSubmissionIDLength = 128

    /// Checks `s` and returns the first rule it breaks, naming the field (`submit_feedback.text`, …).
    public static func check(_ s: Liaison_V1_SubmitFeedback) -> WireError? {
        let f = "submit_feedback."
        let id = s.submissionID.trimmingCharacters(in: .whitespaces)
        if id.isEmpty {
            return .invalidArgument(f + "submission_id", "submission_id is required: a client-chosen id, reused on every retry")
        }
        if id.count > maxSubmissionIDLength {
            return .invalidArgument(f + "submission_id", "submission_id is \(id.count) characters; at most \(maxSubmissionIDLength)")
        }
        switch s.kind {
        case .unspecified:
            return .invalidArgument(f + "kind", "kind is required: complaint, praise, suggestion, inquiry, tip, help_request or mediation_request")
        case .UNRECOGNIZED(let n):
            return .invalidArgument(f + "kind", "kind \(n) is not a known feedback kind")
        default: break
        }
        switch s.channel {
        case .unspecified:
            return .invalidArgument(f + "channel", "channel is required: hotline, web, app, walk_in, letter, liaison_visit, open_week or social_media")
        case .UNRECOGNIZED(let n):
            return .invalidArgument(f + "channel", "channel \(n) is not a known channel")
        default: break
        }
        let text = s.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { return .invalidArgument(f + "text", "text must not be empty") }
        if text.count > maxTextCharacters {
            return .invalidArgument(f + "text", "text is \(text.count) characters; at most \(maxTextCharacters)")
        }
        if s.unit.trimmingCharacters(in: .whitespaces).isEmpty && s.address.trimmingCharacters(in: .whitespaces).isEmpty {
            return .invalidArgument(f + "unit", "a unit code or an address is required")
        }
        return nil
    }
}
