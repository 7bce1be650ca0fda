import Crypto
#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
import CCryptoBoringSSL
#endif

// Intake seals every contact with AES-256-GCM and fingerprints every phone and e-mail with
// HMAC-SHA256, on the request thread every citizen waits for. Through swift-crypto's API each seal
// set its key up again and ran generic glue around BoringSSL (callgrind: 13,300 instructions a
// seal, of them 2,400 for the encryption itself; 7,400 a fingerprint, 2,200 for SHA-256). The
// BoringSSL types below set their keys up once and call BoringSSL, the library under swift-crypto,
// directly, when its module (`CCryptoBoringSSL`, which swift-crypto builds but does not export as a
// product) can be imported. Where it cannot (or built so on purpose with
// `-Xswiftc -DLIAISON_CRYPTO_API_ONLY`), intake uses the swift-crypto types instead. Both pairs are
// compiled in every build that can import the module, and the tests hold each to the same bytes as
// `AES.GCM.seal`, `AES.GCM.open` and `HMAC<SHA256>`, so the fallback cannot rot unseen.

/// AES-256-GCM sealing: `nonce | ciphertext | tag`, what swift-crypto's
/// `AES.GCM.SealedBox.combined` holds and `AES.GCM.SealedBox(combined:)` opens.
protocol ContactSealing: Sendable {
    /// - Parameter key: 32 bytes (AES-256).
    init(key: SymmetricKey) throws
    /// Appends `nonce | ciphertext | tag` of `plain` to `out`, authenticating `aad` besides.
    /// - Parameter nonce: 12 bytes, never used twice with this key.
    func seal(_ plain: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
              appendingTo out: inout [UInt8]) throws
}

/// HMAC-SHA256 (RFC 2104) with its key taken in once. The same codes as `HMAC<SHA256>`.
protocol ContactFingerprinting: Sendable {
    init(key: SymmetricKey)
    /// The first 128 bits of HMAC-SHA256(key, `message`).
    func authenticationCode(_ message: [UInt8]) -> ContactPrint
}

#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
/// What intake seals contacts with: BoringSSL directly.
typealias GCMSealer = BoringGCMSealer
/// What intake fingerprints contacts with: BoringSSL directly.
typealias KeyedSHA256 = BoringKeyedSHA256
#else
typealias GCMSealer = SwiftCryptoGCMSealer
typealias KeyedSHA256 = SwiftCryptoKeyedSHA256
#endif

/// What the sealers share.
enum GCMSealing {
    static let nonceSize = 12
    static let tagSize = 16

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func checkKey(_ key: SymmetricKey) throws {
        guard key.bitCount == 256 else { throw Failure(description: "an AES-256 key must be 32 bytes") }
    }

    static func checkNonce(_ nonce: UnsafeRawBufferPointer) throws {
        guard nonce.count == nonceSize else { throw Failure(description: "an AES-GCM nonce here is 12 bytes, not \(nonce.count)") }
    }
}

/// HMAC's key block: the key (hashed first when longer than a block, as HMAC does), padded with
/// zeros, XOR ipad and XOR opad.
enum HMACPads {
    static let blockSize = 64

    static func of(_ key: SymmetricKey) -> (inner: [UInt8], outer: [UInt8]) {
        var block = key.withUnsafeBytes { raw -> [UInt8] in
            raw.count > blockSize ? Array(SHA256.hash(data: raw)) : Array(raw)
        }
        block += [UInt8](repeating: 0, count: blockSize - block.count)
        return (block.map { $0 ^ 0x36 }, block.map { $0 ^ 0x5C })
    }
}

/// AES-256-GCM through swift-crypto's API: the key set up again on every seal.
struct SwiftCryptoGCMSealer: ContactSealing {
    private let key: SymmetricKey

    init(key: SymmetricKey) throws {
        try GCMSealing.checkKey(key)
        self.key = key
    }

    func seal(_ plain: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
              appendingTo out: inout [UInt8]) throws {
        try GCMSealing.checkNonce(nonce)
        let box = try AES.GCM.seal(plain, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
        guard let combined = box.combined else { throw GCMSealing.Failure(description: "AES-GCM produced no combined box") }
        combined.withUnsafeBytes { out.append(contentsOf: $0) }
    }
}

/// HMAC-SHA256 through swift-crypto's `SHA256`, its two pads taken in once.
struct SwiftCryptoKeyedSHA256: ContactFingerprinting {
    let inner: SHA256
    let outer: SHA256

    init(key: SymmetricKey) {
        let pads = HMACPads.of(key)
        var inner = SHA256()
        inner.update(data: pads.inner)
        var outer = SHA256()
        outer.update(data: pads.outer)
        self.inner = inner
        self.outer = outer
    }

    func authenticationCode(_ message: [UInt8]) -> ContactPrint {
        var inner = self.inner
        message.withUnsafeBytes { inner.update(bufferPointer: $0) }
        let innerDigest = inner.finalize()
        var outer = self.outer
        innerDigest.withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize().withUnsafeBytes { ContactPrint(bytes: $0) }
    }
}

#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
/// AES-256-GCM with its key set up once, in a BoringSSL context.
///
/// Immutable after `init`; BoringSSL's seal takes the context read-only, so one sealer may seal on
/// several threads at once.
final class BoringGCMSealer: ContactSealing, @unchecked Sendable {
    private let context: UnsafeMutablePointer<EVP_AEAD_CTX>

    init(key: SymmetricKey) throws {
        try GCMSealing.checkKey(key)
        let made = key.withUnsafeBytes { k in
            CCryptoBoringSSL_EVP_AEAD_CTX_new(CCryptoBoringSSL_EVP_aead_aes_256_gcm(), k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, GCMSealing.tagSize)
        }
        guard let made else { throw GCMSealing.Failure(description: "BoringSSL could not set up an AES-256-GCM key") }
        context = made
    }

    deinit { CCryptoBoringSSL_EVP_AEAD_CTX_free(context) }

    func seal(_ plain: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
              appendingTo out: inout [UInt8]) throws {
        try GCMSealing.checkNonce(nonce)
        let start = out.count
        let sealedCount = plain.count + GCMSealing.tagSize
        out.append(contentsOf: nonce)
        out.append(contentsOf: repeatElement(0, count: sealedCount))
        var written = 0
        let ok = out.withUnsafeMutableBufferPointer { buffer in
            CCryptoBoringSSL_EVP_AEAD_CTX_seal(context, buffer.baseAddress! + start + GCMSealing.nonceSize, &written, sealedCount,
                                                nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count,
                                                plain.baseAddress?.assumingMemoryBound(to: UInt8.self), plain.count,
                                                aad.baseAddress?.assumingMemoryBound(to: UInt8.self), aad.count)
        }
        guard ok == 1, written == sealedCount else {
            out.removeSubrange(start...)
            throw GCMSealing.Failure(description: "BoringSSL could not seal (AES-256-GCM)")
        }
    }
}

/// HMAC-SHA256 with the two pads taken into BoringSSL's SHA-256 contexts once, each context copied
/// for every code.
struct BoringKeyedSHA256: ContactFingerprinting {
    /// SHA-256 with the key XOR ipad already taken in.
    let inner: SHA256_CTX
    /// SHA-256 with the key XOR opad already taken in.
    let outer: SHA256_CTX

    init(key: SymmetricKey) {
        let pads = HMACPads.of(key)
        func started(_ pad: [UInt8]) -> SHA256_CTX {
            var context = SHA256_CTX()
            CCryptoBoringSSL_SHA256_Init(&context)
            pad.withUnsafeBufferPointer { _ = CCryptoBoringSSL_SHA256_Update(&context, $0.baseAddress, $0.count) }
            return context
        }
        inner = started(pads.inner)
        outer = started(pads.outer)
    }

    func authenticationCode(_ message: [UInt8]) -> ContactPrint {
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))   // 32 bytes, on the stack
        return withUnsafeMutableBytes(of: &digest) { d in
            let bytes = d.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var context = inner
            message.withUnsafeBufferPointer { _ = CCryptoBoringSSL_SHA256_Update(&context, $0.baseAddress, $0.count) }
            CCryptoBoringSSL_SHA256_Final(bytes, &context)
            context = outer
            CCryptoBoringSSL_SHA256_Update(&context, bytes, 32)
            CCryptoBoringSSL_SHA256_Final(bytes, &context)
            return ContactPrint(bytes: UnsafeRawBufferPointer(d))
        }
    }
}
#endif
