import Foundation
import Logging

/// A log line that can come thousands of times a second (a client sending garbage, refused
/// credentials): the first at once, then at most one every `interval`, saying how many like it
/// were left out. The log stays readable and small, and nothing goes uncounted.
public struct SampledLog: Sendable {
    public let interval: TimeInterval
    private var leftOut = 0
    /// When the last line was written, on the monotonic clock (a wall clock stepped back would
    /// hold the next line back for as long as the step); nil: none yet.
    private var lastLine: SuspendingClock.Instant?

    public init(interval: TimeInterval = 10) { self.interval = interval }

    /// Logs the line, or counts it when the last was written less than `interval` ago.
    public mutating func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:],
                             logger: Logger, now: SuspendingClock.Instant = .now) {
        if let lastLine, now - lastLine < .seconds(interval) {
            leftOut += 1
            return
        }
        var m = metadata()
        if leftOut > 0 { m["similar_lines_left_out"] = "\(leftOut)" }
        logger.log(level: level, message(), metadata: m)
        leftOut = 0
        lastLine = now
    }

    /// Starts over: the next line is written at once.
    public mutating func reset() {
        leftOut = 0
        lastLine = nil
    }
}

/// A ``SampledLog`` for each kind of line (a few fixed kinds: each is sampled on its own, so a
/// flood of one kind does not hide the first of another).
public struct SampledLogs: Sendable {
    public let interval: TimeInterval
    private var byKind: [String: SampledLog] = [:]

    public init(interval: TimeInterval = 10) { self.interval = interval }

    public mutating func log(_ kind: String, _ level: Logger.Level, _ message: @autoclosure () -> Logger.Message,
                             metadata: @autoclosure () -> Logger.Metadata = [:], logger: Logger, now: SuspendingClock.Instant = .now) {
        byKind[kind, default: SampledLog(interval: interval)].log(level, message(), metadata: metadata(), logger: logger, now: now)
    }
}

/// Logs a failure that can repeat many times a second (on a full disk every commit fails) without
/// flooding the log: the first failure at once, then at most one line every `interval` counting
/// the failures, and one line when it works again. The operator on call sees when it started, that
/// it goes on, and when it ended.
public struct RepeatedFailureLog: Sendable {
    /// What fails, for the log line: `commit`.
    public let what: String
    /// Failures since it last worked.
    public private(set) var failures = 0
    private var lines: SampledLog

    public init(_ what: String, interval: TimeInterval = 10) {
        self.what = what
        self.lines = SampledLog(interval: interval)
    }

    public var isFailing: Bool { failures > 0 }

    /// Records a failure; logs it when it is the first, or `interval` has passed since the last line.
    public mutating func failed(_ error: any Error, logger: Logger, now: SuspendingClock.Instant = .now, metadata: Logger.Metadata = [:]) {
        failures += 1
        // Copies for the messages, which are read while `lines` changes.
        let what = what, failures = failures
        var m = metadata
        m["error"] = "\(error)"
        if DamagedDatabase.isDamage(error) {
            // Retrying will not help: say so, and what will.
            m["remedy"] = "the database is damaged: stop the set and restore its newest complete backup (liaison restore --from BACKUP-DIR --data-dir DIR)"
            lines.log(.critical, "\(what) failed: the database is damaged; \(failures) in a row", metadata: m, logger: logger, now: now)
            return
        }
        lines.log(.error, "\(what) failed; \(failures) in a row", metadata: m, logger: logger, now: now)
    }

    /// Records a success; logs one line if it had been failing.
    public mutating func succeeded(logger: Logger, metadata: Logger.Metadata = [:]) {
        guard failures > 0 else { return }
        logger.notice("\(what) works again after \(failures) failure(s)", metadata: metadata)
        failures = 0
        lines.reset()
    }
}
