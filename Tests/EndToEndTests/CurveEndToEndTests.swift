import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing
import ZeroMQ

/// The whole set over CURVE (DESIGN §5): every instance serves with a key pair of its own and
/// lets in only the keys of its allow-list, each as a role.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CurveEndToEndTests {
    @Test func overCurveEachClientMayDoWhatItsRoleAllowsAndAStrangerIsNotLetIn() async throws {
        let set = try LiaisonSet(curve: true)
        defer { set.stopAll() }
        let desk = try set.allowCurveClient(.submitter, try CurveKeyPair.generate(), name: "desk-3")
        let dashboard = try set.allowCurveClient(.consumer, try CurveKeyPair.generate(), name: "dashboard")
        let strangerKeys = try CurveKeyPair.generate()
        let stranger = set.dir + "/keys/stranger.key"
        try CurveKeyFile.text(strangerKeys, name: "stranger").write(toFile: stranger, atomically: true, encoding: .utf8)
        try set.startAll()
        try await set.waitReady()
        #expect(set.logs().contains("serving over CURVE"), "\(set.logs())")
        // With no operator secret the role table still keeps case commands to operator keys: the
        // handler says so, not that anyone may give them.
        #expect(set.logs().contains("case commands need a key its --curve-clients file lets in as operator"), "\(set.logs())")
        #expect(!set.logs().contains("anyone who reaches the handler may give case commands"))

        // The desk submits; the handler, a service over CURVE, opens the case from intake's stream.
        let submitted = try await set.cli(["submit", "--kind", "complaint", "--channel", "hotline", "--unit", "STN-EAST-01",
                                           "--text", "The officer at the desk would not take my report"],
                                          environment: ["LIAISON_CURVE_KEY_FILE": desk])
        #expect(submitted.status == 0 && submitted.output.hasPrefix("case L1-"), "\(submitted.output)")
        let caseNumber = String(submitted.output.dropFirst("case ".count).prefix { $0 != " " })
        #expect(await eventually(20) { (try? await set.call("handler", .getCase(.with { $0.caseNumber = caseNumber })))?.caseInfo.caseNumber == caseNumber },
                "the handler did not open \(caseNumber) over CURVE\n\(set.logs())")

        // Its role lets the desk submit and look up a status, not read the office's cases.
        let deskCases = try await set.cli(["cases"], environment: ["LIAISON_CURVE_KEY_FILE": desk])
        #expect(deskCases.status == 1 && deskCases.output.contains("unauthorized: this client's CURVE key is allowed as submitter, which may not send list_cases (submitter sends submit_feedback, submit_batch, get_feedback_status, get_status)"),
                "\(deskCases.output)")
        #expect(!deskCases.output.contains("operator secret"), "a role refusal is not about operator secrets: \(deskCases.output)")

        // A consumer replays a stream (and follows it), but submits nothing.
        let tail = try await set.cli(["events", "tail", "--stream", "intake-1", "--from", "0", "--no-follow"], environment: ["LIAISON_CURVE_KEY_FILE": dashboard])
        #expect(tail.status == 0 && tail.output.contains(caseNumber), "\(tail.output)")
        let dashboardSubmits = try await set.cli(["submit", "--kind", "praise", "--channel", "web", "--unit", "STN-EAST-01", "--text", "Thank you"],
                                                 environment: ["LIAISON_CURVE_KEY_FILE": dashboard])
        #expect(dashboardSubmits.status == 1 && dashboardSubmits.output.contains("allowed as consumer, which may not send submit_feedback"), "\(dashboardSubmits.output)")

        // A consumer hears the stream's heartbeat; a desk, which may not subscribe, hears nothing.
        func hearsHeartbeat(_ keyFile: String) async throws -> Bool {
            let listener = try StreamListener(set.instance("intake"), keyFile: keyFile)
            defer { listener.stop() }
            return await eventually(3) { listener.count > 0 }
        }
        #expect(try await hearsHeartbeat(dashboard))
        #expect(try await !hearsHeartbeat(desk), "a submitter's key subscribed to intake's stream")

        // A third-party consumer (pyzmq) reads the handler's stream over CURVE with a consumer key.
        let python = try await LiaisonSet.runProgram("/usr/bin/env", ["python3", LiaisonSet.repoRoot + "/docs/examples/consumer.py", "--topology", set.topologyPath,
                                                                      "--stream", "handler-1", "--from", "0", "--count", "1", "--seconds", "20", "--curve-key-file", dashboard])
        #expect(python.status == 0 && python.output.contains(caseNumber), "\(python.output)")

        // A key not in the allow-list is not let in: no answer, and the service names the key.
        let refused = try await set.cli(["ping", "intake", "--timeout", "700"], environment: ["LIAISON_CURVE_KEY_FILE": stranger])
        #expect(refused.status == 3 && refused.output.contains("serves over CURVE: is your key in its --curve-clients file?"), "\(refused.output)")
        #expect(await eventually(10) { set.logs().contains("CURVE client refused: its key is not in the --curve-clients file") && set.logs().contains(strangerKeys.publicKey) },
                "\(set.logs())")
        // Without a key pair, the client says what it needs before it sends anything.
        let keyless = try await set.cli(["ping", "intake"], environment: ["LIAISON_CURVE_KEY_FILE": ""])
        #expect(keyless.status == 1 && keyless.output.contains("serves over CURVE") && keyless.output.contains("liaison keygen"), "\(keyless.output)")
        // liaison streams says why it has no status: a key not let in, or no key given.
        let strangerStreams = try await set.cli(["streams", "--timeout", "500"], environment: ["LIAISON_CURVE_KEY_FILE": stranger])
        #expect(strangerStreams.output.contains("DOWN, OR YOUR CURVE KEY NOT ALLOWED"), "\(strangerStreams.output)")
        let keylessStreams = try await set.cli(["streams"], environment: ["LIAISON_CURVE_KEY_FILE": ""])
        #expect(keylessStreams.output.contains("CURVE: NO KEY GIVEN (--curve-key-file)"), "\(keylessStreams.output)")
        // The operator sees what the instances let in and what they refused (the stranger).
        let operatorStreams = try await set.cli(["streams"]).output
        let intakeLine = operatorStreams.split(separator: "\n").first { $0.hasPrefix("intake-1: CURVE, ") }.map(String.init) ?? ""
        let refusedCount = intakeLine.split(separator: ",").last.flatMap { Int($0.split(separator: " ").first ?? "") } ?? 0
        #expect(intakeLine.contains("key(s) let in (allow-list read ") && refusedCount >= 1, "\(operatorStreams)")
        // A plain ZMTP client (no CURVE at all) gets nothing.
        let plain = try await Threads.run(name: "plain") { () -> Bool in
            let ctx = try Context()
            defer { ctx.terminate() }
            let client = RequestClient(context: ctx, endpoint: set.instance("intake").requests, timeoutMs: 700, attempts: 1)
            defer { client.reset() }
            return (try? client.call(.getStatus(.init()))) != nil
        }
        #expect(!plain, "a plain client was answered by a CURVE service")
        // The services only ever answered what was let in: the desk's one case, nothing else stored.
        #expect(await set.status("intake")?.headSeq == 1)

        // The desk's key is taken out of the allow-list and intake told (SIGHUP): the connection it
        // already has is refused from then on, and a new one is not let in.
        let deskKeys = try CurveKeyFile.load(path: desk)
        let intake = set.instance("intake")
        let (before, after) = try await Threads.run(name: "desk") { () -> (Liaison_V1_Reply?, WireError?) in
            let ctx = try Context(curve: deskKeys)
            defer { ctx.terminate() }
            let client = RequestClient(context: ctx, endpoint: intake.requests, serverKey: intake.curvePublicKey, timeoutMs: 3_000, attempts: 1)
            defer { client.reset() }
            let before = try client.call(.submitFeedback(submission(1, prefix: "revoked")))
            let clients = set.dir + "/keys/clients"
            let kept = try String(contentsOfFile: clients, encoding: .utf8).split(separator: "\n").filter { !$0.contains(deskKeys.publicKey) }
            try (kept.joined(separator: "\n") + "\n").write(toFile: clients, atomically: true, encoding: .utf8)
            set.signal("intake", 0, SIGHUP)
            // Until the reload has happened the same submission is accepted (as a retry, after the first).
            var after: WireError?
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline && after == nil {
                do { _ = try client.call(.submitFeedback(submission(2, prefix: "revoked"))) } catch let e as WireError { after = e }
                if after == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            return (before, after)
        }
        #expect(before?.feedbackAccepted.caseNumber.hasPrefix("L1-") == true, "\(String(describing: before))")
        #expect(after?.code == .unauthorized && after?.message.contains("no longer in the service's --curve-clients file") == true,
                "\(String(describing: after))\n\(set.logs())")
        #expect(set.logs().contains("CURVE clients reloaded"))
        let deskAgain = try await set.cli(["ping", "intake", "--timeout", "700"], environment: ["LIAISON_CURVE_KEY_FILE": desk])
        #expect(deskAgain.status == 3, "\(deskAgain.output)")
    }

    /// ZAP lets a subscriber in at its handshake only: a consumer's key taken out of the allow-list
    /// (SIGHUP) would go on hearing the stream on the connection it had. Intake binds its events
    /// socket again on such a reload: the key still allowed connects again and hears what follows;
    /// the key taken out hears nothing more; and the handler, a consumer of intake's stream
    /// disconnected with everybody else, misses nothing (it replays what it did not hear live).
    @Test func aConsumerKeyTakenOutHearsTheStreamNoMore() async throws {
        let set = try LiaisonSet(curve: true)
        defer { set.stopAll() }
        let kept = try set.allowCurveClient(.consumer, try CurveKeyPair.generate(), name: "dashboard")
        let goneKeys = try CurveKeyPair.generate()
        let gone = try set.allowCurveClient(.consumer, goneKeys, name: "old-dashboard")
        try set.start("intake", extra: ["--log-level", "info"])
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])
        let keptListener = try StreamListener(set.instance("intake"), keyFile: kept)
        let goneListener = try StreamListener(set.instance("intake"), keyFile: gone)
        defer { keptListener.stop(); goneListener.stop() }
        #expect(await eventually(15) { keptListener.count > 0 && goneListener.count > 0 }, "both subscribers hear the stream (heartbeats) first")

        let clients = set.dir + "/keys/clients"
        let lines = try String(contentsOfFile: clients, encoding: .utf8).split(separator: "\n").filter { !$0.contains(goneKeys.publicKey) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: clients, atomically: true, encoding: .utf8)
        set.signal("intake", 0, SIGHUP)
        #expect(await eventually(10) { set.logs().contains("events socket bound again") }, "\(set.logs())")

        // Submissions until the kept key, connected again, has heard two of them: by then the key
        // taken out would have heard the first of those two as well, had it still been connected.
        var numbers: [String] = []
        var heard = 0
        let both = await eventually(30) {
            guard let reply = try? await set.call("intake", .submitFeedback(submission(numbers.count + 1, prefix: "revoked-sub"))) else { return false }
            let number = reply.feedbackAccepted.caseNumber
            numbers.append(number)
            if await eventually(1, { keptListener.heard(number) }) { heard += 1 }
            return heard >= 2
        }
        #expect(both, "the key still allowed did not hear the stream again: \(numbers)\n\(set.logs())")
        #expect(!numbers.contains { goneListener.heard($0) }, "the key taken out still heard the stream")
        // The handler opened a case for every submission, those published while it reconnected too.
        for number in numbers {
            #expect(await eventually(20) { (try? await set.call("handler", .getCase(.with { $0.caseNumber = number })))?.caseInfo.caseNumber == number },
                    "the handler has no case \(number)\n\(set.logs())")
        }
    }

    /// Over CURVE a key the allow-list lets in as an operator stands in for the operator secret
    /// (issue 3: the secret "replaced by CURVE keys when transport authentication lands"): the
    /// console reads a contact and gives a case command without a secret, each recorded as the
    /// key's; a secret given beside it must still be valid; a desk's key reads no contact.
    @Test func anOperatorsCurveKeyStandsInForTheOperatorSecret() async throws {
        let set = try LiaisonSet(curve: true)
        defer { set.stopAll() }
        let secrets = set.dir + "/operator-secrets"
        try "wang.li \(UUID().uuidString)\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        let console = try set.allowCurveClient(.operator, try CurveKeyPair.generate(), name: "console")
        let desk = try set.allowCurveClient(.submitter, try CurveKeyPair.generate(), name: "desk-3")
        try set.start("intake", extra: ["--operator-secrets", secrets])
        try set.start("handler", extra: ["--operator-secrets", secrets])
        try await set.waitReady(["intake", "handler"])
        let asConsole = ["LIAISON_CURVE_KEY_FILE": console, "LIAISON_ACTOR": "duty-officer"]

        let submitted = try await set.cli(["submit", "--kind", "complaint", "--channel", "hotline", "--unit", "STN-EAST-01",
                                           "--text", "Nobody called me back", "--name", "Li Wei", "--phone", "13800000077"],
                                          environment: ["LIAISON_CURVE_KEY_FILE": desk])
        #expect(submitted.status == 0, "\(submitted.output)")
        let number = String(submitted.output.dropFirst("case ".count).prefix { $0 != " " })

        let read = try await set.cli(["contact", number, "--reason", "follow-up call"], environment: asConsole)
        #expect(read.status == 0 && read.output.contains("13800000077"), "\(read.output)")
        let listed = try await set.cli(["disclosures", "--case", number], environment: asConsole)
        #expect(listed.status == 0 && listed.output.contains("duty-officer (key of console)"), "\(listed.output)")
        let byKey = try await set.cli(["disclosures", "--actor", "console"], environment: asConsole)
        #expect(byKey.output.contains(number), "--actor names the key too: \(byKey.output)")
        let badSecret = set.dir + "/bad-secret"
        try "not-the-secret-at-all-0123456789\n".write(toFile: badSecret, atomically: true, encoding: .utf8)
        let wrong = try await set.cli(["contact", number, "--reason", "follow-up call", "--credential-file", badSecret], environment: asConsole)
        #expect(wrong.status == 1 && wrong.output.contains("is not accepted") && !wrong.output.contains("13800000077"), "\(wrong.output)")
        let deskReads = try await set.cli(["contact", number, "--reason", "curious"], environment: ["LIAISON_CURVE_KEY_FILE": desk])
        #expect(deskReads.status == 1 && deskReads.output.contains("allowed as submitter, which may not send get_contact"), "\(deskReads.output)")

        #expect(await eventually(20) { (try? await set.cli(["case", "show", number], environment: asConsole))?.output.contains(number) == true })
        let assigned = try await set.cli(["case", "assign", number, "--officer", "PC-1001"], environment: asConsole)
        #expect(assigned.status == 0, "\(assigned.output)")
        let shown = try await set.cli(["case", "show", number], environment: asConsole)
        #expect(shown.output.contains("duty-officer (key of console)"), "\(shown.output)")
    }

    /// `liaison keygen` writes a key pair only its owner reads, that the services accept, and never
    /// overwrites one.
    @Test func keygenWritesAKeyPairOnlyItsOwnerReadsAndNeverOverwritesOne() async throws {
        let set = try LiaisonSet()
        let path = set.dir + "/desk-3.key"
        let made = try await LiaisonSet.runProgram(LiaisonSet.binDir + "/liaison", ["keygen", "--out", path, "--name", "desk-3"])
        let keys = try CurveKeyFile.load(path: path)
        #expect(made.status == 0 && made.output.contains("public key \(keys.publicKey)") && made.output.contains("ROLE \(keys.publicKey) desk-3"), "\(made.output)")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try await LiaisonSet.runProgram(LiaisonSet.binDir + "/liaison", ["keygen", "--out", path])
        #expect(again.status != 0 && again.output.contains("exists already"), "\(again.output)")
        #expect(try CurveKeyFile.load(path: path) == keys, "the key pair was overwritten")
    }

    /// `liaison keygen --topology --into` turns a whole topology to CURVE: a key pair per instance,
    /// the topology with their public keys and an allow-list of the set's instances, which work as
    /// they are (a desk submits, the handler opens the case over CURVE, an operator reads it).
    @Test func keygenForATopologyMakesEverythingASetNeedsForCurve() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let liaison = LiaisonSet.binDir + "/liaison"
        let keys = set.dir + "/curve"
        for (bad, why) in [("--client=desk", "expected ROLE:NAME"), ("--client=clerk:desk", "expected ROLE:NAME"),
                           ("--client=submitter:../desk", "makes a file name"), ("--client=service:intake-1", "is an instance of the topology")] {
            let refused = try await LiaisonSet.runProgram(liaison, ["keygen", "--topology", set.topologyPath, "--into", keys, bad])
            #expect(refused.status != 0 && refused.output.contains(why), "\(bad): \(refused.output)")
        }
        #expect(!FileManager.default.fileExists(atPath: keys + "/intake-1.key"), "a refused keygen wrote keys")
        // The set's keys, and a desk and an operator of the office's own.
        let made = try await LiaisonSet.runProgram(liaison, ["keygen", "--topology", set.topologyPath, "--into", keys,
                                                             "--client", "submitter:desk", "--client", "operator:office"])
        #expect(made.status == 0 && made.output.contains("intake-1: \(keys)/intake-1.key") && made.output.contains("office (operator): \(keys)/office.key"), "\(made.output)")
        let topology = try Topology.load(path: keys + "/topology.json")
        for stream in ["intake-1", "handler-1", "scheduler-1", "reporting-1"] {
            let pair = try CurveKeyFile.load(path: keys + "/\(stream).key")
            #expect(topology.services.values.flatMap { $0 }.first { $0.stream == stream }?.curvePublicKey == pair.publicKey)
            #expect((try FileManager.default.attributesOfItem(atPath: keys + "/\(stream).key")[.posixPermissions] as? Int) == 0o600)
        }
        let again = try await LiaisonSet.runProgram(liaison, ["keygen", "--topology", set.topologyPath, "--into", keys])
        #expect(again.status != 0 && again.output.contains("exists already"), "\(again.output)")
        let desk = try CurveKeyFile.load(path: keys + "/desk.key"), office = try CurveKeyFile.load(path: keys + "/office.key")
        let allowList = try String(contentsOfFile: keys + "/curve-clients", encoding: .utf8)
        #expect(allowList.contains("submitter \(desk.publicKey) desk\n") && allowList.contains("operator \(office.publicKey) office\n"), "\(allowList)")
        #expect((try FileManager.default.attributesOfItem(atPath: keys + "/desk.key")[.posixPermissions] as? Int) == 0o600)
        // Intake by its key file, the handler by the directory of the set's keys.
        try set.start("intake", extra: ["--topology", keys + "/topology.json", "--curve-key-file", keys + "/intake-1.key", "--curve-clients", keys + "/curve-clients"])
        try set.start("handler", extra: ["--topology", keys + "/topology.json", "--curve-key-dir", keys, "--curve-clients", keys + "/curve-clients"])
        let over = ["--topology", keys + "/topology.json", "--curve-key-file"]
        /// A desk's submission with `key`, tried until the set answers it (20 s at most).
        func submits(_ id: String, key: String) async -> (status: Int32, output: String) {
            var last: (status: Int32, output: String) = (1, "")
            _ = await eventually(20) {
                last = (try? await LiaisonSet.runProgram(liaison, ["submit", "--kind", "inquiry", "--channel", "web", "--unit", "STN-EAST-01",
                                                                   "--text", "When is the open week?", "--submission-id", id, "--timeout", "1000", "--retries", "1"]
                                                                  + over + [key])) ?? (1, "")
                return last.status == 0
            }
            return last
        }
        let submitted = await submits("curve-set-1", key: keys + "/desk.key")
        #expect(submitted.status == 0, "\(submitted.output)\n\(set.logs())")
        let number = String(submitted.output.dropFirst("case ".count).prefix { $0 != " " })
        #expect(await eventually(20) {
            (try? await LiaisonSet.runProgram(liaison, ["case", "show", number] + over + [keys + "/office.key"]))?.output.contains(number) == true
        }, "\(set.logs())")

        // A desk added later: its key pair and its line in the allow-list, which intake reads again.
        let added = try await LiaisonSet.runProgram(liaison, ["keygen", "--into", keys, "--client", "submitter:desk-2"])
        #expect(added.status == 0 && added.output.contains("desk-2 (submitter): \(keys)/desk-2.key"), "\(added.output)")
        let desk2 = try CurveKeyFile.load(path: keys + "/desk-2.key")
        #expect(try String(contentsOfFile: keys + "/curve-clients", encoding: .utf8).hasSuffix("submitter \(desk2.publicKey) desk-2\n"))
        let twice = try await LiaisonSet.runProgram(liaison, ["keygen", "--into", keys, "--client", "submitter:desk-2"])
        #expect(twice.status != 0 && twice.output.contains("lets desk-2 in already"), "\(twice.output)")
        let withOut = try await LiaisonSet.runProgram(liaison, ["keygen", "--out", set.dir + "/x.key", "--client", "submitter:x"])
        #expect(withOut.status != 0 && withOut.output.contains("--client goes with --into"), "\(withOut.output)")
        // No SIGHUP: intake sees its allow-list file change (it looks every two seconds).
        let byDesk2 = await submits("curve-set-2", key: keys + "/desk-2.key")
        #expect(byDesk2.status == 0, "\(byDesk2.output)\n\(set.logs())")
    }

    /// `liaison up --curve-keys DIR` runs the whole set over CURVE with the keys keygen made there.
    @Test func upRunsTheSetOverCurveWithTheKeysKeygenMade() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let liaison = LiaisonSet.binDir + "/liaison"
        let keys = set.dir + "/curve"
        #expect(try await LiaisonSet.runProgram(liaison, ["keygen", "--topology", set.topologyPath, "--into", keys, "--client", "operator:office"]).status == 0)
        let up = Process()
        up.executableURL = URL(fileURLWithPath: liaison)
        up.arguments = ["up", "--curve-keys", keys, "--data-dir", set.dir + "/data", "--log-level", "warning"]
        up.environment = LiaisonSet.childEnvironment([:])
        up.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try up.run()
        defer { if up.isRunning { kill(up.processIdentifier, SIGTERM); up.waitUntilExit() } }
        let over = ["--topology", keys + "/topology.json", "--curve-key-file", keys + "/office.key"]
        for service in Topology.serviceNames {
            #expect(await eventually(30) { (try? await LiaisonSet.runProgram(liaison, ["ping", service, "--timeout", "500"] + over))?.status == 0 }, "\(service) over CURVE")
        }
        let plain = try await LiaisonSet.runProgram(liaison, ["ping", "intake", "--timeout", "500", "--topology", set.topologyPath])
        #expect(plain.status == 3, "the set answered a plain client on the plain topology: \(plain.output)")
        let submitted = try await LiaisonSet.runProgram(liaison, ["submit", "--kind", "praise", "--channel", "web", "--unit", "STN-EAST-01", "--text", "Thank you"] + over)
        #expect(submitted.status == 0 && submitted.output.hasPrefix("case L1-"), "\(submitted.output)")
        kill(up.processIdentifier, SIGTERM)
        #expect(await eventually(20) { !up.isRunning })
    }

    /// A service whose topology entry has a CURVE key does not start without its key pair or
    /// allow-list, or with another instance's key pair.
    @Test func aCurveInstanceRefusesToStartWithoutItsKeys() async throws {
        let set = try LiaisonSet(curve: true)
        defer { set.stopAll() }
        let base = ["--topology", set.topologyPath, "--data-dir", set.dir + "/data"]
        let noKey = try await set.runWithin(20, "liaison-intake", base)
        #expect(noKey.ended && noKey.status != 0 && noKey.output.contains("services.intake[0].curve_public_key") && noKey.output.contains("--curve-key-file"), "\(noKey.output)")
        let otherKey = try await set.runWithin(20, "liaison-intake", base + ["--curve-key-file", set.dir + "/keys/handler-1.key", "--curve-clients", set.dir + "/keys/clients"])
        #expect(otherKey.ended && otherKey.status != 0 && otherKey.output.contains("the file is not intake-1's"), "\(otherKey.output)")
        let noClients = try await set.runWithin(20, "liaison-intake", base + ["--curve-key-file", set.dir + "/keys/intake-1.key"])
        #expect(noClients.ended && noClients.status != 0 && noClients.output.contains("--curve-clients"), "\(noClients.output)")
    }
}

/// A subscriber to an instance's events over CURVE, on a thread of its own, keeping what it hears
/// (each message's frames as text) until ``stop()``.
final class StreamListener: @unchecked Sendable {
    private let heardLock = NSLock()
    private var messages: [String] = []
    private let stopFlag = StopFlag()
    private let finished = DispatchSemaphore(value: 0)

    init(_ instance: Topology.Instance, keyFile: String) throws {
        let keys = try CurveKeyFile.load(path: keyFile)
        let thread = Thread { [self] in
            defer { finished.signal() }
            do {
                let ctx = try Context(curve: keys)
                defer { ctx.terminate() }
                let sub = try Socket(context: ctx, type: .sub, role: "events-in", linger: 0)
                defer { sub.close() }
                try sub.subscribe("")
                try sub.secure(context: ctx, serverKey: instance.curvePublicKey, endpoint: instance.events)
                try sub.connect(instance.events)
                while !stopFlag.isSet {
                    guard try sub.waitReadable(timeout: 100), let frames = try sub.receiveMultipart(dontWait: true) else { continue }
                    let text = frames.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
                    heardLock.withLock { messages.append(text) }
                }
            } catch {
                heardLock.withLock { messages.append("error: \(error)") }
            }
        }
        thread.start()
    }

    /// How many messages it heard (heartbeats included).
    var count: Int { heardLock.withLock { messages.count } }

    /// Whether it heard an event naming `text` (a case number).
    func heard(_ text: String) -> Bool { heardLock.withLock { messages.contains { $0.contains(text) } } }

    func stop() {
        stopFlag.set()
        finished.wait()
    }
}
