import Foundation
import LiaisonCodec
import LiaisonRuntime

/// How long a deadline runs: working time on the calendar, or plain hours (help requests run day and night).
public enum Span: Sendable, Equatable, CustomStringConvertible {
    case workingHours(Double)
    case workingDays(Double)
    case hours(Double)

    /// The moment this span after `start` ends, and the moment 80 % of it has passed (the warning).
    public func due(from start: Date, on calendar: WorkingCalendar, fraction: Double = 1) -> Date {
        switch self {
        case .hours(let h): return start.addingTimeInterval(h * 3_600 * fraction)
        case .workingHours(let h): return calendar.adding(workingSeconds: h * 3_600 * fraction, to: start)
        case .workingDays(let d): return calendar.adding(workingSeconds: d * calendar.secondsPerDay * fraction, to: start)
        }
    }

    /// Whether the span counts working time (then pauses and remaining time are in working seconds).
    public var isWorking: Bool { if case .hours = self { return false } else { return true } }

    public var description: String {
        // "1 working day", "1.5 working days": what `parse` reads back either way.
        func n(_ v: Double, _ unit: String) -> String {
            (v == v.rounded() ? String(Int(v)) : String(v)) + " " + unit + (v == 1 ? "" : "s")
        }
        switch self {
        case .hours(let h): return n(h, "hour")
        case .workingHours(let h): return n(h, "working hour")
        case .workingDays(let d): return n(d, "working day")
        }
    }

    /// Parses `4 working hours`, `1 working day`, `5 working days`, `2 hours`, `3 days`.
    static func parse(_ words: [String]) -> Span? {
        guard let first = words.first, let n = Double(first), n > 0, n <= 10_000 else { return nil }
        switch words.dropFirst().joined(separator: " ") {
        case "working hour", "working hours": return .workingHours(n)
        case "working day", "working days": return .workingDays(n)
        case "hour", "hours": return .hours(n)
        case "day", "days": return .hours(n * 24)
        default: return nil
        }
    }
}

/// Where a case goes and how fast it must be answered.
public struct Routing: Equatable, Sendable {
    public var unit: String
    /// `P1` (most urgent) … `P4`. Complaints come first: one bad incident outweighs a hundred good deeds.
    public var priority: String
    public var respond: Span
    public var resolve: Span
    public var confidential = false
    public var commendation = false
    /// The rule that matched.
    public var rule: String
}

/// The routing policy: rules tried top to bottom, the first whose conditions all hold routes the case.
///
/// File format (`deploy/policy.conf`; `#` starts a comment):
///
/// ```
/// triage PR-OFFICE                 # where feedback with only an address goes ($unit falls back to it)
/// supervision SUPERVISION          # complaints about an officer can only go here
///
/// rule officer-complaint
///   when kind=complaint officer=yes
///   route SUPERVISION              # a unit code, $unit (the one named) or $district (its district bureau)
///   priority P1
///   respond 1 working day          # N working hours | N working days | N hours | N days
///   resolve 10 working days
///   queue confidential             # optional
///   commendation yes               # optional
/// ```
///
/// `when` keys: `kind`, `channel`, `category`, `unit`, `unit_type`, `officer` (yes/no); a value may list
/// alternatives with commas. Several `when` lines must all hold. The last rule must have no `when`.
public struct Policy: Sendable {
    public struct Rule: Sendable {
        public var name: String
        public var line: Int
        public var conditions: [String: Set<String>] = [:]
        public var route = ""
        public var priority = ""
        public var respond: Span?
        public var resolve: Span?
        public var confidential = false
        public var commendation = false
    }

    public var triageUnit = "PR-OFFICE"
    public var supervisionUnit = "SUPERVISION"
    public var rules: [Rule] = []
    public let units: UnitDirectory
    /// Where the policy came from (a path, or "built-in").
    public var source = "built-in"

    static let conditionKeys: Set<String> = ["kind", "channel", "category", "unit", "unit_type", "officer"]
    static let kinds = Set(Liaison_V1_FeedbackKind.named.map(\.0))
    static let channels = Set(Liaison_V1_Channel.named.map(\.0))

    /// Parses and validates a policy; errors name `source:line` and the key.
    public static func parse(_ text: String, source: String, units: UnitDirectory) throws -> Policy {
        var p = Policy(units: units)
        p.source = source
        for (n, raw) in ConfigFiles.numbered(text) {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?
                .trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let key = words[0]
            let at = "\(source):\(n) \(key)"
            let rest = Array(words.dropFirst())
            func one() throws -> String {
                guard rest.count == 1 else { throw ConfigError(at, "expected one value") }
                return rest[0]
            }
            if key == "rule" {
                guard rest.count == 1 else { throw ConfigError(at, "expected 'rule <name>'") }
                if p.rules.contains(where: { $0.name == rest[0] }) { throw ConfigError(at, "rule \(rest[0]) appears twice") }
                p.rules.append(Rule(name: rest[0], line: n))
                continue
            }
            if p.rules.isEmpty {
                switch key {
                case "triage": p.triageUnit = try one()
                case "supervision": p.supervisionUnit = try one()
                default: throw ConfigError(at, "unknown key before the first rule; expected triage, supervision or rule")
                }
                continue
            }
            var r = p.rules.removeLast()
            switch key {
            case "when":
                if rest.isEmpty { throw ConfigError(at, "expected conditions like kind=complaint officer=yes") }
                for c in rest {
                    let kv = c.split(separator: "=", maxSplits: 1).map(String.init)
                    guard kv.count == 2, !kv[1].isEmpty else { throw ConfigError(at, "'\(c)' is not key=value") }
                    guard conditionKeys.contains(kv[0]) else {
                        throw ConfigError("\(at) \(kv[0])", "unknown condition; expected \(conditionKeys.sorted().joined(separator: ", "))")
                    }
                    let values = Set(kv[1].split(separator: ",").map { kv[0] == "category" ? CategoryKey.of(String($0)) : String($0).lowercased() })
                    try validate(condition: kv[0], values: values, at: "\(at) \(kv[0])", units: units)
                    r.conditions[kv[0], default: values].formIntersection(values)
                }
            case "route":
                r.route = try one()
                if !r.route.hasPrefix("$") && !units.contains(r.route) { throw ConfigError(at, "unit \(r.route) is not in the unit directory") }
                if r.route.hasPrefix("$") && !["$unit", "$district"].contains(r.route) {
                    throw ConfigError(at, "\(r.route) is not a route; expected a unit code, $unit or $district")
                }
            case "priority":
                r.priority = try one().uppercased()
                if !["P1", "P2", "P3", "P4"].contains(r.priority) { throw ConfigError(at, "expected P1, P2, P3 or P4") }
            case "respond", "resolve":
                guard let span = Span.parse(rest) else {
                    throw ConfigError(at, "expected a span like '4 working hours', '5 working days' or '2 hours'")
                }
                if key == "respond" { r.respond = span } else { r.resolve = span }
            case "queue":
                guard try one() == "confidential" else { throw ConfigError(at, "the only queue is 'confidential'") }
                r.confidential = true
            case "commendation":
                let v = try one()
                guard v == "yes" || v == "no" else { throw ConfigError(at, "expected yes or no") }
                r.commendation = v == "yes"
            default:
                throw ConfigError(at, "unknown key in rule \(r.name); expected when, route, priority, respond, resolve, queue, commendation")
            }
            p.rules.append(r)
        }
        try p.validate()
        return p
    }

    static func validate(condition: String, values: Set<String>, at: String, units: UnitDirectory) throws {
        switch condition {
        case "kind":
            for v in values where !kinds.contains(v) { throw ConfigError(at, "\(v) is not a kind; expected \(kinds.sorted().joined(separator: ", "))") }
        case "channel":
            for v in values where !channels.contains(v) { throw ConfigError(at, "\(v) is not a channel; expected \(channels.sorted().joined(separator: ", "))") }
        case "officer":
            for v in values where v != "yes" && v != "no" { throw ConfigError(at, "expected yes or no") }
        case "unit":
            for v in values where !units.contains(v.uppercased()) { throw ConfigError(at, "unit \(v.uppercased()) is not in the unit directory") }
        case "unit_type":
            let types = Set(UnitDirectory.Kind.allCases.map(\.rawValue))
            for v in values where !types.contains(v) { throw ConfigError(at, "\(v) is not a unit type; expected \(types.sorted().joined(separator: ", "))") }
        default: break
        }
    }

    /// Whole-policy checks: every rule complete, a catch-all last, and no rule that could send a
    /// complaint about an officer to the officer's own unit.
    func validate() throws {
        for (key, unit) in [("triage", triageUnit), ("supervision", supervisionUnit)] where !units.contains(unit) {
            throw ConfigError("\(source) \(key)", "unit \(unit) is not in the unit directory")
        }
        guard let last = rules.last else { throw ConfigError(source, "the policy has no rule") }
        var officerComplaintsCaught = false
        for r in rules {
            let at = "\(source):\(r.line) rule \(r.name)"
            if r.route.isEmpty { throw ConfigError("\(at) route", "rule \(r.name) has no route") }
            if r.priority.isEmpty { throw ConfigError("\(at) priority", "rule \(r.name) has no priority") }
            if r.respond == nil { throw ConfigError("\(at) respond", "rule \(r.name) has no respond deadline") }
            if r.resolve == nil { throw ConfigError("\(at) resolve", "rule \(r.name) has no resolve deadline") }
            if r.conditions.values.contains(where: \.isEmpty) { throw ConfigError("\(at) when", "rule \(r.name) can never match") }
            let complaint = r.conditions["kind"].map { $0.contains("complaint") } ?? true
            let aboutOfficer = r.conditions["officer"].map { $0.contains("yes") } ?? true
            // $unit would be the officer's own unit. (Whatever a rule says, route() sends such
            // complaints to the supervision office; a policy that says otherwise is an error to fix.)
            if !officerComplaintsCaught && complaint && aboutOfficer && r.route == "$unit" {
                throw ConfigError("\(at) route", "rule \(r.name) could route a complaint about an officer to the officer's own unit ($unit); such complaints go to \(supervisionUnit) (add officer=no, or put a rule for them first)")
            }
            // A rule on kind and officer alone that takes every complaint about an officer catches them all.
            if Set(r.conditions.keys).isSubset(of: ["kind", "officer"]) && complaint && aboutOfficer { officerComplaintsCaught = true }
        }
        if !last.conditions.isEmpty {
            throw ConfigError("\(source):\(last.line) rule \(last.name)", "the last rule must have no 'when' so that every case is routed")
        }
    }

    /// Routes one feedback.
    public func route(_ f: Liaison_V1_SubmitFeedback) -> Routing {
        let unit = f.unit.isEmpty ? nil : units.unit(f.unit)
        let facts: [String: String] = [
            "kind": Liaison_V1_FeedbackKind.named.first { $0.1 == f.kind }?.0 ?? "unspecified",
            "channel": Liaison_V1_Channel.named.first { $0.1 == f.channel }?.0 ?? "unspecified",
            "category": CategoryKey.of(f.category),
            "unit": f.unit.lowercased(),
            "unit_type": unit?.type.rawValue ?? "",
            "officer": f.officerBadge.isEmpty ? "no" : "yes",
        ]
        let rule = rules.first { r in r.conditions.allSatisfy { key, values in values.contains(facts[key] ?? "") } } ?? rules[rules.count - 1]
        var target: String
        switch rule.route {
        case "$unit": target = unit?.code ?? triageUnit
        case "$district": target = district(of: unit)?.code ?? triageUnit
        default: target = rule.route
        }
        // Whatever the rules say, a complaint about an officer never goes to the officer's own station.
        if f.kind == .complaint && !f.officerBadge.isEmpty && target != supervisionUnit { target = supervisionUnit }
        return Routing(unit: target, priority: rule.priority, respond: rule.respond!, resolve: rule.resolve!,
                       confidential: rule.confidential, commendation: rule.commendation, rule: rule.name)
    }

    /// The district bureau a unit belongs to (itself if it is one).
    func district(of unit: UnitDirectory.Unit?) -> UnitDirectory.Unit? {
        var u = unit
        for _ in 0..<8 {
            guard let cur = u else { return nil }
            if cur.type == .districtBureau { return cur }
            u = cur.parent.flatMap { units.unit($0) }
        }
        return nil
    }

    /// The policy file given, else `$LIAISON_POLICY`, else the built-in default (deploy/policy.conf).
    public static func load(path: String?, units: UnitDirectory, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Policy {
        if let p = path ?? environment["LIAISON_POLICY"], !p.isEmpty {
            return try parse(try ConfigFiles.read(p, key: "policy"), source: p, units: units)
        }
        return try parse(defaultText, source: "built-in policy", units: units)
    }

    /// The default policy (shipped as deploy/policy.conf; a test checks they match).
    public static let defaultText = """
        # Liaison routing policy: the first rule whose 'when' conditions all hold routes a case.
        # Deadlines count working time on the working calendar unless given in plain hours or days.
        triage PR-OFFICE
        supervision SUPERVISION

        # A complaint about an officer goes to the supervision office, never to the officer's station:
        # one that names the officer's badge, and one about police conduct whose officer the citizen
        # could not name (its category says so; the desk sets it).
        rule officer-complaint
          when kind=complaint officer=yes
          route SUPERVISION
          priority P1
          respond 1 working day
          resolve 10 working days

        rule conduct-complaint
          when kind=complaint category=officer-conduct,conduct,service-attitude,misconduct,abuse-of-power,corruption
          route SUPERVISION
          priority P1
          respond 1 working day
          resolve 10 working days

        rule complaint
          when kind=complaint
          route $unit
          priority P1
          respond 1 working day
          resolve 10 working days

        # Help requests: the shortest deadlines, day and night.
        rule help
          when kind=help_request
          route $unit
          priority P1
          respond 2 hours
          resolve 24 hours

        # Tips go to a confidential queue at the PR office.
        rule tip
          when kind=tip
          route PR-OFFICE
          queue confidential
          priority P2
          respond 1 working day
          resolve 10 working days

        rule mediation
          when kind=mediation_request
          route $unit
          priority P2
          respond 2 working days
          resolve 15 working days

        # Praise goes to the officer's unit as a commendation candidate.
        rule praise
          when kind=praise
          route $unit
          commendation yes
          priority P4
          respond 5 working days
          resolve 20 working days

        rule inquiry
          when kind=inquiry
          route $unit
          priority P3
          respond 2 working days
          resolve 5 working days

        rule default
          route $unit
          priority P3
          respond 3 working days
          resolve 20 working days

        """
}
