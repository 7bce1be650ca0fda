import Crypto
import Foundation
import LiaisonCodec

/// Recognises near-duplicates: the same citizen (same phone or e-mail) sending very similar text
/// within a window. Contacts are compared by a keyed fingerprint (HMAC-SHA256), because the sealed
/// contact itself is randomised; the fingerprint reveals nothing without the key.
public final class NearDuplicates: Sendable {
    /// How close two texts must be (Jaccard similarity of character trigrams).
    public let threshold = 0.8
    /// How far back to look.
    public let window: TimeInterval = 24 * 3_600
    let key: SymmetricKey
    /// HMAC-SHA256 keyed once (RFC 2104): the inner hash with the key XOR ipad taken in, the outer
    /// with the key XOR opad; each fingerprint copies both.
    let hmac: KeyedSHA256

    public init(key: SymmetricKey) {
        self.key = key
        self.hmac = KeyedSHA256(key: key)
    }

    /// Fingerprints of a contact's phone and e-mail (normalised); empty for an anonymous submission.
    public func fingerprints(_ c: Liaison_V1_Contact) -> [ContactPrint] {
        var out: [ContactPrint] = []
        // Validation lets only ASCII digits, spaces, dashes, brackets and a leading + into a phone.
        var phone = Self.phonePrefix
        var given = c.phone
        given.withUTF8 { bytes in
            phone.reserveCapacity(phone.count + bytes.count)
            for b in bytes where b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { phone.append(b) }
        }
        if phone.count - Self.phonePrefix.count >= 5 { out.append(tag(phone)) }
        let email = c.email.trimmedWhitespace.lowercased()
        if !email.isEmpty { out.append(tag(Array("email:".utf8) + Array(email.utf8))) }
        return out
    }

    static let phonePrefix = Array("phone:".utf8)

    func tag(_ bytes: [UInt8]) -> ContactPrint {
        hmac.authenticationCode(bytes)
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

/// HMAC-SHA256 (RFC 2104) built on swift-crypto's `SHA256`: the same codes as `HMAC<SHA256>`, which
/// runs unspecialized generic code around the two hashes here (callgrind: 9,600 instructions a code,
/// of them 2,200 for SHA-256 itself); calling `SHA256`'s own methods leaves out that generic code.
struct KeyedSHA256: Sendable {
    /// SHA-256 with the key XOR ipad already taken in.
    let inner: SHA256
    /// SHA-256 with the key XOR opad already taken in.
    let outer: SHA256

    static let blockSize = 64

    init(key: SymmetricKey) {
        var block = key.withUnsafeBytes { raw -> [UInt8] in
            // A key longer than a block is hashed first, as HMAC does.
            raw.count > Self.blockSize ? Array(SHA256.hash(data: raw)) : Array(raw)
        }
        block += [UInt8](repeating: 0, count: Self.blockSize - block.count)
        var inner = SHA256()
        inner.update(data: block.map { $0 ^ 0x36 })
        var outer = SHA256()
        outer.update(data: block.map { $0 ^ 0x5C })
        self.inner = inner
        self.outer = outer
    }

    /// The first 128 bits of HMAC-SHA256(key, `message`).
    func authenticationCode(_ message: [UInt8]) -> ContactPrint {
        var inner = self.inner
        message.withUnsafeBytes { inner.update(bufferPointer: $0) }
        let innerDigest = inner.finalize()
        var outer = self.outer
        innerDigest.withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize().withUnsafeBytes { ContactPrint(bytes: $0) }
    }
}

/// A contact's keyed fingerprint: the first 128 bits of its HMAC-SHA256 (stored 16 bytes each, in
/// the submission's `contact_prints`).
public struct ContactPrint: Hashable, Sendable {
    let hi: UInt64
    let lo: UInt64

    init(hi: UInt64, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    init(bytes: UnsafeRawBufferPointer) {
        hi = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        lo = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    }

    /// The fingerprints stored in one `contact_prints` value.
    static func decode(_ data: Data) -> [ContactPrint] {
        data.withUnsafeBytes { raw in
            stride(from: 0, to: raw.count - 15, by: 16).map { ContactPrint(bytes: UnsafeRawBufferPointer(rebasing: raw[$0..<($0 + 16)])) }
        }
    }

    /// `prints` as one `contact_prints` value.
    static func encode(_ prints: [ContactPrint]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16 * prints.count)
        out.withUnsafeMutableBytes { raw in
            for (i, p) in prints.enumerated() {
                raw.storeBytes(of: p.hi, toByteOffset: 16 * i, as: UInt64.self)
                raw.storeBytes(of: p.lo, toByteOffset: 16 * i + 8, as: UInt64.self)
            }
        }
        return out
    }
}

/// The contacts seen within the near-duplicate window: fingerprint → that contact's cases, oldest
/// first. Kept in memory and rebuilt from the database at start, so the check costs a hash lookup
/// per submission, and a database read only when a contact comes back within the window.
///
/// Entries leave in the order they came (a FIFO beside the map), a few at a time as new ones come:
/// when they fall out of the window, or when more than `capacity` are held (about 130 bytes each).
/// So memory is bounded and no submission waits on a sweep; a flood beyond the capacity can only
/// miss a link between near-duplicates, never a submission.
struct RecentContacts {
    struct Seen: Equatable { let caseSeq: Int64; let at: Double }
    private(set) var byPrint: [ContactPrint: [Seen]] = [:]
    /// Every entry in arrival order; `head` is the oldest still held.
    private var arrivals: [(print: ContactPrint, seen: Seen)] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int = 100_000) { self.capacity = capacity }

    /// Entries held.
    var count: Int { arrivals.count - head }

    /// The contact's cases at or after `since`, newest first, at most `limit`.
    func recent(_ print: ContactPrint, since: Double, limit: Int = 20) -> [Seen] {
        guard let seen = byPrint[print] else { return [] }
        return Array(seen.reversed().prefix { $0.at >= since }.prefix(limit))
    }

    mutating func add(_ print: ContactPrint, _ seen: Seen, window: Double) {
        byPrint[print, default: []].append(seen)
        arrivals.append((print, seen))
        let cutoff = seen.at - window
        while count > capacity { dropOldest() }
        while head < arrivals.count, arrivals[head].seen.at < cutoff { dropOldest() }
        compact()
    }

    /// Takes back what a rolled-back transaction added (its cases are numbered from `caseSeq` on).
    mutating func forget(from caseSeq: Int64) {
        while arrivals.count > head, let last = arrivals.last, last.seen.caseSeq >= caseSeq {
            arrivals.removeLast()
            remove(last.print) { $0.removeLast() }
        }
    }

    private mutating func dropOldest() {
        let oldest = arrivals[head]
        head += 1
        remove(oldest.print) { $0.removeFirst() }
    }

    /// Reclaims the FIFO's dead front now and then (amortised: at most once per `head` removals).
    private mutating func compact() {
        if head > 1_024 && head * 2 > arrivals.count {
            arrivals.removeFirst(head)
            head = 0
        }
    }

    private mutating func remove(_ print: ContactPrint, _ change: (inout [Seen]) -> Void) {
        guard var list = byPrint.removeValue(forKey: print) else { return }
        change(&list)
        if !list.isEmpty { byPrint[print] = list }
    }
}
