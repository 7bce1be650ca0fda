import Foundation
import LiaisonCodec

/// Where a case goes and how fast it must be answered.
public struct Routing: Equatable, Sendable {
    public var unit: String
    /// `P1` (most urgent) … `P4`. Complaints are P1: one bad incident outweighs a hundred good deeds.
    public var priority: String
    public var respondWithin: TimeInterval
    public var resolveWithin: TimeInterval
}

/// The default routing policy (deadlines in calendar hours; issue 4 brings the policy file and the
/// working calendar).
public struct DefaultPolicy: Sendable {
    /// The supervision / discipline office: every complaint about an officer goes there, never to
    /// the officer's own station.
    public var supervisionUnit = "SUPERVISION"
    /// Where feedback with only an address goes for triage.
    public var triageUnit = "PR-OFFICE"

    public init() {}

    static let hour: TimeInterval = 3_600

    public func route(_ f: Liaison_V1_SubmitFeedback) -> Routing {
        let unit = f.unit.isEmpty ? triageUnit : f.unit
        let h = DefaultPolicy.hour
        switch f.kind {
        case .complaint:
            return Routing(unit: f.officerBadge.isEmpty ? unit : supervisionUnit, priority: "P1", respondWithin: 24 * h, resolveWithin: 7 * 24 * h)
        case .helpRequest:
            return Routing(unit: unit, priority: "P1", respondWithin: 2 * h, resolveWithin: 24 * h)
        case .tip:
            return Routing(unit: unit, priority: "P2", respondWithin: 24 * h, resolveWithin: 7 * 24 * h)
        case .mediationRequest:
            return Routing(unit: unit, priority: "P2", respondWithin: 48 * h, resolveWithin: 14 * 24 * h)
        case .inquiry:
            return Routing(unit: unit, priority: "P3", respondWithin: 48 * h, resolveWithin: 5 * 24 * h)
        case .suggestion:
            return Routing(unit: unit, priority: "P3", respondWithin: 5 * 24 * h, resolveWithin: 30 * 24 * h)
        case .praise:
            return Routing(unit: unit, priority: "P4", respondWithin: 5 * 24 * h, resolveWithin: 30 * 24 * h)
        case .unspecified, .UNRECOGNIZED:
            return Routing(unit: triageUnit, priority: "P3", respondWithin: 48 * h, resolveWithin: 14 * 24 * h)
        }
    }
}
