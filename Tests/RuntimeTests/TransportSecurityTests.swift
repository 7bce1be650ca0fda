import Foundation
import LiaisonCodec
import Logging
import Testing
import ZeroMQ
@testable import LiaisonRuntime

/// CURVE transport security without sockets: the allow-list, key files, roles, the ZAP answers,
/// and what a service's options accept.
@Suite struct TransportSecurityTests {
    @Test func theAllowListNamesTheLineAtFault() throws {
        let a = try CurveKeyPair.generate(), b = try CurveKeyPair.generate()
        let clients = try CurveClients.parse("# who may connect\nsubmitter \(a.publicKey) desk-3\n\noperator \(b.publicKey)\n", source: "clients")
        #expect(clients.byKey[a.publicKey] == .init(role: .submitter, publicKey: a.publicKey, name: "desk-3"))
        #expect(clients.byKey[b.publicKey]?.role == .operator)
        #expect { try CurveClients.parse("admin \(a.publicKey)", source: "clients") } throws: { "\($0)".contains("clients line 1: role 'admin' is not one of submitter, operator, consumer, service") }
        #expect { try CurveClients.parse("submitter not-a-key", source: "clients") } throws: { "\($0)".contains("clients line 1: 'not-a-key' is not a CURVE public key") }
        #expect { try CurveClients.parse("submitter \(a.publicKey)\nservice \(a.publicKey)", source: "clients") } throws: { "\($0)".contains("clients line 2: the key is already on line 1") }
        #expect { try CurveClients.parse("submitter", source: "clients") } throws: { "\($0)".contains("expected 'ROLE PUBLIC-KEY [NAME]'") }
    }

    @Test func aKeyFileHoldsAConsistentPair() throws {
        let keys = try CurveKeyPair.generate()
        #expect(keys.isConsistent && keys.publicKey.utf8.count == 40)
        #expect(try CurveKeyFile.parse(CurveKeyFile.text(keys, name: "intake-1"), source: "k") == keys)
        let other = try CurveKeyPair.generate()
        #expect { try CurveKeyFile.parse("public \(other.publicKey)\nsecret \(keys.secretKey)\n", source: "k") } throws: { "\($0)".contains("the public key is not the secret key's") }
        #expect { try CurveKeyFile.parse("public \(keys.publicKey)\n", source: "k") } throws: { "\($0)".contains("needs a 'public' and a 'secret' line") }
        #expect(try CurveKeyFile.resolve(path: nil, environment: [:]) == nil)
        #expect(Curve.encode(Curve.decode(keys.publicKey)!) == keys.publicKey)
    }

    @Test func eachRoleMayMakeItsRequestsOnly() {
        let submit = Liaison_V1_Request.OneOf_Body.submitFeedback(.init())
        let batch = Liaison_V1_Request.OneOf_Body.submitBatch(.init())
        let status = Liaison_V1_Request.OneOf_Body.getFeedbackStatus(.init())
        let replay = Liaison_V1_Request.OneOf_Body.replay(.init())
        let contact = Liaison_V1_Request.OneOf_Body.getContact(.init())
        let command = Liaison_V1_Request.OneOf_Body.caseCommand(.init())
        let report = Liaison_V1_Request.OneOf_Body.getReport(.init())
        let serviceStatus = Liaison_V1_Request.OneOf_Body.getStatus(.init())
        let table: [(CurveRole, [Liaison_V1_Request.OneOf_Body])] = [
            (.submitter, [submit, batch, status, serviceStatus]),
            (.consumer, [replay, report, serviceStatus]),
            (.service, [replay, serviceStatus]),
            (.operator, [submit, batch, status, replay, contact, command, report, serviceStatus]),
        ]
        for (role, allowed) in table {
            for body in [submit, batch, status, replay, contact, command, report, serviceStatus] {
                let expected = allowed.contains { "\($0)" == "\(body)" }
                #expect(role.permits(body) == expected, "\(role) \(CurveRole.kind(body))")
            }
        }
        // What a refusal says a role may send is what it is let send.
        for (role, allowed) in table where role != .operator {
            #expect(role.maySend == allowed.map(CurveRole.kind).joined(separator: ", "), "\(role)")
        }
        #expect(CurveRole.submitter.permits(nil, plainSubmission: true) && !CurveRole.consumer.permits(nil, plainSubmission: true))
        // As the proto names it, not as Swift does.
        #expect(CurveRole.kind(contact) == "get_contact")
        #expect(CurveRole.kind(.getFeedbackStatus(.init())) == "get_feedback_status" && CurveRole.kind(.replay(.init())) == "replay")
    }

    @Test func theZAPHandlerLetsInTheAllowedKeysWithTheirRole() throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let desk = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let dir = try TempDir()
        try "submitter \(desk.publicKey) desk-3\n".write(toFile: dir.file("clients"), atomically: true, encoding: .utf8)
        let allowList = CurveAllowList(try CurveClients.load(path: dir.file("clients")), path: dir.file("clients"))
        let zap = ZAPHandler(clients: allowList, name: "t-zap", logger: Logger(label: "t"))
        func ask(_ mechanism: String, _ key: [UInt8]?, domain: String = ZAPHandler.requestsDomain) -> [String] {
            var r: [[UInt8]] = ["1.0", "7", domain, "127.0.0.1", "", mechanism].map { Array($0.utf8) }
            if let key { r.append(key) }
            return zap.answer(r).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(ask("CURVE", Curve.decode(desk.publicKey)!) == ["1.0", "7", "200", "OK", desk.publicKey, ""])
        #expect(ask("CURVE", Curve.decode(stranger.publicKey)!)[2] == "400")
        #expect(ask("NULL", nil)[2] == "400")
        // A submitter is let into the requests socket, not the events socket.
        #expect(ask("CURVE", Curve.decode(desk.publicKey)!, domain: ZAPHandler.eventsDomain)[2] == "400")
        #expect(zap.answer([Array("2.0".utf8), Array("8".utf8)]).map { String(decoding: $0, as: UTF8.self) }[2] == "400")
        // Read again (SIGHUP): the stranger is in, the desk out; a file that does not load changes nothing.
        try "consumer \(stranger.publicKey) dashboard\n".write(toFile: dir.file("clients"), atomically: true, encoding: .utf8)
        try allowList.reload(logger: Logger(label: "t"))
        #expect(ask("CURVE", Curve.decode(desk.publicKey)!)[2] == "400")
        #expect(ask("CURVE", Curve.decode(stranger.publicKey)!)[2] == "200")
        #expect(allowList.client(withKey: stranger.publicKey)?.role == .consumer && allowList.client(withKey: desk.publicKey) == nil)
        try "admin \(desk.publicKey)\n".write(toFile: dir.file("clients"), atomically: true, encoding: .utf8)
        #expect(throws: ConfigError.self) { try allowList.reload(logger: Logger(label: "t")) }
        #expect(ask("CURVE", Curve.decode(stranger.publicKey)!)[2] == "200")
        // A reload that takes a key out or changes its role is counted (the events socket is bound
        // again on it); one that only adds keys, or a file that does not load, is not.
        #expect(allowList.revocations == 1, "the desk was taken out")
        try "consumer \(stranger.publicKey) dashboard\nsubmitter \(desk.publicKey) desk-3\n".write(toFile: dir.file("clients"), atomically: true, encoding: .utf8)
        try allowList.reload(logger: Logger(label: "t"))
        #expect(allowList.revocations == 1)
        try "submitter \(stranger.publicKey) dashboard\nsubmitter \(desk.publicKey) desk-3\n".write(toFile: dir.file("clients"), atomically: true, encoding: .utf8)
        try allowList.reload(logger: Logger(label: "t"))
        #expect(allowList.revocations == 2, "the dashboard became a submitter, which may not subscribe")
        // Watched: a changed file is read again without a SIGHUP; one that does not load leaves the
        // list in force, and is not tried again until it changes.
        #expect(!allowList.reloadIfChanged(logger: Logger(label: "t")), "nothing changed since the last reload")
        let later = try CurveKeyPair.generate()
        try "submitter \(desk.publicKey) desk-3\nsubmitter \(later.publicKey) desk-4\n".write(toFile: dir.file("clients"), atomically: true, encoding: .utf8)
        #expect(allowList.reloadIfChanged(logger: Logger(label: "t")))
        #expect(allowList.client(withKey: later.publicKey)?.name == "desk-4" && allowList.revocations == 3, "the dashboard was taken out")
        try "submitter \(later.publicKey)\nbogus line\n".write(toFile: dir.file("clients"), atomically: true, encoding: .utf8)
        #expect(!allowList.reloadIfChanged(logger: Logger(label: "t")))
        #expect(allowList.client(withKey: desk.publicKey) != nil, "a file that does not load changed the list")
        #expect(!allowList.reloadIfChanged(logger: Logger(label: "t")), "the same broken file is not read again")
    }

    /// The handler binds on its own thread; whoever waits for it learns when it is bound, and a
    /// second handler in the same context learns that it cannot bind.
    @Test func theZAPHandlerSaysWhenItIsBound() async throws {
        let ctx = try Context()
        defer { ctx.terminate() }
        let stop = StopFlag()
        let clients = CurveAllowList(CurveClients([]), path: nil)
        let first = ZAPHandler(clients: clients, name: "zap-1", logger: Logger(label: "t"))
        let running = Threads.start(name: "zap-1") { try first.run(context: ctx, stop: stop) }
        try await first.waitUntilBound()
        try await first.waitUntilBound()   // again, once bound: at once
        let second = ZAPHandler(clients: clients, name: "zap-2", logger: Logger(label: "t"))
        let refused = Task { try await Threads.run(name: "zap-2") { try second.run(context: ctx, stop: stop) } }
        await #expect(throws: ZMQError.self) { try await second.waitUntilBound() }
        await #expect(throws: ZMQError.self) { try await refused.value }
        stop.set()
        try await running.value
    }

    @Test func aServiceOptionsAcceptCurveOnlyWithTheInstancesOwnKeys() throws {
        let dir = try TempDir()
        let mine = try CurveKeyPair.generate(), theirs = try CurveKeyPair.generate()
        var topo = Topology.ipc(in: dir.path)
        topo.services["intake"]![0].curvePublicKey = mine.publicKey
        try topo.write(to: dir.file("t.json"))
        try CurveKeyFile.text(mine, name: "intake-1").write(toFile: dir.file("mine.key"), atomically: true, encoding: .utf8)
        try CurveKeyFile.text(theirs, name: "other").write(toFile: dir.file("theirs.key"), atomically: true, encoding: .utf8)
        try "service \(theirs.publicKey) handler-1\n".write(toFile: dir.file("clients"), atomically: true, encoding: .utf8)
        func resolve(_ args: [String], service: String = "intake") throws -> ServiceConfig {
            try ServiceOptions.parse(["--topology", dir.file("t.json")] + args).resolve(service: service)
        }
        let config = try resolve(["--curve-key-file", dir.file("mine.key"), "--curve-clients", dir.file("clients")])
        #expect(config.curve?.keys == mine && config.curve?.clients.clients.byKey.count == 1 && config.curveKeys == mine)
        #expect { try resolve([]) } throws: { "\($0)".contains("services.intake[0].curve_public_key") }
        #expect { try resolve(["--curve-key-file", dir.file("theirs.key"), "--curve-clients", dir.file("clients")]) } throws: { "\($0)".contains("the file is not intake-1's") }
        #expect { try resolve(["--curve-key-file", dir.file("mine.key")]) } throws: { "\($0)".contains("curve-clients") }
        // An instance without a key in the topology serves plain ZMTP, and connects upstream with its key pair.
        let handler = try resolve(["--curve-key-file", dir.file("theirs.key")], service: "handler")
        #expect(handler.curve == nil && handler.curveKeys == theirs)
        #expect { try resolve(["--curve-key-file", dir.file("theirs.key"), "--curve-clients", dir.file("clients")], service: "handler") } throws: {
            "\($0)".contains("no curve_public_key")
        }
        // One command line for every instance: the key pair by the instance's stream, in a directory.
        try FileManager.default.createDirectory(atPath: dir.file("keys"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir.file("mine.key"), toPath: dir.file("keys/intake-1.key"))
        let fromDir = try resolve(["--curve-key-dir", dir.file("keys"), "--curve-clients", dir.file("clients")])
        #expect(fromDir.curve?.keys == mine && fromDir.curveKeyFilePath == dir.file("keys/intake-1.key"))
        #expect { try resolve(["--curve-key-dir", dir.file("keys")], service: "handler") } throws: { "\($0)".contains("handler-1.key") }
        #expect { try resolve(["--curve-key-dir", dir.file("keys"), "--curve-key-file", dir.file("mine.key")]) } throws: {
            "\($0)".contains("curve-key-dir") && "\($0)".contains("not both")
        }
        topo.services["handler"]![0].curvePublicKey = "not a key"
        #expect { try topo.validate() } throws: { "\($0)".contains("services.handler[0].curve_public_key") }
    }

    /// Plain ZMTP is said at start only where another machine can reach it.
    @Test(arguments: [
        ("tcp://*:7101", true), ("tcp://0.0.0.0:7101", true), ("tcp://[::]:7101", true), ("tcp://10.0.0.5:7101", true),
        ("tcp://intake.police.local:7101", true), ("tcp://eth0;10.0.0.5:7101", true), ("tcp://127.0.0.2:7101", false),
        ("tcp://127.0.0.1:7101", false), ("tcp://localhost:7101", false), ("tcp://[::1]:7101", false),
        ("tcp://127.0.0.1.example.org:7101", true), ("tcp://eth0;127.0.0.1:7101", false), ("tcp://lo:7101", false), ("tcp://eth0:7101", true),
        ("ipc:///run/liaison/intake-1.req", false), ("inproc://requests", false),
    ])
    func plainZMTPIsToldWhereOtherMachinesReachIt(endpoint: String, reachable: Bool) {
        #expect(PlainExposure.reachableFromOtherHosts([endpoint]) == (reachable ? [endpoint] : []))
        let warning = PlainExposure.warning(bound: [endpoint, "ipc:///tmp/events"])
        #expect((warning != nil) == reachable)
        if let warning { #expect(warning.hasPrefix("serving plain ZMTP on \(endpoint), which other machines can reach") && warning.contains("liaison keygen")) }
    }
}
