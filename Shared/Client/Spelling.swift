/// Near misses in what people type: a unit code, a kind, a channel. An error that names the value
/// meant ("did you mean complaint?") is fixed at once by a clerk with a queue of callers.
public enum Spelling {
    /// Edit distance between two byte strings: letters inserted, deleted, changed, or two
    /// neighbours swapped (`tpi` is one slip from `tip`), each one edit (optimal string alignment;
    /// three rows, reused).
    public static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var beforePrevious = Array(0...b.count)
        var previous = beforePrevious
        var current = previous
        for i in a.indices {
            current[0] = i + 1
            for j in b.indices {
                var d = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (a[i] == b[j] ? 0 : 1))
                if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] { d = min(d, beforePrevious[j - 1] + 1) }
                current[j + 1] = d
            }
            (beforePrevious, previous, current) = (previous, current, beforePrevious)
        }
        return previous[b.count]
    }

    /// The one of `names` that `typed` most likely meant (any letter case, `-` for `_`), when it is
    /// a slip away: at most one change in a short word, two in a longer one. Nil for anything
    /// further off, or longer than any name could be.
    public static func meant(_ typed: String, among names: [String]) -> String? {
        let longest = names.map(\.utf8.count).max() ?? 0
        guard typed.utf8.count <= longest + 2 else { return nil }
        let bytes = Array(typed.lowercased().replacingOccurrences(of: "-", with: "_").utf8)
        let scored = names.map { (name: $0, distance: editDistance(bytes, Array($0.utf8))) }
        guard let best = scored.min(by: { $0.distance < $1.distance }) else { return nil }
        return best.distance <= (best.name.utf8.count <= 5 ? 1 : 2) ? best.name : nil
    }
}
