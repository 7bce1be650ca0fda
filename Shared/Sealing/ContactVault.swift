import Crypto
import Foundation
import LiaisonRuntime

/// Encrypts personal data at rest with AES-256-GCM: intake's contacts, the scheduler's registrants
/// and households.
///
/// Keys have ids so they can rotate: new data is sealed with the current key; data sealed with an
/// older key stays readable while that key is kept. Each ciphertext is bound to what it belongs to
/// (authenticated data: a case number, a registration), so sealed data cannot be moved to another
/// row. What it seals starts `[1][id length][id]`, naming its key.
public final class ContactVault: Sendable {
    public struct KeyError: Error, CustomStringConvertible {
        public let description: String
    }

    package let keys: [String: SymmetricKey]
    /// Key ids in configured order: the first seals, the last is the oldest kept.
    package let order: [String]
    /// The id of the key that seals new data.
    public let currentKeyID: String
    /// The current key, set up once, and what starts everything it seals (`[1][id length][id]`):
    /// neither is made again for every submission.
    package let sealer: GCMSealer
    package let sealedHeader: [UInt8]

    /// - Parameter keys: `(id, 32-byte key)`; the first is the current one.
    public init(keys: [(String, SymmetricKey)]) throws {
        guard let first = keys.first else { throw KeyError(description: "no contact key configured") }
        var seen: Set<String> = []
        for (id, key) in keys {
            guard !id.isEmpty, id.utf8.count < 256, !id.contains(where: \.isWhitespace) else { throw KeyError(description: "contact key id '\(id)' is not valid") }
            guard key.bitCount == 256 else { throw KeyError(description: "contact key \(id) must be 32 bytes (AES-256)") }
            // Two keys under one id: what one of them sealed could not be told from the other's.
            guard seen.insert(id).inserted else { throw KeyError(description: "contact key id \(id) is given twice: each key needs an id of its own") }
        }
        self.keys = Dictionary(keys, uniquingKeysWith: { a, _ in a })
        order = keys.map(\.0)
        currentKeyID = first.0
        sealer = try GCMSealer(key: first.1)
        sealedHeader = [1, UInt8(first.0.utf8.count)] + Array(first.0.utf8)
    }

    /// A vault with one fresh random key kept nowhere: for tests, benchmarks and fuzzing, whose
    /// data dies with them. What it seals no other vault can open.
    public static func throwaway(id: String = "throwaway") -> ContactVault {
        // A 32-byte key and a valid id cannot be refused.
        try! ContactVault(keys: [(id, SymmetricKey(size: .bits256))])
    }

    /// Parses a key file: one key per line, `ID BASE64-OF-32-BYTES`; the first line is the current key;
    /// blank lines and lines starting with `#` are ignored.
    /// - Parameter source: where the text came from, for the errors (which never quote a key).
    public static func parse(_ text: String, source: String = "") throws -> ContactVault {
        let from = source.isEmpty ? "" : " (\(source))"
        var keys: [(String, SymmetricKey)] = []
        for (n, line) in ConfigFiles.meaningful(text) {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "\t" }).map(String.init)
            guard parts.count == 2 else {
                throw KeyError(description: "contact key line \(n)\(from): expected 'ID BASE64-KEY', found \(parts.count) field(s)")
            }
            guard let bytes = Data(base64Encoded: parts[1]) else {
                throw KeyError(description: "contact key line \(n)\(from): the key of \(parts[0]) is not base64 (make one with: openssl rand -base64 32)")
            }
            keys.append((parts[0], SymmetricKey(data: bytes)))
        }
        do { return try ContactVault(keys: keys) } catch let e as KeyError { throw KeyError(description: e.description + from) }
    }

    /// The key file given, else `$LIAISON_CONTACT_KEYS` (the file's content), else a key file in
    /// `dataDir` created on first use (readable by the owner only).
    public static func resolve(path: String?, dataDir: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (ContactVault, String) {
        if let p = path {
            let text: String
            do { text = try ConfigFiles.read(p, key: "contact-keys") } catch {
                // Most often the file was never made: say how.
                throw ConfigError(error.key, error.message + (FileManager.default.fileExists(atPath: p) ? ""
                    : #"; create it before the first start: printf 'k1 %s\n' "$(openssl rand -base64 32)" > "# + p + "; chmod 600 " + p))
            }
            return (try parse(text, source: p), "key file \(p)")
        }
        if let env = environment["LIAISON_CONTACT_KEYS"], !env.isEmpty {
            return (try parse(env, source: "$LIAISON_CONTACT_KEYS"), "$LIAISON_CONTACT_KEYS")
        }
        let file = (dataDir as NSString).appendingPathComponent("contact-keys")
        if !FileManager.default.fileExists(atPath: file) {
            try ConfigFiles.makeDirectory(dataDir, key: "data-dir")
            let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
            let id = "k" + String(Int(Date().timeIntervalSince1970))
            let text = "# Liaison contact-data keys: ID BASE64. The first line seals new data; keep old lines to read old data.\n\(id) \(key)\n"
            try createKeyFile(file, contents: Array(text.utf8))
        }
        return (try parse(ConfigFiles.read(file, key: "contact-keys"), source: file), "generated key file \(file) (keep it apart from the data in production)")
    }

    /// The key file a service reads its keys from, for the warning about who may read it: the one
    /// given, else the one generated in `dataDir` when there is one (nil: the keys come from the
    /// environment).
    public static func keyFileInUse(path: String?, dataDir: String) -> String? {
        let generated = (dataDir as NSString).appendingPathComponent("contact-keys")
        return path ?? (FileManager.default.fileExists(atPath: generated) ? generated : nil)
    }

    /// Writes a new key file durably before anything is sealed with its key: a key lost in a power
    /// failure would leave every contact sealed with it unreadable, though those submissions were
    /// committed. Written to a temporary file (owner-only), fsync'd, linked into place (never over a
    /// key file another process created meanwhile; then that one is used) and the directory fsync'd.
    static func createKeyFile(_ file: String, contents: [UInt8]) throws {
        func failure(_ what: String, _ code: Int32 = errno) -> KeyError {
            KeyError(description: "cannot create the contact key file \(file): \(what): \(String(cString: strerror(code)))")
        }
        let temporary = file + ".new-\(getpid())"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("open") }
        defer { unlink(temporary) }
        let written = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let error: (String, Int32)? = written != contents.count ? ("write", written < 0 ? errno : EIO) : fsync(fd) != 0 ? ("fsync", errno) : nil
        close(fd)
        if let (what, code) = error { throw failure(what, code) }
        if link(temporary, file) != 0 && errno != EEXIST { throw failure("link") }
        let dir = Glibc.open((file as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw failure("open its directory") }
        defer { close(dir) }
        guard fsync(dir) == 0 else { throw failure("fsync its directory") }
    }

    /// Seals `plain` bound to `owner` (what it belongs to: opening it for another owner fails):
    /// `[1][id length][id][AES-GCM nonce|ciphertext|tag]`.
    public func seal(plain: [UInt8], boundTo owner: String) throws -> [UInt8] {
        // 12 random bytes, read in place.
        var draws = (SecureRandom.uint64(), SecureRandom.uint64())
        // Bytes, not Foundation's `Data`, and one allocation of the final size.
        var out: [UInt8] = []
        out.reserveCapacity(sealedHeader.count + GCMSealing.nonceSize + plain.count + GCMSealing.tagSize)
        out.append(contentsOf: sealedHeader)
        var aad = owner
        try withUnsafeBytes(of: &draws) { nonce in
            try plain.withUnsafeBytes { p in
                try aad.withUTF8 { a in
                    try sealer.seal(p, nonce: UnsafeRawBufferPointer(rebasing: nonce.prefix(GCMSealing.nonceSize)),
                                    authenticating: UnsafeRawBufferPointer(a), appendingTo: &out)
                }
            }
        }
        return out
    }

    /// The id of the key that sealed `sealed` (`[1][id length][id]…`, read from its head alone), or
    /// nil when the head is not that.
    package static func keyID(of sealed: some Collection<UInt8>) -> String? {
        let head = Array(sealed.prefix(257))
        guard head.count >= 2, head[0] == 1, head[1] > 0, head.count >= 2 + Int(head[1]) else { return nil }
        return String(decoding: head[2..<(2 + Int(head[1]))], as: UTF8.self)
    }

    /// Opens what ``seal(plain:boundTo:)`` sealed for `owner`.
    public func open(plain bytes: [UInt8], boundTo owner: String) throws -> [UInt8] {
        guard let id = Self.keyID(of: bytes), bytes.count > 2 + id.utf8.count else { throw KeyError(description: "sealed data is malformed") }
        guard let key = keys[id] else { throw KeyError(description: "data sealed with key \(id), which is not configured") }
        let box = try AES.GCM.SealedBox(combined: Data(bytes[(2 + id.utf8.count)...]))
        return Array(try AES.GCM.open(box, using: key, authenticating: Data(owner.utf8)))
    }

    /// Whether `sealed` was sealed with the current key (else ``seal(plain:boundTo:)`` would seal it
    /// again differently: what a rotation's re-sealing looks for).
    public func isCurrent(_ sealed: some Collection<UInt8>) -> Bool { sealed.starts(with: sealedHeader) }
}
