import Foundation
import LiaisonClient

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
    }

    public var units: [Unit]

    public func unit(_ code: String) -> Unit? { units.first { $0.code == code } }
    public func contains(_ code: String) -> Bool { units.contains { $0.code == code } }
    /// The directory's spelling of a unit code as a person typed it: surrounding white space, any
    /// letter case and full-width forms (`ｓｔｎ－ｅａｓｔ－０１`) are the code they spell; nil when no
    /// unit has it. (Intake's submission rules keep their own index of the codes, for the thread
    /// every submission waits for; this one serves operators' commands and queries.)
    public func code(typed: String) -> String? {
        let trimmed = typed.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 256 else { return nil }
        if contains(trimmed) { return trimmed }
        let upper = TypedText.plainASCII(trimmed).uppercased()
        return units.first { $0.code.uppercased() == upper }?.code
    }

    /// The `count` codes nearest to `typed` (fewest letters to change), for an error message.
    public func nearestCodes(to typed: String, count: Int = 3) -> [String] {
        let bytes = Array(TypedText.plainASCII(typed).uppercased().utf8.prefix(256))
        // Codes of the kind typed first (`STN-MOON` was meant for a station, not `DIST-EAST`, whose
        // letters are fewer edits away): the part before the first dash, when one was typed.
        let kind = bytes.firstIndex(of: UInt8(ascii: "-")).map { Array(bytes[...$0]) }
        return units.map { unit -> (code: String, otherKind: Bool, distance: Int) in
            let code = Array(unit.code.uppercased().utf8)
            return (unit.code, kind.map { !code.starts(with: $0) } ?? false, Spelling.editDistance(bytes, code))
        }
        .sorted { ($0.otherKind ? 1 : 0, $0.distance, $0.code) < ($1.otherKind ? 1 : 0, $1.distance, $1.code) }
        .prefix(count).map(\.code)
    }

    /// The first unit of a kind (e.g. the supervision office).
    public func first(_ kind: Kind) -> Unit? { units.first { $0.type == kind } }

    /// Checks codes are unique and non-empty and every parent exists, naming the entry at fault.
    public func validate() throws(ConfigError) {
        var seen = Set<String>()
        for (i, u) in units.enumerated() {
            if u.code.isEmpty { throw ConfigError("units[\(i)].code", "must not be empty") }
            if !seen.insert(u.code).inserted { throw ConfigError("units[\(i)].code", "\(u.code) appears twice") }
        }
        for (i, u) in units.enumerated() {
            if let p = u.parent, !seen.contains(p) { throw ConfigError("units[\(i)].parent", "unknown unit \(p)") }
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
        func u(_ code: String, _ name: String, _ type: Kind, _ parent: String?) -> Unit { Unit(code: code, name: name, type: type, parent: parent) }
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
            u("STN-WEST-01", "Hillside Police Station", .station, "DIST-WEST"),
            u("STN-WEST-02", "Old Town Police Station", .station, "DIST-WEST"),
            u("STN-SOUTH-01", "Market Street Police Station", .station, "DIST-SOUTH"),
            u("STN-NORTH-01", "University Police Station", .station, "DIST-NORTH"),
            u("CPO-EAST-03", "Lotus Lane Community Police Office", .communityOffice, "STN-EAST-01"),
            u("CPO-WEST-05", "Bell Tower Community Police Office", .communityOffice, "STN-WEST-02"),
            u("CPO-NORTH-07", "Garden Estate Community Police Office", .communityOffice, "STN-NORTH-01"),
        ])
    }()
}
