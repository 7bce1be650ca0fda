import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing
@testable import Handler

@Suite struct PolicyTests {
    let policy = try! Policy.load(path: nil, units: .demo, environment: [:])

    @Test func defaultPolicyIsTheShippedFile() throws {
        let shipped = try String(contentsOfFile: LiaisonPaths.repo + "/deploy/policy.conf", encoding: .utf8)
        #expect(shipped == Policy.defaultText)
    }

    /// A span is shown in the case's audit trail and stored as it is shown: in words a clerk would
    /// write ("1 working day"), read back to the same span.
    @Test(arguments: [
        (Span.workingDays(1), "1 working day"), (.workingDays(10), "10 working days"),
        (.workingDays(1.5), "1.5 working days"), (.workingHours(1), "1 working hour"),
        (.workingHours(4), "4 working hours"), (.hours(1), "1 hour"), (.hours(48), "48 hours"),
    ])
    func spansAreWrittenAsSpokenAndReadBack(span: Span, words: String) {
        #expect(span.description == words)
        #expect(Span.parse(words.split(separator: " ").map(String.init)) == span)
    }

    @Test func defaultsFitAPoliceForce() {
        let officer = policy.route(feedback(officer: "PC-1"))
        #expect(officer.unit == "SUPERVISION" && officer.rule == "officer-complaint" && officer.priority == "P1")
        // Also when the feedback names a community office under the officer's station.
        #expect(policy.route(feedback(unit: "CPO-EAST-03", officer: "PC-1")).unit == "SUPERVISION")
        #expect(policy.route(feedback(officer: "")).unit == "STN-EAST-01")
        // A complaint about police conduct whose officer the citizen could not name: its category
        // says so, and it goes to the supervision office too, never to the station (in any letter
        // case, with spaces, underscores or dashes between its words).
        for category in ["officer-conduct", "conduct", "Service-Attitude", "misconduct", "abuse-of-power", "corruption",
                         "Service attitude", " abuse_of power ", "OFFICER--CONDUCT"] {
            var conduct = feedback(officer: "")
            conduct.category = category
            let routed = policy.route(conduct)
            #expect(routed.unit == "SUPERVISION" && routed.rule == "conduct-complaint" && routed.priority == "P1", "\(category): \(routed)")
        }
        var traffic = feedback(officer: "")
        traffic.category = "traffic"
        #expect(policy.route(traffic).unit == "STN-EAST-01", "a complaint about something else goes to the unit named")
        let tip = policy.route(feedback(kind: .tip))
        #expect(tip.unit == "PR-OFFICE" && tip.confidential)
        let praise = policy.route(feedback(kind: .praise, officer: "PC-1"))
        #expect(praise.unit == "STN-EAST-01" && praise.commendation && praise.priority == "P4")
        #expect(policy.route(feedback(unit: "")).unit == "PR-OFFICE")
        // Help requests have the shortest deadlines.
        let cal = try! WorkingCalendar.demo()
        let t = shanghai(2026, 12, 4, 16)   // a Friday afternoon
        let help = policy.route(feedback(kind: .helpRequest)).respond.due(from: t, on: cal)
        for k: Liaison_V1_FeedbackKind in [.complaint, .praise, .suggestion, .inquiry, .tip, .mediationRequest] {
            #expect(help < policy.route(feedback(kind: k)).respond.due(from: t, on: cal))
        }
        // Complaints come first.
        #expect(policy.route(feedback(kind: .complaint)).priority == "P1")
    }

    /// Two rules every test policy ends with: officer complaints, then the catch-all (11 lines).
    static let base = "rule officers\n  when kind=complaint officer=yes\n  route SUPERVISION\n  priority P1\n  respond 1 working day\n  resolve 5 working days\n"
        + "rule default\n  route $unit\n  priority P3\n  respond 1 working day\n  resolve 5 working days\n"

    @Test(arguments: [
        ("rule a\n  when kind=complaint officer=yes\n  route $unit\n  priority P1\n  respond 1 hours\n  resolve 2 hours\n" + base, "p.conf:1 rule a route"),
        ("rule a\n  when kind=praise\n  route NOWHERE\n" + base, "p.conf:3 route"),
        ("rule a\n  when kind=praize\n" + base, "p.conf:2 when kind"),
        ("rule a\n  when colour=blue\n" + base, "p.conf:2 when colour"),
        ("rule a\n  when kind=praise\n  route $unit\n  priority P9\n" + base, "p.conf:4 priority"),
        ("rule a\n  when kind=praise\n  respond soon\n" + base, "p.conf:3 respond"),
        ("rule a\n  when kind=praise\n  route $unit\n  priority P4\n  respond 1 working day\n" + base, "p.conf:1 rule a resolve"),
        ("triage NOWHERE\n" + base, "p.conf triage"),
        ("colour blue\n" + base, "p.conf:1 colour"),
        ("rule default\n  when kind=praise\n  route $unit\n  priority P3\n  respond 1 hours\n  resolve 2 hours\n", "p.conf:1 rule default"),
        (base + base, "p.conf:12 rule"),
        ("rule default\n  route $unit\n  priority P3\n  respond 1 working day\n  resolve 5 working days\n", "p.conf:1 rule default route"),
        ("", "p.conf"),
    ])
    func policyErrorsNameLineAndKey(text: String, field: String) {
        #expect { try Policy.parse(text, source: "p.conf", units: .demo) } throws: { error in
            (error as? ConfigError)?.key == field
        }
    }

    /// A policy saved on Windows (line ends `\r\n`, a byte-order mark) is the same policy, and an
    /// error names the line an editor shows; before, the whole file read as one line.
    @Test func aPolicySavedOnWindowsIsTheSamePolicy() throws {
        let windows = try Policy.parse("\u{FEFF}" + Policy.defaultText.replacingOccurrences(of: "\n", with: "\r\n"), source: "policy.conf", units: .demo)
        #expect(policy.rules.count > 3 && windows.rules.map(\.name) == policy.rules.map(\.name) && windows.rules.map(\.line) == policy.rules.map(\.line))
        for f in [feedback(officer: "PC-1"), feedback(kind: .tip), feedback(kind: .praise, officer: "PC-1"), feedback(unit: ""), feedback(kind: .helpRequest)] {
            #expect(windows.route(f) == policy.route(f))
        }
        #expect { try Policy.parse("rule a\r\n\r\n  when kind=praize\r\n" + Self.base, source: "p.conf", units: .demo) } throws: {
            ($0 as? ConfigError)?.key == "p.conf:3 when kind"
        }
    }

    @Test func aCustomPolicyRoutesByCategoryChannelAndUnitType() throws {
        let text = """
            rule noise-at-community-offices
              when category=noise,parking unit_type=community_office channel=walk_in
              route $district
              priority P2
              respond 4 working hours
              resolve 3 working days
            """ + "\n" + Self.base
        let p = try Policy.parse(text, source: "custom", units: .demo)
        var f = feedback(kind: .suggestion, unit: "CPO-WEST-05")
        f.category = "Noise"
        f.channel = .walkIn
        let r = p.route(f)
        #expect(r.unit == "DIST-WEST" && r.rule == "noise-at-community-offices" && r.respond == .workingHours(4))
        f.channel = .web
        #expect(p.route(f).rule == "default")
        // A complaint about an officer never reaches the officer's station, whatever the rules: the
        // only rule here names the officer's station.
        let guarded = try Policy.parse("rule everything\n  route STN-EAST-01\n  priority P3\n  respond 1 hours\n  resolve 2 hours\n",
                                       source: "g", units: .demo)
        #expect(guarded.route(feedback(officer: "PC-3")).unit == "SUPERVISION")
    }
}
