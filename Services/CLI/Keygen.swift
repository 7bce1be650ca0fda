import ArgumentParser
import Foundation
import LiaisonRuntime
import ZeroMQ

/// `liaison keygen`: a CURVE key pair for a service instance or a client.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CURVE key pair (transport security) for a service instance or a client.",
        discussion: """
            Writes the key pair to --out (mode 0600; never overwritten) and prints its public key. \
            A service instance serves over CURVE when the topology gives it that public key \
            ("curve_public_key") and it runs with --curve-key-file and --curve-clients. A client \
            (a desk, an operator, a consumer, another service) is let in when the instance's \
            --curve-clients file has a line 'ROLE PUBLIC-KEY [NAME]' with its public key.

              liaison keygen --out /etc/liaison/keys/intake-1.key
              liaison keygen --out ~/.liaison/desk-3.key --name desk-3
            """)

    @Option(help: "Where to write the key pair (a new file, mode 0600).")
    var out: String

    @Option(help: "Whose key it is, for the file's comment and the allow-list line printed. Default: the file's name.")
    var name: String?

    func run() throws {
        guard Curve.isAvailable else { throw ValidationError("this libzmq was built without CURVE (libsodium)") }
        guard !FileManager.default.fileExists(atPath: out) else {
            throw ValidationError("\(out) exists already: a key pair is never overwritten (remove it first if it is to be replaced)")
        }
        let who = name ?? ((out as NSString).lastPathComponent as NSString).deletingPathExtension
        let keys = try CurveKeyPair.generate()
        let fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot create \(out): \(String(cString: strerror(errno)))") }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try handle.write(contentsOf: Data(CurveKeyFile.text(keys, name: who).utf8))
        try handle.synchronize()
        print("public key \(keys.publicKey)")
        print("allow it in a service's --curve-clients file as:  ROLE \(keys.publicKey) \(who)   (ROLE: submitter, operator, consumer or service)")
        print("or, for a service instance, put it in the topology as its \"curve_public_key\"")
    }
}
