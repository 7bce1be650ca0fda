import Crypto
#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
import CCryptoBoringSSL
#endif

// Personal data is sealed with AES-256-GCM: intake's contacts on the request thread every citizen
// waits for, the scheduler's registrants and households. Through swift-crypto's API each seal set
// its key up again and ran generic glue around BoringSSL (callgrind: 13,300 instructions a seal, of
// them 2,400 for the encryption itself). ``BoringGCMSealer`` sets its key up once and calls
// BoringSSL, the library under swift-crypto, directly, when its module (`CCryptoBoringSSL`, which
// swift-crypto builds but does not export as a product) can be imported. Where it cannot (or built
// so on purpose with `-Xswiftc -DLIAISON_CRYPTO_API_ONLY`), ``SwiftCryptoGCMSealer`` is used. Both
// are compiled in every build that can import the module, and the tests hold each to the same bytes
// as `AES.GCM.seal` and `AES.GCM.open`, so the fallback cannot rot unseen.

/// AES-256-GCM sealing: `nonce | ciphertext | tag`, what swift-crypto's
/// `AES.GCM.SealedBox.combined` holds and `AES.GCM.SealedBox(combined:)` opens.
package protocol ContactSealing: Sendable {
    /// - Parameter key: 32 bytes (AES-256).
    init(key: SymmetricKey) throws
    /// Appends `nonce | ciphertext | tag` of `plain` to `out`, authenticating `aad` besides.
    /// - Parameter nonce: 12 bytes, never used twice with this key.
    func seal(_ plain: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
              appendingTo out: inout [UInt8]) throws
}

#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
/// What personal data is sealed with: BoringSSL directly.
package typealias GCMSealer = BoringGCMSealer
#else
package typealias GCMSealer = SwiftCryptoGCMSealer
#endif

/// What the sealers share.
package enum GCMSealing {
    package static let nonceSize = 12
    package static let tagSize = 16

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    package static func checkKey(_ key: SymmetricKey) throws {
        guard key.bitCount == 256 else { throw Failure(description: "an AES-256 key must be 32 bytes") }
    }

    package static func checkNonce(_ nonce: UnsafeRawBufferPointer) throws {
        guard nonce.count == nonceSize else { throw Failure(description: "an AES-GCM nonce here is 12 bytes, not \(nonce.count)") }
    }
}

/// AES-256-GCM through swift-crypto's API: the key set up again on every seal.
package struct SwiftCryptoGCMSealer: ContactSealing {
    private let key: SymmetricKey

    package init(key: SymmetricKey) throws {
        try GCMSealing.checkKey(key)
        self.key = key
    }

    package func seal(_ plain: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
              appendingTo out: inout [UInt8]) throws {
        try GCMSealing.checkNonce(nonce)
        let box = try AES.GCM.seal(plain, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
        guard let combined = box.combined else { throw GCMSealing.Failure(description: "AES-GCM produced no combined box") }
        combined.withUnsafeBytes { out.append(contentsOf: $0) }
    }
}

#if canImport(CCryptoBoringSSL) && !LIAISON_CRYPTO_API_ONLY
/// AES-256-GCM with its key set up once, in a BoringSSL context.
///
/// Immutable after `init`; BoringSSL's seal takes the context read-only, so one sealer may seal on
/// several threads at once.
package final class BoringGCMSealer: ContactSealing, @unchecked Sendable {
    private let context: UnsafeMutablePointer<EVP_AEAD_CTX>

    package init(key: SymmetricKey) throws {
        try GCMSealing.checkKey(key)
        let made = key.withUnsafeBytes { k in
            CCryptoBoringSSL_EVP_AEAD_CTX_new(CCryptoBoringSSL_EVP_aead_aes_256_gcm(), k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, GCMSealing.tagSize)
        }
        guard let made else { throw GCMSealing.Failure(description: "BoringSSL could not set up an AES-256-GCM key") }
        context = made
    }

    deinit { CCryptoBoringSSL_EVP_AEAD_CTX_free(context) }

    package func seal(_ plain: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
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
#endif
