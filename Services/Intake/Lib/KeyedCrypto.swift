import Crypto
#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
import CCryptoBoringSSL
#endif

// Intake seals every contact with AES-256-GCM and fingerprints every phone and e-mail with
// HMAC-SHA256, on the request thread every citizen waits for. Through swift-crypto's API each seal
// set its key up again and ran generic glue around BoringSSL (callgrind: 13,300 instructions a
// seal, of them 2,400 for the encryption itself; 7,400 a fingerprint, 2,200 for SHA-256). The two
// types below set their keys up once and call BoringSSL, the library under swift-crypto, directly,
// when its module (`CCryptoBoringSSL`, which swift-crypto builds but does not export as a product)
// can be imported; where it cannot, they fall back to swift-crypto's API (built so on purpose with
// `-Xswiftc -DLIAISON_CRYPTO_API_ONLY`). Both ways give the same bytes: the tests compare them with
// `AES.GCM.seal`, `AES.GCM.open` and `HMAC<SHA256>`.

/// AES-256-GCM sealing with its key set up once: `nonce | ciphertext | tag`, what swift-crypto's
/// `AES.GCM.SealedBox.combined` holds and `AES.GCM.SealedBox(combined:)` opens.
///
/// Immutable after `init`; BoringSSL's seal takes the context read-only, so one sealer may seal on
/// several threads at once.
final class GCMSealer: @unchecked Sendable {
    static let nonceSize = 12
    static let tagSize = 16

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
    private let context: UnsafeMutablePointer<EVP_AEAD_CTX>
    #else
    private let key: SymmetricKey
    #endif

    /// - Parameter key: 32 bytes (AES-256).
    init(key: SymmetricKey) throws {
        guard key.bitCount == 256 else { throw Failure(description: "an AES-256 key must be 32 bytes") }
        #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
        let made = key.withUnsafeBytes { k in
            CCryptoBoringSSL_EVP_AEAD_CTX_new(CCryptoBoringSSL_EVP_aead_aes_256_gcm(), k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, Self.tagSize)
        }
        guard let made else { throw Failure(description: "BoringSSL could not set up an AES-256-GCM key") }
        context = made
        #else
        self.key = key
        #endif
    }

    #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
    deinit { CCryptoBoringSSL_EVP_AEAD_CTX_free(context) }
    #endif

    /// Appends `nonce | ciphertext | tag` of `plain` to `out`, authenticating `aad` besides.
    /// - Parameter nonce: 12 bytes, never used twice with this key.
    func seal(_ plain: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
              appendingTo out: inout [UInt8]) throws {
        guard nonce.count == Self.nonceSize else { throw Failure(description: "an AES-GCM nonce here is 12 bytes, not \(nonce.count)") }
        #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
        let start = out.count
        let sealedCount = plain.count + Self.tagSize
        out.append(contentsOf: nonce)
        out.append(contentsOf: repeatElement(0, count: sealedCount))
        var written = 0
        let ok = out.withUnsafeMutableBufferPointer { buffer in
            CCryptoBoringSSL_EVP_AEAD_CTX_seal(context, buffer.baseAddress! + start + Self.nonceSize, &written, sealedCount,
                                                nonce.baseAddress?.assumingMemoryBound(to: UInt8.self), nonce.count,
                                                plain.baseAddress?.assumingMemoryBound(to: UInt8.self), plain.count,
                                                aad.baseAddress?.assumingMemoryBound(to: UInt8.self), aad.count)
        }
        guard ok == 1, written == sealedCount else {
            out.removeSubrange(start...)
            throw Failure(description: "BoringSSL could not seal (AES-256-GCM)")
        }
        #else
        let box = try AES.GCM.seal(plain, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
        guard let combined = box.combined else { throw Failure(description: "AES-GCM produced no combined box") }
        combined.withUnsafeBytes { out.append(contentsOf: $0) }
        #endif
    }
}

/// HMAC-SHA256 (RFC 2104) with its key taken in once: the inner hash with the key XOR ipad, the
/// outer with the key XOR opad, each copied for every code. The same codes as `HMAC<SHA256>`.
struct KeyedSHA256: Sendable {
    static let blockSize = 64

    #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
    /// SHA-256 with the key XOR ipad already taken in.
    let inner: SHA256_CTX
    /// SHA-256 with the key XOR opad already taken in.
    let outer: SHA256_CTX
    #else
    let inner: SHA256
    let outer: SHA256
    #endif

    init(key: SymmetricKey) {
        var block = key.withUnsafeBytes { raw -> [UInt8] in
            // A key longer than a block is hashed first, as HMAC does.
            raw.count > Self.blockSize ? Array(SHA256.hash(data: raw)) : Array(raw)
        }
        block += [UInt8](repeating: 0, count: Self.blockSize - block.count)
        let innerPad = block.map { $0 ^ 0x36 }, outerPad = block.map { $0 ^ 0x5C }
        #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
        func started(_ pad: [UInt8]) -> SHA256_CTX {
            var context = SHA256_CTX()
            CCryptoBoringSSL_SHA256_Init(&context)
            pad.withUnsafeBufferPointer { _ = CCryptoBoringSSL_SHA256_Update(&context, $0.baseAddress, $0.count) }
            return context
        }
        inner = started(innerPad)
        outer = started(outerPad)
        #else
        var inner = SHA256()
        inner.update(data: innerPad)
        var outer = SHA256()
        outer.update(data: outerPad)
        self.inner = inner
        self.outer = outer
        #endif
    }

    /// The first 128 bits of HMAC-SHA256(key, `message`).
    func authenticationCode(_ message: [UInt8]) -> ContactPrint {
        #if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
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
        #else
        var inner = self.inner
        message.withUnsafeBytes { inner.update(bufferPointer: $0) }
        let innerDigest = inner.finalize()
        var outer = self.outer
        innerDigest.withUnsafeBytes { outer.update(bufferPointer: $0) }
        return outer.finalize().withUnsafeBytes { ContactPrint(bytes: $0) }
        #endif
    }
}
