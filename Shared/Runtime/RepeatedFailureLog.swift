import Foundation
import Logging

/// Logs a failure that can repeat many times a second (on a full disk every commit fails) without
/// flooding the log: the first failure at once, then at most one line every `interval` counting
/// the failures since the last, and one line when it works again. The operator on call sees when
/// it started, that it goes on, and when it ended.
public struct RepeatedFailureLog: Sendable {
    /// What fails, for the log line: `commit`.
    public let what: String
    public let interval: TimeInterval
    /// Failures since it last worked.
    public private(set) var failures = 0
    private var unreported = 0
    private var lastReport = Date.distantPast

    public init(_ what: String, interval: TimeInterval = 10) {
        self.what = what
        self.interval = interval
    }

    public var isFailing: Bool { failures > 0 }

    /// Records a failure; logs it when it is the first, or `interval` has passed since the last line.
    public mutating func failed(_ error: any Error, logger: Logger, now: Date = Date(), metadata: Logger.Metadata = [:]) {
        failures += 1
        unreported += 1
        guard failures == 1 || now.timeIntervalSince(lastReport) >= interval else { return }
        var m = metadata
        m["error"] = "\(error)"
        if failures > 1 { m["failures_since_last_line"] = "\(unreported)" }
        logger.error("\(what) failed\(failures > 1 ? " again" : ""); \(failures) in a row", metadata: m)
        unreported = 0
        lastReport = now
    }

    /// Records a success; logs one line if it had been failing.
    public mutating func succeeded(logger: Logger) {
        guard failures > 0 else { return }
        logger.notice("\(what) works again after \(failures) failure(s)")
        failures = 0
        unreported = 0
        lastReport = .distantPast
    }
}
