/// Lower-case names of the wire enums, as used on the command line, in reports and in JSON lines.
extension Liaison_V1_FeedbackKind {
    public static let named: [(String, Liaison_V1_FeedbackKind)] = [
        ("complaint", .complaint), ("praise", .praise), ("suggestion", .suggestion), ("inquiry", .inquiry),
        ("tip", .tip), ("help_request", .helpRequest), ("mediation_request", .mediationRequest),
    ]

    /// `help_request` → `.helpRequest`; nil for an unknown name.
    public init?(name: String) {
        guard let k = Self.named.first(where: { $0.0 == name.lowercased() })?.1 else { return nil }
        self = k
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

    /// `walk_in` → `.walkIn`; nil for an unknown name.
    public init?(name: String) {
        guard let c = Self.named.first(where: { $0.0 == name.lowercased() })?.1 else { return nil }
        self = c
    }

    public var name: String {
        if case .UNRECOGNIZED(let n) = self { return "unrecognized_\(n)" }
        return Self.named.first(where: { $0.1 == self })?.0 ?? "unspecified"
    }
}
