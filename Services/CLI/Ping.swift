import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonClient
import LiaisonRuntime
import ZeroMQ

/// `liaison ping`: whether one service instance answers, for a health check.
struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that one service instance answers (exit 0) or not (exit 3: no answer; 1: it answered with an error): for health checks and probes.",
        discussion: """
            Asks the instance for its status once, within --timeout, and prints one line: its stream, \
            pid and head. An instance whose request thread is held up waiting for its disk (a commit \
            the disk does not finish) answers, but is not serving: exit 1, saying for how long. \
            A container's health check or a Kubernetes probe runs it:

              liaison ping intake
              liaison ping handler --instance 1 --timeout 1000
            """)

    @Argument(help: "The service: intake, handler, scheduler or reporting.")
    var service: String

    @Option(help: "Which instance of the service in the topology (0-based).")
    var instance: Int = 0

    @Option(help: "Topology file (JSON). Default: $LIAISON_TOPOLOGY, else the local defaults.")
    var topology: String?

    @Option(help: "Milliseconds to wait for the answer.")
    var timeout: Int32 = 2_000

    @Option(help: "Your CURVE key pair (liaison keygen), when the instance serves over CURVE. Default: $LIAISON_CURVE_KEY_FILE.")
    var curveKeyFile: String?

    func validate() throws {
        guard Topology.serviceNames.contains(service) else {
            throw ValidationError("'\(service)' is not a service; expected one of \(Topology.serviceNames.joined(separator: ", "))")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be at least 1 ms") }
    }

    func run() throws {
        do {
            let list = try Topology.resolve(path: topology).instances(of: service)
            guard instance >= 0, instance < list.count else {
                throw ConfigError("services.\(service)[\(instance)]", "the topology has \(list.count) instance(s) of \(service)")
            }
            let ctx = try Context(curve: CurveKeyFile.resolve(path: curveKeyFile))
            defer { ctx.terminate() }
            // One attempt: a health check that waits through retries hides a service that hangs.
            let client = RequestClient(context: ctx, endpoint: list[instance].requests, serverKey: list[instance].curvePublicKey, timeoutMs: timeout, attempts: 1)
            defer { client.reset() }
            let reply = try client.call(.getStatus(.init()))
            if case .error(let e)? = reply.result { throw WireError(e) }
            // Answered by the stand-in while the request thread waits for the disk: not serving.
            if reply.serviceStatus.requestThreadHeldMs > 0 { throw WireError.unavailable(Streams.heldUp(reply.serviceStatus.stream, reply.serviceStatus)) }
            print("\(reply.serviceStatus.stream) up: pid \(reply.serviceStatus.pid), head \(reply.serviceStatus.headSeq)")
        } catch {
            reportFailure(error)
        }
    }
}
