import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing

/// Contact data over the real set: never in the clear on disk or on a stream; keys that rotate.
extension EndToEndTests {
    @Test func contactDataIsNeitherStoredInTheClearNorPublished() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake", environment: ["LIAISON_OPERATOR_SECRET": "night-shift-secret"])
        try await set.waitReady(["intake"])
        var f = submission(3)
        f.contact.name = "Wang Fang"
        f.contact.phone = "13987654321"
        f.contact.email = "wang.fang@example.org"
        let accepted = try await set.call("intake", .submitFeedback(f)).feedbackAccepted
        // Not on the stream.
        let events = try await set.call("intake", .replay(.init())).replayBatch.events
        let streamBytes: [UInt8] = try events[0].serializedBytes()
        #expect(!String(decoding: streamBytes, as: UTF8.self).contains("13987654321"))
        #expect(!events[0].feedbackReceived.feedback.hasContact)
        // Not in any file of the data directory (database, WAL, logs).
        for name in try FileManager.default.subpathsOfDirectory(atPath: set.dir) {
            guard let data = FileManager.default.contents(atPath: set.dir + "/" + name) else { continue }
            #expect(data.range(of: Data("13987654321".utf8)) == nil, "phone number in the clear in \(name)")
            #expect(data.range(of: Data("wang.fang@example.org".utf8)) == nil, "e-mail in the clear in \(name)")
        }
        // An operator gets it back; anybody else does not.
        let reveal = { (credential: String) in
            try await set.withClient("intake") { c -> Liaison_V1_Reply in
                var r = Liaison_V1_Request()
                r.credential = credential
                r.getContact.caseNumber = accepted.caseNumber
                r.getContact.actor = "PC-1001"
                r.getContact.reason = "follow-up call"
                return try c.call(r)
            }
        }
        #expect(try await reveal("").error.code == .unauthorized)
        #expect(try await reveal("night-shift-secret").contactInfo.contact.phone == "13987654321")
        // The same over the command line: without the secret it says what to give, with it
        // (the environment or a file) the contact comes back.
        let refused = try await set.cli(["contact", accepted.caseNumber.lowercased(), "--reason", "follow-up call"], environment: ["LIAISON_OPERATOR_SECRET": ""])
        #expect(refused.status != 0 && refused.output.contains("needs an operator secret") && !refused.output.contains("13987654321"), "\(refused.output)")
        let wrong = try await set.cli(["contact", accepted.caseNumber, "--reason", "follow-up call"], environment: ["LIAISON_OPERATOR_SECRET": "day-shift-guess"])
        #expect(wrong.status != 0 && wrong.output.contains("not one the service accepts"), "\(wrong.output)")
        let shown = try await set.cli(["contact", accepted.caseNumber, "--reason", "follow-up call", "--actor", "PC-2002"], environment: ["LIAISON_OPERATOR_SECRET": "night-shift-secret"])
        #expect(shown.status == 0 && shown.output.contains("Wang Fang") && shown.output.contains("13987654321"), "\(shown.output)")
        // Each field is named, so an operator reading it out over the phone does not guess which is which.
        #expect(shown.output.contains("name Wang Fang, phone 13987654321, email wang.fang@example.org"), "\(shown.output)")
        let secretFile = set.dir + "/operator-secret"
        try "night-shift-secret\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let fromFile = try await set.cli(["contact", accepted.caseNumber, "--credential-file", secretFile, "--reason", "a letter back"],
                                        environment: ["LIAISON_ACTOR": "", "USER": "clerk-3"])
        #expect(fromFile.status == 0 && fromFile.output.contains("wang.fang@example.org"), "\(fromFile.output)")
        // Without a reason the command line asks for one and sends nothing.
        let noReason = try await set.cli(["contact", accepted.caseNumber], environment: ["LIAISON_OPERATOR_SECRET": "night-shift-secret"])
        #expect(noReason.status != 0 && noReason.output.contains("--reason") && !noReason.output.contains("13987654321"), "\(noReason.output)")
        // Each disclosure is on intake's stream with who and why, in the order given.
        let recorded = try await set.call("intake", .replay(.with { $0.topicPrefixes = [Topic.contactDisclosed] })).replayBatch.events.map(\.contactDisclosed)
        #expect(recorded.map { "\($0.actor): \($0.reason)" } == ["PC-1001: follow-up call", "PC-2002: follow-up call", "clerk-3: a letter back"], "\(recorded)")
        #expect(recorded.allSatisfy { $0.caseNumber == accepted.caseNumber && !$0.anonymous })
        // The log names every disclosure and every refusal by case, never the contact or a
        // credential.
        let log = set.logs()
        #expect(log.components(separatedBy: "contact data disclosed to an operator").count - 1 == 3, "\(log)")
        #expect(log.contains("contact data refused: no operator credential") && log.contains("contact data refused: an operator credential that is not accepted"), "\(log)")
        for secret in ["13987654321", "wang.fang@example.org", "Wang Fang", "night-shift-secret", "day-shift-guess"] {
            #expect(!log.contains(secret), "\(secret) in the log")
        }
    }

    /// A citizen on the web writes their number into the text and leaves the contact empty: the
    /// real intake takes it out into the sealed contact, so it is on no stream and in no file in
    /// the clear; the receipt says so, and an operator reads it back with `liaison contact`.
    @Test func aPhoneNumberTypedIntoTheTextIsNeitherStoredInTheClearNorPublished() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake", environment: ["LIAISON_OPERATOR_SECRET": "night-shift-secret"])
        try await set.waitReady(["intake"])
        let text = "Loud music every night at the corner shop. Please call me back on 138 2468 1357 or mail zhao.min@example.org."
        let submit = ["submit", "--kind", "complaint", "--channel", "web", "--unit", "STN-EAST-01", "--submission-id", "web-77", "--text", text]
        let sent = try await set.cli(submit)
        #expect(sent.status == 0 && sent.output.contains("case L1-0000001 ")
                && sent.output.contains("(2 phone, ID or card number(s) or e-mail address(es) in the text kept with the sealed contact)"), "\(sent.output)")
        let again = try await set.cli(submit + ["--json"])
        #expect(again.status == 0 && again.output.contains(#""duplicate":true"#) && again.output.contains(#""contact_from_text":2"#), "\(again.output)")
        let events = try await set.call("intake", .replay(.init())).replayBatch.events
        #expect(events.map(\.feedbackReceived.feedback.text)
                == ["Loud music every night at the corner shop. Please call me back on [phone: in the contact] or mail [e-mail: in the contact]."])
        for name in try FileManager.default.subpathsOfDirectory(atPath: set.dir) {
            guard let data = FileManager.default.contents(atPath: set.dir + "/" + name) else { continue }
            #expect(data.range(of: Data("2468 1357".utf8)) == nil, "phone number in the clear in \(name)")
            #expect(data.range(of: Data("zhao.min@example.org".utf8)) == nil, "e-mail in the clear in \(name)")
        }
        let shown = try await set.cli(["contact", "L1-1", "--reason", "call back", "--actor", "desk-7"], environment: ["LIAISON_OPERATOR_SECRET": "night-shift-secret"])
        #expect(shown.status == 0 && shown.output.contains("case L1-0000001: anonymous; in the text: 138 2468 1357, zhao.min@example.org"), "\(shown.output)")
        let recorded = try await set.call("intake", .replay(.with { $0.topicPrefixes = [Topic.contactDisclosed] })).replayBatch.events.map(\.contactDisclosed)
        #expect(recorded.count == 1 && recorded.first?.anonymous == false && recorded.first?.actor == "desk-7", "\(recorded)")
    }

    /// Key rotation on the real executables: a new key on top seals new contacts; `--reseal-contacts`
    /// (refused while intake runs) seals the old ones with it; then the old key can go, and every
    /// contact is still read back.
    @Test func contactKeysRotateAndTheOldKeyCanGo() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let k1 = "k1 " + Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let k2 = "k2 " + Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()
        let secret = ["LIAISON_OPERATOR_SECRET": "night-shift-secret"]
        try set.start("intake", environment: secret.merging(["LIAISON_CONTACT_KEYS": k1]) { a, _ in a })
        try await set.waitReady(["intake"])
        var f = submission(7)
        f.contact.phone = "13987650007"
        let first = try await set.call("intake", .submitFeedback(f)).feedbackAccepted.caseNumber
        // Refused while intake runs on the database.
        let busy = try await set.runOnce("intake", ["--reseal-contacts"], environment: ["LIAISON_CONTACT_KEYS": k2 + "\n" + k1])
        #expect(busy.status != 0 && busy.output.contains("in use"), "\(busy.output)")
        #expect(set.terminate("intake") == 0)
        let resealed = try await set.runOnce("intake", ["--reseal-contacts"], environment: ["LIAISON_CONTACT_KEYS": k2 + "\n" + k1])
        #expect(resealed.status == 0 && resealed.output.contains("re-sealed 1 contact(s) with key k2") && resealed.output.contains("1 sealed with k2 (current), 0 with k1"), "\(resealed.output)")
        // The old key gone: the contact is read back with the new one, and nothing is reported missing.
        try set.start("intake", environment: secret.merging(["LIAISON_CONTACT_KEYS": k2]) { a, _ in a })
        try await set.waitReady(["intake"])
        let shown = try await set.cli(["contact", first, "--reason", "rotation check"], environment: secret)
        #expect(shown.status == 0 && shown.output.contains("13987650007"), "\(shown.output)")
        #expect(!set.logs().contains("which is not in the contact keys"), "\(set.logs())")
        // With a key file that lacks k2, the re-seal says what it could not open and fails.
        #expect(set.terminate("intake") == 0)
        let k3 = "k3 " + Data(repeating: 7, count: 32).base64EncodedString()
        let lacking = try await set.runOnce("intake", ["--reseal-contacts"], environment: ["LIAISON_CONTACT_KEYS": k3])
        #expect(lacking.status == 1 && lacking.output.contains("could not open 1 sealed with key 'k2'"), "\(lacking.output)")
    }

    /// A clerk's operator secret has leaked, at night: it is taken out of the operators' file and
    /// intake and the handler are sent SIGHUP. From then on it reads no contact data and gives no
    /// case command, the new clerk's secret does both, and nothing was restarted.
    @Test func sighupTakesALeakedOperatorSecretOutWithoutARestart() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let secrets = set.dir + "/operator-secrets"
        try "wang.li leaked-secret-2026-wang\nzhao.min zhao-min-secret-2026\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        try set.startAll(["intake": ["--operator-secrets", secrets], "handler": ["--operator-secrets", secrets]])
        try await set.waitReady()
        let pids = (await set.status("intake")?.pid, await set.status("handler")?.pid)
        var f = submission(1, prefix: "leak")
        f.contact.phone = "13800002222"
        let sent = f
        let ack = try await set.withClient("intake") { try $0.call(.submitFeedback(sent)) }.feedbackAccepted
        #expect(await eventually(20) { (try? await set.call("handler", .getCase(.with { $0.caseNumber = ack.caseNumber })))?.caseInfo.caseNumber == ack.caseNumber })
        func contact(_ secret: String) async throws -> (status: Int32, output: String) {
            try await set.cli(["contact", ack.caseNumber, "--reason", "follow-up call", "--actor", "desk-7"], environment: ["LIAISON_OPERATOR_SECRET": secret])
        }
        func note(_ secret: String) async throws -> (status: Int32, output: String) {
            try await set.cli(["case", "note", ack.caseNumber, "checked", "--actor", "desk-7"], environment: ["LIAISON_OPERATOR_SECRET": secret])
        }
        let before = try await contact("leaked-secret-2026-wang")
        #expect(before.status == 0 && before.output.contains("13800002222"), "\(before.output)")
        #expect(try await note("leaked-secret-2026-wang").status == 0)

        try "zhao.min zhao-min-secret-2026\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        set.signal("intake", 0, SIGHUP)
        set.signal("handler", 0, SIGHUP)
        #expect(await eventually(10) { set.logs().components(separatedBy: "operator secrets reloaded: 1 in force").count == 3 }, "\(set.logs().suffix(3_000))")
        let leaked = try await contact("leaked-secret-2026-wang")
        #expect(leaked.status != 0 && leaked.output.contains("unauthorized") && !leaked.output.contains("13800002222"), "\(leaked.output)")
        let refusedNote = try await note("leaked-secret-2026-wang")
        #expect(refusedNote.status != 0 && refusedNote.output.contains("unauthorized"), "\(refusedNote.output)")
        let kept = try await contact("zhao-min-secret-2026")
        #expect(kept.status == 0 && kept.output.contains("13800002222"), "\(kept.output)")
        #expect(try await note("zhao-min-secret-2026").status == 0)

        // Emptied by mistake: the handler keeps its secrets (none would open its commands to
        // anyone); intake, where none means nobody reads contact data, takes it.
        try "# all secrets revoked\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        set.signal("handler", 0, SIGHUP)
        #expect(await eventually(10) { set.logs().contains("operator secrets not reloaded; the previous ones stay") }, "\(set.logs().suffix(3_000))")
        let open = try await note("")
        #expect(open.status != 0 && open.output.contains("unauthorized"), "\(open.output)")
        #expect(try await note("zhao-min-secret-2026").status == 0)
        let pidsAfter = (await set.status("intake")?.pid, await set.status("handler")?.pid)
        #expect(pidsAfter.0 == pids.0 && pidsAfter.1 == pids.1, "restarted")
    }

    /// SIGHUP makes a running intake read its unit directory again: a community office that opens
    /// is taken without a restart, by the same process; a directory that does not load is logged
    /// and the one in force stays.
    @Test func sighupReloadsIntakesUnitDirectory() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let unitsPath = set.dir + "/units.json"
        let shipped = try Data(contentsOf: URL(fileURLWithPath: LiaisonSet.repoRoot + "/deploy/units.json"))
        try shipped.write(to: URL(fileURLWithPath: unitsPath))
        try set.start("intake", extra: ["--units", unitsPath])
        try await set.waitReady(["intake"])
        let pid = try #require(await set.status("intake")?.pid)
        var f = submission(1, prefix: "new-office")
        f.unit = "CPO-EAST-99"
        let opening = f
        await #expect { try await set.withClient("intake") { try $0.call(.submitFeedback(opening)) } } throws: {
            "\($0)".contains("(submit_feedback.unit): unit 'CPO-EAST-99' is not in the unit directory")
        }

        var json = try JSONSerialization.jsonObject(with: shipped) as! [String: Any]
        json["units"] = (json["units"] as! [[String: Any]]) + [["code": "CPO-EAST-99", "name": "Lotus Lane Community Police Office",
                                                               "type": "community_office", "parent": "STN-EAST-01"]]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: unitsPath))
        set.signal("intake", 0, SIGHUP)
        // Refused submissions are not stored: the same one is tried until the reload has happened.
        var accepted = Liaison_V1_FeedbackAccepted()
        #expect(await eventually(10) {
            accepted = (try? await set.withClient("intake") { try $0.call(.submitFeedback(opening)) })?.feedbackAccepted ?? .init()
            return !accepted.caseNumber.isEmpty
        })
        #expect(await set.status("intake")?.pid == pid)

        try Data("{\"units\": [".utf8).write(to: URL(fileURLWithPath: unitsPath))
        set.signal("intake", 0, SIGHUP)
        #expect(await eventually(10) { set.logs().contains("reload refused; the previous unit directory stays") }, "\(set.logs().suffix(2_000))")
        var afterBadFile = opening
        afterBadFile.submissionID = "new-office-after-bad-file"
        let later = afterBadFile
        #expect(try await set.withClient("intake") { try $0.call(.submitFeedback(later)) }.feedbackAccepted.caseNumber.hasPrefix("L1-"))
        #expect(await set.status("intake")?.pid == pid)
    }
}
