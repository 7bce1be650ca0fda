#if canImport(Glibc)
import Glibc
#endif
import CZeroMQ   // its shim also exposes getrandom(2)
import Synchronization

/// Random bytes from the kernel's CSPRNG (`getrandom`), fetched 4 KiB at a time and handed out once
/// each. `SystemRandomNumberGenerator` makes one system call per 8 bytes; tokens, event ids and
/// nonces for every submission made that a measurable share of intake's time.
public enum SecureRandom {
    private static let pool = Mutex<(buffer: [UInt8], used: Int)>(([UInt8](repeating: 0, count: 4_096), 4_096))

    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        pool.withLock { p in
            var out = [UInt8]()
            out.reserveCapacity(count)
            while out.count < count {
                if p.used == p.buffer.count {
                    fill(&p.buffer)
                    p.used = 0
                }
                let take = min(count - out.count, p.buffer.count - p.used)
                out.append(contentsOf: p.buffer[p.used..<(p.used + take)])
                // Never hand out the same bytes twice.
                for i in p.used..<(p.used + take) { p.buffer[i] = 0 }
                p.used += take
            }
            return out
        }
    }

    /// A random 64-bit value, read straight from the pool (no array per call: tokens and event ids
    /// take several per submission).
    public static func uint64() -> UInt64 {
        pool.withLock { p in
            if p.buffer.count - p.used < 8 {
                fill(&p.buffer)
                p.used = 0
            }
            let value = p.buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: p.used, as: UInt64.self) }
            // Never hand out the same bytes twice.
            for i in p.used..<(p.used + 8) { p.buffer[i] = 0 }
            p.used += 8
            return value
        }
    }

    private static func fill(_ buffer: inout [UInt8]) {
        buffer.withUnsafeMutableBytes { raw in
            var done = 0
            while done < raw.count {
                let n = getrandom(raw.baseAddress! + done, raw.count - done, 0)
                if n > 0 { done += n } else if errno != EINTR { fatalError("getrandom failed: errno \(errno)") }
            }
        }
    }
}
