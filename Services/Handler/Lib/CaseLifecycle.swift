import LiaisonCodec

/// The states of a case.
public enum CaseState: String, CaseIterable, Sendable {
    case triaged, assigned, inProgress = "in_progress", responded, resolved, closed
    case awaitingCitizen = "awaiting_citizen", escalated, transferred, merged
    case notPoliceResponsibility = "not_police_responsibility", reopened

    /// States in which the case is finished with (no deadline runs).
    public var isFinal: Bool { self == .closed || self == .merged }
}

/// The case life cycle as a table: which command each state accepts and where it leads.
///
/// `note` is accepted in every state and changes nothing but the trail. `resume` returns to the
/// state the case was in before `await_citizen`. A command the state does not accept is a
/// `conflict` naming the state and the commands it accepts.
public enum CaseLifecycle {
    typealias A = Liaison_V1_CaseAction
    /// `nil` target: the state does not change.
    static let table: [CaseState: [(A, CaseState?)]] = [
        .triaged: [(.assign, .assigned), (.escalate, .escalated), (.transfer, .transferred), (.merge, .merged),
                   (.markNotPoliceResponsibility, .notPoliceResponsibility)],
        .assigned: [(.assign, .assigned), (.accept, .inProgress), (.escalate, .escalated), (.transfer, .transferred),
                    (.merge, .merged), (.markNotPoliceResponsibility, .notPoliceResponsibility), (.awaitCitizen, .awaitingCitizen)],
        .inProgress: [(.assign, .assigned), (.respond, .responded), (.resolve, .resolved), (.escalate, .escalated),
                      (.transfer, .transferred), (.merge, .merged), (.markNotPoliceResponsibility, .notPoliceResponsibility),
                      (.awaitCitizen, .awaitingCitizen)],
        .responded: [(.respond, nil), (.resolve, .resolved), (.escalate, .escalated), (.transfer, .transferred),
                     (.merge, .merged), (.awaitCitizen, .awaitingCitizen)],
        .awaitingCitizen: [(.resume, nil), (.merge, .merged), (.markNotPoliceResponsibility, .notPoliceResponsibility)],
        .escalated: [(.assign, .assigned), (.accept, .inProgress), (.transfer, .transferred), (.merge, .merged)],
        .transferred: [(.assign, .assigned), (.accept, .inProgress), (.escalate, .escalated), (.transfer, .transferred),
                       (.merge, .merged)],
        .resolved: [(.confirmResolution, nil), (.close, .closed), (.reopen, .reopened)],
        .closed: [(.reopen, .reopened)],
        .reopened: [(.assign, .assigned), (.accept, .inProgress), (.escalate, .escalated), (.transfer, .transferred),
                    (.merge, .merged)],
        .merged: [],
        .notPoliceResponsibility: [(.close, .closed), (.reopen, .reopened)],
    ]

    /// The commands `state` accepts, `note` included.
    public static func allowed(in state: CaseState) -> [Liaison_V1_CaseAction] {
        (table[state] ?? []).map(\.0) + [.note]
    }

    /// The state after `action` in `state`; `resumeTo` is where `resume` leads.
    public static func next(_ state: CaseState, _ action: Liaison_V1_CaseAction, resumeTo: CaseState? = nil) throws(WireError) -> CaseState {
        if action == .note { return state }
        guard let entry = table[state]?.first(where: { $0.0 == action }) else {
            let allowed = allowed(in: state).map(\.name).joined(separator: ", ")
            throw .conflict("case_command.action", "a case in state \(state.rawValue) does not accept \(action.name); it accepts: \(allowed)")
        }
        if action == .resume { return resumeTo ?? .inProgress }
        return entry.1 ?? state
    }

    /// Which command fields an action needs, checked before the state: each error names its field.
    public static func checkFields(_ c: Liaison_V1_CaseCommand) throws(WireError) {
        let f = "case_command."
        func need(_ ok: Bool, _ field: String, _ why: String) throws(WireError) {
            if !ok { throw .invalidArgument(f + field, why) }
        }
        try need(!c.caseNumber.isEmpty, "case_number", "case_number is required")
        switch c.action {
        case .unspecified: throw .invalidArgument(f + "action", "action is required: \(Liaison_V1_CaseAction.all.map(\.name).joined(separator: ", "))")
        case .UNRECOGNIZED(let n): throw .invalidArgument(f + "action", "action \(n) is not a known case action")
        default: break
        }
        // Lengths first, in time bounded by the limit: what is checked after walks the characters.
        for (field, value, limit) in [("actor", c.actor, 64), ("text", c.text, 4_000), ("reason", c.reason, 1_000),
                                      ("unit", c.unit, 64), ("officer", c.officer, 64), ("case_number", c.caseNumber, 64),
                                      ("merge_into", c.mergeInto, 64)] {
            if let refused = WireError.tooLong(f + field, field, value, limit: limit) { throw refused }
        }
        // No control characters: a NUL would cut the stored text short, an escape sequence would
        // act on the terminal of whoever reads the audit trail. A note may keep its lines.
        for (field, value, lineBreaks) in [("actor", c.actor, false), ("text", c.text, true), ("reason", c.reason, true),
                                           ("unit", c.unit, false), ("officer", c.officer, false),
                                           ("case_number", c.caseNumber, false), ("merge_into", c.mergeInto, false)] where !value.isEmpty {
            if let control = PlainText.firstControl(in: value, lineBreaks: lineBreaks) {
                throw .invalidArgument(f + field, control.refusal(field, lineBreaks: lineBreaks))
            }
        }
        try need(!c.actor.trimmedIsEmpty, "actor", "actor is required: who gives the command (operator id or badge)")
        switch c.action {
        case .assign:
            try need(!c.unit.isEmpty || !c.officer.isEmpty, "unit", "assign needs a unit or an officer (or both)")
        case .transfer:
            try need(!c.unit.isEmpty, "unit", "transfer needs the unit it goes to")
            try need(!c.reason.trimmedIsEmpty, "reason", "transfer needs a reason")
        case .escalate, .reopen, .markNotPoliceResponsibility, .awaitCitizen:
            try need(!c.reason.trimmedIsEmpty, "reason", "\(c.action.name) needs a reason")
        case .merge:
            try need(!c.mergeInto.isEmpty, "merge_into", "merge needs the case this one duplicates")
            try need(c.mergeInto != c.caseNumber, "merge_into", "a case cannot be merged into itself")
            try need(!c.reason.trimmedIsEmpty, "reason", "merge needs a reason")
        case .note, .respond, .resolve:
            try need(!c.text.trimmedIsEmpty, "text", "\(c.action.name) needs a text")
        case .confirmResolution:
            try need(c.satisfaction <= 5, "satisfaction", "satisfaction is 1 (very unsatisfied) to 5 (very satisfied), or 0 when not given")
        default: break
        }
    }
}

extension String {
    /// Nothing a reader can see: white space, or invisible characters (zero-width spaces) alone.
    var trimmedIsEmpty: Bool { !PlainText.hasVisibleCharacter(self) }
}
