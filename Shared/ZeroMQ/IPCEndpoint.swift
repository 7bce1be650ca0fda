import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `ipc://` endpoints, which libzmq binds by unlinking whatever socket file is at the path first:
/// a second process binding a path the first still serves takes it over without an error, and the
/// first goes on running, deaf. ``Socket/bind(_:)`` asks ``inUse(_:)`` first.
public enum IPCEndpoint {
    /// Whether a process accepts connections on `endpoint`'s path now (`ipc://PATH`; false for any
    /// other endpoint, an abstract `ipc://@name`, a wildcard, or a socket file left by a process that
    /// is gone).
    public static func inUse(_ endpoint: String) -> Bool {
        guard endpoint.hasPrefix("ipc://") else { return false }
        let path = String(endpoint.dropFirst(6))
        guard !path.hasPrefix("@"), path != "*", FileManager.default.fileExists(atPath: path) else { return false }
        var sun = sockaddr_un()
        sun.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: sun.sun_path) else { return false }
        withUnsafeMutableBytes(of: &sun.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let rc = withUnsafePointer(to: &sun) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0
    }
}
