import Foundation
import LiaisonCodec
import Testing
@testable import Handler

/// The expected life cycle, written out independently of the implementation's table:
/// state -> [command: next state] ("=" keeps the state). Every other command is a conflict.
let expectedLifecycle: [String: [String: String]] = [
    "triaged": ["assign": "assigned", "escalate": "escalated", "transfer": "transferred", "merge": "merged",
                "not_police_responsibility": "not_police_responsibility", "note": "="],
    "assigned": ["assign": "assigned", "accept": "in_progress", "escalate": "escalated", "transfer": "transferred", "merge": "merged",
                 "not_police_responsibility": "not_police_responsibility", "await_citizen": "awaiting_citizen", "note": "="],
    "in_progress": ["assign": "assigned", "respond": "responded", "resolve": "resolved", "escalate": "escalated", "transfer": "transferred",
                    "merge": "merged", "not_police_responsibility": "not_police_responsibility", "await_citizen": "awaiting_citizen", "note": "="],
    "responded": ["respond": "=", "resolve": "resolved", "escalate": "escalated", "transfer": "transferred", "merge": "merged",
                  "await_citizen": "awaiting_citizen", "note": "="],
    "awaiting_citizen": ["resume": "<back>", "merge": "merged", "not_police_responsibility": "not_police_responsibility", "note": "="],
    "escalated": ["assign": "assigned", "accept": "in_progress", "transfer": "transferred", "merge": "merged", "note": "="],
    "transferred": ["assign": "assigned", "accept": "in_progress", "escalate": "escalated", "transfer": "transferred", "merge": "merged", "note": "="],
    "resolved": ["confirm_resolution": "=", "close": "closed", "reopen": "reopened", "note": "="],
    "closed": ["reopen": "reopened", "note": "="],
    "reopened": ["assign": "assigned", "accept": "in_progress", "escalate": "escalated", "transfer": "transferred", "merge": "merged", "note": "="],
    "merged": ["note": "="],
    "not_police_responsibility": ["close": "closed", "reopen": "reopened", "note": "="],
]

@Suite struct CaseLifecycleTests {
    @Test func everyCommandInEveryStateFollowsTheTable() {
        var pairs = 0
        for state in CaseState.allCases {
            let expected = expectedLifecycle[state.rawValue]!
            for action in Liaison_V1_CaseAction.all {
                pairs += 1
                let want = expected[action.name]
                do {
                    let next = try CaseLifecycle.next(state, action, resumeTo: .assigned)
                    let target = want == "=" ? state.rawValue : (want == "<back>" ? "assigned" : (want ?? "refused"))
                    #expect(next.rawValue == target, "\(state.rawValue) + \(action.name)")
                } catch {
                    #expect(want == nil, "\(state.rawValue) + \(action.name) was refused: \(error)")
                    #expect(error.code == .conflict && error.message.contains(state.rawValue) && error.message.contains("accepts"))
                }
            }
            #expect(Set(CaseLifecycle.allowed(in: state).map(\.name)) == Set(expected.keys))
        }
        #expect(pairs == 12 * 14)
    }
}
