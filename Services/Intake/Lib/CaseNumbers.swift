import Foundation
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime

/// Tracking tokens: 16 characters from an alphabet without look-alikes, easy to read over the phone.
enum TrackingToken {
    static let alphabet = Array("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")

    static let alphabetBytes = Array(String(alphabet).utf8)

    static func make() -> String {
        // 16 symbols of 5 bits from two 64-bit draws (the alphabet has 32 symbols: no modulo bias).
        let draws = (SecureRandom.uint64(), SecureRandom.uint64())
        // Written as ASCII bytes: appending Characters one by one cost 20 times as much.
        return String(unsafeUninitializedCapacity: 16) { out in
            var bits = draws.0
            for i in 0..<16 {
                if i == 8 { bits = draws.1 }
                out[i] = alphabetBytes[Int(bits & 31)]
                bits >>= 5
            }
            return 16
        }
    }

    /// Why `typed` (separators removed) cannot be a tracking token, in words for the citizen; nil
    /// when it has the form of one (16 characters of ``alphabet``, any letter case).
    static func formProblem(_ typed: String) -> String? {
        let count = typed.unicodeScalars.count
        if count != 16 {
            return "a tracking token has 16 letters and digits, as on the acknowledgement; this one has \(count)"
        }
        for (i, c) in typed.unicodeScalars.enumerated() {
            let upper = c.value >= 0x61 && c.value <= 0x7A ? c.value - 0x20 : c.value   // a-z as A-Z
            guard upper > 0x7F || !alphabetBytes.contains(UInt8(upper)) else { continue }
            return "a tracking token has no \(WireError.quoted(String(c))) (character \(i + 1)): tokens use the digits 2-9 and the letters but I and O; read it again from the acknowledgement"
        }
        return nil
    }

    /// Compares in time independent of where the strings differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 })
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

/// Case numbers: the instance prefix and a 7-digit (or longer) zero-padded sequence, `L1-0000042`.
enum CaseNumber {
    static func format(prefix: String, sequence: Int64) -> String {
        // Written as bytes: one for every submission, and string concatenation cost 1,700 instructions.
        let digits = String(sequence).utf8   // a small string: held inline, no allocation
        let padding = max(0, CaseNumberText.sequenceDigits - digits.count)
        return String(unsafeUninitializedCapacity: prefix.utf8.count + 1 + padding + digits.count) { out in
            var k = out.initialize(fromContentsOf: prefix.utf8)
            out[k] = UInt8(ascii: "-"); k += 1
            for _ in 0..<padding { out[k] = UInt8(ascii: "0"); k += 1 }
            for d in digits { out[k] = d; k += 1 }
            return k
        }
    }

    /// The sequence of a case number (``CaseOrigin/sequence(of:)``). Lookups check the whole
    /// stored number too, so the prefix and the padding must match as well.
    static func sequence(of caseNumber: String) -> Int64? { CaseOrigin.sequence(of: caseNumber) }
}
