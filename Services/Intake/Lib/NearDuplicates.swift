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

    public init(key: SymmetricKey) { self.key = key }

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
        Data(HMAC<SHA256>.authenticationCode(for: Data(s.utf8), using: key)).base64EncodedString()
    }

    /// Jaccard similarity of the character trigrams of two texts (case, spacing and punctuation ignored).
    public static func similarity(_ a: String, _ b: String) -> Double {
        let x = trigrams(a), y = trigrams(b)
        if x.isEmpty && y.isEmpty { return 1 }
        return Double(x.intersection(y).count) / Double(x.union(y).count)
    }

    static func trigrams(_ s: String) -> Set<String> {
        let chars = Array(s.lowercased().filter { $0.isLetter || $0.isNumber })
        guard chars.count >= 3 else { return chars.isEmpty ? [] : [String(chars)] }
        return Set((0...(chars.count - 3)).map { String(chars[$0..<($0 + 3)]) })
    }
}
