import Foundation
import LiaisonCodec
import LiaisonRuntime
import Logging
import Testing

final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "liaison-svc-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

func feedback(_ id: String = UUID().uuidString, kind: Liaison_V1_FeedbackKind = .complaint, text: String = "The officer was rude",
              unit: String = "STN-EAST-01", officer: String = "") -> Liaison_V1_SubmitFeedback {
    var f = Liaison_V1_SubmitFeedback()
    f.submissionID = id
    f.kind = kind
    f.channel = .hotline
    f.text = text
    f.unit = unit
    f.officerBadge = officer
    return f
}

/// The demo city with `extra` units added (`(code, type, parent)`), written as a unit directory
/// file at `path`: a unit that opens.
func writeUnits(_ path: String, adding extra: [(String, String, String)]) throws {
    var json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(UnitDirectory.demo)) as! [String: Any]
    var units = json["units"] as! [[String: Any]]
    for (code, type, parent) in extra { units.append(["code": code, "name": "New " + code, "type": type, "parent": parent]) }
    json["units"] = units
    try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
}

func request(_ body: Liaison_V1_Request.OneOf_Body) -> Liaison_V1_Request {
    var r = Liaison_V1_Request()
    r.body = body
    return r
}

/// An operator's request for a case's contact data, naming who and why as every one must.
func contactQuery(_ caseNumber: String, actor: String = "desk-7", reason: String = "follow-up call") -> Liaison_V1_GetContact {
    .with { $0.caseNumber = caseNumber; $0.actor = actor; $0.reason = reason }
}

/// A logger whose lines (level, message, metadata) are kept for the test to read.
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [String] = []
    var lines: [String] { lock.withLock { kept } }
    var logger: Logger { Logger(label: "test") { _ in Sink(log: self) } }

    struct Sink: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let meta = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            log.lock.withLock { log.kept.append("\(event.level) \(event.message) \(meta)") }
        }
    }
}

enum LiaisonPaths {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
}
