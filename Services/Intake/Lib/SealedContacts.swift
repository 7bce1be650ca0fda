import Crypto
import Foundation
import LiaisonCodec
import LiaisonSealing

/// What intake seals: a submission's contact and what was taken from its text, bound to its case
/// number.
extension ContactVault {
    /// A key for contact fingerprints (near-duplicate detection), derived from the oldest kept key
    /// (the last line), so fingerprints stay comparable when a new sealing key is added on top.
    public var fingerprintKey: SymmetricKey {
        let base = keys[order.last!]!
        return HKDF<SHA256>.deriveKey(inputKeyMaterial: base, info: Data("liaison contact fingerprint".utf8), outputByteCount: 32)
    }

    /// Seals `contact` for `caseNumber`: `[1][id length][id][AES-GCM nonce|ciphertext|tag]`.
    public func seal(_ contact: Liaison_V1_Contact, caseNumber: String) throws -> [UInt8] {
        try seal(plain: WireWriter.contact(contact), caseNumber: caseNumber)
    }

    /// Seals `contact` (a contact and what intake took from the text) for `caseNumber`.
    public func seal(_ contact: Liaison_V1_SealedContact, caseNumber: String) throws -> [UInt8] {
        try seal(plain: WireWriter.sealedContact(contact), caseNumber: caseNumber)
    }

    /// Seals a submission's `contact` (nil: anonymous) and what intake took from its text, as one
    /// `SealedContact`, for `caseNumber`; nil when there is neither (nothing is stored).
    public func seal(_ contact: Liaison_V1_Contact?, fromText: [String], caseNumber: String) throws -> [UInt8]? {
        if fromText.isEmpty { return try contact.map { try seal($0, caseNumber: caseNumber) } }
        return try seal(Liaison_V1_SealedContact(contact, fromText: fromText), caseNumber: caseNumber)
    }

    func seal(plain: [UInt8], caseNumber: String) throws -> [UInt8] { try seal(plain: plain, boundTo: caseNumber) }

    /// Opens what ``seal(_:caseNumber:)`` produced, as the database gives it back.
    public func open(_ sealed: Data, caseNumber: String) throws -> Liaison_V1_SealedContact {
        try open([UInt8](sealed), caseNumber: caseNumber)
    }

    /// Opens what ``seal(_:caseNumber:)`` produced: a `Contact` sealed before intake took contacts
    /// out of texts reads as a `SealedContact` with nothing taken (the same fields, 1–3).
    public func open(_ bytes: [UInt8], caseNumber: String) throws -> Liaison_V1_SealedContact {
        try Liaison_V1_SealedContact(serializedBytes: try open(plain: bytes, boundTo: caseNumber))
    }
}

extension Liaison_V1_SealedContact {
    /// What intake seals for a submission: its contact's fields (`contact`, nil for none) and the
    /// phone numbers, e-mail addresses, identity and card numbers taken out of its text (`fromText`).
    public init(_ contact: Liaison_V1_Contact?, fromText: [String]) {
        self.init()
        if let contact {
            name = contact.name
            phone = contact.phone
            email = contact.email
        }
        self.fromText = fromText
    }

    /// The contact's own fields: name, phone and e-mail.
    public var contact: Liaison_V1_Contact {
        var c = Liaison_V1_Contact()
        c.name = name
        c.phone = phone
        c.email = email
        return c
    }

    /// Whether the citizen gave a name, phone or e-mail (else the submission is anonymous, whatever
    /// was taken from its text).
    public var hasOwnFields: Bool { !name.isEmpty || !phone.isEmpty || !email.isEmpty }
}
