import Foundation

/// Two hosts on this machine: network namespaces joined by a veth pair, A at 10.77.0.1 and B at
/// 10.77.0.2, each with its own loopback, addresses and ports (so a port taken on this machine or
/// by another test is free in them). ``partition()`` cuts the link silently, as a failed switch or
/// a firewall does (blackhole routes: packets dropped, no reset, no error), and ``heal()`` mends
/// it. Needs root and iproute2; ``remove()`` deletes both namespaces, and with them the pair.
final class TwoHosts: @unchecked Sendable {
    static let addressA = "10.77.0.1"
    static let addressB = "10.77.0.2"
    /// iproute2's `ip`.
    static let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/ip"

    /// Whether namespaces can be made here: root, iproute2, and a kernel that allows them (checked
    /// once, by making and deleting one).
    static let available: Bool = {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: ip) else { return false }
        let probe = "ltprobe\(getpid())"
        guard (try? run(["netns", "add", probe])) != nil else { return false }
        _ = try? run(["netns", "del", probe])
        return true
    }()

    /// The namespaces' names, which are also the names of their ends of the veth pair.
    let a: String
    let b: String
    private let lock = NSLock()
    private var removed = false

    init() throws {
        let tag = UUID().uuidString.prefix(8).lowercased()   // interface names: at most 15 bytes
        a = "lt\(tag)a"
        b = "lt\(tag)b"
        do {
            try Self.run(["netns", "add", a])
            try Self.run(["netns", "add", b])
            try Self.run(["link", "add", a, "type", "veth", "peer", "name", b])
            try Self.run(["link", "set", a, "netns", a])
            try Self.run(["link", "set", b, "netns", b])
            try Self.run(["-n", a, "addr", "add", "\(Self.addressA)/30", "dev", a])
            try Self.run(["-n", b, "addr", "add", "\(Self.addressB)/30", "dev", b])
            for (ns, link) in [(a, a), (a, "lo"), (b, b), (b, "lo")] { try Self.run(["-n", ns, "link", "set", link, "up"]) }
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// Cuts the link both ways: every packet between A and B is dropped, and neither side is told.
    func partition() throws {
        try Self.run(["-n", a, "route", "add", "blackhole", "\(Self.addressB)/32"])
        try Self.run(["-n", b, "route", "add", "blackhole", "\(Self.addressA)/32"])
    }

    /// Mends the link: connections that outlived the cut carry on (TCP retransmits), dropped ones
    /// connect again.
    func heal() throws {
        try Self.run(["-n", a, "route", "del", "blackhole", "\(Self.addressB)/32"])
        try Self.run(["-n", b, "route", "del", "blackhole", "\(Self.addressA)/32"])
    }

    /// iproute2's `tc`, when there is one.
    static let tc = ["/usr/sbin/tc", "/sbin/tc", "/usr/bin/tc", "/bin/tc"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Makes what host A sends a thin line: at most `kbitPerSecond`, what is over queued (a token
    /// bucket with room for a quarter of a megabyte, so nothing is dropped), as a desk on a poor
    /// mobile link. What B sends is not slowed.
    func slowFromA(kbitPerSecond: Int) throws {
        guard let tc = Self.tc else { throw SetupError("tc (iproute2) is not installed") }
        let (status, output) = try LiaisonSet.runBlocking(tc, ["-n", a, "qdisc", "add", "dev", a, "root", "tbf",
                                                                "rate", "\(kbitPerSecond)kbit", "burst", "4kb", "limit", "256kb"])
        guard status == 0 else { throw SetupError("tc: \(output)") }
    }

    /// Deletes both namespaces (stop the processes in them first). Idempotent.
    func remove() {
        let first = lock.withLock { () -> Bool in
            defer { removed = true }
            return !removed
        }
        guard first else { return }
        for ns in [a, b] { _ = try? Self.run(["netns", "del", ns]) }
    }

    /// Runs `ip` with `args`; its output, or an error with it when it fails.
    @discardableResult
    static func run(_ args: [String]) throws -> String {
        let (status, output) = try LiaisonSet.runBlocking(ip, args)
        guard status == 0 else { throw SetupError("ip \(args.joined(separator: " ")): \(output)") }
        return output
    }
}
