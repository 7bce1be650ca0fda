/// The lines of a file in their order, each settled (its message known) or still waiting for its
/// answer: messages leave in line order as soon as every line before them is settled, and what
/// has left is dropped, so only the lines between the oldest unanswered one and the newest sent
/// are held.
public struct LineOrder {
    private var lines: [(number: Int, message: String?, failed: Bool)] = []
    /// Slots before `head` have been taken; slot k is `lines[k - base]`.
    private var base = 0
    private var head = 0

    /// The last line number taken (by ``takePrintable()``: all before it settled and printed).
    public private(set) var settledThrough: Int?

    public init() {}

    /// Adds the next line (in file order) and returns its slot.
    public mutating func add(line number: Int) -> Int {
        lines.append((number, nil, false))
        return base + lines.count - 1
    }

    public func line(_ slot: Int) -> Int { lines[slot - base].number }

    public mutating func settle(_ slot: Int, _ message: String, failed: Bool) {
        lines[slot - base].message = message
        lines[slot - base].failed = failed
    }

    /// The settled lines at the front, in order; they are forgotten.
    public mutating func takePrintable() -> [(message: String, failed: Bool)] {
        var out: [(message: String, failed: Bool)] = []
        while head - base < lines.count, let message = lines[head - base].message {
            out.append((message, lines[head - base].failed))
            settledThrough = lines[head - base].number
            head += 1
        }
        // Drop what was taken, now and then (amortised).
        if head - base > 1_024 && (head - base) * 2 > lines.count {
            lines.removeFirst(head - base)
            base = head
        }
        return out
    }

    /// Every line not yet taken, in order, settled or not (nil message: still waiting); all are
    /// forgotten. For when no more answers will come: what was settled is still told.
    public mutating func takeAll() -> [(line: Int, message: String?, failed: Bool)] {
        let out = lines[(head - base)...].map { (line: $0.number, message: $0.message, failed: $0.failed) }
        if let last = out.last { settledThrough = last.line }
        lines.removeAll()
        base = head + out.count
        head = base
        return out
    }

    /// The first line still waiting for its answer, if any.
    public var firstUnsettledLine: Int? { head - base < lines.count ? lines[head - base].number : nil }
}
