import Foundation

/// Case numbers as people type them (`l1-0000042 `, read out over the phone). Intake makes them
/// (`L1-0000042`: a prefix and digits), so intake's lookups and the command line, which routes a
/// case to its handler partition by its exact number, go by that stored form.
public enum CaseNumberText {
    /// How many digits a case number's sequence has at least (`L1-0000042`).
    public static let sequenceDigits = 7

    /// The stored form of a typed case number: without surrounding spaces, upper case, and its
    /// sequence padded with zeros to ``sequenceDigits``: a citizen reading `L1-0000042` out over
    /// the phone says "L1-42", and `l1-42` is that case. A space in place of the dash (`L1 42`),
    /// spaces around it, and what an input method or a document puts in place of ASCII
    /// (``TypedText/plainASCII(_:)``: `Ｌ１－４２`, `L1–42`) are the same case too.
    public static func normalized(_ typed: String) -> String {
        var text = TypedText.plainASCII(typed).trimmingCharacters(in: .whitespaces).uppercased()
        if text.utf8.contains(UInt8(ascii: " ")) || text.utf8.contains(UInt8(ascii: "\t")) {
            let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            // Spaces around the dash go; a pause read out instead of it ("L1 42") is the dash.
            if text.utf8.contains(UInt8(ascii: "-")) {
                text = parts.joined()
            } else if parts.count == 2 {
                text = parts[0] + "-" + parts[1]
            }
        }
        let bytes = text.utf8
        guard let dash = bytes.lastIndex(of: UInt8(ascii: "-")), dash != bytes.startIndex else { return text }
        let digits = bytes[bytes.index(after: dash)...]
        guard (1..<sequenceDigits).contains(digits.count),
              digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return text }
        return String(text[..<dash]) + "-" + String(repeating: "0", count: sequenceDigits - digits.count) + String(Substring(digits))
    }
}

/// Which intake instance made a case, and so holds its submission, tracking token and contact:
/// instance `n` (0-based) numbers its cases `L{n+1}-…` (`L2-0000042` came in through instance 1).
public enum CaseOrigin {
    /// The 0-based intake instance of a case number in its stored form; nil when it is not one
    /// (`L`, then 1–4 digits, not starting with 0, then `-`).
    public static func intakeInstance(of caseNumber: String) -> Int? {
        let bytes = Array(caseNumber.utf8.prefix(8))
        guard bytes.first == UInt8(ascii: "L"), let dash = bytes.firstIndex(of: UInt8(ascii: "-")), (2...5).contains(dash),
              bytes[1] != UInt8(ascii: "0"), bytes[1..<dash].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(String(decoding: bytes[1..<dash], as: UTF8.self)).map { $0 - 1 }
    }

    /// The intake instance and the sequence of a case number in its stored form (`L2-0000042`:
    /// instance 1, the 42nd case it numbered); nil when it is not one. An instance numbers its
    /// cases 1, 2, 3, … without gaps, so a case exists once that instance has numbered as many.
    public static func parse(_ caseNumber: String) -> (instance: Int, sequence: Int64)? {
        let dashes = caseNumber.utf8.lazy.filter { $0 == UInt8(ascii: "-") }.count
        guard dashes == 1, let instance = intakeInstance(of: caseNumber), let sequence = sequence(of: caseNumber) else { return nil }
        return (instance, sequence)
    }

    /// The sequence of a case number (what follows its last `-`), or nil when that is not 1 to 18
    /// ASCII digits. Whatever its prefix: a lookup checks the whole stored number too.
    public static func sequence(of caseNumber: String) -> Int64? {
        guard let dash = caseNumber.utf8.lastIndex(of: UInt8(ascii: "-")) else { return nil }
        let digits = caseNumber.utf8[caseNumber.utf8.index(after: dash)...]
        guard (1...18).contains(digits.count), digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
    }
}

/// Which handler partition owns a case: handler instances split the cases among themselves by a
/// stable hash of the case number, so every client routes a case command to the same owner.
public struct CasePartition: Sendable, Equatable, CustomStringConvertible {
    /// 0-based index of this partition.
    public let index: Int
    /// How many partitions there are.
    public let count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count)
        self.index = index
        self.count = count
    }

    /// Parses `k/n` (1-based: `1/3`, `2/3`, `3/3`), naming the problem.
    public init(parsing text: String) throws(PartitionError) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 1_024, k >= 1, k <= n else {
            throw PartitionError(text: text)
        }
        self.init(index: k - 1, count: n)
    }

    /// The 0-based partition that owns `caseNumber` among `count` (FNV-1a, stable across processes
    /// and versions: never Swift's seeded `hashValue`).
    public static func owner(of caseNumber: String, count: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in caseNumber.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return Int(h % UInt64(max(1, count)))
    }

    /// Whether this partition owns `caseNumber`.
    public func owns(_ caseNumber: String) -> Bool { Self.owner(of: caseNumber, count: count) == index }

    /// `2/3` (1-based).
    public var description: String { "\(index + 1)/\(count)" }
}

/// A `--partition` value that is not `k/n` with 1 ≤ k ≤ n.
public struct PartitionError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { "partition: '\(text)' is not k/n with 1 <= k <= n (e.g. 2/3)" }
}
