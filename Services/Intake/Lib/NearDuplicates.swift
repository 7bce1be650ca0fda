import Crypto
import Foundation
import LiaisonCodec
import LiaisonRuntime

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

    /// How the force's phone numbers are written: one number is one caller with or without its
    /// country code.
    public let numbering: PhoneNumbering

    public init(key: SymmetricKey, numbering: PhoneNumbering = .standard) {
        self.key = key
        self.hmac = KeyedSHA256(key: key)
        self.numbering = numbering
    }

    /// Fingerprints of a contact's phone (its ``PhoneNumbering`` key) and e-mail (lower case);
    /// empty for an anonymous submission.
    public func fingerprints(_ c: Liaison_V1_Contact) -> [ContactPrint] {
        var out: [ContactPrint] = []
        // Validation lets only a number as PhoneNumbering.isPlausible reads it into a phone.
        var phone = Self.phonePrefix
        var given = c.phone
        let digits = given.withUTF8 { bytes in
            phone.reserveCapacity(phone.count + bytes.count)
            return numbering.key(of: bytes, into: &phone)
        }
        if digits >= 5 { out.append(tag(phone)) }
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
        similarity(trigrams(a), trigrams(b))
    }

    /// Jaccard similarity of two texts' ``trigrams(_:)``: the common ones counted by one merge of
    /// the two sorted arrays (sets built for each comparison cost a near-duplicate check of a long
    /// text milliseconds).
    static func similarity(_ x: [UInt64], _ y: [UInt64]) -> Double {
        if x.isEmpty && y.isEmpty { return 1 }
        var i = 0, j = 0, common = 0
        while i < x.count && j < y.count {
            if x[i] == y[j] { common += 1; i += 1; j += 1 } else if x[i] < y[j] { i += 1 } else { j += 1 }
        }
        return Double(common) / Double(x.count + y.count - common)
    }

    /// The text's distinct trigrams of letters and digits (lower-cased Unicode scalars), each packed
    /// into one integer, sorted. A text shorter than three such scalars is one packed value (empty
    /// with none). ASCII text is read byte by byte (the same letters and digits as the Unicode
    /// properties give there).
    static func trigrams(_ s: String) -> [UInt64] {
        var scalars: [UInt32] = []
        scalars.reserveCapacity(s.utf8.count)
        if TypedText.isASCII(s) {
            for b in s.utf8 {
                switch b {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): scalars.append(UInt32(b))
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): scalars.append(UInt32(b | 0x20))
                default: break
                }
            }
        } else {
            for u in s.lowercased().unicodeScalars where u.properties.isAlphabetic || u.properties.numericType != nil {
                scalars.append(u.value)
            }
        }
        guard scalars.count >= 3 else {
            return scalars.isEmpty ? [] : [scalars.reduce(UInt64(1) << 63) { $0 << 21 | UInt64($1) }]
        }
        var out: [UInt64] = []
        out.reserveCapacity(scalars.count - 2)
        for i in 0...(scalars.count - 3) {
            out.append(UInt64(scalars[i]) << 42 | UInt64(scalars[i + 1]) << 21 | UInt64(scalars[i + 2]))
        }
        radixSort(&out)
        // Distinct, in place.
        var kept = 1
        for k in 1..<out.count where out[k] != out[kept - 1] {
            out[kept] = out[k]
            kept += 1
        }
        out.removeLast(out.count - kept)
        return out
    }
}

/// The trigrams of texts a near-duplicate check has made, by case: a contact writing again and
/// again has its last texts compared each time, and making their trigrams was most of the check.
/// An entry is used only for the same text (its hash is kept beside it), so a case number that a
/// rolled-back batch gave out and the next one reused cannot be compared with the wrong text.
/// Bounded by the trigrams held (a text of 4,000 characters holds about 4,000, 8 bytes each).
struct TrigramCache {
    private var entries: [Int64: (textHash: Int, trigrams: [UInt64])] = [:]
    /// Cases in the order they were cached; `head` is the oldest still held.
    private var order: [Int64] = []
    private var head = 0
    private var held = 0
    let maxTrigrams: Int

    init(maxTrigrams: Int = 1 << 20) { self.maxTrigrams = maxTrigrams }

    /// Trigrams held in all.
    var count: Int { held }

    /// The trigrams of `text`, stored for case `caseSeq`: from the cache when they were made
    /// before for the same text, else made now and kept.
    mutating func trigrams(of text: String, caseSeq: Int64) -> [UInt64] {
        let hash = text.hashValue
        if let e = entries[caseSeq], e.textHash == hash { return e.trigrams }
        let made = NearDuplicates.trigrams(text)
        if let old = entries.updateValue((hash, made), forKey: caseSeq) {
            held -= old.trigrams.count
        } else {
            order.append(caseSeq)
        }
        held += made.count
        while held > maxTrigrams, head < order.count {
            if let gone = entries.removeValue(forKey: order[head]) { held -= gone.trigrams.count }
            head += 1
        }
        if head > 1_024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return made
    }
}

extension NearDuplicates {
    /// Sorts `values` ascending: least significant byte first, skipping a byte on which all values
    /// agree (a trigram of ASCII letters uses three of its eight). The standard library's stable
    /// sort took two thirds of a near-duplicate check of a 4,000-character text; with this one the
    /// whole check ran about 2.4 times as fast (`perf record` on intake).
    static func radixSort(_ values: inout [UInt64]) {
        let n = values.count
        if n < 64 {
            values.sort()
            return
        }
        // All eight byte histograms in one pass.
        var counts = [Int](repeating: 0, count: 8 * 256)
        var buffer = [UInt64](repeating: 0, count: n)
        values.withUnsafeMutableBufferPointer { original in
            buffer.withUnsafeMutableBufferPointer { spare in
                counts.withUnsafeMutableBufferPointer { counts in
                    for v in original {
                        for byte in 0..<8 { counts[byte << 8 | Int((v >> (byte << 3)) & 0xFF)] += 1 }
                    }
                    var from = original, to = spare
                    for byte in 0..<8 {
                        let shift = UInt64(byte << 3)
                        let base = byte << 8
                        // Every value has the same digit here: nothing to move.
                        if counts[base | Int((from[0] >> shift) & 0xFF)] == n { continue }
                        var start = 0
                        for d in 0..<256 {
                            let c = counts[base | d]
                            counts[base | d] = start
                            start += c
                        }
                        for v in from {
                            let d = base | Int((v >> shift) & 0xFF)
                            to[counts[d]] = v
                            counts[d] += 1
                        }
                        swap(&from, &to)
                    }
                    if from.baseAddress != original.baseAddress {
                        original.baseAddress!.update(from: from.baseAddress!, count: n)
                    }
                }
            }
        }
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
/// Each contact keeps only its `perContact` newest cases, which is all a check compares with. So
/// memory is bounded, no submission waits on a sweep, and a contact that writes thousands of times
/// costs each of its submissions no more than one that wrote twenty times; a flood beyond the
/// capacity can only miss a link between near-duplicates, never a submission.
struct RecentContacts {
    struct Seen: Equatable { let caseSeq: Int64; let at: Double }
    private(set) var byPrint: [ContactPrint: [Seen]] = [:]
    /// Every entry in arrival order; `head` is the oldest still held. An entry its contact's list
    /// has already let go (past `perContact`) stays here until it leaves the FIFO.
    private var arrivals: [(print: ContactPrint, seen: Seen)] = []
    private var head = 0
    let capacity: Int
    let perContact: Int

    init(capacity: Int = 100_000, perContact: Int = 20) {
        self.capacity = capacity
        self.perContact = perContact
    }

    /// Entries held.
    var count: Int { arrivals.count - head }

    /// The contact's cases at or after `since`, newest first, at most `limit`.
    func recent(_ print: ContactPrint, since: Double, limit: Int = 20) -> [Seen] {
        guard let seen = byPrint[print] else { return [] }
        var out: [Seen] = []
        for s in seen.reversed() {
            if s.at < since || out.count == limit { break }
            out.append(s)
        }
        return out
    }

    mutating func add(_ print: ContactPrint, _ seen: Seen, window: Double) {
        // In place, one hash lookup: this runs for every submission with a contact.
        func append(_ list: inout [Seen]) {
            list.append(seen)
            if list.count > perContact { list.removeFirst(list.count - perContact) }
        }
        append(&byPrint[print, default: []])
        arrivals.append((print, seen))
        let cutoff = seen.at - window
        while count > capacity { dropOldest() }
        while head < arrivals.count, arrivals[head].seen.at < cutoff { dropOldest() }
        compact()
    }

    /// Takes back what a rolled-back transaction added (its cases are numbered from `caseSeq` on).
    /// A contact's older case that one of those additions pushed out of its list stays out (the
    /// check then compares with one case fewer for that contact).
    mutating func forget(from caseSeq: Int64) {
        while arrivals.count > head, let last = arrivals.last, last.seen.caseSeq >= caseSeq {
            arrivals.removeLast()
            remove(last.print) { if $0.last == last.seen { $0.removeLast() } }
        }
    }

    private mutating func dropOldest() {
        let oldest = arrivals[head]
        head += 1
        // The contact's list may have let it go already (it keeps the newest `perContact`).
        remove(oldest.print) { if $0.first == oldest.seen { $0.removeFirst() } }
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
