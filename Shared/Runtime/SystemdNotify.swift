import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd how a service is (sd_notify(3), written out: a datagram to `$NOTIFY_SOCKET`):
/// `READY=1` once it answers requests, `STOPPING=1` as it stops, and `WATCHDOG=1` from its request
/// thread at half the unit's `WatchdogSec=` (`$WATCHDOG_USEC`) while every other thread of the
/// service turns too. A thread that hangs stops the pings (the request thread by not sending them,
/// another by being silent for a whole `WatchdogSec=`), and systemd kills the service and starts it
/// again, as it does one that exits. Under any other supervisor (no `$NOTIFY_SOCKET`) it does nothing.
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
        _ = withUnixAddress(path) { address, length in
            state.utf8CString.withUnsafeBufferPointer { text in
                sendto(fd, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL), address, length)
            }
        }
    }
}

/// The other end: a datagram socket where processes send sd_notify's messages, read without
/// blocking. `liaison up` gives one to each child, and a test stands in for systemd with one.
public final class NotifyReceiver: Sendable {
    /// What to give a child as `$NOTIFY_SOCKET`: a path, or `@name` in the abstract namespace.
    public let address: String
    private let fd: Int32

    /// Binds `address`; nil when it cannot (taken, or too long for a socket address).
    public init?(address: String) {
        self.address = address
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        guard withUnixAddress(address, { bind(fd, $0, $1) }) == 0 else {
            close(fd)
            return nil
        }
    }

    deinit { close(fd) }

    /// Every message waiting, oldest first.
    public func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return messages }
            messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
    }
}

/// Calls `body` with the socket address of `path` (`@name`: the abstract namespace, as
/// `$NOTIFY_SOCKET` writes it); nil when the path does not fit.
private func withUnixAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T? {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    var bytes = Array(path.utf8)
    if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
    return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
}
