import Crypto
#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
import CCryptoBoringSSL
#endif

// Intake fingerprints every phone and e-mail with HMAC-SHA256, on the request thread every citizen
// waits for. Through swift-crypto's API each fingerprint ran generic glue around BoringSSL
// (callgrind: 7,400 instructions, 2,200 of them for SHA-256). ``BoringKeyedSHA256`` takes its key's
// pads in once and calls BoringSSL directly where its module can be imported (as the sealers of
// Shared/Sealing do, and for the same reasons); ``SwiftCryptoKeyedSHA256`` is the fallback. The
// tests hold both to the bytes of `HMAC<SHA256>`.

/// HMAC-SHA256 (RFC 2104) with its key taken in once. The same codes as `HMAC<SHA256>`.
protocol ContactFingerprinting: Sendable {
    init(key: SymmetricKey)
    /// The first 128 bits of HMAC-SHA256(key, `message`).
    func authenticationCode(_ message: [UInt8]) -> ContactPrint
}

#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
/// What intake fingerprints contacts with: BoringSSL directly.
typealias KeyedSHA256 = BoringKeyedSHA256
#else
typealias KeyedSHA256 = SwiftCryptoKeyedSHA256
#endif

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
