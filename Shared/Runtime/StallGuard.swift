import Dispatch
import Foundation
import LiaisonCodec
import Logging
import Synchronization
import ZeroMQ

/// Keeps a requests socket read while the thread that owns it is held up: a commit waiting for a
/// stalled disk, a read of the database that does.
///
/// The request thread commits on itself, so while its commit waits nobody reads the socket: libzmq
/// queues what clients send, up to the high-water mark (10,000 messages a connection, each up to
/// ``maxSocketMessageBytes``), and the service's memory follows the flood. (A probe on
/// scripts/crashfs.py with its file system stopped: four clients sending 4 MB requests took intake
/// from 34 MiB to 1.7 GiB in 7.5 s.) So the request thread lends the socket around each piece of
/// work that may wait for the disk (``lend(inFlight:room:_:)``). Held up longer than `after`, a
/// stand-in thread reads the socket in its place: it keeps up to `room` requests for the owner's
/// next batch, shared fairly between callers as shedding shares them (``ShedShares``, counting the
/// batch in flight), each for a second at most (``RequestLoopOptions/standInKeepsMs``, under a
/// client's timeout, after which it is told to come back too), and answers the rest at once (the request loop's `standIn`): a status request
/// with what needs no disk, a malformed request its error, any other `unavailable` with a retry
/// hint. However long the disk stalls,
/// the service holds one batch in flight and one kept, and clients hear back instead of timing out.
///
/// A libzmq socket is not thread-safe; it may move between threads with a full memory barrier. The
/// two threads hand it over under a mutex, and the owner does not touch it again until the stand-in
/// has said, through a semaphore, that it has let go. While nothing is held up the cost to the owner
/// is two uncontended locks and a clock read a lend.
final class StallGuard: @unchecked Sendable {
    /// What the stand-in has read while the owner was held up.
    struct Shift {
        /// Requests for the owner's next batch, oldest first.
        var kept: [Framing.Incoming] = []
        /// When each of `kept` was read (uptime, ns).
        var keptAt: [UInt64] = []
        var shares: ShedShares
        /// Most requests kept, by weight (``Framing/Incoming/weight``).
        var room: Int
        /// Answered `unavailable`.
        var turnedAway = 0
        /// When the owner lent the socket (uptime, ns).
        var lentAt: UInt64
    }

    private struct State {
        /// When the socket was lent (uptime, ns); 0 while the owner holds it.
        var lentAt: UInt64 = 0
        var room = 0
        /// The batch the owner is working on, counted in the callers' shares.
        var inFlight: [Framing.Incoming] = []
        /// True while the stand-in uses the socket.
        var standingIn = false
        /// Requests the stand-in kept, for the owner to take.
        var kept: [Framing.Incoming] = []
        /// The lend the stand-in gave up on (its socket failed): not stood in for again.
        var gaveUpOn: UInt64 = 0
        var finished = false
    }

    private let state = Mutex(State())
    private let doorbell: Waker
    private let released = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)
    private let afterNs: UInt64
    private let checkMs: Int32
    private let maxBatch: Int

    /// - Parameters:
    ///   - afterMs: how long the owner may be held up before the stand-in reads its socket.
    ///   - maxBatch: the batch size the callers' shares are counted against.
    init(afterMs: Int, maxBatch: Int) throws {
        doorbell = try Waker()
        afterNs = UInt64(afterMs) * 1_000_000
        checkMs = Int32(max(5, min(50, afterMs / 4)))
        self.maxBatch = maxBatch
    }

    /// Starts the stand-in's thread for `socket`. `work` reads what waits on the socket and answers
    /// or keeps it; it is called only while the owner is held up, with the socket lent.
    func start(socket: Socket, name: String, logger: Logger, work: @escaping @Sendable (Socket, inout Shift) throws -> Void) {
        let box = SocketBox(socket: socket)
        let thread = Thread { [self] in
            Threads.nameCurrent(name)
            watch(box.socket, logger: logger, work: work)
            exited.signal()
        }
        thread.name = name
        thread.start()
    }

    /// Stops the stand-in's thread and waits for it; the owner calls this before it closes the socket.
    func finish() {
        state.withLock { $0.finished = true }
        doorbell.ring()
        exited.wait()
    }

    /// Runs `body`, which may wait for the disk, with the socket lent to the stand-in; returns once
    /// the stand-in has let go of it. Whatever the stand-in kept is then for ``takeKept()``.
    /// - Parameters:
    ///   - inFlight: the batch `body` works on, whose callers have had their share of it.
    ///   - room: most requests the stand-in may keep.
    func lend<T>(inFlight: [Framing.Incoming] = [], room: Int, _ body: () throws -> T) rethrows -> T {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock {
            $0.lentAt = now
            $0.room = room
            $0.inFlight = inFlight
        }
        defer {
            let standingIn = state.withLock { s in
                s.lentAt = 0
                s.inFlight = []
                return s.standingIn
            }
            if standingIn {
                doorbell.ring()
                released.wait()
            }
        }
        return try body()
    }

    /// The requests the stand-in kept, oldest first (empty unless it stood in).
    func takeKept() -> [Framing.Incoming] {
        state.withLock { s in
            guard !s.kept.isEmpty else { return [] }
            defer { s.kept = [] }
            return s.kept
        }
    }

    /// The stand-in's thread: looks every `checkMs` whether the owner has been held up past `after`,
    /// and then reads the socket until the owner is back.
    private func watch(_ socket: Socket, logger: Logger, work: (Socket, inout Shift) throws -> Void) {
        while true {
            enum Next { case stop, wait, standIn(Shift) }
            let next: Next = state.withLock { s in
                if s.finished { return .stop }
                guard s.lentAt != 0, s.lentAt != s.gaveUpOn, DispatchTime.now().uptimeNanoseconds - s.lentAt >= afterNs else { return .wait }
                s.standingIn = true
                var shares = ShedShares(batchSize: maxBatch)
                for inc in s.inFlight { shares.count(inc) }
                return .standIn(Shift(shares: shares, room: s.room, lentAt: s.lentAt))
            }
            switch next {
            case .stop:
                return
            case .wait:
                _ = try? Poller.poll([], fds: [doorbell.fd], timeout: checkMs)
                doorbell.drain()
            case .standIn(var shift):
                logger.warning("request thread held up (a commit or a read waiting for the disk?): its requests are read meanwhile, up to one batch kept for a second, the rest answered unavailable", metadata: [
                    "held_ms": "\((DispatchTime.now().uptimeNanoseconds - shift.lentAt) / 1_000_000)"])
                do {
                    while state.withLock({ $0.lentAt == shift.lentAt }) {
                        _ = try Poller.poll([socket], fds: [doorbell.fd], timeout: 100)
                        doorbell.drain()
                        try work(socket, &shift)
                    }
                } catch {
                    logger.error("reading requests while the request thread is held up failed: the rest wait for it", metadata: ["error": "\(error)"])
                    state.withLock { $0.gaveUpOn = shift.lentAt }
                }
                let held = Double(DispatchTime.now().uptimeNanoseconds - shift.lentAt) / 1e9
                state.withLock { s in
                    s.kept.append(contentsOf: shift.kept)
                    s.standingIn = false
                }
                released.signal()
                logger.notice("request thread back", metadata: [
                    "held_s": "\(String(format: "%.1f", held))", "kept": "\(shift.kept.count)", "answered_unavailable": "\(shift.turnedAway)"])
            }
        }
    }
}

/// A socket handed to the stand-in's thread once (``StallGuard``); used there only while lent.
private struct SocketBox: @unchecked Sendable { let socket: Socket }
