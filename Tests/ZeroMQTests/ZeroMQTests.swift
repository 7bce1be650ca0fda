import Foundation
import Testing
@testable import ZeroMQ

@Suite struct ZeroMQTests {
    @Test func multipartRoundTripKeepsEmptyFrames() throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let pull = try Socket(context: ctx, type: .pull, role: "in")
        let push = try Socket(context: ctx, type: .push, role: "out")
        defer { pull.close(); push.close() }
        try pull.bind("inproc://mp")
        try push.connect("inproc://mp")
        let frames: [[UInt8]] = [Array("topic".utf8), [], [1, 2, 3], [UInt8](repeating: 7, count: 70_000)]
        #expect(try push.send(multipart: frames))
        #expect(try pull.waitReadable(timeout: 2_000))
        #expect(try pull.receiveMultipart() == frames)
        // Zero-copy receive sees the same frames.
        try push.send(multipart: [[9], [8, 8]])
        var seen: [[UInt8]] = []
        var indices: [Int] = []
        let got = try pull.receive { i, buf in
            indices.append(i)
            seen.append(Array(buf))
        }
        #expect(got)
        #expect(seen == [[9], [8, 8]] && indices == [0, 1])
    }

    @Test func dontWaitReceiveReturnsNilWhenEmpty() throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let pull = try Socket(context: ctx, type: .pull, role: "in")
        defer { pull.close() }
        try pull.bind("inproc://empty")
        #expect(try pull.receiveMultipart(dontWait: true) == nil)
        #expect(try !pull.waitReadable(timeout: 10))
    }

    @Test func routerMandatoryRefusesUnknownPeer() throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let router = try Socket(context: ctx, type: .router, role: "requests")
        defer { router.close() }
        try router.setRouterMandatory()
        try router.bind("inproc://router")
        #expect {
            try router.send(multipart: [[1, 2, 3], [], [4]])
        } throws: { e in (e as? ZMQError)?.isHostUnreachable == true }
    }

    @Test func dealerRouterRequestReply() throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let router = try Socket(context: ctx, type: .router, role: "requests")
        let dealer = try Socket(context: ctx, type: .dealer, role: "client")
        defer { router.close(); dealer.close() }
        try router.bind("inproc://rr")
        try dealer.connect("inproc://rr")
        try dealer.send(multipart: [[], Array("ping".utf8)])
        #expect(try router.waitReadable(timeout: 2_000))
        let req = try #require(try router.receiveMultipart())
        #expect(req.count == 3 && req[1].isEmpty && req[2] == Array("ping".utf8))
        try router.send(multipart: [req[0], [], Array("pong".utf8)])
        #expect(try dealer.waitReadable(timeout: 2_000))
        #expect(try dealer.receiveMultipart() == [[], Array("pong".utf8)])
    }

    @Test func errorsNameTheCallAndErrno() throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let s = try Socket(context: ctx, type: .pub, role: "events")
        defer { s.close() }
        #expect {
            try s.bind("nonsense://x")
        } throws: { e in
            guard let z = e as? ZMQError else { return false }
            return z.call.contains("zmq_bind(events, nonsense://x)") && z.errno != 0 && z.description.contains("failed")
        }
    }

    /// libzmq binds an `ipc://` path by unlinking the socket file first, so a second process took
    /// the endpoint from one still serving it. The wrapper refuses that, as a TCP port in use is
    /// refused, and still binds over a socket file left by a process that is gone.
    @Test func anIPCPathInUseIsRefusedAndAStaleOneTaken() throws {
        let dir = "/tmp/zq-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ctx = try Context()
        defer { ctx.terminate() }
        let first = try Socket(context: ctx, type: .router, role: "requests")
        let second = try Socket(context: ctx, type: .router, role: "requests")
        defer { first.close(); second.close() }
        try first.bind("ipc://\(dir)/live")
        #expect(IPCEndpoint.inUse("ipc://\(dir)/live"))
        #expect {
            try second.bind("ipc://\(dir)/live")
        } throws: { e in
            guard let z = e as? ZMQError else { return false }
            return z.errno == EADDRINUSE && z.description.contains("zmq_bind(requests, ipc://\(dir)/live)")
        }
        // A socket file nobody accepts on any more (its process gone): bound over, as before.
        let stale = "\(dir)/stale"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &sun.sun_path) { raw in for (i, b) in stale.utf8.enumerated() { raw[i] = b } }
        let bound = withUnsafePointer(to: &sun) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        try #require(bound == 0 && FileManager.default.fileExists(atPath: stale))
        #expect(!IPCEndpoint.inUse("ipc://" + stale))
        try second.bind("ipc://" + stale)
        #expect(!IPCEndpoint.inUse("tcp://127.0.0.1:1") && !IPCEndpoint.inUse("inproc://x"))
    }

    @Test func optionsAreApplied() throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let s = try Socket(context: ctx, type: .dealer, role: "client", sendHighWaterMark: 123, receiveHighWaterMark: 456, linger: 77)
        defer { s.close() }
        #expect(try s.intOption(ZMQOption.sendHighWaterMark) == 123)
        #expect(try s.intOption(ZMQOption.receiveHighWaterMark) == 456)
        #expect(try s.intOption(ZMQOption.linger) == 77)
        try s.setImmediate()
        #expect(try s.intOption(ZMQOption.immediate) == 1)
        try s.setHeartbeat(interval: 1_000, timeout: 5_000)
        #expect(try s.intOption(ZMQOption.heartbeatInterval) == 1_000)
        try s.setReconnect(interval: 100, max: 2_000)
        #expect(try s.intOption(ZMQOption.reconnectIntervalMax) == 2_000)
    }

    @Test func wakerInterruptsPoll() throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let s = try Socket(context: ctx, type: .pull, role: "in")
        defer { s.close() }
        try s.bind("inproc://waker")
        let w = try Waker()
        #expect(try Poller.poll([s], fds: [w.fd], timeout: 0) == [false, false])
        w.ring()
        #expect(try Poller.poll([s], fds: [w.fd], timeout: 5_000) == [false, true])
        w.drain()
        #expect(try Poller.poll([s], fds: [w.fd], timeout: 0) == [false, false])
    }

    @Test func libraryHasCurve() {
        #expect(Context.libraryVersion.major == 4)
        #expect(Context.hasCurve)
    }
}
