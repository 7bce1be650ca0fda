import Foundation
import LiaisonRuntime

/// Working time for deadlines: working hours on working days in the deployment's time zone.
///
/// A working day is Monday to Friday unless the calendar lists it as a `holiday`; a Saturday or
/// Sunday listed as a `workday` (the adjusted working days that pay for long holidays) is one.
/// Calendar files hold one year each (`deploy/calendar/2026.txt`):
///
/// ```
/// # comment
/// timezone Asia/Shanghai          (optional; the deployment's zone, default Asia/Shanghai)
/// hours 09:00-12:00 13:30-17:30   (optional; default 09:00-17:00)
/// holiday 2026-10-01 National Day
/// workday 2026-10-10 National Day (adjusted working day)
/// ```
public struct WorkingCalendar: Sendable {
    /// A working period of a day, in minutes after midnight.
    public struct Period: Sendable, Equatable {
        public var start: Int
        public var end: Int
        public init(start: Int, end: Int) {
            self.start = start
            self.end = end
        }
    }

    public var timeZone: TimeZone
    public var periods: [Period]
    /// Days off that would be working days, as `yyyymmdd`.
    public var holidays: Set<Int>
    /// Weekend days that are worked, as `yyyymmdd`.
    public var workdays: Set<Int>

    public init(timeZone: TimeZone = WorkingCalendar.defaultTimeZone, periods: [Period] = [Period(start: 9 * 60, end: 17 * 60)],
                holidays: Set<Int> = [], workdays: Set<Int> = []) {
        self.timeZone = timeZone
        self.periods = periods
        self.holidays = holidays
        self.workdays = workdays
    }

    /// Asia/Shanghai (UTC+8 all year, no daylight saving), also when the machine has no tzdata.
    public static var defaultTimeZone: TimeZone {
        TimeZone(identifier: "Asia/Shanghai") ?? TimeZone(secondsFromGMT: 8 * 3_600)!
    }

    /// Working seconds in one full working day.
    public var secondsPerDay: TimeInterval { TimeInterval(periods.reduce(0) { $0 + ($1.end - $1.start) } * 60) }

    var gregorian: Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = timeZone
        return c
    }

    /// Whether the local day `yyyymmdd` with weekday `weekday` (1 = Sunday) is a working day.
    func isWorkingDay(key: Int, weekday: Int) -> Bool {
        if workdays.contains(key) { return true }
        if holidays.contains(key) { return false }
        return weekday != 1 && weekday != 7
    }

    /// Whether `date`'s local day is a working day.
    public func isWorkingDay(_ date: Date) -> Bool {
        let c = gregorian.dateComponents([.year, .month, .day, .weekday], from: date)
        return isWorkingDay(key: c.year! * 10_000 + c.month! * 100 + c.day!, weekday: c.weekday!)
    }

    /// Calls `body` with each working interval from the local day of `start` on, clipped to begin
    /// no earlier than `start`, until `body` returns false (at most ten years of days).
    ///
    /// In a zone without daylight saving from `start` on (Asia/Shanghai) days are plain arithmetic;
    /// otherwise Foundation's calendar walks them. `arithmetic` forces one or the other (tests).
    func forEachWorkingInterval(from start: Date, arithmetic: Bool? = nil, _ body: (Date, Date) -> Bool) {
        // Each local day from start's on: its midnight, its yyyymmdd key and its weekday (1 = Sunday).
        let nextDay: () -> (Date, Int, Int)?
        if arithmetic ?? (timeZone.nextDaylightSavingTimeTransition(after: start) == nil && !timeZone.isDaylightSavingTime(for: start)) {
            let offset = timeZone.secondsFromGMT(for: start)
            var days = Int(((start.timeIntervalSince1970 + Double(offset)) / 86_400).rounded(.down))
            nextDay = {
                defer { days += 1 }
                let (y, m, d) = Self.civil(days)
                let weekday = ((days + 4) % 7 + 7) % 7 + 1   // 1970-01-01 was a Thursday
                return (Date(timeIntervalSince1970: TimeInterval(days * 86_400 - offset)), y * 10_000 + m * 100 + d, weekday)
            }
        } else {
            let cal = gregorian
            var day: Date? = cal.startOfDay(for: start)
            nextDay = {
                guard let current = day else { return nil }
                day = cal.date(byAdding: .day, value: 1, to: current)
                let c = cal.dateComponents([.year, .month, .day, .weekday], from: current)
                return (current, c.year! * 10_000 + c.month! * 100 + c.day!, c.weekday!)
            }
        }
        for _ in 0..<3_660 {
            guard let (day, key, weekday) = nextDay() else { return }
            guard isWorkingDay(key: key, weekday: weekday) else { continue }
            for p in periods {
                let ps = day.addingTimeInterval(TimeInterval(p.start * 60))
                let pe = day.addingTimeInterval(TimeInterval(p.end * 60))
                let from = max(ps, start)
                if from < pe && !body(from, pe) { return }
            }
        }
    }

    /// Year, month, day of a day number since 1970-01-01 (H. Hinnant's civil_from_days).
    static func civil(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// The moment `seconds` of working time after `start` (0: the next working moment, or `start`).
    public func adding(workingSeconds seconds: TimeInterval, to start: Date) -> Date {
        var remaining = max(0, seconds)
        var result = start
        forEachWorkingInterval(from: start) { from, to in
            let available = to.timeIntervalSince(from)
            if remaining <= available {
                result = from.addingTimeInterval(remaining)
                return false
            }
            remaining -= available
            result = to
            return true
        }
        return result
    }

    /// Working seconds between `start` and `end` (0 when `end` is not after `start`).
    public func workingSeconds(from start: Date, to end: Date) -> TimeInterval {
        guard end > start else { return 0 }
        var total: TimeInterval = 0
        forEachWorkingInterval(from: start) { from, to in
            if from >= end { return false }
            total += min(to, end).timeIntervalSince(from)
            return to < end
        }
        return total
    }

    // MARK: files

    /// Loads every `*.txt` year file in `directory` (file order), or the built-in demo when nil.
    public static func load(directory: String?) throws -> WorkingCalendar {
        guard let directory else { return try demo() }
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".txt") }.sorted()
        } catch {
            throw ConfigError("calendar", "cannot read the calendar directory \(directory): \(error.localizedDescription)")
        }
        if files.isEmpty { throw ConfigError("calendar", "no year file (*.txt) in \(directory)") }
        var cal = WorkingCalendar()
        for f in files {
            let path = (directory as NSString).appendingPathComponent(f)
            try cal.merge(try ConfigFiles.read(path, key: "calendar"), source: f)
        }
        return cal
    }

    /// The demo calendar shipped in `deploy/calendar` (built in, so `liaison up` needs no files).
    public static func demo() throws -> WorkingCalendar {
        var cal = WorkingCalendar()
        try cal.merge(DemoCalendar.y2026, source: "2026.txt")
        try cal.merge(DemoCalendar.y2027, source: "2027.txt")
        return cal
    }

    /// Adds one year file's lines; errors name the file, the line and the key.
    public mutating func merge(_ text: String, source: String) throws {
        for (n, raw) in ConfigFiles.numbered(text) {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?
                .trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            let at = "\(source):\(n)"
            switch words[0] {
            case "timezone":
                guard words.count == 2, let tz = TimeZone(identifier: words[1]) ?? (words[1] == "Asia/Shanghai" ? Self.defaultTimeZone : nil) else {
                    throw ConfigError("\(at) timezone", "expected 'timezone <IANA zone>', e.g. timezone Asia/Shanghai")
                }
                timeZone = tz
            case "hours":
                var ps: [Period] = []
                for w in words.dropFirst() {
                    guard let p = Self.parsePeriod(w) else { throw ConfigError("\(at) hours", "'\(w)' is not a period like 09:00-12:00") }
                    if let last = ps.last, p.start < last.end { throw ConfigError("\(at) hours", "periods must be in order and not overlap") }
                    ps.append(p)
                }
                if ps.isEmpty { throw ConfigError("\(at) hours", "expected one or more periods like 09:00-12:00") }
                periods = ps
            case "holiday", "workday":
                guard words.count >= 2, let key = Self.parseDay(words[1]) else {
                    throw ConfigError("\(at) \(words[0])", "expected '\(words[0]) YYYY-MM-DD [name]'")
                }
                if words[0] == "holiday" { holidays.insert(key) } else { workdays.insert(key) }
            default:
                throw ConfigError("\(at) \(words[0])", "unknown key; expected timezone, hours, holiday or workday")
            }
        }
    }

    static func parseDay(_ s: String) -> Int? {
        let p = s.split(separator: "-")
        guard p.count == 3, let y = Int(p[0]), let m = Int(p[1]), let d = Int(p[2]),
              (1970...2200).contains(y), (1...12).contains(m), (1...31).contains(d) else { return nil }
        return y * 10_000 + m * 100 + d
    }

    static func parsePeriod(_ s: String) -> Period? {
        let ends = s.split(separator: "-")
        guard ends.count == 2, let a = parseMinute(ends[0]), let b = parseMinute(ends[1]), a < b else { return nil }
        return Period(start: a, end: b)
    }

    static func parseMinute(_ s: Substring) -> Int? {
        let hm = s.split(separator: ":")
        guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 1_440 else { return nil }
        return h * 60 + m
    }
}
