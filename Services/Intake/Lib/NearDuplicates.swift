import Crypto
import Foundation
import LiaisonCodec

/// Recognises near-duplicates: the same citizen (same phone or e-mail) sending very similar text
/// within a window. Contacts are compared by a keyed fingerprint (HMAC-SHA256), because the sealed
/// contact itself is randomised; the fingerprint reveals nothing without the key.
public struct NearDuplicates: Sendable {
    /// How close two texts must be (Jaccard similarity of character trigrams).
    public var threshold = 0.8
    /// How far back to look.
    public var window: TimeInterval = 24 * 3_600
    let key: SymmetricKey
    /// The keyed HMAC state, copied for each fingerprint (saves the key schedule every time).
    let keyed: HMAC<SHA256>

    public init(key: SymmetricKey) {
        self.key = key
        self.keyed = HMAC<SHA256>(key: key)
    }

    /// Fingerprints of a contact's phone and e-mail (normalised); empty for an anonymous submission.
    public func fingerprints(_ c: Liaison_V1_Contact) -> [String] {
        var out: [String] = []
        let phone = c.phone.filter(\.isNumber)
        if phone.count >= 5 { out.append(tag("phone:" + phone)) }
        let email = c.email.trimmingCharacters(in: .whitespaces).lowercased()
        if !email.isEmpty { out.append(tag("email:" + email)) }
        return out
    }

    func tag(_ s: String) -> String {
        var h = keyed
        h.update(data: Data(s.utf8))
        return Data(h.finalize()).base64EncodedString()
    }

    /// Jaccard similarity of the character trigrams of two texts (case, spacing and punctuation ignored).
    public static func similarity(_ a: String, _ b: String) -> Double {
        let x = trigrams(a), y = trigrams(b)
        if x.isEmpty && y.isEmpty { return 1 }
        return Double(x.intersection(y).count) / Double(x.union(y).count)
    }

    /// The text's trigrams of letters and digits (lower-cased Unicode scalars), each packed into
    /// one integer: runs for every submission with a contact, so no String per trigram.
    static func trigrams(_ s: String) -> Set<UInt64> {
        var scalars: [UInt32] = []
        scalars.reserveCapacity(s.utf8.count)
        for u in s.lowercased().unicodeScalars where u.properties.isAlphabetic || u.properties.numericType != nil {
            scalars.append(u.value)
        }
        guard scalars.count >= 3 else {
            return scalars.isEmpty ? [] : [scalars.reduce(UInt64(1) << 63) { $0 << 21 | UInt64($1) }]
        }
        var out = Set<UInt64>(minimumCapacity: scalars.count)
        for i in 0...(scalars.count - 3) {
            out.insert(UInt64(scalars[i]) << 42 | UInt64(scalars[i + 1]) << 21 | UInt64(scalars[i + 2]))
        }
        return out
    }
}
