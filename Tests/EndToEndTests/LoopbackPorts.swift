import Foundation

/// A TCP socket bound to a free port of 127.0.0.1 (listening, if asked): its descriptor, which the
/// caller closes, and the port.
func loopbackTCPSocket(listening: Bool) throws -> (fd: Int32, port: UInt16) {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard s >= 0 else { throw SetupError("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, length) == 0 && (!listening || listen(s, 4) == 0) && getsockname(s, $0, &length) == 0 }
    }
    guard ok else {
        close(s)
        throw SetupError("binding a loopback port: \(String(cString: strerror(errno)))")
    }
    return (s, UInt16(bigEndian: address.sin_port))
}

/// `count` loopback TCP ports free at once: each bound while the others are, so no two are the same
/// (one bound, closed and bound again can be handed out twice; it was, in CI).
func distinctLoopbackPorts(_ count: Int) throws -> [UInt16] {
    var held: [Int32] = []
    defer { held.forEach { close($0) } }
    var ports: [UInt16] = []
    for _ in 0..<count {
        let (fd, port) = try loopbackTCPSocket(listening: false)
        held.append(fd)
        ports.append(port)
    }
    return ports
}
