import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd how a service is (sd_notify(3), written out: a datagram to `$NOTIFY_SOCKET`):
/// `READY=1` once it answers requests, `STOPPING=1` as it stops, and `WATCHDOG=1` from its request
/// thread at half the unit's `WatchdogSec=` (`$WATCHDOG_USEC`). A request thread that hangs stops
/// the pings, and systemd kills the service and starts it again, as it does one that exits. Under
/// any other supervisor (no `$NOTIFY_SOCKET`) it does nothing.
public final class SystemdNotifier: Sendable {
    /// The socket's address as given (a path, or `@name` for the abstract namespace); nil: no systemd.
    public let socketPath: String?
    /// How often to send `WATCHDOG=1`; nil when the unit has no watchdog, or it is for another process.
    public let watchdogInterval: TimeInterval?
    private let fd: Int32

    /// From this process's environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID`).
    public static let fromEnvironment = SystemdNotifier(environment: ProcessInfo.processInfo.environment, pid: getpid())

    /// `environment` as systemd sets it for `pid`.
    public init(environment: [String: String], pid: pid_t) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        if let usec = environment["WATCHDOG_USEC"].flatMap({ UInt64($0) }), usec > 0,
           environment["WATCHDOG_PID"].flatMap({ pid_t($0) }).map({ $0 == pid }) ?? true {
            watchdogInterval = Double(usec) / 2_000_000
        } else {
            watchdogInterval = nil
        }
        fd = path == nil ? -1 : socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// The service answers requests.
    public func ready() { send("READY=1") }
    /// The service is stopping (SIGTERM).
    public func stopping() { send("STOPPING=1") }
    /// The request thread is alive.
    public func watchdog() { send("WATCHDOG=1") }

    /// Sends `state`; a failure is ignored, as sd_notify's caller does (systemd may be gone).
    func send(_ state: String) {
        guard fd >= 0, let path = socketPath else { return }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }   // the abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        _ = state.utf8CString.withUnsafeBufferPointer { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
    }
}
