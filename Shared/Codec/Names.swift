import Foundation

/// Lower-case names of the wire enums, as used on the command line, in reports and in JSON lines.

/// A name as typed, in the form of the names below: lower case, `-` or a space for `_` (`Walk-In`
/// and a sheet's `Help request` are `walk_in` and `help_request`). Names are short: anything
/// longer is left as it is, to be refused.
func spelledAsNamed(_ typed: String) -> String {
    guard typed.utf8.count <= 64 else { return typed }
    // Already so (a desk file's every line): spared Foundation's string work, which cost the
    // desk's command a sixth of its time.
    if typed.utf8.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || $0 == UInt8(ascii: "_") }) { return typed }
    return typed.trimmingCharacters(in: .whitespaces).lowercased()
        .replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: " ", with: "_")
}
/// A category as the handler's rules and reporting compare it: lower case, its words joined by
/// single dashes, so that a desk's "Service attitude" or "service_attitude" is `service-attitude`.
public enum CategoryKey {
    public static func of(_ category: String) -> String {
        category.lowercased().split { $0 == "-" || $0 == "_" || $0.isWhitespace }.joined(separator: "-")
    }
}

extension Liaison_V1_FeedbackKind {
    public static let named: [(String, Liaison_V1_FeedbackKind)] = [
        ("complaint", .complaint), ("praise", .praise), ("suggestion", .suggestion), ("inquiry", .inquiry),
        ("tip", .tip), ("help_request", .helpRequest), ("mediation_request", .mediationRequest),
    ]

    /// The words a Chinese desk writes for each kind (a sheet's 类型 column, `--kind 投诉`).
    public static let chinese: [String: Liaison_V1_FeedbackKind] = [
        "投诉": .complaint, "表扬": .praise, "建议": .suggestion, "咨询": .inquiry, "举报": .tip, "线索": .tip,
        "求助": .helpRequest, "调解": .mediationRequest, "纠纷调解": .mediationRequest,
    ]

    /// `help_request` (or `Help-Request`, or 求助) → `.helpRequest`; nil for an unknown name.
    public init?(name: String) {
        let name = spelledAsNamed(name)
        guard let k = Self.named.first(where: { $0.0 == name })?.1 ?? Self.chinese[name.trimmingCharacters(in: .whitespaces)] else { return nil }
        self = k
    }

    public var name: String {
        if case .UNRECOGNIZED(let n) = self { return "unrecognized_\(n)" }
        return Self.named.first(where: { $0.1 == self })?.0 ?? "unspecified"
    }
}

extension Liaison_V1_VisitOutcome {
    public static let named: [(String, Liaison_V1_VisitOutcome)] = [
        ("practical_help", .practicalHelp), ("dispute_mediated", .disputeMediated), ("education", .education),
        ("issue_raised", .issueRaised), ("nobody_home", .nobodyHome),
    ]

    /// `dispute_mediated` (or `Dispute-Mediated`) → `.disputeMediated`; nil for an unknown name.
    public init?(name: String) {
        guard let o = Self.named.first(where: { $0.0 == spelledAsNamed(name) })?.1 else { return nil }
        self = o
    }

    public var name: String {
        if case .UNRECOGNIZED(let n) = self { return "unrecognized_\(n)" }
        return Self.named.first(where: { $0.1 == self })?.0 ?? "unspecified"
    }
}

extension Liaison_V1_Channel {
    public static let named: [(String, Liaison_V1_Channel)] = [
        ("hotline", .hotline), ("web", .web), ("app", .app), ("walk_in", .walkIn), ("letter", .letter),
        ("liaison_visit", .liaisonVisit), ("open_week", .openWeek), ("social_media", .socialMedia),
    ]

    /// The words a Chinese desk writes for each channel (a sheet's 渠道 column, `--channel 来访`).
    public static let chinese: [String: Liaison_V1_Channel] = [
        "热线": .hotline, "电话": .hotline, "网站": .web, "网上": .web, "网络": .web, "应用": .app, "手机应用": .app,
        "来访": .walkIn, "窗口": .walkIn, "来信": .letter, "信件": .letter, "走访": .liaisonVisit,
        "开放周": .openWeek, "警营开放周": .openWeek, "社交媒体": .socialMedia, "微博": .socialMedia, "微信": .socialMedia,
    ]

    /// `walk_in` (or `Walk-In`, or 来访) → `.walkIn`; nil for an unknown name.
    public init?(name: String) {
        let name = spelledAsNamed(name)
        guard let c = Self.named.first(where: { $0.0 == name })?.1 ?? Self.chinese[name.trimmingCharacters(in: .whitespaces)] else { return nil }
        self = c
    }

    public var name: String {
        if case .UNRECOGNIZED(let n) = self { return "unrecognized_\(n)" }
        return Self.named.first(where: { $0.1 == self })?.0 ?? "unspecified"
    }
}

extension Liaison_V1_CaseAction {
    /// Every real action, in wire order.
    public static let all: [Liaison_V1_CaseAction] = [
        .assign, .accept, .note, .respond, .resolve, .confirmResolution, .close, .reopen, .escalate, .transfer,
        .merge, .markNotPoliceResponsibility, .awaitCitizen, .resume,
    ]

    /// The command's name on the command line and in the audit trail (`confirm_resolution`).
    public var name: String {
        switch self {
        case .assign: "assign"
        case .accept: "accept"
        case .note: "note"
        case .respond: "respond"
        case .resolve: "resolve"
        case .confirmResolution: "confirm_resolution"
        case .close: "close"
        case .reopen: "reopen"
        case .escalate: "escalate"
        case .transfer: "transfer"
        case .merge: "merge"
        case .markNotPoliceResponsibility: "not_police_responsibility"
        case .awaitCitizen: "await_citizen"
        case .resume: "resume"
        case .unspecified: "unspecified"
        case .UNRECOGNIZED(let n): "unrecognized_\(n)"
        }
    }

    public init?(name: String) {
        guard let a = Self.all.first(where: { $0.name == name.lowercased().replacingOccurrences(of: "-", with: "_") }) else { return nil }
        self = a
    }

    /// The event topic the change is published on (`case.assigned`).
    public var topic: String {
        switch self {
        case .assign: "case.assigned"
        case .accept: "case.accepted"
        case .note: "case.noted"
        case .respond: "case.responded"
        case .resolve: "case.resolved"
        case .confirmResolution: "case.resolution_confirmed"
        case .close: "case.closed"
        case .reopen: "case.reopened"
        case .escalate: "case.escalated"
        case .transfer: "case.transferred"
        case .merge: "case.merged"
        case .markNotPoliceResponsibility: "case.not_police_responsibility"
        case .awaitCitizen: "case.awaiting_citizen"
        case .resume: "case.resumed"
        case .unspecified, .UNRECOGNIZED: "case.unknown"
        }
    }
}

extension Liaison_V1_ContactErased {
    /// Why the contact went, for an audit line or a listing: "365 day(s) after the case ended".
    public var why: String {
        retentionDays == 0 ? "the case ended" : "\(String(format: "%g", retentionDays)) day(s) after the case ended"
    }
}
