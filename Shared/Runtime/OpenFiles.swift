import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Each connected client holds a file descriptor in the service. With the usual soft limit of
/// 1,024 open files, libzmq stops accepting connections past it and says nothing (measured: an
/// intake limited to 64 answered 37 of 120 clients, and logged nothing). A service raises its soft
/// limit to the hard one at start, and logs how many it may open.
public enum OpenFiles {
    /// Under this many, a warning: a hotline centre and a web front may well connect more clients.
    public static let comfortable: UInt64 = 4_096

    /// Raises the soft limit on open files to the hard limit (or to 2^20 when the hard limit is
    /// unlimited) and returns the limit now in force.
    @discardableResult
    public static func raiseLimit(logger: Logger) -> UInt64 {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        for target in [limit.rlim_max, min(limit.rlim_max, 1 << 20)] where limit.rlim_cur < target {
            var raised = limit
            raised.rlim_cur = target
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &raised) == 0 {
                limit = raised
                break
            }
        }
        let n = UInt64(limit.rlim_cur)
        if n < comfortable {
            logger.warning("this process may open only \(n) files, and every connected client takes one: raise the limit (LimitNOFILE= in a systemd unit, ulimit -n in a shell)")
        } else {
            logger.info("open files: up to \(n)")
        }
        return n
    }
}
