import Foundation
import LiaisonRuntime
import Testing
@testable import Handler

/// A moment in the deployment's zone (Asia/Shanghai).
func shanghai(_ y: Int, _ m: Int, _ d: Int, _ h: Int = 0, _ min: Int = 0) -> Date {
    var c = Calendar(identifier: .gregorian)
    c.timeZone = WorkingCalendar.defaultTimeZone
    return c.date(from: DateComponents(year: y, month: m, day: d, hour: h, minute: min))!
}

@Suite struct WorkingCalendarTests {
    let cal = try! WorkingCalendar.demo()

    @Test func demoCalendarIsTheShippedFiles() throws {
        let dir = LiaisonPaths.repo + "/deploy/calendar"
        let shipped = try WorkingCalendar.load(directory: dir)
        #expect(shipped.holidays == cal.holidays && shipped.workdays == cal.workdays && shipped.periods == cal.periods)
        #expect(cal.secondsPerDay == 7 * 3_600)   // 09:00-12:00 and 13:30-17:30
        #expect(cal.timeZone.identifier == "Asia/Shanghai" || cal.timeZone.secondsFromGMT() == 8 * 3_600)
    }

    @Test func nationalDayWeekIsSkipped() {
        // Wed 30 Sep 16:00 + 7 working hours: 1.5 h that day, 1-7 Oct off, then 5.5 h on Thu 8 Oct.
        #expect(cal.adding(workingSeconds: 7 * 3_600, to: shanghai(2026, 9, 30, 16)) == shanghai(2026, 10, 8, 16))
        for d in 1...7 { #expect(!cal.isWorkingDay(shanghai(2026, 10, d, 10))) }
        #expect(cal.workingSeconds(from: shanghai(2026, 9, 30, 16), to: shanghai(2026, 10, 8, 16)) == 7 * 3_600)
    }

    @Test func adjustedWorkingDaysCount() {
        // Sat 10 Oct and Sun 20 Sep 2026 are worked; an ordinary Saturday is not.
        #expect(cal.isWorkingDay(shanghai(2026, 10, 10, 10)) && cal.isWorkingDay(shanghai(2026, 9, 20, 10)))
        #expect(!cal.isWorkingDay(shanghai(2026, 10, 17, 10)))
        // Fri 9 Oct 17:00 + 2 h: half an hour on Friday, 1.5 h on the adjusted Saturday.
        #expect(cal.adding(workingSeconds: 2 * 3_600, to: shanghai(2026, 10, 9, 17)) == shanghai(2026, 10, 10, 10, 30))
        // Fri 16 Oct 17:00 + 2 h: the next Saturday is an ordinary one, so Monday 19 Oct.
        #expect(cal.adding(workingSeconds: 2 * 3_600, to: shanghai(2026, 10, 16, 17)) == shanghai(2026, 10, 19, 10, 30))
    }

    @Test func springFestivalAcrossTheAdjustedSaturday() {
        // Fri 13 Feb 10:00 + 2 working days (14 h): 6 h Friday, 7 h on the worked Saturday 14 Feb,
        // 15-23 Feb off, 1 h on Tuesday 24 Feb.
        #expect(cal.adding(workingSeconds: 14 * 3_600, to: shanghai(2026, 2, 13, 10)) == shanghai(2026, 2, 24, 10))
        #expect(Span.workingDays(2).due(from: shanghai(2026, 2, 13, 10), on: cal) == shanghai(2026, 2, 24, 10))
    }

    @Test func lunchBreakNightsAndPlainHours() {
        // 11:00 + 2 working hours: one before lunch, one after 13:30.
        #expect(cal.adding(workingSeconds: 2 * 3_600, to: shanghai(2026, 12, 1, 11)) == shanghai(2026, 12, 1, 14, 30))
        // Submitted at night: the clock starts at 09:00 next working day.
        #expect(cal.adding(workingSeconds: 3_600, to: shanghai(2026, 12, 1, 22)) == shanghai(2026, 12, 2, 10))
        // Plain hours run through nights and holidays (help requests).
        #expect(Span.hours(2).due(from: shanghai(2026, 10, 1, 23), on: cal) == shanghai(2026, 10, 2, 1))
        // 80 % of a 1-working-day span (7 h) from 09:00: 5.6 h -> 15:06 after the lunch break.
        #expect(Span.workingDays(1).due(from: shanghai(2026, 12, 1, 9), on: cal, fraction: 0.8) == shanghai(2026, 12, 1, 16, 6))
    }

    @Test func arithmeticDaysAgreeWithFoundationsCalendar() {
        #expect(WorkingCalendar.civil(0) == (1970, 1, 1) && WorkingCalendar.civil(20_786) == (2026, 11, 29))
        #expect(WorkingCalendar.civil(-1) == (1969, 12, 31) && WorkingCalendar.civil(11_016) == (2000, 2, 29))
        var g = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let start = shanghai(2026, 1, 1).addingTimeInterval(Double(g.next() % (400 * 86_400)))
            let span = Double(g.next() % (30 * 7 * 3_600))
            var fast: [Date] = [], slow: [Date] = []
            var left = span
            cal.forEachWorkingInterval(from: start, arithmetic: true) { a, b in fast += [a, b]; left -= b.timeIntervalSince(a); return left > 0 }
            left = span
            cal.forEachWorkingInterval(from: start, arithmetic: false) { a, b in slow += [a, b]; left -= b.timeIntervalSince(a); return left > 0 }
            #expect(fast == slow, "from \(start)")
        }
    }

    @Test(arguments: [
        ("holiday 2026-13-01 x", "y.txt:1 holiday"),
        ("hours 09:00-08:00", "y.txt:1 hours"),
        ("# ok\nvacation 2026-01-01", "y.txt:2 vacation"),
        ("timezone Mars/Olympus", "y.txt:1 timezone"),
        ("hours 09:00-12:00 11:00-17:00", "y.txt:1 hours"),
    ])
    func calendarErrorsNameFileLineAndKey(text: String, field: String) {
        var c = WorkingCalendar()
        #expect { try c.merge(text, source: "y.txt") } throws: { ($0 as? ConfigError)?.key == field }
    }

    /// A year file saved on Windows (line ends `\r\n`, a byte-order mark) is the same year; before,
    /// the whole file read as one line and was refused on line 1.
    @Test func aCalendarSavedOnWindowsIsTheSameCalendar() throws {
        var windows = WorkingCalendar(), unix = WorkingCalendar()
        try unix.merge(DemoCalendar.y2026, source: "2026.txt")
        try windows.merge("\u{FEFF}" + DemoCalendar.y2026.replacingOccurrences(of: "\n", with: "\r\n"), source: "2026.txt")
        #expect(!unix.holidays.isEmpty && windows.holidays == unix.holidays && windows.workdays == unix.workdays)
        #expect(windows.periods == unix.periods && windows.timeZone == unix.timeZone)
        var c = WorkingCalendar()
        #expect { try c.merge("# ok\r\n\r\nvacation 2026-01-01\r\n", source: "y.txt") } throws: { ($0 as? ConfigError)?.key == "y.txt:3 vacation" }
    }
}
