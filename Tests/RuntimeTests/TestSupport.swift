import Foundation
import LiaisonCodec
import LiaisonRuntime
import Synchronization
import ZeroMQ

/// A fresh temporary directory for one test, removed when the test ends.
final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "liaison-rt-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `seconds`. Returns whether it held.
/// The default is generous: a condition that holds returns at once, and on a machine loaded by a
/// build beside the tests, a thread may wait seconds for a core (seen: 13 s).
func eventually(_ seconds: Double = 30, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return try condition()
}

/// A stand-in for a service, for the client's tests: a ROUTER on a thread of its own that hands
/// every well-formed request to the test, which answers (or not) on the router it is given.
final class StandIn: Sendable {
    private let bound = Atomic(false)
    private let done = Atomic(false)

    /// Whether the router is bound (a client may connect).
    var isBound: Bool { bound.load(ordering: .acquiring) }

    /// Ends ``serve(_:endpoint:seconds:state:_:afterReading:)`` once the client has its answers
    /// (closing right after a reply could drop it: linger 0).
    func finish() { done.store(true, ordering: .releasing) }

    /// Binds `endpoint` and serves until ``finish()`` or `seconds` (a bound for a test that never
    /// finishes it; the tests call ``finish()``, and its deadline must outlast any wait of the test's
    /// own task for the cooperative pool): each request that decodes goes
    /// to `serve`, and after every wait (at most 20 ms), with or without something read,
    /// `afterReading` runs: it may answer what it holds as time goes by. The thread is started
    /// before this returns (``Threads/start(name:_:)``); its value is the state at the end.
    func serve<State: Sendable>(_ ctx: Context, endpoint: String, seconds: Double = 120, state: State,
                                _ serve: @escaping @Sendable (inout State, Socket, Framing.Incoming, Liaison_V1_Request) throws -> Void,
                                afterReading: @escaping @Sendable (inout State, Socket) throws -> Void = { _, _ in }) -> RunningThread<State> {
        Threads.start(name: "stand-in") { [self] in
            let router = try Socket(context: ctx, type: .router, role: "stand-in", linger: 0)
            defer { router.close() }
            try router.bind(endpoint)
            bound.store(true, ordering: .releasing)
            var state = state
            let deadline = Date().addingTimeInterval(seconds)
            while !done.load(ordering: .acquiring) && Date() < deadline {
                guard try router.waitReadable(timeout: 20) else {
                    try afterReading(&state, router)
                    continue
                }
                while let frames = try router.receiveMultipart(dontWait: true) {
                    let incoming = Framing.parseRequest(frames: frames)
                    guard case .success(let request) = incoming.request else { continue }
                    try serve(&state, router, incoming, request)
                }
                try afterReading(&state, router)
            }
            return state
        }
    }
}
