import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Testing
import ZeroMQ

/// End-to-end: the real executables over real sockets. Serialized: each test runs four processes
/// and the machine has two cores.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct EndToEndTests {
    @Test func thousandSubmissionsOpenThousandCasesAndCountRight() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()

        let acks = try await submitAll(set, 0..<1_000)
        #expect(Set(acks.map(\.caseNumber)).count == 1_000)
        #expect(acks.allSatisfy { !$0.duplicate && $0.trackingToken.count == 16 })

        let done = await eventually(60) {
            guard let h = await set.status("handler"), h.headSeq == 1_000,
                  let rep = try? await set.report() else { return false }
            return rep.casesTotal == 1_000 && rep.feedbackTotal == 1_000
        }
        #expect(done, "handler head and report did not reach 1,000\n\(set.logs())")
        let rep = try await set.report()
        var expected: [String: UInt64] = [:]
        for n in 0..<1_000 { expected[kinds[n % kinds.count].name, default: 0] += 1 }
        #expect(Dictionary(uniqueKeysWithValues: rep.byKind.map { ($0.key, $0.count) }) == expected)
        #expect(rep.byState.map(\.key) == ["triaged"] && rep.byState.first?.count == 1_000)
        // Complaints about an officer went to supervision: n % 10 == 0 and kind complaint (n % 7 == 0) → n % 70 == 0.
        #expect(rep.byUnit.first { $0.key == "SUPERVISION" }?.count == 15)
        // Every consumer catches up (the scheduler follows the handler at its own pace).
        #expect(await eventually(60) { await set.status("scheduler")?.consumers.first?.appliedSeq == 1_000 })
        #expect(await eventually(60) { await set.status("reporting")?.consumers.map(\.appliedSeq).sorted() == [0, 1_000, 1_000] })
    }

    @Test func handlerKilledMidStreamStillOpensExactlyOneCaseEach() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])

        async let submitted = submitAll(set, 0..<1_000, prefix: "k9")
        let reached = await eventually(60) { (await set.status("handler")?.headSeq ?? 0) >= 150 }
        #expect(reached)
        set.kill9("handler")
        try set.start("handler")
        let acks = try await submitted
        #expect(acks.count == 1_000)

        let done = await eventually(60) { await set.status("handler")?.headSeq == 1_000 }
        #expect(done, "handler did not reach 1,000\n\(set.logs())")
        // Exactly one case.opened per feedback, over the whole stream.
        let opened = try await set.withClient("handler") { client -> [String] in
            var numbers: [String] = []
            var after: UInt64 = 0
            while true {
                var r = Liaison_V1_Replay()
                r.afterSeq = after
                r.limit = 1_000
                let b = try client.call(.replay(r)).replayBatch
                numbers += b.events.map(\.caseOpened.caseNumber)
                after = b.lastSeq
                if !b.more { return numbers }
            }
        }
        #expect(opened.count == 1_000)
        #expect(Set(opened) == Set(acks.map(\.caseNumber)))
        var q = Liaison_V1_ListCases()
        q.limit = 1
        #expect(try await set.call("handler", .listCases(q)).caseList.total == 1_000)
    }

    @Test func intakeKilledRightAfterAcknowledgingLosesNothing() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let acks = try await submitAll(set, 0..<300, prefix: "crash")
        set.kill9("intake")                       // right after the last acknowledgement
        try set.start("intake")
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])

        // Every acknowledged submission is there: a retry gets the same case back, marked duplicate.
        let again = try await submitAll(set, 0..<300, prefix: "crash")
        #expect(again.map(\.caseNumber) == acks.map(\.caseNumber))
        #expect(again.allSatisfy { $0.duplicate })
        // The citizen can look each up with the token.
        let last = acks[299]
        var q = Liaison_V1_GetFeedbackStatus()
        q.caseNumber = last.caseNumber
        q.trackingToken = last.trackingToken
        // (received, or being_handled once intake has seen the handler open the case)
        #expect(["received", "being_handled"].contains(try await set.call("intake", .getFeedbackStatus(q)).feedbackStatus.state))
        // And every one reaches the handler.
        #expect(await eventually(60) { await set.status("handler")?.headSeq == 300 })
        #expect(await set.status("intake")?.headSeq == 300)
    }

    @Test func aSecondProcessOnTheSameDatabaseIsRefusedAndTheFirstGoesOn() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        _ = try await submitAll(set, 0..<3, prefix: "owner")
        // Another topology (other endpoints, the same stream name) pointed at the same data directory
        // by mistake: it must not run beside the first.
        let other = try LiaisonSet()
        let intruder = try await Threads.run(name: "intruder") { () -> (Int32, String) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison-intake")
            p.arguments = ["--topology", other.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "notice"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let deadline = Date().addingTimeInterval(20)
            while p.isRunning && Date() < deadline { usleep(10_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        }
        #expect(intruder.0 != 0)
        #expect(intruder.1.contains("is in use by pid"), "\(intruder.1)")
        // The owner goes on serving, and a restart after kill -9 takes the database back at once.
        #expect(try await submitAll(set, 0..<3, prefix: "owner").allSatisfy(\.duplicate))
        set.kill9("intake")
        try set.start("intake")
        try await set.waitReady(["intake"])
        #expect(try await submitAll(set, 3..<4, prefix: "owner")[0].caseNumber == "L1-0000004")
    }

    @Test func badInputGetsAnErrorAndEveryServiceGoesOn() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let wrongBody: [String: Liaison_V1_Request.OneOf_Body] = [
            "intake": .getReport(.init()), "handler": .submitFeedback(submission(1)),
            "scheduler": .getCase(.init()), "reporting": .listCases(.init()),
        ]
        for service in Topology.serviceNames {
            let endpoint = set.instance(service).requests
            let body = wrongBody[service]!
            let (answers, longestMessage) = try await Threads.run(name: "raw") { () -> ([String], Int) in
                let ctx = try Context()
                defer { ctx.terminate() }
                let s = try Socket(context: ctx, type: .dealer, role: "raw", linger: 0)
                defer { s.close() }
                try s.connect(endpoint)
                var longestMessage = 0
                func exchange(_ frames: [[UInt8]]) throws -> String {
                    try s.send(multipart: frames)
                    guard try s.waitReadable(timeout: 5_000), let reply = try s.receiveMultipart() else { return "silence" }
                    let r = try Framing.decodeReply(frames: reply)
                    longestMessage = max(longestMessage, r.error.message.utf8.count)
                    return "\(r.error.code.name):\(r.error.field)"
                }
                var wrong = Liaison_V1_Request()
                wrong.body = body
                var future = Liaison_V1_Request()
                future.version = 7
                future.getStatus = .init()
                // Replay is every service's, and anyone's: its topic prefixes are bounded (each
                // stored event of a batch is matched against each), and a wrong stream is named
                // without its whole name sent back.
                var manyPrefixes = Liaison_V1_Request()
                manyPrefixes.replay.topicPrefixes = Array(repeating: "zzz.", count: 33)
                var longPrefix = Liaison_V1_Request()
                longPrefix.replay.topicPrefixes = [String(repeating: "z", count: 129)]
                var otherStream = Liaison_V1_Request()
                otherStream.replay.stream = String(repeating: "s", count: 100_000)
                return ([
                    try exchange([[], [0xDE, 0xAD, 0xBE, 0xEF, 0xFF]]),          // garbage
                    try exchange([Array("no delimiter".utf8)]),                  // malformed framing
                    try exchange([[], [0x0A, 0x02, 0xC3, 0x28]]),                // invalid UTF-8
                    try exchange([[], try future.serializedBytes()]),            // unknown version
                    try exchange([[], try wrong.serializedBytes()]),             // wrong-typed request
                    try exchange([[], [], []]),                                  // extra frames
                    try exchange([[], [UInt8](repeating: 0x41, count: 1_000_000)]),  // oversized (1 MB > 256 KiB)
                    try exchange([[], try manyPrefixes.serializedBytes()]),
                    try exchange([[], try longPrefix.serializedBytes()]),
                    try exchange([[], try otherStream.serializedBytes()]),
                ], longestMessage)
            }
            #expect(answers == ["invalid_argument:request", "invalid_argument:frames", "invalid_argument:request_id",
                                "invalid_argument:version", "invalid_argument:body", "invalid_argument:frames",
                                "invalid_argument:request", "invalid_argument:replay.topic_prefixes",
                                "invalid_argument:replay.topic_prefixes", "not_found:replay.stream"], "\(service)")
            #expect(longestMessage < 300, "\(service): an error message of \(longestMessage) bytes")
            #expect(await set.status(service)?.service == service, "\(service) still serves")
        }
        // A client sending nothing but garbage has every request answered, and does not fill the
        // log: the first bad request is a line, the rest are counted into a line every ten seconds.
        let endpoint = set.instance("intake").requests
        let answered = try await Threads.run(name: "garbage") { () -> Int in
            let ctx = try Context()
            defer { ctx.terminate() }
            let s = try Socket(context: ctx, type: .dealer, role: "garbage", linger: 0)
            defer { s.close() }
            try s.connect(endpoint)
            var answered = 0
            for _ in 0..<500 {
                try s.send(multipart: [[], [0xDE, 0xAD, 0xBE, 0xEF, 0xFF]])
                guard try s.waitReadable(timeout: 5_000), try s.receiveMultipart() != nil else { break }
                answered += 1
            }
            return answered
        }
        #expect(answered == 500)
        let badLines = try String(contentsOfFile: set.dir + "/intake-0.log", encoding: .utf8).components(separatedBy: "bad request").count - 1
        #expect((1...12).contains(badLines), "\(badLines) lines for 510 bad requests")
        // A submission with a missing field names it.
        var empty = submission(5)
        empty.text = ""
        let bad = empty
        let reply = try await set.withClient("intake") { c -> Liaison_V1_Reply in
            var r = Liaison_V1_Request()
            r.submitFeedback = bad
            return try c.call(r)
        }
        #expect(reply.error.code == .invalidArgument && reply.error.field == "submit_feedback.text")
    }

    /// A message over the socket limit (`ZMQ_MAXMSGSIZE`) is refused by libzmq before it is read:
    /// the connection is dropped, nothing is answered on it, and the service goes on serving, the
    /// same client too once its socket has reconnected.
    @Test func aMessageOverTheSocketLimitIsRefusedAtTheSocket() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let endpoint = set.instance("intake").requests
        let outcome = try await Threads.run(name: "raw") { () -> (oversized: String, next: String) in
            let ctx = try Context()
            defer { ctx.terminate() }
            let s = try Socket(context: ctx, type: .dealer, role: "raw", linger: 0)
            defer { s.close() }
            try s.connect(endpoint)
            try s.send(multipart: [[], [UInt8](repeating: 0x41, count: maxSocketMessageBytes + 1)])
            // No answer comes to it: wait a second for one that must not come.
            let oversized = try s.waitReadable(timeout: 1_000) ? "answered" : "silence"
            var status = Liaison_V1_Request()
            status.requestID = "after-the-oversized-one"
            status.getStatus = .init()
            try s.send(multipart: Framing.requestFrames(status))
            guard try s.waitReadable(timeout: 10_000), let reply = try s.receiveMultipart() else { return (oversized, "silence") }
            return (oversized, try Framing.decodeReply(frames: reply).requestID)
        }
        #expect(outcome.oversized == "silence")
        #expect(outcome.next == "after-the-oversized-one")
        #expect(await set.status("intake")?.service == "intake")
    }

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

    /// Started under a soft limit of 64 open files, as shells and service managers often start
    /// it with 1,024, intake raises its limit to the hard one and serves more clients than that
    /// (before, it answered 37 of 120 and logged nothing).
    @Test(.enabled(if: hardOpenFileLimit >= 400, "the machine's hard limit on open files is too low to show it"))
    func manyClientsAreServedWhateverTheSoftLimitOnOpenFiles() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake", openFileLimit: 64)
        try await set.waitReady(["intake"])
        let endpoint = set.instance("intake").requests
        let answered = try await Threads.run(name: "many") { () -> Int in
            let ctx = try Context()
            defer { ctx.terminate() }
            let clients = try (0..<150).map { _ in try Socket(context: ctx, type: .dealer, role: "client", linger: 0) }
            defer { clients.forEach { $0.close() } }
            for c in clients { try c.connect(endpoint) }
            var status = Liaison_V1_Request()
            status.version = 1
            status.getStatus = .init()
            for (k, c) in clients.enumerated() {
                status.requestID = "c\(k)"
                try c.send(multipart: [[], try status.serializedBytes()])
            }
            return try clients.reduce(0) { n, c in n + (try c.waitReadable(timeout: 5_000) && (try c.receiveMultipart()) != nil ? 1 : 0) }
        }
        #expect(answered == 150)
        #expect(!set.logs().contains("may open only"), "\(set.logs())")
    }

    /// Intake's writes start failing (here a trigger added from outside makes SQLite refuse every
    /// new submission, as a full disk would): each submission is answered `unavailable`, the
    /// operator sees the failures and SQLite's message in `liaison streams`, the log says it once
    /// rather than at every batch, and when the cause goes the same submissions go in.
    @Test func failingWritesShowInStreamsAndEndWhenTheCauseGoes() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let database = try DatabaseQueue(path: set.dir + "/data/intake-1.sqlite")
        try await database.write { db in
            try db.execute(sql: "CREATE TRIGGER injected_failure BEFORE INSERT ON submissions BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        }
        for n in 0..<20 {
            let reply = try await set.withClient("intake") { c -> Liaison_V1_Reply in
                var r = Liaison_V1_Request()
                r.submitFeedback = submission(n)
                return try c.call(r)
            }
            #expect(reply.error.code == .unavailable && reply.error.retryAfterMs > 0, "\(reply)")
        }
        let streams = try await set.cli(["streams"])
        #expect(streams.output.contains("FAILED"), "\(streams.output)")
        #expect(streams.output.contains("intake-1: 20 write(s) failed since it started; the latest at ") && streams.output.contains("injected failure"), "\(streams.output)")
        let status = try #require(await set.status("intake"))
        #expect(status.writeFailures == 20 && status.lastWriteFailure.contains("injected failure") && status.headSeq == 0)
        try await database.write { db in try db.execute(sql: "DROP TRIGGER injected_failure") }
        for n in 0..<20 {
            #expect(try await set.call("intake", .submitFeedback(submission(n))).feedbackAccepted.caseNumber.hasPrefix("L1-"))
        }
        #expect(await set.status("intake")?.headSeq == 20)
        let log = set.logs()
        #expect(log.components(separatedBy: "commit failed").count - 1 == 1 && log.contains("commit works again after 20 failure(s)"), "\(log)")
    }

    /// A service whose log nobody reads any more (the reader of its standard error exited: a
    /// `| logger` gone, a log collector restarted) goes on serving; only the lines are lost. It died
    /// of SIGPIPE at its next log line before.
    @Test func aServiceOutlivesTheReaderOfItsLog() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison-intake")
        p.environment = LiaisonSet.childEnvironment(["LIAISON_OPERATOR_SECRET": "night-shift-secret-2026"])
        p.arguments = ["--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "info"]
        let log = Pipe()
        p.standardError = log
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        #expect(await eventually(20) { await set.status("intake") != nil })
        try log.fileHandleForReading.close()
        // A refused request is logged (a warning) on the request thread before its reply goes.
        var replies = 0
        for n in 1...3 {
            do {
                _ = try await set.call("intake", .getContact(.with { $0.caseNumber = "L1-000000\(n)"; $0.actor = "desk-9"; $0.reason = "curious" }))
            } catch is WireError {
                replies += 1
            } catch {}
        }
        #expect(replies == 3, "\(replies) of 3 refusals answered")
        #expect(p.isRunning, "intake ended (status \(p.isRunning ? 0 : p.terminationStatus), reason \(p.isRunning ? 0 : p.terminationReason.rawValue))")
        #expect(await set.status("intake") != nil)
    }

    @Test func followUpTimersSurviveARestartAndFireLate() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let number = try await set.call("intake", .submitFeedback(submission(5))).feedbackAccepted.caseNumber
        #expect(await eventually(30) { (try? await set.call("handler", .getCase(.with { $0.caseNumber = number }))) != nil })
        // The case is resolved: the scheduler puts the follow-up call a day later.
        for step in [["case", "assign", number, "--officer", "PC-5"], ["case", "accept", number], ["case", "resolve", number, "Sorted out"]] {
            let r = try await set.cli(step + ["--actor", "desk"])
            #expect(r.status == 0, "\(r.output)")
        }
        let scheduled = await eventually(30) {
            (try? await set.call("scheduler", .listFollowups(.init())).followupList.followups.map(\.state)) == ["pending"]
        }
        #expect(scheduled)
        // The clerk's list: waiting for its time, so not among the calls due.
        let waiting = try await set.cli(["followups"])
        #expect(waiting.status == 0 && waiting.output.contains(number) && waiting.output.contains("pending")
                && waiting.output.contains("1 follow-up(s)"), "\(waiting.output)")
        let noneDue = try await set.cli(["followups", "--due"])
        #expect(noneDue.status == 0 && !noneDue.output.contains(number) && noneDue.output.contains("0 follow-up(s) due"), "\(noneDue.output)")

        // Graceful stop, then come back 25 hours later.
        #expect(set.terminate("scheduler") == 0)
        try set.start("scheduler", extra: ["--clock-offset", "90000"])
        try await set.waitReady(["scheduler"])
        #expect(await eventually(30) { await set.status("scheduler")?.headSeq == 1 })
        let due = try await set.call("scheduler", .replay(.init())).replayBatch.events
        #expect(due.map(\.topic) == [Topic.followupDue])
        #expect(due.first?.followupDue.late == true && due.first?.followupDue.caseNumber == number)
        #expect(await eventually(30) { (try? await set.report().followupsDue) == 1 })
        // Now it is the clerk's to call.
        let dueNow = try await set.cli(["followups", "--due"])
        #expect(dueNow.status == 0 && dueNow.output.contains(number) && dueNow.output.contains("due")
                && dueNow.output.contains("1 follow-up(s) due"), "\(dueNow.output)")
        let badLimit = try await set.cli(["followups", "--limit", "0"])
        #expect(badLimit.status != 0 && badLimit.output.contains("--limit is 1 to 1,000"), "\(badLimit.output)")
    }

    @Test func pythonConsumerReadsTheStreams() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let acks = try await submitAll(set, 0..<25, prefix: "py")
        #expect(await eventually(30) { await set.status("handler")?.headSeq == 25 })

        let output = try await Threads.run(name: "python") { () -> (Int32, String) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3", LiaisonSet.repoRoot + "/docs/examples/consumer.py", "--topology", set.topologyPath,
                           "--stream", "handler-1", "--from", "5", "--count", "20", "--seconds", "30"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
        #expect(output.0 == 0, "python consumer failed: \(output.1)")
        let lines = output.1.split(separator: "\n")
        #expect(lines.count == 20)
        let seqs = lines.compactMap { line -> Int? in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Int(obj["seq"] as? String ?? "")
        }
        #expect(seqs == Array(6...25))
        #expect(lines.allSatisfy { $0.contains("case_opened") })
        #expect(Set(acks.map(\.caseNumber)).isSuperset(of: lines.compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                .flatMap { ($0["case_opened"] as? [String: Any])?["case_number"] as? String }
        }))
    }

    @Test func commandLineSubmitsTailsAndShowsStreams() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        func liaison(_ args: [String]) async throws -> (Int32, String) { try await set.cli(args) }
        let submit = try await liaison(["submit", "--kind", "complaint", "--channel", "walk_in", "--unit", "STN-EAST-01",
                                        "--officer", "PC-7", "--text", "Rude at the counter", "--submission-id", "cli-1", "--json"])
        #expect(submit.0 == 0, "\(submit.1)")
        #expect(submit.1.contains("\"case_number\":\"L1-0000001\""))
        // The same command again (a clerk retrying after a crash) is the same case, not a conflict.
        let retry = try await liaison(["submit", "--kind", "complaint", "--channel", "walk_in", "--unit", "STN-EAST-01",
                                       "--officer", "PC-7", "--text", "Rude at the counter", "--submission-id", "cli-1"])
        #expect(retry.0 == 0 && retry.1.contains("case L1-0000001") && retry.1.contains("(already submitted)"), "\(retry.1)")
        // The token is printed in groups of four, and the citizen's status check takes it so.
        let token = try #require(retry.1.firstMatch(of: /tracking token ([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})/)?.1, "\(retry.1)")
        let status = try await liaison(["status", "l1-0000001", "--token", String(token)])
        #expect(status.0 == 0 && status.1.contains("case L1-0000001:"), "\(status.1)")
        #expect(status.1.contains(": received") || status.1.contains(": being handled"), "\(status.1)")
        // As a citizen reads it out over the phone: after the case number, in lower case, in words.
        let spoken = token.lowercased().split(separator: "-").map(String.init)
        let byWords = try await liaison(["status", "L1-1"] + spoken)
        #expect(byWords.0 == 0 && byWords.1.contains("case L1-0000001:"), "\(byWords.1)")
        let noToken = try await liaison(["status", "L1-1"])
        #expect(noToken.0 != 0 && noToken.1.contains("tracking token is missing"), "\(noToken.1)")
        let twice = try await liaison(["status", "L1-1", String(token), "--token", String(token)])
        #expect(twice.0 != 0 && twice.1.contains("not both"), "\(twice.1)")
        let when = try await liaison(["submit", "--kind", "praise", "--text", "Helpful", "--unit", "STN-EAST-01",
                                      "--occurred-at", "yesterday"])
        #expect(when.0 != 0 && when.1.contains("--occurred-at"))
        let bad = try await liaison(["submit", "--kind", "rumour", "--text", "x", "--unit", "STN-EAST-01"])
        #expect(bad.0 != 0 && bad.1.contains("--kind"))
        // Blank or empty, the text is intake's to refuse, naming the field; only a missing --text is the command line's.
        for blank in [" ", ""] {
            let empty = try await liaison(["submit", "--kind", "praise", "--text", blank, "--unit", "STN-EAST-01"])
            #expect(empty.0 != 0 && empty.1.contains("submit_feedback.text") && !empty.1.contains("add --submission-id"), "\(empty.1)")
        }
        let noText = try await liaison(["submit", "--kind", "praise", "--unit", "STN-EAST-01"])
        #expect(noText.0 != 0 && noText.1.contains("--text (or --text-file) is required"), "\(noText.1)")

        #expect(await eventually(30) { await set.status("handler")?.headSeq == 1 })
        let tail = try await liaison(["events", "tail", "--stream", "handler-1", "--no-follow"])
        #expect(tail.0 == 0 && tail.1.split(separator: "\n").count == 1 && tail.1.contains("SUPERVISION"))
        let cases = try await liaison(["cases"])
        #expect(cases.1.contains("L1-0000001") && cases.1.contains("SUPERVISION"))
        #expect(try await eventually(30) {
            let s = try await liaison(["streams"])
            return s.1.contains("handler-1    intake-1     1        1     0")
        })
        // When it happened, if the citizen said.
        let dated = try await liaison(["submit", "--kind", "praise", "--text", "Helpful", "--unit", "STN-EAST-01",
                                       "--occurred-at", "2026-11-28T08:30:00+08:00", "--submission-id", "cli-dated"])
        #expect(dated.0 == 0 && dated.1.contains("case L1-0000002"), "\(dated.1)")
        // As a clerk types it, without a zone: the desk machine's local time (here Beijing time).
        let typed = try await set.cli(["submit", "--kind", "praise", "--text", "Helpful too", "--unit", "STN-EAST-01",
                                       "--occurred-at", "2026-11-28 08:30", "--submission-id", "cli-local"], environment: ["TZ": "Asia/Shanghai"])
        #expect(typed.0 == 0 && typed.1.contains("case L1-0000003"), "\(typed.1)")
        // The same caller again, about the same thing: its own case, and the clerk is told which it repeats.
        let caller = ["--kind", "complaint", "--unit", "STN-WEST-01", "--phone", "13900000042"]
        let firstCall = try await liaison(["submit"] + caller + ["--text", "The street lights on Bell Road are out again"])
        let secondCall = try await liaison(["submit"] + caller + ["--text", "The street lights on Bell Road are out again!"])
        let firstCase = try #require(firstCall.1.firstMatch(of: /case (L1-\d{7})/)?.1, "\(firstCall.1)")
        #expect(secondCall.0 == 0 && secondCall.1.contains("(near-duplicate of \(firstCase)"), "\(secondCall.1)")
        // A desk file's JSON output reports the link too.
        let thirdCall = set.dir + "/third-call.jsonl"
        try #"{"kind":"complaint","channel":"hotline","unit":"STN-WEST-01","phone":"13900000042","text":"The street lights on Bell Road are out again!!"}"#
            .write(toFile: thirdCall, atomically: true, encoding: .utf8)
        let linkedJSON = try await liaison(["submit", "--file", thirdCall, "--json"])
        #expect(linkedJSON.0 == 0 && linkedJSON.1.contains(#""linked_case_number":"\#(firstCase)""#), "\(linkedJSON.1)")
        let received = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback)
        let instants = ["cli-dated", "cli-local"].map { id in received.first { $0.submissionID == id }?.occurredAt.seconds }
        #expect(instants == [1_795_825_800, 1_795_825_800])   // 2026-11-28T00:30:00Z, both
        // A desk's batch file: each line's case number, a bad line named, and a second run changes nothing.
        let batch = set.dir + "/desk.jsonl"
        try """
            {"kind":"praise","channel":"hotline","text":"Thank you for the quick help","unit":"STN-WEST-01"}
            {"kind":"rumour","channel":"hotline","text":"?","unit":"STN-WEST-01"}
            {"kind":"inquiry","channel":"letter","text":"How do I renew my ID card?","address":"3 Bell Tower Rd"}
            """.write(toFile: batch, atomically: true, encoding: .utf8)
        let first = try await liaison(["submit", "--file", batch])
        #expect(first.0 == 1 && first.1.contains("line 1: case L1-") && first.1.contains("line 3: case L1-"))
        #expect(first.1.contains("line 2") && first.1.contains("rumour") && first.1.contains("2 of 3 submitted"))
        let again = try await liaison(["submit", "--file", batch])
        #expect(again.1.components(separatedBy: "(already submitted)").count == 3)
        // The next day's file of the same name is new work, not a conflict with yesterday's lines;
        // yesterday's line kept where it was is still known.
        try """
            {"kind":"complaint","channel":"hotline","text":"The officer at the desk was rude","unit":"STN-WEST-01"}
            {"kind":"rumour","channel":"hotline","text":"?","unit":"STN-WEST-01"}
            {"kind":"inquiry","channel":"letter","text":"How do I renew my ID card?","address":"3 Bell Tower Rd"}
            """.write(toFile: batch, atomically: true, encoding: .utf8)
        let nextDay = try await liaison(["submit", "--file", batch])
        #expect(nextDay.1.contains("line 1: case L1-") && !nextDay.1.contains("line 1: case L1-0000001") && !nextDay.1.contains("conflict"), "\(nextDay.1)")
        #expect(!nextDay.1.split(separator: "\n").contains { $0.hasPrefix("line 1:") && $0.contains("already submitted") }, "\(nextDay.1)")
        #expect(nextDay.1.split(separator: "\n").contains { $0.hasPrefix("line 3:") && $0.contains("already submitted") }, "\(nextDay.1)")
        // With --json every line is answered in JSON, a failed one too, with its error's stable code
        // and field: a script reading the output need not parse the text meant for people.
        let asJSON = try await liaison(["submit", "--file", batch, "--json"])
        let objects = asJSON.1.split(separator: "\n").filter { $0.hasPrefix("{") }
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(asJSON.0 == 1 && objects.map { $0["line"] as? Int } == [1, 2, 3], "\(asJSON.1)")
        let lineError = objects.count == 3 ? objects[1]["error"] as? [String: String] : nil
        #expect(lineError?["code"] == "invalid_argument" && lineError?["message"]?.contains("rumour") == true, "\(asJSON.1)")
        // A web tool's export, one JSON array printed over many lines: each object goes in (read
        // line by line, the lines with a trailing comma were refused and the last object sent), and
        // the same export sent again changes nothing.
        let export = set.dir + "/export.json"
        try """
            [
              {"kind": "praise", "channel": "web", "unit": "STN-WEST-01", "text": "The officer found my lost dog"},
              {"kind": "suggestion", "channel": "web", "address": "Bell Road", "text": "A crossing light near the school, please"}
            ]
            """.write(toFile: export, atomically: true, encoding: .utf8)
        let exported = try await liaison(["submit", "--file", export])
        #expect(exported.0 == 0 && exported.1.contains("is one JSON document, not JSON lines: its 2 object(s)")
                && exported.1.contains("line 1: case L1-") && exported.1.contains("line 2: case L1-") && exported.1.contains("2 of 2 submitted"), "\(exported.1)")
        let exportedAgain = try await liaison(["submit", "--file", export])
        #expect(exportedAgain.1.components(separatedBy: "(already submitted)").count == 3, "\(exportedAgain.1)")
        // A desk's spreadsheet saved as CSV, its first row naming the fields: each row goes in
        // (the unit tests read the rows: a landline keeps its leading 0), and once only.
        let sheet = set.dir + "/calls.csv"
        try "kind,channel,unit,text,phone\ncomplaint,hotline,STN-EAST-01,\"Loud music, again\",010 6552 1234\n"
            .write(toFile: sheet, atomically: true, encoding: .utf8)
        let fromSheet = try await liaison(["submit", "--file", sheet])
        #expect(fromSheet.0 == 0 && fromSheet.1.contains("is a CSV sheet with a header row (comma-separated), not JSON lines: its 1 row(s)")
                && fromSheet.1.contains("line 1: case L1-"), "\(fromSheet.1)")
        let sheetAgain = try await liaison(["submit", "--file", sheet])
        #expect(sheetAgain.1.contains("line 1: case L1-") && sheetAgain.1.contains("(already submitted)"), "\(sheetAgain.1)")
        let unknownUnit = try await liaison(["submit", "--kind", "praise", "--unit", "STN-MOON", "--text", "Thanks", "--json"])
        let refusal = unknownUnit.1.split(separator: "\n").first { $0.hasPrefix("{") }
            .flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: [String: String]] }
        #expect(unknownUnit.0 == 1 && refusal?["error"]?["field"] == "submit_feedback.unit"
                && refusal?["error"]?["message"]?.contains("nearest: STN-") == true, "\(unknownUnit.1)")

        // The operator sees each database's size and its WAL's, as the services report them.
        let intakeStatus = try #require(await set.status("intake"))
        let walOnDisk = (try FileManager.default.attributesOfItem(atPath: set.dir + "/data/intake-1.sqlite-wal")[.size] as? NSNumber)?.uint64Value
        #expect(intakeStatus.databaseBytes >= 4_096 && intakeStatus.walBytes > 0)
        #expect(intakeStatus.commitsLastMinute >= 3 && intakeStatus.commitMaxUsLastMinute >= intakeStatus.commitMeanUsLastMinute)
        #expect(intakeStatus.commitMeanUsLastMinute > 0)
        #expect(walOnDisk != nil && intakeStatus.walBytes <= walOnDisk! + 1_000_000)
        let sizes = try await liaison(["streams"])
        #expect(sizes.1.contains("DATABASE") && sizes.1.contains("WAL") && sizes.1.contains(" KiB"), "\(sizes.1)")
        #expect(sizes.1.contains("COMMITS/MIN") && (sizes.1.contains(" ms") || sizes.1.contains(" µs")), "\(sizes.1)")

        set.kill9("reporting")
        let streams = try await liaison(["streams"])
        #expect(streams.1.contains("DOWN"))

        // A letter typed up in a file: its text whole, but for the (Windows) line end it closes with.
        let letter = set.dir + "/letter.txt"
        try Data("Dear Sir,\r\nThe officer at the desk was kind.\r\n".utf8).write(to: URL(fileURLWithPath: letter))
        let typedUp = try await liaison(["submit", "--kind", "praise", "--channel", "letter", "--unit", "STN-EAST-01",
                                         "--text-file", letter, "--submission-id", "letter-1"])
        #expect(typedUp.0 == 0, "\(typedUp.1)")
        let letters = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback).filter { $0.submissionID == "letter-1" }
        #expect(letters.map(\.text) == ["Dear Sir,\r\nThe officer at the desk was kind."], "\(letters)")
        // The same letter saved by Notepad as "Unicode" (UTF-16 with its byte-order mark): the same text.
        let unicode = set.dir + "/letter-unicode.txt"
        try Data([0xFF, 0xFE] + Array("Dear Sir,\r\n警官很友善。\r\n".utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }).write(to: URL(fileURLWithPath: unicode))
        let notepad = try await liaison(["submit", "--kind", "praise", "--channel", "letter", "--unit", "STN-EAST-01",
                                         "--text-file", unicode, "--submission-id", "letter-2"])
        #expect(notepad.0 == 0, "\(notepad.1)")
        let fromNotepad = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback).filter { $0.submissionID == "letter-2" }
        #expect(fromNotepad.map(\.text) == ["Dear Sir,\r\n警官很友善。"], "\(fromNotepad)")
        let latin1 = set.dir + "/latin1.txt"
        try Data([0x63, 0x61, 0x66, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: latin1))
        let notUTF8 = try await liaison(["submit", "--kind", "praise", "--unit", "STN-EAST-01", "--text-file", latin1])
        #expect(notUTF8.0 != 0 && notUTF8.1.contains("--text-file \(latin1) is not UTF-8 text"), "\(notUTF8.1)")
        let both = try await liaison(["submit", "--kind", "praise", "--unit", "STN-EAST-01", "--text", "x", "--text-file", letter])
        #expect(both.0 != 0 && both.1.contains("--text and --text-file cannot go together"), "\(both.1)")
        // A tail read through `head`: once head has its line and goes, the tail ends quietly
        // (it crashed on the closed pipe before).
        let piped = try await LiaisonSet.runProgram("/bin/bash", ["-c",
            "'\(LiaisonSet.binDir)/liaison' events tail --stream intake-1 --topology '\(set.topologyPath)' | head -1; exit ${PIPESTATUS[0]}"])
        #expect(piped.status == 0 && piped.output.hasPrefix("{\"stream\":\"intake-1\"") && !piped.output.contains("Fatal error"), "\(piped.output.prefix(600))")
    }

    /// A disk nearly full is told before it fails every write: in the service's log and under
    /// `liaison streams`, with the free space each service reports. (The warning level stands in
    /// for a full disk: here it is set above the disk's whole size.)
    @Test func aNearlyFullDiskIsToldBeforeEveryWriteFails() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake", extra: ["--disk-free-warning-mib", "\(UInt64(1) << 40)"])
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])
        let warned = await eventually(20) { set.logs().contains("the disk of the database is nearly full") }
        #expect(warned, "\(set.logs())")
        let status = try #require(await set.status("intake"))
        let disk = try #require(DiskSpace.of(set.dir + "/data"))
        #expect(status.diskTotalBytes == disk.total && status.diskFreeBytes > 0 && status.diskFreeBytes <= disk.total)
        #expect(status.diskFreeWarningBytes == UInt64(1) << 60)
        #expect(await set.status("handler")?.diskFreeWarningBytes == 1 << 30)
        let streams = try await set.cli(["streams"])
        #expect(streams.output.contains("DISK FREE"), "\(streams.output)")
        #expect(streams.output.contains("intake-1: the disk of its database is nearly full"), "\(streams.output)")
        // The handler's level is the default; this disk has more than 1 GiB free, or it would be named too.
        if disk.free >= 1 << 30 { #expect(!streams.output.contains("handler-1: the disk")) }
        // Still serving: a warning, not a refusal.
        #expect(try await set.call("intake", .submitFeedback(submission(1))).feedbackAccepted.caseNumber.isEmpty == false)
    }

    /// Intake does not answer: the clerk is given the submission id the command chose, so that
    /// trying again cannot make a second case whatever happened.
    @Test func aSubmitWithoutAnswerNamesTheIdToRetryWith() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let args = ["submit", "--kind", "praise", "--unit", "STN-EAST-01", "--text", "Kind officer", "--timeout", "200", "--retries", "1"]
        let chosen = try await set.cli(args)
        #expect(chosen.status == 3, "\(chosen.output)")
        let id = try #require(chosen.output.firstMatch(of: /add --submission-id ([0-9a-f-]{36}) to the same command/)?.1, "\(chosen.output)")
        #expect(UUID(uuidString: String(id)) != nil)
        let given = try await set.cli(args + ["--submission-id", "desk7-0042"])
        #expect(given.output.contains("add --submission-id desk7-0042 to the same command"), "\(given.output)")
        // A refusal is certain: no such hint.
        let refused = try await set.cli(["submit", "--kind", "rumour", "--unit", "STN-EAST-01", "--text", "x"])
        #expect(refused.status != 0 && refused.output.contains("--kind") && !refused.output.contains("--submission-id"), "\(refused.output)")
        // The help does not print a random id as if it were the default to use.
        let help = try await set.cli(["submit", "--help"])
        #expect(help.output.contains("--submission-id") && help.output.firstMatch(of: /[0-9a-f]{8}-[0-9a-f]{4}-/) == nil, "\(help.output)")
        // A flag for one submission beside --file would be ignored: it is refused, named.
        let file = set.dir + "/desk.jsonl"
        try Data().write(to: URL(fileURLWithPath: file))
        let mixed = try await set.cli(["submit", "--file", file, "--kind", "praise", "--submission-id", "desk7-0042"])
        #expect(mixed.status == 64 && mixed.output.contains("--kind, --submission-id cannot go with --file"), "\(mixed.output)")
    }

    @Test func upSupervisesRestartsAndStopsTheSet() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let up = Process()
        up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
        up.arguments = ["up", "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "warning"]
        let log = Pipe()
        up.standardError = log
        try up.run()
        defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
        let ready = await eventually(30) {
            var all = true
            for s in Topology.serviceNames where await set.status(s) == nil { all = false }
            return all
        }
        #expect(ready)
        // Nobody reads the set's log from here on (a `| logger` that exited): what `up` and its
        // services write is lost, and they go on; `up` died of it at its next line before.
        try log.fileHandleForReading.close()
        let pid = try #require(await set.status("intake")?.pid)
        kill(pid_t(pid), SIGKILL)
        #expect(await eventually(30) { (await set.status("intake")?.pid).map { $0 != pid } ?? false }, "intake restarted")

        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(20) { !up.isRunning })
        #expect(up.terminationStatus == 0)
        for s in Topology.serviceNames { #expect(await set.status(s) == nil, "\(s) stopped") }
    }

    /// `up` starts its services as a shell would: no signal blocked and SIGTERM, SIGINT and SIGHUP
    /// at their defaults, though `up` itself takes all three (its handlers, unlike an ignored
    /// signal, end at exec; Foundation's `Process` clears the mask). So a service stopped before it
    /// has set up its own handlers stops at once, and `up` does not wait 10 s to kill it.
    /// Stand-ins in place of the services, which set up no handler, report what they started with.
    @Test func upStartsItsServicesWithTheirSignalsAsFromAShell() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let bin = set.dir + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for name in Topology.serviceNames {
            let script = "#!/bin/sh\ngrep -E '^Sig(Blk|Ign)' /proc/self/status > '\(set.dir)/\(name).signals'\n"
                + "while [ -d '\(bin)' ]; do sleep 0.1; done\n"
            let path = bin + "/liaison-" + name
            try Data(script.utf8).write(to: URL(fileURLWithPath: path))
            chmod(path, 0o755)
        }
        defer { try? FileManager.default.removeItem(atPath: bin) }   // a stand-in left behind ends
        let upLog = set.dir + "/up.log"
        _ = FileManager.default.createFile(atPath: upLog, contents: nil)
        let up = Process()
        up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
        up.arguments = ["up", "--bin-dir", bin, "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--hang-seconds", "0"]
        up.environment = LiaisonSet.childEnvironment([:])
        up.standardError = FileHandle(forWritingAtPath: upLog)
        try up.run()
        defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
        func reported(_ name: String) -> [String: UInt64]? {
            guard let text = try? String(contentsOfFile: "\(set.dir)/\(name).signals", encoding: .utf8) else { return nil }
            var masks: [String: UInt64] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: "\t")
                if parts.count == 2, let mask = UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) {
                    masks[String(parts[0].dropLast())] = mask
                }
            }
            return masks.count == 2 ? masks : nil
        }
        #expect(await eventually(20) { Topology.serviceNames.allSatisfy { reported($0) != nil } }, "\(set.logs())")
        let stopSignals: [(String, Int32)] = [("SIGTERM", SIGTERM), ("SIGINT", SIGINT), ("SIGHUP", SIGHUP)]
        for name in Topology.serviceNames {
            let masks = try #require(reported(name))
            for (what, mask) in [("blocked", masks["SigBlk"] ?? 0), ("ignored", masks["SigIgn"] ?? 0)] {
                for (signalName, number) in stopSignals {
                    #expect(mask & (1 << UInt64(number - 1)) == 0, "\(name) started with \(signalName) \(what) (mask \(String(mask, radix: 16)))")
                }
            }
        }
        // Stopped, the stand-ins end at once (SIGTERM at its default), and `up` with them.
        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(20) { !up.isRunning })
        let said = (try? String(contentsOfFile: upLog, encoding: .utf8)) ?? ""
        #expect(up.terminationStatus == 0 && said.contains("liaison up: stopped") && !said.contains("did not stop"), "\(said)")
    }

    /// A service that hangs (SIGSTOP: its request thread, like every other, stops) no longer pings
    /// `liaison up`, which kills it after --hang-seconds and starts it again; the others go on.
    @Test func upKillsAndRestartsAServiceThatHangs() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let upLog = set.dir + "/up.log"
        _ = FileManager.default.createFile(atPath: upLog, contents: nil)
        let up = Process()
        up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
        up.arguments = ["up", "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "warning", "--hang-seconds", "3"]
        up.standardError = FileHandle(forWritingAtPath: upLog)
        try up.run()
        defer { if up.isRunning { kill(up.processIdentifier, SIGKILL) } }
        func said() -> String { (try? String(contentsOfFile: upLog, encoding: .utf8)) ?? "" }
        #expect(await eventually(30) {
            var all = true
            for s in Topology.serviceNames where await set.status(s) == nil { all = false }
            return all
        })
        let handler = try #require(await set.status("handler")?.pid)
        let pid = try #require(await set.status("intake")?.pid)
        kill(pid_t(pid), SIGSTOP)
        defer { kill(pid_t(pid), SIGCONT) }   // should up not kill it, it can hear its SIGTERM (harmless to any other process)
        #expect(await eventually(20) { said().contains("intake-1 has not said it is alive for") }, "\(said())")
        #expect(await eventually(30) { (await set.status("intake")?.pid).map { $0 != pid } ?? false }, "intake restarted\n\(said())")
        #expect(await set.status("handler")?.pid == handler, "the others go on")
        // A service that pings is never taken for hung: the restarted intake stays.
        let restarted = try #require(await set.status("intake")?.pid)
        #expect(!(await eventually(5) { (await set.status("intake")?.pid).map { $0 != restarted } ?? true }), "\(said())")

        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(20) { !up.isRunning })
        #expect(up.terminationStatus == 0, "\(said())")
    }

    /// Nightly backups as the systemd timer takes them: each into a directory of its own named
    /// for its moment, the oldest complete ones beyond --keep deleted, never an incomplete one's
    /// count, never a directory that is not ours, and nothing deleted when the backup failed.
    @Test func scheduledBackupsKeepTheNewestCompleteOnes() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        _ = try await set.call("intake", .submitFeedback(submission(1)))
        let into = set.dir + "/backups"
        try FileManager.default.createDirectory(atPath: into + "/liaison-20200101-000000Z", withIntermediateDirectories: true)   // no marker
        try FileManager.default.createDirectory(atPath: into + "/keep-me", withIntermediateDirectories: true)
        func backup(_ dataDir: String) async throws -> (status: Int32, output: String) {
            try await set.cli(["backup", "--data-dir", dataDir, "--into", into, "--keep", "2"])
        }
        var made: [String] = []
        for _ in 0..<3 {
            let run = try await backup(set.dir + "/data")
            #expect(run.status == 0, "\(run.output)")
            made.append(try #require(run.output.firstMatch(of: /backup complete in (\S+)/)?.1).description)
        }
        #expect(made == made.sorted() && Set(made).count == 3, "\(made)")
        let left = try FileManager.default.contentsOfDirectory(atPath: into).sorted()
        #expect(left == ["keep-me", "liaison-20200101-000000Z"] + made.suffix(2).map { ($0 as NSString).lastPathComponent }, "\(left)")
        for dir in made.suffix(2) {
            #expect(FileManager.default.fileExists(atPath: dir + "/BACKUP-COMPLETE") && FileManager.default.fileExists(atPath: dir + "/intake-1.sqlite"))
        }
        // A backup that fails (here: no databases where it looks) deletes nothing and is not counted.
        try FileManager.default.createDirectory(atPath: set.dir + "/empty", withIntermediateDirectories: true)
        let failed = try await backup(set.dir + "/empty")
        #expect(failed.status == 1 && failed.output.contains("is incomplete") && !failed.output.contains("deleted the older backup"), "\(failed.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: into).filter { made.suffix(2).contains(into + "/" + $0) }.count == 2)
        // The options that do not go together say so.
        let both = try await set.cli(["backup", "--to", set.dir + "/x", "--into", into])
        #expect(both.status != 0 && both.output.contains("not both"), "\(both.output)")
        let keepAlone = try await set.cli(["backup", "--to", set.dir + "/x", "--keep", "3"])
        #expect(keepAlone.status != 0 && keepAlone.output.contains("--keep goes with --into"), "\(keepAlone.output)")
    }

    /// `liaison backup` copies every database of a running set, each as it stood at one moment,
    /// while submissions keep coming; `liaison restore` puts the copies in place once the set is
    /// stopped (a killed one too, whose write-ahead logs it moves aside), and the set started on
    /// them has every case acknowledged before the copy: a retry gets the same case number.
    @Test func aBackupTakenWhileTheSetRunsIsRestoredWithEveryAcknowledgedCase() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let before = try await submitAll(set, 0..<40, prefix: "bk")
        #expect(await eventually(30) { (await set.status("handler")?.headSeq ?? 0) >= 40 })
        // Submissions go on while the copy is taken.
        async let during = submitAll(set, 40..<140, prefix: "bk")
        let backup = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup"])
        _ = try await during
        #expect(backup.status == 0, "\(backup.output)")
        for stream in ["intake-1", "handler-1", "scheduler-1", "reporting-1"] { #expect(backup.output.contains(stream + " "), "\(backup.output)") }
        #expect(backup.output.contains("contact keys") && backup.output.contains("not in the backup"))
        // Into a directory that holds a backup already: refused, nothing overwritten.
        let again = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup"])
        #expect(again.status == 1 && again.output.contains("exists already"), "\(again.output)")
        // Restoring is refused while the set runs, and nothing is moved.
        let refused = try await set.cli(["restore", "--from", set.dir + "/backup", "--data-dir", set.dir + "/data"])
        #expect(refused.status == 1 && refused.output.contains("stop the set first") && refused.output.contains("nothing was restored"), "\(refused.output)")
        // Killed, the set leaves write-ahead logs beside its databases: applied to a restored
        // database they would tear it, so the restore moves them aside with the databases.
        for service in Topology.serviceNames { set.kill9(service) }
        #expect(await eventually(10) { await set.status("intake") == nil })
        #expect(FileManager.default.fileExists(atPath: set.dir + "/data/intake-1.sqlite-wal"))
        let restore = try await set.cli(["restore", "--from", set.dir + "/backup", "--data-dir", set.dir + "/data"])
        #expect(restore.status == 0 && restore.output.contains("intake-1: restored (the database it replaced is in"), "\(restore.output)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: set.dir + "/data").filter { $0.hasPrefix("replaced-") }
        #expect(aside.count == 1)
        #expect(!FileManager.default.fileExists(atPath: set.dir + "/data/intake-1.sqlite-wal"))
        let restored = set   // the same set, its data directory now the backup's
        try restored.startAll()
        try await restored.waitReady()
        // Intake is where the copy left it (submissions went on after it: the killed set had 140).
        let copiedHead = try #require(backup.output.split(separator: "\n").first { $0.hasPrefix("intake-1 ") }
            .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { UInt64($0) })
        #expect(copiedHead >= 40 && copiedHead <= 140)
        #expect(await restored.status("intake")?.headSeq == copiedHead)
        // No cursor is beyond what it follows (restore sets such a one back): intake, which
        // follows the handler, has applied no more than the handler's head.
        let intakeOnHandler = await restored.status("intake")?.consumers.first { $0.stream == "handler-1" }?.appliedSeq
        let handlerHead = await restored.status("handler")?.headSeq
        #expect(intakeOnHandler != nil && handlerHead != nil && intakeOnHandler! <= handlerHead!, "\(String(describing: intakeOnHandler)) > \(String(describing: handlerHead))")
        let retried = try await submitAll(restored, 0..<40, prefix: "bk")
        #expect(retried.map(\.caseNumber) == before.map(\.caseNumber) && retried.allSatisfy(\.duplicate))
        #expect(await eventually(30) { (await restored.status("handler")?.headSeq ?? 0) >= 40 })
        let cases = try await restored.call("handler", .getCase(.with { $0.caseNumber = before[39].caseNumber })).caseInfo
        #expect(cases.caseNumber == before[39].caseNumber)
        // New submissions after the restore each open their own case: the handler's copy was not
        // ahead of intake's (it would skip the sequence numbers intake gives out again).
        let after = try await submitAll(restored, 0..<5, prefix: "after-restore")
        #expect(Set(after.map(\.caseNumber)).isDisjoint(with: before.map(\.caseNumber)))
        for a in after {
            let kind = kinds[after.firstIndex(of: a)! % kinds.count]
            #expect(await eventually(20) {
                (try? await restored.call("handler", .getCase(.with { $0.caseNumber = a.caseNumber })).caseInfo.kind) == kind
            }, "\(a.caseNumber) was not opened")
        }
    }

    /// The on-call night of a damaged disk: intake refuses to start on a damaged database with a
    /// message naming the file and the restore; a backup of it fails naming the damage; the restore
    /// of the last backup brings back every case acknowledged before it.
    @Test func aDamagedDatabaseIsNamedAndTheRestoreBringsTheCasesBack() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let before = try await submitAll(set, 0..<10, prefix: "damaged")
        #expect(await eventually(30) { (await set.status("handler")?.headSeq ?? 0) >= 10 })
        let backup = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup"])
        #expect(backup.status == 0, "\(backup.output)")
        set.stopAll()
        // The disk returns garbage for the database and its write-ahead log (a log left by a stop
        // that did not finish would otherwise still hold the first page).
        let path = set.dir + "/data/intake-1.sqlite"
        for file in [path, path + "-wal"] {
            guard let f = FileHandle(forWritingAtPath: file) else { continue }
            let size = try f.seekToEnd()
            try f.seek(toOffset: 0)
            try f.write(contentsOf: Data(repeating: 0x5A, count: Int(size)))
            try f.close()
        }
        try? FileManager.default.removeItem(atPath: path + "-shm")

        let run = try await set.runWithin(30, "liaison-intake", ["--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--instance", "0"])
        #expect(run.ended && run.status != 0, "\(run.output)\n\(set.logs())")
        #expect(run.output.contains("the database \(path) is damaged") && run.output.contains("liaison restore --from"), "\(run.output)")
        let again = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup-2"])
        #expect(again.status != 0 && again.output.contains("\(path) is damaged"), "\(again.output)")

        let restore = try await set.cli(["restore", "--from", set.dir + "/backup", "--data-dir", set.dir + "/data"])
        #expect(restore.status == 0 && restore.output.contains("intake-1: restored (the database it replaced is in"), "\(restore.output)")
        try set.startAll()
        try await set.waitReady()
        let retried = try await submitAll(set, 0..<10, prefix: "damaged")
        #expect(retried.map(\.caseNumber) == before.map(\.caseNumber) && retried.allSatisfy(\.duplicate))
    }

    /// The backup's intake copy is taken after the handler's, so it may hold a response the
    /// handler's copy lacks. After the restore the citizen must not be shown what the office has no
    /// record of: intake makes that partition's statuses again from the handler's whole stream.
    @Test func aResponseTheRestoredHandlerLacksLeavesTheCitizensStatus() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let ack = try await set.call("intake", .submitFeedback(submission(1, prefix: "restored"))).feedbackAccepted
        func citizenSees() async throws -> Liaison_V1_FeedbackStatus {
            try await set.call("intake", .getFeedbackStatus(.with { $0.caseNumber = ack.caseNumber; $0.trackingToken = ack.trackingToken })).feedbackStatus
        }
        #expect(await eventually(20) { (try? await citizenSees())?.state == "being_handled" })
        let backupDir = set.dir + "/backup"
        let backup = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", backupDir])
        #expect(backup.status == 0, "\(backup.output)")
        // After the handler's copy: the office answers the citizen; intake shows it.
        for step in [["assign", "--officer", "PC-1001"], ["accept"], ["respond", "We will call you on Friday."]] {
            let r = try await set.cli(["case", step[0], ack.caseNumber] + step.dropFirst() + ["--actor", "desk-li"])
            #expect(r.status == 0, "\(r.output)")
        }
        #expect(await eventually(20) { (try? await citizenSees())?.publicNote == "We will call you on Friday." })
        // Intake's copy taken again now, as a backup running late on intake would have taken it.
        try FileManager.default.removeItem(atPath: backupDir + "/intake-1.sqlite")
        _ = try DatabaseBackup.copy(set.dir + "/data/intake-1.sqlite", to: backupDir + "/intake-1.sqlite")
        for service in Topology.serviceNames { set.kill9(service) }
        let restore = try await set.cli(["restore", "--from", backupDir, "--data-dir", set.dir + "/data"])
        #expect(restore.status == 0 && restore.output.contains("intake-1: its cursor on handler-1 set back"), "\(restore.output)")
        try set.startAll()
        try await set.waitReady()
        // The handler's copy has the case as it was opened; so does the citizen's status now.
        #expect(try await set.call("handler", .getCase(.with { $0.caseNumber = ack.caseNumber })).caseInfo.state == "triaged")
        let rebuilt = await eventually(20) {
            let seen = try? await citizenSees()
            return seen?.state == "being_handled" && seen?.publicNote == ""
        }
        let seenNow = try? await citizenSees()
        #expect(rebuilt, "\(String(describing: seenNow))\n\(set.logs())")
        #expect(set.logs().contains("after the restore, the citizens' statuses of handler-1's cases are made again from its whole stream"))
        // And the life cycle goes on from there: a response given now is shown.
        for step in [["assign", "--officer", "PC-1001"], ["accept"], ["respond", "We will call you on Monday."]] {
            let r = try await set.cli(["case", step[0], ack.caseNumber] + step.dropFirst() + ["--actor", "desk-li"])
            #expect(r.status == 0, "\(r.output)")
        }
        #expect(await eventually(20) { (try? await citizenSees())?.publicNote == "We will call you on Monday." })
    }

    /// `liaison streams --check` for monitoring: 0 and "all well" on a healthy set; 2 and a line for
    /// each problem (an instance down, a disk under its warning level).
    @Test func streamsCheckExitsTwoAndListsWhatNeedsTheOperator() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll(["reporting": ["--disk-free-warning-mib", "100000000"]])
        try await set.waitReady()
        let warned = await eventually(20) { (try? await set.cli(["streams", "--check"]))?.output.contains("reporting-1: the disk of its database has") == true }
        #expect(warned, "\(set.logs())")
        set.kill9("scheduler")
        #expect(await eventually(10) { await set.status("scheduler") == nil })
        let sick = try await set.cli(["streams", "--check", "--timeout", "500"])
        #expect(sick.status == 2, "\(sick.output)")
        #expect(sick.output.contains("PROBLEM: scheduler-1: DOWN (") && sick.output.contains("PROBLEM: reporting-1: the disk of its database has"), "\(sick.output)")
        // On a slow machine the check may come ten seconds after the kill: then the consumers of
        // scheduler-1 have also heard nothing from it for that long, a third problem of the same cause.
        let others = sick.output.split(separator: "\n").filter { $0.hasPrefix("PROBLEM: ") && !$0.contains("has heard nothing from scheduler-1") }
        #expect(others.count == 2, "\(sick.output)")
        try set.start("scheduler")
        set.terminate("reporting")
        try set.start("reporting")
        try await set.waitReady()
        let well = try await set.cli(["streams", "--check"])
        #expect(well.status == 0 && well.output.contains("CHECK: all well"), "\(well.output)")
        // With --json the statuses stay JSON and the check still decides the exit status.
        set.kill9("scheduler")
        #expect(await eventually(10) { await set.status("scheduler") == nil })
        let json = try await set.cli(["streams", "--check", "--json", "--timeout", "500"])
        #expect(json.status == 2 && json.output.contains("PROBLEM: scheduler-1: DOWN ("), "\(json.output)")
    }

    /// A hotline clerk takes a call with `liaison submit --ask`: each field asked in turn (a kind by
    /// its start, a unit by its name, a time the form cannot read asked again), the whole read back,
    /// and what intake refuses asked again with intake's reason, the badge it offers kept with
    /// Enter, the rest as typed, until the same submission goes in once.
    @Test func aHotlineClerkFillsTheFormAndMendsWhatIntakeRefuses() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let answers = [
            "comp", "",                                  // kind by its start; channel: hotline
            "Riverside", "",                             // a unit by a word of its name; no address
            "pc 1234", "",                               // a badge read out with a space; no category
            "yesterday", "2026-12-05 21:30",             // not a time: asked again
            "The officer at the desk shouted at me", "and would not take my report. Card 6222 0212 3456 7894. Call me on 138 1234 5678.", "",
            "n",                                         // the phone in the text (the card is not offered): left there
            "Li Wei", "555", "",                         // a phone too short
            "y",
            "",                                          // intake offers PC-1234: Enter keeps it
            "y",
            "",                                          // intake offers STN-EAST-01 for Riverside: Enter keeps it
            "y",
            "0755-8123 4567 ext 12",                     // the phone asked again
            "y",
        ]
        let answersPath = set.dir + "/answers.txt"
        try Data((answers.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: answersPath))
        let run = try await LiaisonSet.runProgram("/bin/bash", ["-c",
            "'\(LiaisonSet.binDir)/liaison' submit --ask --submission-id desk-form-1 --topology '\(set.topologyPath)' < '\(answersPath)'"])
        #expect(run.status == 0 && run.output.contains("case L1-0000001  tracking token "), "\(run.output)")
        #expect(run.output.contains("the time 'yesterday' is not a time like"), "\(run.output)")
        #expect(run.output.contains("intake refused it: 'pc 1234' is not a badge number") && run.output.contains("[PC-1234] (Enter keeps it"), "\(run.output)")
        #expect(run.output.contains("intake refused it: '555' is not a phone number"), "\(run.output)")
        #expect(run.output.contains("unit      Riverside") && run.output.contains("contact   Li Wei, 555"), "the whole read back: \(run.output)")
        #expect(run.output.contains("did you mean STN-EAST-01?") && run.output.contains("[STN-EAST-01] (Enter keeps it"), "\(run.output)")
        let stored = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback)
        #expect(stored.count == 1, "one submission, however many times it was sent")
        let f = try #require(stored.first)
        #expect(f.kind == .complaint && f.channel == .hotline && f.unit == "STN-EAST-01" && f.officerBadge == "PC-1234")
        // The number left in the text (not the caller's own) is taken out by intake all the same,
        // and the receipt says so.
        #expect(f.text == "The officer at the desk shouted at me\nand would not take my report. Card [card number: in the contact]. Call me on [phone: in the contact]."
                && f.submissionID == "desk-form-1", "\(f.text)")
        #expect(run.output.contains("the text holds a phone number, 138 1234 5678: the citizen's own, to call back on?"), "\(run.output)")
        #expect(!run.output.contains("6222 0212 3456 7894: the citizen's own"), "a card is no way to reach anybody: \(run.output)")
        #expect(run.output.contains("(2 phone, ID or card number(s) or e-mail address(es) in the text kept with the sealed contact)"), "\(run.output)")
        #expect(!f.hasContact, "the contact is sealed, never published")
        // Given up before sending (the input ends): nothing submitted, and said so.
        let partial = set.dir + "/partial.txt"
        try Data("praise\n\n".utf8).write(to: URL(fileURLWithPath: partial))
        let left = try await LiaisonSet.runProgram("/bin/bash", ["-c",
            "'\(LiaisonSet.binDir)/liaison' submit --ask --topology '\(set.topologyPath)' < '\(partial)'"])
        #expect(left.status != 0 && left.output.contains("nothing was submitted"), "\(left.output)")
        #expect(try await set.call("intake", .replay(.init())).replayBatch.events.count == 1)
    }

    /// The form sent while intake does not answer: the clerk is given one command holding what
    /// the form took, the same id included, and once intake is up it goes in, and again is the
    /// same case (a form filled in again could differ by a letter and be refused as a conflict).
    @Test func aFormIntakeDidNotAnswerIsGivenBackAsOneCommand() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let answers = ["tip", "walk", "", "Elm Road 12, by the school", "", "drugs", "", "Someone sells pills at the gate;",
                       "it's every night, \"around 9\". Write to tip.giver@example.org", "", "",   // moved to the contact
                       "", "", "", "y"]
        let answersPath = set.dir + "/answers.txt"
        try Data((answers.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: answersPath))
        let unanswered = try await LiaisonSet.runProgram("/bin/bash", ["-c",
            "'\(LiaisonSet.binDir)/liaison' submit --ask --timeout 300 --retries 2 --topology '\(set.topologyPath)' < '\(answersPath)'"])
        #expect(unanswered.status != 0 && unanswered.output.contains("Run this once intake answers"), "\(unanswered.output)")
        let command = try #require(unanswered.output.split(separator: "\n", omittingEmptySubsequences: false)
            .drop(while: { !$0.hasPrefix("  liaison submit ") }).prefix(2).joined(separator: "\n"), "\(unanswered.output)")
        #expect(command.contains("--channel walk_in") && command.contains("--address 'Elm Road 12, by the school'") && !command.contains("--name")
                && command.contains("--email tip.giver@example.org") && command.contains("Write to [e-mail: in the contact]'"), "\(command)")
        try set.start("intake")
        try await set.waitReady(["intake"])
        let script = "'\(LiaisonSet.binDir)/'" + command.trimmingCharacters(in: .whitespaces) + " --topology '\(set.topologyPath)'"
        let first = try await LiaisonSet.runProgram("/bin/bash", ["-c", script])
        #expect(first.status == 0 && first.output.hasPrefix("case L1-0000001 ") && !first.output.contains("already"), "\(script)\n\(first.output)")
        let again = try await LiaisonSet.runProgram("/bin/bash", ["-c", script])
        #expect(again.status == 0 && again.output.contains("case L1-0000001 ") && again.output.contains("(already submitted)"), "\(again.output)")
        let stored = try await set.call("intake", .replay(.init())).replayBatch.events.map(\.feedbackReceived.feedback)
        #expect(stored.map(\.text) == ["Someone sells pills at the gate;\nit's every night, \"around 9\". Write to [e-mail: in the contact]"]
                && stored.first?.channel == .walkIn, "\(stored)")
    }

    /// A client that sends every submission wrong (a web front after a deploy) shows in `liaison
    /// streams`: the refusals of the last minute against what was answered, and with `--check` a
    /// problem naming the latest refusal's code and field, never what was sent.
    @Test func aClientSendingEverySubmissionWrongIsAProblemForTheOperator() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        for n in 0..<25 {
            var wrong = submission(n, prefix: "web-front")
            wrong.unit = "stn_east_01"
            await #expect(throws: WireError.self) { _ = try await set.call("intake", .submitFeedback(wrong)) }
        }
        _ = try await set.call("intake", .submitFeedback(submission(1, prefix: "desk")))
        let st = try #require(await set.status("intake"))
        #expect(st.requestsRefused == 25 && st.refusedLastMinute == 25 && st.requestsLastMinute >= 26, "\(st)")
        #expect(st.lastRefusal == "invalid_argument submit_feedback.unit" && st.hasLastRefusalAt, "\(st.lastRefusal)")
        let check = try await set.cli(["streams", "--check", "--timeout", "500"])
        #expect(check.status == 2 && check.output.contains("PROBLEM: intake-1: refused 25 of the ")
                && check.output.contains("(the latest: invalid_argument submit_feedback.unit, ")
                && check.output.contains("is a client sending that field wrong"), "\(check.output)")
        #expect(!check.output.contains("stn_east_01"), "what was sent is never shown")
        #expect(check.output.split(separator: "\n").contains { $0.hasPrefix("intake-1 ") && $0.contains("25 of ") }, "\(check.output)")
        // Status lookups refused (a status page sending the token cut short): asked about them,
        // not about a client's submissions.
        for _ in 0..<30 {
            await #expect(throws: WireError.self) {
                _ = try await set.call("intake", .getFeedbackStatus(.with { $0.caseNumber = "L1-0000001"; $0.trackingToken = "ABCD-EFGH-JKLM" }))
            }
        }
        let lookups = try await set.cli(["streams", "--check", "--timeout", "500"])
        #expect(lookups.status == 2 && lookups.output.contains("(the latest: invalid_argument get_feedback_status.tracking_token, ")
                && lookups.output.contains("citizens mistyping case numbers or tracking tokens"), "\(lookups.output)")
    }

    /// A consumer whose cursor is beyond its upstream's head (databases from different moments)
    /// is shown as AHEAD in `liaison streams`, with a line saying what it means; before, its lag
    /// read 0.
    @Test func streamsShowsAConsumerAheadOfItsUpstream() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        _ = try await submitAll(set, 0..<3, prefix: "ahead")
        #expect(await eventually(20) { await set.status("intake")?.consumers.first { $0.stream == "handler-1" }?.appliedSeq == 3 })
        set.terminate("intake")
        try await DatabaseQueue(path: set.dir + "/data/intake-1.sqlite").write { db in
            try db.execute(sql: "UPDATE consumer_cursors SET applied_seq = 1000 WHERE stream = 'handler-1'")
        }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let streams = try await set.cli(["streams"])
        #expect(streams.output.contains("AHEAD 997"), "\(streams.output)")
        #expect(streams.output.contains("intake-1 has applied 1000 events of handler-1, whose head is 3"), "\(streams.output)")
        // The intake log says it too.
        #expect(await eventually(10) { set.logs().contains("upstream is behind what this consumer applied") }, "\(set.logs().suffix(2_000))")
    }

    /// The systemd units in deploy/ run each executable with options it has, and agree with each
    /// other: intake checks codes against the unit directory the handler routes by (it had none,
    /// so it checked against the demo city), both take the same operators' file, intake's contact
    /// keys live apart from the data, and a service that reloads on SIGHUP has `ExecReload`.
    @Test func shippedSystemdUnitsAgreeAndUseOptionsThatExist() async throws {
        let dir = LiaisonSet.repoRoot + "/deploy/systemd"
        let scratch = try LiaisonSet()   // only its directory, for the executables' output
        var environment: [String: [String: String]] = [:], options: [String: [String: String]] = [:], reloads: [String: Bool] = [:]
        for service in Topology.serviceNames {
            let text = try String(contentsOfFile: "\(dir)/liaison-\(service)@.service", encoding: .utf8)
            let lines = ConfigFiles.meaningful(text).map(\.text)
            environment[service] = Dictionary(lines.filter { $0.hasPrefix("Environment=") }.map {
                let kv = $0.dropFirst("Environment=".count).split(separator: "=", maxSplits: 1).map(String.init)
                return (kv[0], kv.count > 1 ? kv[1] : "")
            }, uniquingKeysWith: { _, last in last })
            let exec = try #require(lines.first { $0.hasPrefix("ExecStart=") }).dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
            #expect(exec[0] == "/usr/local/bin/liaison-\(service)")
            var given: [String: String] = [:]
            for (i, word) in exec.enumerated() where word.hasPrefix("--") { given[word] = i + 1 < exec.count && !exec[i + 1].hasPrefix("--") ? exec[i + 1] : "" }
            options[service] = given
            reloads[service] = lines.contains { $0.hasPrefix("ExecReload=") }
            #expect(lines.contains("LimitNOFILE=65536") && lines.contains("KillSignal=SIGTERM"), "\(service)")
            // Every option the unit gives is one the executable takes.
            let help = try await scratch.runWithin(20, "liaison-\(service)", ["--help"]).output
            for option in given.keys { #expect(help.contains(option + " "), "liaison-\(service) has no \(option)") }
        }
        let units = try #require(environment["intake"]?["LIAISON_UNITS"])
        #expect(!units.isEmpty && environment["handler"]?["LIAISON_UNITS"] == units)
        let secrets = try #require(options["intake"]?["--operator-secrets"])
        #expect(options["handler"]?["--operator-secrets"] == secrets)
        let keys = try #require(options["intake"]?["--contact-keys"])
        let data = try #require(environment["intake"]?["LIAISON_DATA_DIR"])
        #expect(!keys.hasPrefix(data))
        // Every service reloads on SIGHUP over CURVE (its allow-list); intake and the handler their files too.
        #expect(reloads == ["intake": true, "handler": true, "scheduler": true, "reporting": true])
        // The nightly backup copies the services' data directory with options `liaison backup` takes.
        let backup = ConfigFiles.meaningful(try String(contentsOfFile: "\(dir)/liaison-backup.service", encoding: .utf8)).map(\.text)
        let backupExec = try #require(backup.first { $0.hasPrefix("ExecStart=") }).dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
        #expect(Array(backupExec.prefix(2)) == ["/usr/local/bin/liaison", "backup"])
        let backupHelp = try await scratch.runWithin(20, "liaison", ["backup", "--help"]).output
        for word in backupExec where word.hasPrefix("--") { #expect(backupHelp.contains(word + " "), "liaison backup has no \(word)") }
        #expect(backupExec.firstIndex(of: "--data-dir").map { backupExec[$0 + 1] } == data)
        #expect(backup.contains("Environment=LIAISON_TOPOLOGY=\(environment["intake"]?["LIAISON_TOPOLOGY"] ?? "?")"))
        #expect(backup.contains("Type=oneshot"))
        let timer = ConfigFiles.meaningful(try String(contentsOfFile: "\(dir)/liaison-backup.timer", encoding: .utf8)).map(\.text)
        #expect(timer.contains { $0.hasPrefix("OnCalendar=") } && timer.contains("Persistent=true"))
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

    /// A closed terminal hangs up `liaison up`: the set stops in order. Before, `up` died at once
    /// and its children, each in a process group of its own (Foundation's `Process` puts them
    /// there), never heard of it and ran on unsupervised, holding the set's ports and databases.
    /// A set whose `up` is killed outright stops by itself too.
    @Test func aSetStopsWithItsUpWhenHungUpOrKilled() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let logPath = set.dir + "/up.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        /// `liaison up` in a process group of its own (as `Process` starts it, and as a shell in a
        /// terminal starts a job), so that the hang-up below goes to that group.
        func startUp() throws -> Process {
            let up = Process()
            up.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison")
            up.arguments = ["up", "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "info"]
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            log.seekToEndOfFile()
            up.standardError = log
            up.standardOutput = log
            try up.run()
            return up
        }
        func servicePids() async -> [pid_t]? {
            var pids: [pid_t] = []
            for s in Topology.serviceNames {
                guard let pid = await set.status(s)?.pid else { return nil }
                pids.append(pid_t(pid))
            }
            return pids
        }
        /// Gone: no such process, or one that has exited and waits to be reaped.
        func gone(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
        }

        let hungUp = try startUp()
        defer { if hungUp.isRunning { kill(-hungUp.processIdentifier, SIGKILL) } }
        var pids: [pid_t]?
        #expect(await eventually(30) { pids = await servicePids(); return pids != nil })
        let first = try #require(pids)
        kill(-hungUp.processIdentifier, SIGHUP)
        let stopped = await eventually(20) { !hungUp.isRunning }
        #expect(stopped, "liaison up did not stop on a hang-up")
        #expect(stopped && hungUp.terminationStatus == 0)
        #expect(await eventually(20) { first.allSatisfy(gone) }, "services left running: \(first.filter { !gone($0) })")
        let hangUpLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(hangUpLog.contains("liaison up: stopped"), "\(hangUpLog.suffix(2_000))")

        let killed = try startUp()
        defer { if killed.isRunning { kill(-killed.processIdentifier, SIGKILL) } }
        pids = nil
        #expect(await eventually(30) { pids = await servicePids(); return pids.map { Set($0).isDisjoint(with: first) } ?? false })
        let second = try #require(pids)
        kill(killed.processIdentifier, SIGKILL)
        #expect(await eventually(20) { second.allSatisfy(gone) }, "services outlived their liaison up: \(second.filter { !gone($0) })")
        let killLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(killLog.contains("liaison up (pid \(killed.processIdentifier)) is gone: stopping"), "\(killLog.suffix(2_000))")
        for pid in second where !gone(pid) { kill(pid, SIGKILL) }

        // `up` started by a supervisor of its own (a process manager; the test run itself) stops
        // the set once that supervisor is gone, however it went.
        let parent = Process()
        parent.executableURL = URL(fileURLWithPath: "/bin/sh")
        parent.arguments = ["-c", "LIAISON_SUPERVISOR_PID=$$ \"$0\" \"$@\" & wait", LiaisonSet.binDir + "/liaison",
                            "up", "--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--log-level", "info"]
        let parentLog = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        parentLog.seekToEndOfFile()
        parent.standardError = parentLog
        parent.standardOutput = parentLog
        try parent.run()
        defer { if parent.isRunning { kill(parent.processIdentifier, SIGKILL) } }
        pids = nil
        #expect(await eventually(30) { pids = await servicePids(); return pids.map { Set($0).isDisjoint(with: second) } ?? false })
        let third = try #require(pids)
        kill(parent.processIdentifier, SIGKILL)
        #expect(await eventually(20) { third.allSatisfy(gone) }, "services outlived the supervisor of their liaison up: \(third.filter { !gone($0) })")
        // `up` says why and that it stopped (after its services, so the line may come a moment later).
        let upStopped = await eventually(20) {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            return log.contains("the process that started liaison up (pid \(parent.processIdentifier)) is gone: stopping the set")
                && log.components(separatedBy: "liaison up: stopped").count - 1 == 2
        }
        #expect(upStopped, "\(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(2_000))")
        for pid in third where !gone(pid) { kill(pid, SIGKILL) }
    }

    /// `liaison up` names a TCP endpoint another program holds however the topology spells it:
    /// an address, a host name (`localhost`) or `*`. Before, only an IPv4 address or `*` was
    /// checked, and a host name was left to fail in the service's log.
    @Test func upNamesATCPPortInUseWhateverTheTopologyCallsTheHost() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let ctx = try Context()
        defer { ctx.terminate() }
        let holder = try Socket(context: ctx, type: .router, role: "another-program", linger: 0)
        defer { holder.close() }
        try holder.bind("tcp://127.0.0.1:*")
        let port = try #require(try holder.lastEndpoint.split(separator: ":").last.map(String.init))
        for host in ["localhost", "127.0.0.1", "*"] {
            var services = set.topology.services
            let intake = services["intake"]![0]
            services["intake"] = [.init(stream: intake.stream, requests: "tcp://\(host):\(port)", events: intake.events)]
            let path = set.dir + "/topology-\(host == "*" ? "any" : host).json"
            try Topology(services: services).write(to: path)
            let run = try await set.runWithin(20, "liaison", ["up", "--topology", path, "--data-dir", set.dir + "/data-\(host == "*" ? "any" : host)", "--log-level", "warning"])
            #expect(run.ended && run.status == 1, "\(host): \(run.output)")
            #expect(run.output.contains("intake-1: tcp://\(host):\(port) (requests) is in use by another program"), "\(host): \(run.output)")
            #expect(run.output.contains("nothing was started"), "\(run.output)")
        }
    }

    /// A second `liaison up` on the endpoints or the data directory of a running set starts
    /// nothing and names what is in use; before, its four services failed to bind (or to lock
    /// their databases) and it restarted them for as long as it ran.
    @Test func aSecondUpBesideARunningSetStartsNothingAndSaysWhy() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let pid = try #require(await set.status("intake")?.pid)

        func up(_ args: [String]) async throws -> (status: Int32, output: String) {
            let run = try await set.runWithin(20, "liaison", ["up", "--log-level", "warning"] + args)
            #expect(run.ended, "liaison up \(args) did not end on its own")
            return (run.status, run.output)
        }

        // The same endpoints, another data directory.
        let sameEndpoints = try await up(["--topology", set.topologyPath, "--data-dir", set.dir + "/other-data"])
        let intake = set.instance("intake")
        #expect(sameEndpoints.status == 1, "\(sameEndpoints.output)")
        #expect(sameEndpoints.output.contains("intake-1: \(intake.requests) (requests) and \(intake.events) (events) are in use by intake-1 of a running Liaison set (pid \(pid))"),
                "\(sameEndpoints.output)")
        #expect(sameEndpoints.output.contains("reporting-1: ") && sameEndpoints.output.contains("nothing was started"), "\(sameEndpoints.output)")

        // The same data directory, other endpoints.
        try FileManager.default.createDirectory(atPath: set.dir + "/o", withIntermediateDirectories: true)
        try Topology.ipc(in: set.dir + "/o").write(to: set.dir + "/o/topology.json")
        let sameData = try await up(["--topology", set.dir + "/o/topology.json", "--data-dir", set.dir + "/data"])
        #expect(sameData.status == 1, "\(sameData.output)")
        #expect(sameData.output.contains("intake-1: its database \(set.dir)/data/intake-1.sqlite is in use by pid \(pid)"), "\(sameData.output)")
        #expect(!sameData.output.contains("(requests)"), "\(sameData.output)")

        // A TCP port another program holds.
        let (listener, port) = try loopbackTCPSocket(listening: true)
        defer { close(listener) }
        var tcp = Topology.ipc(in: set.dir + "/t")
        tcp.services["intake"]![0].requests = "tcp://127.0.0.1:\(port)"
        try FileManager.default.createDirectory(atPath: set.dir + "/t", withIntermediateDirectories: true)
        try tcp.write(to: set.dir + "/t/topology.json")
        let taken = try await up(["--topology", set.dir + "/t/topology.json", "--data-dir", set.dir + "/t/data"])
        #expect(taken.status == 1 && taken.output.contains("intake-1: tcp://127.0.0.1:\(port) (requests) is in use by another program"), "\(taken.output)")
        #expect(!taken.output.contains("handler-1"), "\(taken.output)")

        // A lone service on the same endpoints is refused too: libzmq would have taken the ipc://
        // path from the running one (and the service removed the socket file before binding).
        let lone = try await set.runWithin(20, "liaison-intake", ["--topology", set.topologyPath, "--data-dir", set.dir + "/lone-data"])
        #expect(lone.ended && lone.status != 0 && lone.output.contains("zmq_bind(requests, \(intake.requests)): another process accepts connections there"),
                "\(lone.output)")

        // The running set was not disturbed.
        #expect(await set.status("intake")?.pid == pid)
        #expect(try await set.call("intake", .submitFeedback(submission(1, prefix: "second-up"))).feedbackAccepted.caseNumber.hasPrefix("L1-"))
    }
}

/// The deployment pieces a container or a Kubernetes pod needs from the executables.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ContainerReadinessTests {
    /// A free TCP port on this machine (bound, read, released).
    /// `--bind-all-interfaces` binds the topology's ports on every interface (reached on another
    /// loopback address than the one the topology names), and `liaison ping` is the health check:
    /// 0 when the instance answers, 3 when nothing does.
    @Test func anInstanceBoundOnEveryInterfaceAnswersItsHealthCheck() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let ports = try distinctLoopbackPorts(2)
        let (requests, events) = (ports[0], ports[1])
        var topo = set.topology
        topo.services["intake"]![0].requests = "tcp://127.0.0.1:\(requests)"
        topo.services["intake"]![0].events = "tcp://127.0.0.1:\(events)"
        try topo.write(to: set.topologyPath)
        var elsewhere = topo
        elsewhere.services["intake"]![0].requests = "tcp://127.0.0.2:\(requests)"
        try elsewhere.write(to: set.dir + "/elsewhere.json")

        let down = try await set.cli(["ping", "intake", "--timeout", "300"])
        #expect(down.status == 3 && down.output.contains("no reply from tcp://127.0.0.1:\(requests)"), "\(down.output)")
        try set.start("intake", extra: ["--bind-all-interfaces", "--log-level", "info"])
        #expect(await eventually(20) { (try? await set.cli(["ping", "intake", "--timeout", "500"]))?.status == 0 }, "\(set.logs())")
        let up = try await set.cli(["ping", "intake"])
        #expect(up.status == 0 && up.output.hasPrefix("intake-1 up: pid "), "\(up.output)")
        #expect(set.logs().contains("requests=tcp://*:\(requests)"), "\(set.logs())")
        // Plain ZMTP on every interface: the operator is told at start, with what to do.
        let log = try String(contentsOfFile: set.dir + "/intake-0.log", encoding: .utf8)
        #expect(log.contains("warning") && log.contains("serving plain ZMTP on tcp://*:\(requests), tcp://*:\(events), which other machines can reach")
                && log.contains("liaison keygen"), "\(log)")
        let other = try await Self.ping(set, topology: set.dir + "/elsewhere.json")
        #expect(other.status == 0 && other.output.hasPrefix("intake-1 up"), "not reached on 127.0.0.2: \(other.output)")
        let unknown = try await set.cli(["ping", "intake", "--instance", "3"])
        #expect(unknown.status == 1 && unknown.output.contains("services.intake[3]"), "\(unknown.output)")
    }

    /// deploy/'s container image, compose file and Kubernetes manifests pass their validators (the
    /// Compose specification, the Kubernetes API schemas, strictly) and agree with the package, the
    /// topologies and each other (scripts/check-deploy.py); the checks find the mistakes they are for.
    @Test func deployFilesPassTheirValidatorsAndCatchMistakes() async throws {
        func check(_ root: String) async throws -> (status: Int32, output: String) {
            try await LiaisonSet.runProgram("/usr/bin/env", ["python3", LiaisonSet.repoRoot + "/scripts/check-deploy.py", "--root", root])
        }
        let shipped = try await check(LiaisonSet.repoRoot)
        #expect(shipped.status == 0, "\(shipped.output)")
        #expect(shipped.output.contains("ok: deploy/container/compose.yaml: valid against the Compose specification"), "\(shipped.output)")
        #expect(shipped.output.contains("ok: deploy/kubernetes: 13 objects valid against Kubernetes 1.31.0 (strict)"), "\(shipped.output)")
        #expect(shipped.output.contains("ok: deploy/systemd: 7 units verified by systemd-analyze"), "\(shipped.output)")
        #expect(shipped.output.contains("ok: deploy/kubernetes (kubectl kustomize): 20 objects rendered"), "\(shipped.output)")
        #expect(shipped.output.contains("deploy: every check passed"), "\(shipped.output)")

        // A copy with one mistake of each kind.
        let set = try LiaisonSet()
        let copy = set.dir + "/repo"
        let fm = FileManager.default
        try fm.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try fm.copyItem(atPath: LiaisonSet.repoRoot + "/deploy", toPath: copy + "/deploy")
        try fm.copyItem(atPath: LiaisonSet.repoRoot + "/Package.swift", toPath: copy + "/Package.swift")
        for dir in ["Shared", "Services", "Benchmarks", "Tests"] { try fm.createDirectory(atPath: copy + "/" + dir, withIntermediateDirectories: true) }
        func edit(_ file: String, _ change: (String) -> String) throws {
            let path = copy + "/deploy/" + file
            try change(try String(contentsOfFile: path, encoding: .utf8)).write(toFile: path, atomically: true, encoding: .utf8)
        }
        try edit("kubernetes/handler.yaml") { $0.replacingOccurrences(of: "          image: liaison:latest", with: "          image: liaison:latest\n          imagePullPolicyy: Always") }
        try edit("container/compose.yaml") {
            $0.replacingOccurrences(of: "    command: [liaison-scheduler, --bind-all-interfaces, ", with: "    command: [liaison-scheduler, ")
                .replacingOccurrences(of: "\"reporting\", \"--timeout\", \"1000\", \"--curve-key-file\", \"/run/secrets/reporting-1.key\"]", with: "\"reporting\", \"--timeout\", \"1000\"]")
        }
        try edit("kubernetes/scheduler.yaml") { $0.replacingOccurrences(of: "secretName: liaison-scheduler-curve", with: "secretName: liaison-intake-curve") }
        try edit("systemd/liaison-scheduler@.service") { $0.replacingOccurrences(of: "TimeoutStopSec=15", with: "TimeoutStopSecc=15") }
        try edit("kubernetes/kustomization.yaml") { $0.replacingOccurrences(of: "      - curve/reporting-1.key\n", with: "      - curve/reporting-2.key\n") }
        try edit("kubernetes/intake.yaml") {
            $0 + "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: liaison-intake-all\n  namespace: liaison\nspec:\n  type: LoadBalancer\n  selector:\n"
                + "    app.kubernetes.io/name: liaison\n    app.kubernetes.io/component: intake\n  ports:\n    - name: requests\n      port: 7101\n"
        }
        try edit("container/topology.json") { $0.replacingOccurrences(of: "tcp://reporting:7401", with: "tcp://127.0.0.1:7401") }
        let broken = try await check(copy)
        #expect(broken.status == 1, "\(broken.output)")
        for problem in [
            "problem: deploy/kubernetes/handler.yaml StatefulSet/liaison-handler: spec.template.spec.containers.0: Additional properties are not allowed ('imagePullPolicyy' was unexpected)",
            "problem: deploy/container/compose.yaml: services.scheduler.command lacks --bind-all-interfaces",
            "problem: deploy/kubernetes Service/liaison-intake-all: balances over every intake pod",
            "problem: deploy/container/topology.json: services.reporting[0].requests names host 127.0.0.1; the others resolve this instance as reporting",
            "problem: deploy/container/compose.yaml: services.reporting.healthcheck must connect with the instance's key",
            "problem: deploy/kubernetes/scheduler.yaml: args must give --curve-key-dir, the mount of Secret liaison-scheduler-curve",
            "problem: deploy/kubernetes (kubectl kustomize): ",
            "curve/reporting-2.key",
            "problem: deploy/systemd: systemd-analyze verify: /etc/systemd/system/liaison-scheduler@.service:",
            "Unknown key 'TimeoutStopSecc' in section [Service]",
            "problem: deploy/kubernetes/kustomization.yaml: secretGenerator liaison-reporting-curve holds ['curve/reporting-2.key']; the topology's instances of reporting need ['curve/reporting-1.key']",
        ] {
            #expect(broken.output.contains(problem), "\(problem)\n\(broken.output)")
        }
        #expect(broken.output.contains("deploy: 9 problem(s)"), "\(broken.output)")
    }

    static func ping(_ set: LiaisonSet, topology: String) async throws -> (ended: Bool, status: Int32, output: String) {
        try await set.runWithin(20, "liaison", ["ping", "intake", "--topology", topology])
    }
}

/// A TCP socket bound to a free port of 127.0.0.1 (listening, if asked): its descriptor, which the
/// caller closes, and the port.
func loopbackTCPSocket(listening: Bool) throws -> (fd: Int32, port: UInt16) {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard s >= 0 else { throw SetupError("socket: \(String(cString: strerror(errno)))") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, length) == 0 && (!listening || listen(s, 4) == 0) && getsockname(s, $0, &length) == 0 }
    }
    guard ok else {
        close(s)
        throw SetupError("binding a loopback port: \(String(cString: strerror(errno)))")
    }
    return (s, UInt16(bigEndian: address.sin_port))
}

/// `count` loopback TCP ports free at once: each bound while the others are, so no two are the same
/// (one bound, closed and bound again can be handed out twice; it was, in CI).
func distinctLoopbackPorts(_ count: Int) throws -> [UInt16] {
    var held: [Int32] = []
    defer { held.forEach { close($0) } }
    var ports: [UInt16] = []
    for _ in 0..<count {
        let (fd, port) = try loopbackTCPSocket(listening: false)
        held.append(fd)
        ports.append(port)
    }
    return ports
}

/// This machine's hard limit on open files (what a service may raise its soft limit to).
let hardOpenFileLimit: UInt64 = {
    var limit = rlimit()
    return getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? UInt64(limit.rlim_max) : 0
}()
