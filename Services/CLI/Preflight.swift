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

    /// Whether binding `endpoint` would fail because something holds it: `tcp://` with an address,
    /// a host name (`localhost`), an IPv6 address in brackets or `*`, each address it resolves to
    /// tried; and `ipc://` paths. Anything else (an interface name) is left to the service, which
    /// names a failed bind in its log.
    static func inUse(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("tcp://") { return tcpInUse(String(endpoint.dropFirst(6))) }
        return IPCEndpoint.inUse(endpoint)
    }

    private static func tcpInUse(_ address: String) -> Bool {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return false }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host == "*" ? nil : host, String(port), &hints, &found) == 0 else { return false }
        defer { freeaddrinfo(found) }
        var next = found
        while let ai = next {
            next = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { continue }   // an address family this machine does not have
            defer { close(fd) }
            // As libzmq binds: a port left in TIME_WAIT by a set that just stopped is free.
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) != 0 && errno == EADDRINUSE { return true }
        }
        return false
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
