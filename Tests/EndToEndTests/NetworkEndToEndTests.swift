import Foundation
import LiaisonRuntime
import Testing
import ZeroMQ

/// The set spread over two hosts (network namespaces, ``TwoHosts``), talking TCP over CURVE as a
/// deployment does, and the network between them failing.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct NetworkEndToEndTests {
    /// Intake on host A, the handler, scheduler and reporting on host B. The link is cut silently
    /// (no reset, no error) for longer than the connections' heartbeat timeout: intake goes on
    /// acknowledging the desk on its own host; the consumers on B say they hear nothing from intake
    /// (its log, `liaison streams` and its `--check`); once the link is mended they connect again,
    /// replay what they missed, and every case is opened and counted once. A third-party consumer
    /// on host B (docs/examples/consumer.py, pyzmq) says the same and prints every event once.
    @Test(.enabled(if: TwoHosts.available, "needs root and iproute2 (ip netns) to make two hosts"))
    func aSilentPartitionBetweenHostsHealsAndEveryCaseArrivesOnce() async throws {
        let hosts = try TwoHosts()
        defer { hosts.remove() }   // after the set has stopped (defers run last to first)
        let set = try LiaisonSet(curve: true) { topology in
            // The default ports, on each instance's host: its namespace has ports of its own.
            for (name, port) in [("intake", 7101), ("handler", 7201), ("scheduler", 7301), ("reporting", 7401)] {
                let host = name == "intake" ? TwoHosts.addressA : TwoHosts.addressB
                topology.services[name]![0].requests = "tcp://\(host):\(port)"
                topology.services[name]![0].events = "tcp://\(host):\(port + 1)"
            }
        }
        defer { set.stopAll() }
        let dashboardKey = try set.allowCurveClient(.consumer, try CurveKeyPair.generate(), name: "dashboard")
        set.place("intake", in: hosts.a)
        for name in ["handler", "scheduler", "reporting"] { set.place(name, in: hosts.b) }
        try set.startAll()
        for (name, host) in [("intake", hosts.a), ("handler", hosts.b), ("scheduler", hosts.b), ("reporting", hosts.b)] {
            #expect(await eventually(30) { (try? await set.cli(["ping", name, "--timeout", "500"], in: host))?.status == 0 },
                    "\(name) did not answer on its host\n\(set.logs())")
        }
        // On addresses other machines reach, but over CURVE: no warning about plain ZMTP.
        #expect(!set.logs().contains("serving plain ZMTP"), "\(set.logs())")

        /// A desk's batch of `count` submissions on host A; the case numbers intake acknowledged.
        func submit(_ count: Int, _ tag: String) async throws -> Set<String> {
            let file = set.dir + "/\(tag).jsonl"
            try (0..<count).map { i in
                #"{"kind":"complaint","channel":"hotline","unit":"STN-EAST-01","text":"Call \#(tag)-\#(i): the lights at the crossing are out","phone":"1380000\#(String(format: "%04d", i))","submission_id":"\#(tag)-\#(i)"}"#
            }.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let out = try await set.cli(["submit", "--file", file], in: hosts.a)
            #expect(out.status == 0, "\(out.output)")
            return Set(out.output.matches(of: /L1-\d{7}/).map { String($0.output) })
        }
        /// The cases the handler on host B holds.
        func handlerCases() async -> Set<String>? {
            guard let out = try? await set.cli(["cases", "--limit", "1000", "--json"], in: hosts.b), out.status == 0 else { return nil }
            return Set(out.output.matches(of: /"case_number":"(L1-\d{7})"/).map { String($0.output.1) })
        }

        // The Python consumer on host B follows intake's stream from the start.
        let consumerOut = set.dir + "/consumer.out"
        _ = FileManager.default.createFile(atPath: consumerOut, contents: nil)
        let consumer = Process()
        consumer.executableURL = URL(fileURLWithPath: TwoHosts.ip)
        consumer.arguments = ["netns", "exec", hosts.b, "python3", LiaisonSet.repoRoot + "/docs/examples/consumer.py", "--topology", set.topologyPath,
                              "--stream", "intake-1", "--from", "0", "--count", "30", "--seconds", "150", "--curve-key-file", dashboardKey]
        consumer.environment = LiaisonSet.childEnvironment([:])
        consumer.standardOutput = FileHandle(forWritingAtPath: consumerOut)
        consumer.standardError = consumer.standardOutput
        try consumer.run()
        defer { if consumer.isRunning { kill(consumer.processIdentifier, SIGKILL) } }
        func consumed() -> String { (try? String(contentsOfFile: consumerOut, encoding: .utf8)) ?? "" }

        let before = try await submit(10, "before")
        #expect(before.count == 10)
        #expect(await eventually(30) { await handlerCases() == before }, "\(set.logs())")
        #expect(await eventually(30) { consumed().matches(of: /"topic": "feedback.received"/).count == 10 }, "\(consumed())")

        try hosts.partition()
        // Intake, on the desk's host, goes on acknowledging.
        let during = try await submit(20, "during")
        #expect(during.count == 20 && during.isDisjoint(with: before))
        // Host B hears nothing from intake: the handler and reporting say so, and the operator's
        // check on host B names the silence (intake itself is out of its reach too).
        #expect(await eventually(40) {
            let logs = set.logs()
            return logs.contains("upstream silent: nothing (no event, no heartbeat)") && logs.contains("stream=intake-1")
        }, "\(set.logs())")
        #expect(await eventually(20) { consumed().contains("upstream silent: nothing (no event, no heartbeat)") }, "\(consumed())")
        let check = try await set.cli(["streams", "--check", "--timeout", "500"], in: hosts.b)
        #expect(check.status == 2, "\(check.output)")
        #expect(check.output.contains("handler-1 has heard nothing from intake-1 for"), "\(check.output)")
        #expect(await handlerCases() == before, "the handler cannot have heard of the cases made during the partition")

        try hosts.heal()
        let all = before.union(during)
        #expect(await eventually(60) { await handlerCases() == all }, "the handler did not catch up after the link was mended\n\(set.logs())")
        #expect(await eventually(30) {
            guard let out = try? await set.cli(["report", "--json"], in: hosts.b) else { return false }
            return out.output.contains("\"feedback_total\":\"30\"") && out.output.contains("\"cases_total\":\"30\"")
        }, "\(set.logs())")
        #expect(await eventually(20) { set.logs().contains("upstream heard again after") }, "\(set.logs())")
        // The Python consumer printed all thirty events once each, in order, and stopped at its count.
        #expect(await eventually(60) { !consumer.isRunning }, "\(consumed())")
        #expect(consumer.terminationStatus == 0, "\(consumed())")
        let seqs = consumed().matches(of: /"seq": "(\d+)"/).compactMap { Int($0.output.1) }
        #expect(seqs == Array(1...30), "\(consumed())")
        #expect(consumed().contains("upstream heard again after"), "\(consumed())")
        #expect(await eventually(20) {
            guard let out = try? await set.cli(["streams", "--check", "--timeout", "1000"], in: hosts.b) else { return false }
            return !out.output.contains("has heard nothing from")
        })
        // Every service stops cleanly on its host.
        for name in Topology.serviceNames { #expect(set.terminate(name) == 0, "\(name)") }
    }

    /// A desk on a thin line (128 kbit/s from the desk, ``TwoHosts/slowFromA(kbitPerSecond:)``)
    /// sends a file of 64 long letters with `liaison submit`'s defaults: 16 lines a request, two
    /// requests on the wire, a 3 s timeout. Each request takes about two seconds to cross, so the
    /// second waits about four for its answer. The client waits for intake as long as answers keep
    /// coming: every line is acknowledged once, none comes back "already submitted", and the
    /// command ends well. (Before, the second request's wait was taken for a dead intake: every
    /// unanswered request went again on a new connection until "no reply ... is the service
    /// running?", with the letters half stored.)
    @Test(.enabled(if: TwoHosts.available && TwoHosts.tc != nil, "needs root and iproute2 (ip netns, tc) to make two hosts"))
    func aDeskOnAThinLineSendsItsLongLettersOnceEach() async throws {
        let hosts = try TwoHosts()
        defer { hosts.remove() }
        let set = try LiaisonSet(curve: true) { topology in
            topology.services["intake"]![0].requests = "tcp://\(TwoHosts.addressB):7101"
            topology.services["intake"]![0].events = "tcp://\(TwoHosts.addressB):7102"
        }
        defer { set.stopAll() }
        set.place("intake", in: hosts.b)
        try set.start("intake")
        #expect(await eventually(30) { (try? await set.cli(["ping", "intake", "--timeout", "500"], in: hosts.a))?.status == 0 },
                "intake did not answer from the desk's host\n\(set.logs())")
        try hosts.slowFromA(kbitPerSecond: 128)

        let count = 64
        let file = set.dir + "/letters.jsonl"
        let paragraph = String(repeating: "The patrol came late and the officer would not write down what the neighbours said. ", count: 24)
        try (0..<count).map { i in
            #"{"kind":"complaint","channel":"letter","unit":"STN-EAST-01","text":"Letter \#(i). \#(paragraph)","submission_id":"letter-\#(i)"}"#
        }.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let started = Date()
        let out = try await set.cli(["submit", "--file", file], in: hosts.a)
        let took = Date().timeIntervalSince(started)
        #expect(out.status == 0, "\(out.output)")
        #expect(Set(out.output.matches(of: /L1-\d{7}/).map { String($0.output) }).count == count, "\(out.output)")
        #expect(out.output.contains("\(count) of \(count) submitted"), "\(out.output)")
        #expect(!out.output.contains("already submitted") && !out.output.contains("stored before"), "nothing was sent twice: \(out.output)")
        // The line is the bound: about 135 KB at 16 KB/s.
        #expect(took > 6, "the link was not slowed: \(took) s")
        #expect(set.terminate("intake") == 0)
    }
}
