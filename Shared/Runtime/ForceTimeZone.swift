import Foundation

/// The zone whose calendar the force counts by (months of the rates, years of the liaison
/// programme, the working calendar's days): the demo city's, Asia/Shanghai, unless a service is
/// given another with `--time-zone` or `$LIAISON_TIME_ZONE`.
public enum ForceTimeZone {
    /// The demo city's zone (UTC+8 should the system's zone database lack it).
    public static var demo: TimeZone {
        TimeZone(identifier: "Asia/Shanghai") ?? TimeZone(secondsFromGMT: 8 * 3_600)!
    }

    /// The zone named by `option`, else by `$LIAISON_TIME_ZONE`, else ``demo``; a name that is
    /// no zone is a ``ConfigError`` at `time-zone` saying what one looks like.
    public static func resolve(_ option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> TimeZone {
        guard let name = option ?? environment["LIAISON_TIME_ZONE"], !name.isEmpty else { return demo }
        guard let zone = TimeZone(identifier: name) else {
            throw ConfigError("time-zone", "\(name) is not a time zone name (try Asia/Shanghai or UTC)")
        }
        return zone
    }
}
