import Foundation
import LiaisonRuntime
import Testing

/// What systemd's environment means to a service (``SystemdNotifier``); the messages themselves are
/// in SystemdEndToEndTests, against a notify socket of the test's own.
@Suite struct SystemdNotifyTests {
    /// The environment as systemd sets it: the watchdog is for this process only, at half its interval.
    @Test func theWatchdogIntervalIsHalfTheUnitsAndOnlyForItsOwnProcess() {
        let pid = getpid()
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000"], pid: pid).watchdogInterval == 15)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(pid)"], pid: pid).watchdogInterval == 15)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(pid + 1)"], pid: pid).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@sd", "WATCHDOG_USEC": "0"], pid: pid).watchdogInterval == nil)
        #expect(SystemdNotifier(environment: [:], pid: pid).socketPath == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""], pid: pid).socketPath == nil)
    }
}
