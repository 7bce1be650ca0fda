/// The demo deployment's calendar files (deploy/calendar), built in so `liaison up` needs no files.
/// A test checks they match the shipped files.
enum DemoCalendar {
    static let y2026 = """
# Working calendar 2026 for the demo deployment (mainland China public holidays as announced by
# the State Council General Office in November 2025; check against the notice before production).
#   holiday YYYY-MM-DD name   a day off
#   workday YYYY-MM-DD name   an adjusted working day (a weekend day that is worked)
timezone Asia/Shanghai
hours 09:00-12:00 13:30-17:30
holiday 2026-01-01 New Year's Day
holiday 2026-01-02 New Year's Day
holiday 2026-01-03 New Year's Day
workday 2026-01-04 New Year's Day (adjusted)
workday 2026-02-14 Spring Festival (adjusted)
holiday 2026-02-15 Spring Festival
holiday 2026-02-16 Spring Festival
holiday 2026-02-17 Spring Festival
holiday 2026-02-18 Spring Festival
holiday 2026-02-19 Spring Festival
holiday 2026-02-20 Spring Festival
holiday 2026-02-21 Spring Festival
holiday 2026-02-22 Spring Festival
holiday 2026-02-23 Spring Festival
workday 2026-02-28 Spring Festival (adjusted)
holiday 2026-04-04 Qingming Festival
holiday 2026-04-05 Qingming Festival
holiday 2026-04-06 Qingming Festival
holiday 2026-05-01 Labour Day
holiday 2026-05-02 Labour Day
holiday 2026-05-03 Labour Day
holiday 2026-05-04 Labour Day
holiday 2026-05-05 Labour Day
workday 2026-05-09 Labour Day (adjusted)
holiday 2026-06-19 Dragon Boat Festival
holiday 2026-06-20 Dragon Boat Festival
holiday 2026-06-21 Dragon Boat Festival
workday 2026-09-20 National Day (adjusted)
holiday 2026-09-25 Mid-Autumn Festival
holiday 2026-09-26 Mid-Autumn Festival
holiday 2026-09-27 Mid-Autumn Festival
holiday 2026-10-01 National Day
holiday 2026-10-02 National Day
holiday 2026-10-03 National Day
holiday 2026-10-04 National Day
holiday 2026-10-05 National Day
holiday 2026-10-06 National Day
holiday 2026-10-07 National Day
workday 2026-10-10 National Day (adjusted)
"""

    static let y2027 = """
# Working calendar 2027 for the demo deployment: PROVISIONAL. Only New Year's Day is certain until
# the State Council publishes the 2027 arrangement; replace this file then (the handler reloads it on SIGHUP).
holiday 2027-01-01 New Year's Day
"""
}
