import LiaisonCodec

/// What a re-sealing did (a key rotation's second step: everything an older key sealed sealed
/// again with the current one, after which the older key can leave the key file).
public struct ResealReport: Sendable, Equatable {
    /// Values now sealed with the current key that were sealed with another.
    public var resealed: Int
    /// Values sealed with a key that is not configured, by key id; left as they were.
    public var keyMissing: [String: Int]
    /// Values that do not open with the key they name, or too damaged to name one (changed on
    /// disk, or copied from another row); left as they were.
    public var damaged: Int

    public init(resealed: Int = 0, keyMissing: [String: Int] = [:], damaged: Int = 0) {
        self.resealed = resealed
        self.keyMissing = keyMissing
        self.damaged = damaged
    }

    /// Whether every value it met is now sealed with the current key.
    public var isComplete: Bool { keyMissing.isEmpty && damaged == 0 }

    /// What to tell the operator of what was left, each line saying what to do; none when complete.
    /// - Parameters:
    ///   - values: what was sealed, as counted (`stored contact(s)`).
    ///   - movedFrom: where a value that does not open may have been copied from (`another case`).
    public func problems(values: String, movedFrom: String) -> [String] {
        var lines: [String] = []
        if !keyMissing.isEmpty {
            let which = keyMissing.sorted { $0.key < $1.key }.map { "\($0.value) sealed with key \(WireError.quoted($0.key))" }.joined(separator: ", ")
            lines.append("could not open \(which): left as they were; put that key back in the key file (under the current one) and run this again")
        }
        if damaged > 0 {
            lines.append("\(damaged) \(values) do not open with the key they name (changed on disk, or copied from \(movedFrom)): left as they were; keep that key until they are dealt with")
        }
        return lines
    }
}
