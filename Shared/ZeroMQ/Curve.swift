import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A CURVE key pair (ZMTP's CurveZMQ mechanism): 32-byte keys, written as 40 Z85 characters.
///
/// A server socket proves itself with its secret key and authenticates each client by the client's
/// public key (through the process's ZAP handler); a client socket needs the server's public key
/// and a key pair of its own.
public struct CurveKeyPair: Sendable, Equatable {
    /// The public key, Z85 (40 characters): given to whoever must know this party.
    public let publicKey: String
    /// The secret key, Z85 (40 characters): never leaves this party's key file.
    public let secretKey: String

    /// A key pair from its two Z85 keys; nil unless both are 40 valid Z85 characters.
    public init?(publicKey: String, secretKey: String) {
        guard Curve.isKey(publicKey), Curve.isKey(secretKey) else { return nil }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// A new random key pair (libsodium, through `zmq_curve_keypair`).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var pub = [CChar](repeating: 0, count: 41), sec = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&pub, &sec) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        return CurveKeyPair(publicKey: Curve.text(pub), secretKey: Curve.text(sec))!
    }

    /// Whether `publicKey` belongs to `secretKey` (`zmq_curve_public`).
    public var isConsistent: Bool {
        Curve.publicKey(ofSecret: secretKey) == publicKey
    }
}

/// Z85 keys and what libzmq says of CURVE.
public enum Curve {
    /// The text of a NUL-terminated buffer libzmq filled (a Z85 key).
    static func text(_ buffer: [CChar]) -> String { buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } }

    /// Whether this libzmq was built with CURVE (libsodium).
    public static var isAvailable: Bool { zmq_has("curve") != 0 }

    /// Whether `text` is a key in Z85: 40 characters of the Z85 alphabet that decode to 32 bytes.
    public static func isKey(_ text: String) -> Bool { decode(text) != nil }

    /// The 32 bytes of a Z85 key; nil when it is not one.
    public static func decode(_ text: String) -> [UInt8]? {
        guard text.utf8.count == 40 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        return zmq_z85_decode(&out, text) != nil ? out : nil
    }

    /// The Z85 text of a 32-byte key.
    public static func encode(_ key: [UInt8]) -> String? {
        guard key.count == 32 else { return nil }
        var dest = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&dest, key, 32) != nil else { return nil }
        return text(dest)
    }

    /// The public key of a Z85 secret key; nil when it is not one.
    public static func publicKey(ofSecret secret: String) -> String? {
        guard isKey(secret) else { return nil }
        var pub = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&pub, secret) == 0 else { return nil }
        return text(pub)
    }
}

extension Socket {
    /// Makes this socket a CURVE server with `keys`: every peer must complete the CurveZMQ
    /// handshake, and the context's ZAP handler (if bound) decides who may. Before bind.
    /// `domain` is the ZAP domain the handler is told with each client of this socket, so it can
    /// let a client into one socket and not another.
    public func setCurveServer(_ keys: CurveKeyPair, domain: String) throws(ZMQError) {
        try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8))
        try setOption(ZMQ_CURVE_SERVER, 1)
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
    }

    /// Makes this socket a CURVE client of the server whose public key is `serverKey`, as `keys`.
    /// Before connect.
    public func setCurveClient(serverKey: String, keys: CurveKeyPair) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8))
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(keys.publicKey.utf8))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(keys.secretKey.utf8))
    }

    /// Receives one whole multipart message as byte arrays, and the `User-Id` the ZAP handler gave
    /// the peer that sent it (nil without authentication). Nil if `dontWait` and nothing waits.
    public func receiveMultipartWithUserID(dontWait: Bool = false) throws -> (frames: [[UInt8]], userID: String?)? {
        var frames: [[UInt8]] = []
        var userID: String?
        let got = try receive(dontWait: dontWait) { index, buf in
            frames.append(Array(buf))
            // A ROUTER's routing-id frame is its own; the peer's frames carry the metadata.
            if userID == nil, let p = zmq_msg_gets(scratchMessage, "User-Id") { userID = String(cString: p) }
        }
        return got ? (frames, userID) : nil
    }
}
