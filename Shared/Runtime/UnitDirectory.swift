import Foundation
import LiaisonClient
import LiaisonCodec

/// The force's units: city bureau → district bureaus → stations → community police offices, and
/// the staff offices (PR office, supervision office). Loaded from a JSON file (`--units`,
/// `$LIAISON_UNITS`); the demo city is built in (and shipped as deploy/units.json).
public struct UnitDirectory: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case cityBureau = "city_bureau", districtBureau = "district_bureau", station
        case communityOffice = "community_office", prOffice = "pr_office", supervisionOffice = "supervision_office"

        /// A type the directory does not know is named with those it does (and the one meant).
        public init(from decoder: any Decoder) throws {
            let typed = try decoder.singleValueContainer().decode(String.self)
            guard let kind = Kind(rawValue: typed) else {
                let names = Kind.allCases.map(\.rawValue)
                // A slip of the keyboard, or the type's first word ("supervision", "community").
                let word = typed.lowercased()
                let meant = (Spelling.meant(typed, among: names) ?? (word.count >= 3 ? names.first { $0.hasPrefix(word) } : nil))
                    .map { "; did you mean \($0)?" } ?? ""
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "'\(typed.prefix(40))' is not a unit type: \(names.joined(separator: ", "))\(meant)"))
            }
            self = kind
        }
    }

    public struct Unit: Codable, Sendable, Equatable {
        public var code: String
        public var name: String
        public var type: Kind
        public var parent: String?
        /// The badges of the officers serving at the unit (its roster), where the directory keeps
        /// one: the household liaison programme pairs a station's officers, and counts those short
        /// of households. Absent: the unit's officers are not listed.
        public var officers: [String]?

        public init(code: String, name: String, type: Kind, parent: String?, officers: [String]? = nil) {
            self.code = code
            self.name = name
            self.type = type
            self.parent = parent
            self.officers = officers
        }
    }

    public var units: [Unit]

    public func unit(_ code: String) -> Unit? { units.first { $0.code == code } }
    public func contains(_ code: String) -> Bool { units.contains { $0.code == code } }
    /// The directory's spelling of a unit code as a person typed it: surrounding white space, any
    /// letter case and full-width forms (`ｓｔｎ－ｅａｓｔ－０１`) are the code they spell; nil when no
    /// unit has it. (Intake's submission rules keep their own index of the codes, for the thread
    /// every submission waits for; this one serves operators' commands and queries.)
    /// A unit's name may stand for its code, as a clerk hears it (`Riverside Police Station`) or a
    /// web form lists it, when no other unit has that name.
    public func code(typed: String) -> String? {
        let trimmed = typed.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 256 else { return nil }
        if contains(trimmed) { return trimmed }
        let upper = TypedText.plainASCII(trimmed).uppercased()
        return units.first { $0.code.uppercased() == upper }?.code ?? codesByName()[Self.nameKey(trimmed)]
    }

    /// Each unit name's ``nameKey(_:)`` to its unit's code; a name two units share is left out (it
    /// names neither).
    public func codesByName() -> [String: String] {
        var codes: [String: String?] = [:]
        for u in units where !Self.nameKey(u.name).isEmpty {
            let key = Self.nameKey(u.name)
            codes[key] = codes[key] == nil ? .some(u.code) : .some(nil)
        }
        return codes.compactMapValues { $0 }
    }

    /// A name as it is compared: full-width forms as ASCII, lower case, each run of white space
    /// one space, none around it (`Riverside  police STATION` is `riverside police station`).
    public static func nameKey(_ typed: String) -> String {
        TypedText.plainASCII(typed).lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// The `count` units nearest to `typed`, for an error message: those whose names hold the
    /// most of the words typed (`Riverside station`: the Riverside Police Station) and only those,
    /// when any name holds one; else those of the kind of code typed first, then those whose codes
    /// are the fewest letters to change.
    public func nearest(to typed: String, count: Int = 3) -> [Unit] {
        Array(ranked(typed).units.prefix(count))
    }

    /// Every unit that ranks first by the words of its name (`byName`), or, when no name holds a
    /// word typed, every unit; in order of ``nearest(to:count:)``.
    func ranked(_ typed: String) -> (units: [Unit], byName: Bool) {
        let bytes = Array(TypedText.plainASCII(typed).uppercased().utf8.prefix(256))
        // Codes of the kind typed first (`STN-MOON` was meant for a station, not `DIST-EAST`, whose
        // letters are fewer edits away): the part before the first dash, when one was typed.
        let kind = bytes.firstIndex(of: UInt8(ascii: "-")).map { Array(bytes[...$0]) }
        // Words of two characters or more (a name in Chinese, typed without spaces, is one word).
        let typedWords: [String] = Self.nameKey(String(decoding: bytes, as: UTF8.self)).split(separator: " ").map(String.init)
        let words = typedWords.filter { $0.count >= 2 }.prefix(8)
        let ranked = units.map { unit -> (unit: Unit, inName: Int, otherKind: Bool, distance: Int) in
            let code = Array(unit.code.uppercased().utf8)
            let name = Self.nameKey(unit.name)
            let nameWords: [[UInt8]] = name.split(separator: " ").map { Array($0.utf8) }
            // In the name, or one of its words with a letter off (`Harbor` for `Harbour`).
            func inName(_ word: String) -> Bool {
                if name.contains(word) { return true }
                let typed = Array(word.utf8)
                guard (5...16).contains(typed.count) else { return false }
                return nameWords.contains { w in abs(w.count - typed.count) <= 1 && Spelling.editDistance(typed, w) <= 1 }
            }
            let otherKind: Bool = kind.map { !code.starts(with: $0) } ?? false
            return (unit, words.filter(inName).count, otherKind, Spelling.editDistance(bytes, code))
        }
        let most: Int = ranked.map { $0.inName }.max() ?? 0
        let named = ranked.filter { $0.inName == most }
        let sorted = named.sorted { a, b in
            (a.otherKind ? 1 : 0, a.distance, a.unit.code) < (b.otherKind ? 1 : 0, b.distance, b.unit.code)
        }
        return (sorted.map { $0.unit }, most > 0)
    }

    /// The codes of ``nearest(to:count:)``.
    public func nearestCodes(to typed: String, count: Int = 3) -> [String] {
        nearest(to: typed, count: count).map(\.code)
    }

    /// Why `typed` names no unit, for an error message that quotes it as the caller gave it
    /// (`shown`): the one unit whose name alone holds the words typed, offered (`unit 'Riverside'
    /// is not in the unit directory ('Riverside Police Station' is STN-EAST-01); did you mean
    /// STN-EAST-01?`, unless `offering` is false); else the nearest units with their names, each
    /// cut at 40 characters. With `placeField`, words that are not a code are told that a place
    /// goes in that field.
    public func notAUnit(_ typed: String, shown: String, offering: Bool = true, placeField: String? = nil) -> String {
        let head = "unit \(WireError.quoted(shown)) is not in the unit directory"
        let r = ranked(typed)
        if offering && r.byName && r.units.count == 1 {
            let u = r.units[0]
            return "\(head) (\(WireError.quoted(String(u.name.prefix(40)))) is \(u.code)); did you mean \(u.code)?"
        }
        let nearest = r.units.prefix(3).map { u in
            u.name.isEmpty ? u.code : "\(u.code) (\(u.name.count > 40 ? u.name.prefix(39) + "…" : u.name))"
        }.joined(separator: ", ")
        let words = typed.contains(" ") || !TypedText.isASCII(typed)
        let place = placeField.map { words ? "; a place goes in \($0)" : "" } ?? ""
        return "\(head) (nearest: \(nearest))\(place)"
    }

    /// The first unit of a kind (e.g. the supervision office).
    public func first(_ kind: Kind) -> Unit? { units.first { $0.type == kind } }

    /// The unit whose roster lists `badge` (as kept: ``TypedText/badge(_:)``), if any lists it.
    public func unit(ofOfficer badge: String) -> Unit? { units.first { $0.officers?.contains(badge) == true } }

    /// Checks codes are unique and non-empty and every parent exists, naming the entry at fault.
    public func validate() throws(ConfigError) {
        var seen = Set<String>()
        for (i, u) in units.enumerated() {
            if u.code.isEmpty { throw ConfigError("units[\(i)].code", "must not be empty") }
            if !seen.insert(u.code).inserted { throw ConfigError("units[\(i)].code", "\(u.code) appears twice") }
        }
        var rostered: [String: String] = [:]
        for (i, u) in units.enumerated() {
            if let p = u.parent, !seen.contains(p) { throw ConfigError("units[\(i)].parent", "unknown unit \(p)") }
            for (j, badge) in (u.officers ?? []).enumerated() {
                let field = "units[\(i)].officers[\(j)]"
                guard !badge.isEmpty, badge.count <= 64, badge == TypedText.badge(badge), !badge.contains(where: \.isWhitespace) else {
                    throw ConfigError(field, "'\(badge.prefix(64))' is not a badge as kept (upper case, no spaces: \(TypedText.badge(badge)))")
                }
                if let other = rostered[badge] { throw ConfigError(field, "\(badge) is listed under \(other) too: an officer serves at one unit") }
                rostered[badge] = u.code
            }
        }
        for kind in [Kind.prOffice, .supervisionOffice] where first(kind) == nil {
            throw ConfigError("units", "the directory needs a \(kind.rawValue)")
        }
    }

    public static func load(path: String) throws -> UnitDirectory {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigError("units", "cannot read \(path): \(error.localizedDescription)")
        }
        let d: UnitDirectory
        do { d = try JSONDecoder().decode(UnitDirectory.self, from: data) } catch {
            throw ConfigError(decoding: error, in: path, what: "units")
        }
        try d.validate()
        return d
    }

    /// The file given, else `$LIAISON_UNITS`, else the demo city.
    public static func resolve(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> UnitDirectory {
        if let p = path ?? environment["LIAISON_UNITS"], !p.isEmpty { return try load(path: p) }
        return demo
    }

    /// The demo city.
    public static let demo: UnitDirectory = {
        func u(_ code: String, _ name: String, _ type: Kind, _ parent: String?, _ officers: [String]? = nil) -> Unit {
            Unit(code: code, name: name, type: type, parent: parent, officers: officers)
        }
        return UnitDirectory(units: [
            u("CITY-BUREAU", "City Public Security Bureau", .cityBureau, nil),
            u("PR-OFFICE", "Public Relations Office", .prOffice, "CITY-BUREAU"),
            u("SUPERVISION", "Supervision and Discipline Office", .supervisionOffice, "CITY-BUREAU"),
            u("DIST-EAST", "East District Bureau", .districtBureau, "CITY-BUREAU"),
            u("DIST-WEST", "West District Bureau", .districtBureau, "CITY-BUREAU"),
            u("DIST-SOUTH", "South District Bureau", .districtBureau, "CITY-BUREAU"),
            u("DIST-NORTH", "North District Bureau", .districtBureau, "CITY-BUREAU"),
            u("STN-EAST-01", "Riverside Police Station", .station, "DIST-EAST"),
            u("STN-EAST-02", "Harbour Police Station", .station, "DIST-EAST"),
            // Hillside keeps its roster here: the liaison programme counts its officers short of households.
            u("STN-WEST-01", "Hillside Police Station", .station, "DIST-WEST", ["PC-0101", "PC-0102", "PC-0103"]),
            u("STN-WEST-02", "Old Town Police Station", .station, "DIST-WEST"),
            u("STN-SOUTH-01", "Market Street Police Station", .station, "DIST-SOUTH"),
            u("STN-NORTH-01", "University Police Station", .station, "DIST-NORTH"),
            u("CPO-EAST-03", "Lotus Lane Community Police Office", .communityOffice, "STN-EAST-01"),
            u("CPO-WEST-05", "Bell Tower Community Police Office", .communityOffice, "STN-WEST-02"),
            u("CPO-NORTH-07", "Garden Estate Community Police Office", .communityOffice, "STN-NORTH-01"),
        ])
    }()
}
