import Foundation
import LiaisonRuntime
import Testing
#if canImport(Glibc)
import Glibc
#endif

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
        defer { listener.close() }
        try set.start("intake", environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"])
        #expect(await eventually(20) { listener.messages.contains("READY=1") }, "\(set.logs())")
        // Ready means it answers.
        #expect(await set.status("intake") != nil)
        #expect(await eventually(5) { listener.messages.filter { $0 == "WATCHDOG=1" }.count >= 5 }, "\(listener.messages)")

        set.signal("intake", 0, SIGSTOP)
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

/// A datagram socket at `path` collecting what is sent to it, as systemd's notify socket does.
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var closed = false
    /// Signalled by the reader as it ends.
    private let readerDone = DispatchSemaphore(value: 0)

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw SetupError("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw SetupError("path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw SetupError("bind \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        Thread { [self] in
            read()
            readerDone.signal()
        }.start()
    }

    /// Everything received so far, in order.
    var messages: [String] { lock.withLock { received } }

    private func read() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !lock.withLock({ closed }) {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { lock.withLock { received.append(String(decoding: buffer[0..<n], as: UTF8.self)) } }
        }
    }

    func close() {
        guard !lock.withLock({ defer { closed = true }; return closed }) else { return }
        // The reader wakes from its 100 ms receive timeout, sees `closed` and ends; then the socket goes.
        _ = readerDone.wait(timeout: .now() + 5)
        Glibc.close(fd)
    }
}
