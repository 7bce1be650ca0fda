import Foundation
import LiaisonCodec
import LiaisonRuntime

/// The rules a submission must pass before intake accepts it. Each failure names its field.
public final class SubmissionRules: Sendable {
    public static let maxTextCharacters = 4_000
    public static let maxSubmissionIDLength = 128
    /// Most submissions in one `submit_batch` (``LiaisonCodec/maxBatchSubmissions``).
    public static let maxBatchSubmissions = LiaisonCodec.maxBatchSubmissions

    /// What is wrong with a `submit_batch` as a whole (no submissions, too many), or nil: its
    /// submissions are then checked one by one (``check(_:now:)``).
    public static func checkBatch(_ batch: Liaison_V1_SubmitBatch) -> WireError? {
        let field = "submit_batch.submissions"
        if batch.submissions.isEmpty { return .invalidArgument(field, "the batch holds no submissions") }
        if batch.submissions.count > maxBatchSubmissions {
            return .invalidArgument(field, "the batch holds \(batch.submissions.count) submissions; at most \(maxBatchSubmissions) go in one request: send the rest in another")
        }
        return nil
    }

    /// A submission's field (`submit_feedback.text`) as its place in a batch names it
    /// (`submit_batch.submissions[3].text`); a field that is not a submission's stays as it is.
    public static func fieldInBatch(_ field: String, index: Int) -> String {
        let prefix = "submit_feedback"
        guard field.hasPrefix(prefix) else { return field }
        return "submit_batch.submissions[\(index)]" + field.dropFirst(prefix.count)
    }

    /// How far in the future `occurred_at` may be (clients' clocks drift).
    public static let clockSkew: TimeInterval = 300

    /// Why `occurredAt` is refused as in the future, with both times in UTC and how far apart they
    /// are, so that a desk whose time went out in the wrong zone (hours ahead) sees it at once.
    static func future(_ occurredAt: Date, now: Date) -> String {
        let utc = Date.ISO8601FormatStyle(timeZone: .gmt)
        // A request's timestamp may hold any 64-bit number of seconds: past a century it is not a
        // zone's mistake, and a year in the billions is not written out.
        let seconds = occurredAt.timeIntervalSince(now)
        guard seconds < 100 * 366 * 86_400 else {
            return "occurred_at is in the future: more than 100 years after intake's clock (\(now.formatted(utc)))"
        }
        let ahead = Int(seconds.rounded())
        let apart = ahead >= 172_800 ? "\(ahead / 86_400) days"
            : ahead >= 7_200 ? "\(ahead / 3_600) h \(ahead % 3_600 / 60) min"
            : "\(ahead / 60) min"
        return "occurred_at \(occurredAt.formatted(utc)) is in the future: \(apart) after intake's clock "
            + "(\(now.formatted(utc))), and at most \(Int(clockSkew) / 60) min ahead is allowed for clocks that drift; "
            + "was it given in the wrong time zone?"
    }

    public let units: UnitDirectory
    /// The directory's codes by their capitals (a clerk may type `stn-east-01`), for a hash lookup
    /// per submission.
    let unitCodes: [String: String]
    /// The directory's codes as it spells them: what clients usually send, found without
    /// upper-casing it first (checked, then made canonical: twice for every submission).
    let exactCodes: Set<String>
    /// The directory's longest code, in bytes. A unit typed much longer than that is not a mistyped
    /// code, and the nearest codes are not looked for: their edit distance takes time in proportion
    /// to what was typed, on the one thread every submission waits for (a unit of 120,000
    /// characters held it for 0.2 s).
    let longestCode: Int
    /// The codes by their units' names (``UnitDirectory/codesByName()``): a clerk may type the
    /// name heard (`Riverside Police Station`), a web form send the one it lists.
    let unitNames: [String: String]
    /// The longest code or name, in bytes: what is longer is neither.
    let longestUnit: Int

    public init(units: UnitDirectory = .demo) {
        self.units = units
        unitCodes = Dictionary(units.units.map { ($0.code.uppercased(), $0.code) }, uniquingKeysWith: { first, _ in first })
        exactCodes = Set(units.units.map(\.code))
        longestCode = units.units.map(\.code.utf8.count).max() ?? 0
        unitNames = units.codesByName()
        longestUnit = max(longestCode, unitNames.keys.map(\.utf8.count).max() ?? 0)
    }

    /// The directory's spelling of `unit` (given without surrounding white space, in any letter
    /// case), or nil when the directory has no such unit.
    public func directoryCode(_ unit: some StringProtocol) -> String? {
        let typed = String(unit)
        if exactCodes.contains(typed) { return typed }
        if let code = unitCodes[typed.uppercased()] { return code }
        return typed.utf8.count <= 3 * (longestUnit + 8) ? unitNames[UnitDirectory.nameKey(typed)] : nil
    }

    /// Puts `s` in the form intake stores and publishes: the unit in the directory's spelling, the
    /// officer's badge without surrounding white space and in capitals, and the language tag with
    /// dashes (`zh_CN` is `zh-CN`). Routing (`route $unit`
    /// in the policy) and the counts per unit and per officer then see one spelling, whatever the
    /// clerk typed. Call it on a submission that passed ``check(_:now:)``. Returns false when `s`
    /// was already in that form (the usual case). In place: the submission is not copied.
    public func canonicalize(_ s: inout Liaison_V1_SubmitFeedback) -> Bool {
        var changed = false
        let unit = s.unit.trimmedWhitespace
        let code = unit.isEmpty ? "" : directoryCode(unit) ?? directoryCode(Self.typed(unit, upTo: .max)) ?? String(unit)
        if code != s.unit {
            s.unit = code
            changed = true
        }
        // Over the contiguous bytes: walking `utf8` costs tens of instructions a byte.
        if s.language.utf8.withContiguousStorageIfAvailable({ $0.contains(UInt8(ascii: "_")) }) ?? s.language.contains("_") {
            s.language = s.language.replacingOccurrences(of: "_", with: "-")
            changed = true
        }
        if !s.officerBadge.isEmpty {
            let badge = TypedText.badge(s.officerBadge)
            if badge != s.officerBadge {
                s.officerBadge = badge
                changed = true
            }
        }
        return changed
    }

    /// Checks `s` at time `now` and returns the first rule it breaks, naming the field
    /// (`submit_feedback.text`, `submit_feedback.contact.phone`, …).
    public func check(_ s: Liaison_V1_SubmitFeedback, now: Date = Date()) -> WireError? {
        let f = "submit_feedback."
        func bad(_ field: String, _ message: String) -> WireError { .invalidArgument(f + field, message) }
        func tooLong(_ field: String, _ name: String, _ value: some StringProtocol, _ limit: Int) -> WireError? {
            WireError.tooLong(f + field, name, value, limit: limit)
        }
        /// A control character in a free-text field (an escape sequence, a NUL that would cut the
        /// stored text short): named with its place, never quoted back.
        func control(_ field: String, _ name: String, _ value: String, lineBreaks: Bool) -> WireError? {
            PlainText.firstControl(in: value, lineBreaks: lineBreaks).map { bad(field, $0.refusal(name, lineBreaks: lineBreaks)) }
        }
        let id = s.submissionID.trimmedWhitespace
        if id.isEmpty { return bad("submission_id", "submission_id is required: a client-chosen id, reused on every retry") }
        if id.utf8.count > Self.maxSubmissionIDLength, let e = tooLong("submission_id", "submission_id", id, Self.maxSubmissionIDLength) { return e }
        if let e = control("submission_id", "submission_id", s.submissionID, lineBreaks: false) { return e }
        switch s.kind {
        case .unspecified:
            return bad("kind", "kind is required: \(Liaison_V1_FeedbackKind.named.map(\.0).joined(separator: ", "))")
        case .UNRECOGNIZED(let n): return bad("kind", "kind \(n) is not a known feedback kind")
        default: break
        }
        switch s.channel {
        case .unspecified:
            return bad("channel", "channel is required: \(Liaison_V1_Channel.named.map(\.0).joined(separator: ", "))")
        case .UNRECOGNIZED(let n): return bad("channel", "channel \(n) is not a known channel")
        default: break
        }
        let text = s.text.trimmedWhitespace
        if text.isEmpty { return bad("text", "text must not be empty") }
        if text.utf8.count > Self.maxTextCharacters, let e = tooLong("text", "text", text, Self.maxTextCharacters) { return e }
        if let e = control("text", "text", s.text, lineBreaks: true) { return e }
        if !PlainText.hasVisibleCharacter(text) {
            return bad("text", "text has nothing to read: white space and invisible characters (zero-width spaces, joiners) alone")
        }
        let unit = s.unit.trimmedWhitespace
        let address = s.address.trimmedWhitespace
        if unit.isEmpty && address.isEmpty { return bad("unit", "a unit code or an address is required") }
        // Measured before it is looked up: hashing a string normalizes it, which for thousands of
        // combining marks took 26 ms of the request thread.
        if !unit.isEmpty && (unit.utf8.count > longestUnit + 8 || directoryCode(unit) == nil) {
            // Typed with a full-width input method (`ＳＴＮ－ＥＡＳＴ－０１`): the same code.
            let code = Self.typed(unit, upTo: 3 * (longestUnit + 8))
            if code.utf8.count > longestUnit + 8 {
                return bad("unit", "unit \(WireError.quoted(unit)) is not in the unit directory (its codes have at most \(longestCode) characters; a place goes in address)")
            }
            if directoryCode(code) == nil {
                // The unit its name offers (as a clerk's form takes it), else the nearest; words
                // that are not a code are perhaps a place, which has a field of its own.
                return bad("unit", units.notAUnit(String(code), shown: String(unit), placeField: "address"))
            }
        }
        if address.utf8.count > 500, let e = tooLong("address", "address", address, 500) { return e }
        if !address.isEmpty, let e = control("address", "address", s.address, lineBreaks: true) { return e }
        let badge = s.officerBadge.trimmedWhitespace
        if !badge.isEmpty && !Self.plausibleBadge(badge) && !Self.plausibleBadge(Self.typed(badge, upTo: 3 * 64)) {
            // Read out as "PC 10472" or "PC/10472": the badge it would be with a dash is offered.
            let dashed = badge.utf8.count <= 32
                ? TypedText.badge(String(badge)).split(whereSeparator: { !($0.isASCII && ($0.isLetter || $0.isNumber)) }).joined(separator: "-") : ""
            let meant = Self.plausibleBadge(dashed) ? "; did you mean \(dashed)?" : ""
            return bad("officer_badge", "\(WireError.quoted(s.officerBadge)) is not a badge number (2-16 letters, digits or '-', with a digit)\(meant)")
        }
        if s.category.utf8.count > 64, let e = tooLong("category", "category", s.category, 64) { return e }
        if !s.category.isEmpty, let e = control("category", "category", s.category, lineBreaks: false) { return e }
        if !s.language.isEmpty && !Self.plausibleLanguage(s.language) {
            return bad("language", "\(WireError.quoted(s.language)) is not a language tag like zh-CN or en")
        }
        if s.hasOccurredAt {
            let t = s.occurredAt.date
            if t.timeIntervalSince(now) > Self.clockSkew { return bad("occurred_at", Self.future(t, now: now)) }
            if t < Date(timeIntervalSince1970: 946_684_800) { return bad("occurred_at", "occurred_at is before 2000") }
        }
        if s.hasContact {
            let c = s.contact
            if c.name.utf8.count > 100, let e = tooLong("contact.name", "name", c.name, 100) { return e }
            if !c.name.isEmpty, let e = control("contact.name", "name", c.name, lineBreaks: false) { return e }
            // Full-width digits and signs (a web form typed with a Chinese input method) are the
            // same number; ``contactAsStored(_:)`` stores them as ASCII.
            if !c.phone.isEmpty && !PhoneNumbering.isPlausible(c.phone) && !PhoneNumbering.isPlausible(Self.typed(c.phone, upTo: 128)) {
                return bad("contact.phone", "\(WireError.quoted(c.phone)) is not a phone number (5-20 digits, + only in front, - . / ( ) or spaces between; ext, x or 转 before an extension)")
            }
            // White space around an address (a web form's field) is not part of it; stored trimmed.
            let email = c.email.hasPlainEnds ? c.email : String(c.email.trimmedWhitespace)
            if !email.isEmpty && !Self.plausibleEmail(email) && !Self.plausibleEmail(Self.typed(email, upTo: 3 * 254)) {
                return bad("contact.email", "\(WireError.quoted(c.email)) is not an e-mail address\(Self.emailMeant(Self.typed(email, upTo: 3 * 254)))")
            }
            // Fields of white space alone (a form sent with blanks) are not a way to reach anybody.
            if c.name.isBlank && c.phone.isBlank && email.isEmpty {
                return bad("contact", "contact is empty: leave it out for an anonymous submission")
            }
        }
        return nil
    }

    /// `value` with full-width forms made ASCII (``TypedText/plainASCII(_:)``) when it is at most
    /// `bytes` long; a longer one, refused by its rule anyway, is not walked scalar by scalar on
    /// the thread every submission waits for.
    static func typed(_ value: String, upTo bytes: Int) -> String {
        TypedText.isASCII(value) || value.utf8.count > bytes ? value : TypedText.plainASCII(value)
    }

    static func typed(_ value: Substring, upTo bytes: Int) -> Substring {
        TypedText.isASCII(value) || value.utf8.count > bytes ? value : Substring(TypedText.plainASCII(String(value)))
    }

    /// The contact as intake seals it: each field without white space around it, and phone and
    /// e-mail typed in full-width (`１３８…`, `li＠example.org`)
    /// in ASCII, so that they are dialled and mailed as typed, and a caller who typed them both ways
    /// is one caller to the near-duplicate check. The name is otherwise kept as given.
    static func contactAsStored(_ c: Liaison_V1_Contact) -> Liaison_V1_Contact {
        if c.name.hasPlainEnds && c.phone.hasPlainEnds && c.email.hasPlainEnds && TypedText.isASCII(c.phone) && TypedText.isASCII(c.email) { return c }
        var stored = c
        stored.name = String(c.name.trimmedWhitespace)
        stored.phone = TypedText.plainASCII(String(c.phone.trimmedWhitespace))
        stored.email = TypedText.plainASCII(String(c.email.trimmedWhitespace))
        return stored
    }

    /// One address: a local part and a domain with a dot, neither holding white space, a control
    /// character or what separates or wraps addresses (`<>()[],;:"\\`, so that `Li Wei
    /// <li@example.org>`, `mailto:li@example.org` and two addresses are refused, with the one meant
    /// offered by ``emailMeant(_:)``). Letters beyond ASCII are taken (internationalized addresses).
    static func plausibleEmail(_ e: String) -> Bool {
        guard e.utf8.count <= 254, !e.contains(where: \.isWhitespace), PlainText.firstControl(in: e, lineBreaks: false) == nil,
              !e.utf8.contains(where: isEmailSpecial) else { return false }
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return false }
        let domain = parts[1]
        return domain.contains(".") && !domain.hasPrefix(".") && !domain.hasSuffix(".") && !domain.contains("..")
    }

    /// What separates, wraps or quotes addresses; none stands in a plain one.
    static func isEmailSpecial(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"),
             UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "\""), UInt8(ascii: "\\"): true
        default: false
        }
    }

    /// `; did you mean li@example.org?` for an address copied with its name (`Li Wei
    /// <li@example.org>`) or as a link (`mailto:li@example.org`); `: one address only` for a list;
    /// else empty.
    static func emailMeant(_ e: String) -> String {
        guard e.utf8.count <= 254 else { return "" }
        var inner = Substring(e)
        if let open = inner.lastIndex(of: "<"), let close = inner.lastIndex(of: ">"), open < close {
            inner = inner[inner.index(after: open)..<close]
        }
        if inner.lowercased().hasPrefix("mailto:") { inner = inner.dropFirst(7) }
        let meant = String(String(inner).trimmedWhitespace)
        if meant != e && plausibleEmail(meant) { return "; did you mean \(meant)?" }
        if e.split(whereSeparator: { $0 == "," || $0 == ";" || $0.isWhitespace }).filter({ plausibleEmail(String($0)) }).count > 1 {
            return ": one address only (the others can go in the text)"
        }
        return ""
    }

    static func plausibleBadge(_ b: some StringProtocol) -> Bool {
        b.utf8.count <= 64 && (2...16).contains(b.count) && b.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" } && b.contains(where: \.isNumber)
    }

    /// A first part of 2-3 ASCII letters, then parts of 2-8 ASCII letters or digits, joined by `-`.
    /// Read as bytes: splitting into Characters cost more than the rest of validation.
    static func plausibleLanguage(_ l: String) -> Bool {
        var part = 0, length = 0
        func partFits() -> Bool { part == 0 ? (2...3).contains(length) : (2...8).contains(length) }
        for b in l.utf8 {
            if b == UInt8(ascii: "-") || b == UInt8(ascii: "_") {   // zh_CN, as POSIX locales write it, is zh-CN
                guard partFits() else { return false }
                part += 1
                length = 0
                continue
            }
            let lower = b | 0x20
            let letter = lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z")
            let digit = b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")
            guard letter || (digit && part > 0) else { return false }
            length += 1
        }
        return partFits()
    }
}

extension String {
    /// Empty, or starting and ending with a printable ASCII character: nothing to trim. Read off the
    /// contiguous bytes, making no `Substring` (intake asks it of every contact field).
    var hasPlainEnds: Bool {
        utf8.withContiguousStorageIfAvailable { bytes in
            guard let first = bytes.first, let last = bytes.last else { return true }
            return first > 0x20 && first < 0x7F && last > 0x20 && last < 0x7F
        } ?? false   // not contiguous (never so for a native string): take the slow path
    }

    /// Empty, or white space alone.
    var isBlank: Bool { isEmpty || (!hasPlainEnds && trimmedWhitespace.isEmpty) }

    /// The string without leading and trailing white space and newlines (Unicode `White_Space`),
    /// without a trip through Foundation's NSString: validation runs for every submission.
    var trimmedWhitespace: Substring {
        // The usual case first: it starts and ends with a printable ASCII character, so nothing is
        // trimmed and no Unicode property is looked up.
        if !isEmpty && hasPlainEnds { return self[...] }
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return Substring(scalars[first...last])
    }
}
