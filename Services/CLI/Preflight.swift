import Foundation
import LiaisonCodec
import LiaisonRuntime
import ZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// What `liaison up` checks before it starts anything: that every endpoint of the topology is free
/// to bind and every database free to open. Without it a second set on the same ports (a second
/// `make run`, a set left running in another terminal) started four services that each failed to
/// bind, and `up` restarted them with a growing pause for as long as it ran.
enum Preflight {
    /// One reason the set cannot start, for the operator.
    struct Problem: CustomStringConvertible {
        let description: String
    }

    /// Every problem found with `topology` and the databases in `dataDir`; empty when the set can start.
    static func problems(topology: Topology, dataDir: String) -> [Problem] {
        var found: [Problem] = []
        for name in Topology.serviceNames {
            for inst in topology.instances(of: name) {
                let database = (dataDir as NSString).appendingPathComponent("\(inst.stream).sqlite")
                if let who = DatabaseOwnership.holder(of: database) {
                    found.append(Problem(description: "\(inst.stream): its database \(database) is in use by \(who) (a set already running on this --data-dir?)"))
                }
                let busy = [("requests", inst.requests), ("events", inst.events)].filter { inUse($0.1) }
                guard !busy.isEmpty else { continue }
                let which = busy.map { "\($0.1) (\($0.0))" }.joined(separator: " and ")
                // A Liaison service answers on its requests endpoint: name it, so the operator
                // knows it is a set already running and which process to stop.
                let who = answering(inst.requests).map { "by \($0.stream) of a running Liaison set (pid \($0.pid))" } ?? "by another program"
                found.append(Problem(description: "\(inst.stream): \(which) \(busy.count == 1 ? "is" : "are") in use \(who)"))
            }
        }
        return found
    }

    /// Whether binding `endpoint` would fail because something holds it. Only `tcp://` with an
    /// IPv4 address or `*`, and `ipc://` paths, are checked; any other endpoint is left to the
    /// service, which names a failed bind in its log.
    static func inUse(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("tcp://") { return tcpInUse(String(endpoint.dropFirst(6))) }
        return IPCEndpoint.inUse(endpoint)
    }

    private static func tcpInUse(_ address: String) -> Bool {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return false }
        let host = String(address[..<colon])
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        if host == "*" || host == "0.0.0.0" {
            sin.sin_addr.s_addr = INADDR_ANY
        } else if inet_pton(AF_INET, host, &sin.sin_addr) != 1 {
            return false
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // As libzmq binds: a port left in TIME_WAIT by a set that just stopped is free.
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc != 0 && errno == EADDRINUSE
    }

    /// The Liaison service answering on a requests endpoint, if one does within half a second.
    private static func answering(_ endpoint: String) -> Liaison_V1_ServiceStatus? {
        guard let ctx = try? Context() else { return nil }
        defer { ctx.terminate() }
        let client = RequestClient(context: ctx, endpoint: endpoint, timeoutMs: 500, attempts: 1)
        defer { client.reset() }
        return try? client.call(.getStatus(.init())).serviceStatus
    }
}
