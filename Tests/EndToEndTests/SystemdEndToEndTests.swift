import Foundation
import LiaisonRuntime
import Testing

/// The services under systemd's `Type=notify` and `WatchdogSec=`, with this test standing in for
/// systemd: a datagram socket of its own as `$NOTIFY_SOCKET`.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct SystemdEndToEndTests {
    /// Intake says READY=1 once it serves, then WATCHDOG=1 at half the watchdog interval from its
    /// request thread; stopped (SIGSTOP, as a hung thread is) it says nothing, so systemd would kill
    /// and restart it; continued, it pings again; on SIGTERM it says STOPPING=1.
    @Test func intakeTellsSystemdItIsReadyAliveAndStopping() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let listener = try NotifyListener(path: set.dir + "/notify")
        try set.start("intake", environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"])
        #expect(await eventually(20) { listener.messages.contains("READY=1") }, "\(set.logs())")
        // Ready means it answers.
        #expect(await set.status("intake") != nil)
        // Every 200 ms, though its upstream (the handler) is not running: its consumer's replay
        // requests wait 2 s for an answer, beating all along (they once went silent, and the pings
        // came two every 2 s).
        #expect(await eventually(10) { listener.messages.filter { $0 == "WATCHDOG=1" }.count >= 20 }, "\(listener.messages)")

        try #require(await set.freeze("intake"), "intake did not stop")
        try await Task.sleep(for: .milliseconds(300))   // a ping on its way when it stopped may still arrive
        let whileStopped = listener.messages.count
        try await Task.sleep(for: .milliseconds(1_200))   // three watchdog intervals: what systemd would wait
        #expect(listener.messages.count == whileStopped, "a stopped request thread must not ping: \(listener.messages.suffix(5))")
        set.signal("intake", 0, SIGCONT)
        #expect(await eventually(5) { listener.messages.count >= whileStopped + 3 }, "\(listener.messages.suffix(5))")

        #expect(set.terminate("intake") == 0)
        #expect(await eventually(5) { listener.messages.last == "STOPPING=1" }, "\(listener.messages.suffix(5))")
        #expect(listener.messages.filter { $0 == "READY=1" }.count == 1)
    }
}

/// What was sent to a ``NotifyReceiver`` so far, in order: systemd's notify socket as a test sees it.
final class NotifyListener: @unchecked Sendable {
    private let receiver: NotifyReceiver
    private let lock = NSLock()
    private var received: [String] = []

    init(path: String) throws {
        guard let receiver = NotifyReceiver(address: path) else { throw SetupError("cannot bind a notify socket at \(path): errno \(errno)") }
        self.receiver = receiver
    }

    var path: String { receiver.address }

    /// Everything received so far, in order.
    var messages: [String] { lock.withLock { received += receiver.drain(); return received } }
}
