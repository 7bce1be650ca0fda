import Foundation
import LiaisonRuntime
import Logging
import Testing

/// A line that can come thousands of times a second is written once, then once an interval with
/// how many were left out; each kind on its own.
@Test func sampledLogsWriteTheFirstLineThenOneAnInterval() {
    let captured = CapturedLog()
    var log = SampledLogs(interval: 10)
    let t0 = SuspendingClock.now
    for k in 0..<1_000 { log.log("a", .warning, "kind a", logger: captured.logger, now: t0 + .milliseconds(k)) }
    log.log("b", .warning, "kind b", logger: captured.logger, now: t0 + .seconds(1))
    #expect(captured.lines.map { $0.trimmingCharacters(in: .whitespaces) } == ["warning kind a", "warning kind b"])
    log.log("a", .warning, "kind a", logger: captured.logger, now: t0 + .seconds(10.5))
    #expect(captured.lines.last == "warning kind a similar_lines_left_out=999", "\(captured.lines)")
}
