import Foundation
import LiaisonCodec
import LiaisonRuntime
import Synchronization
import Testing
import ZeroMQ

/// What the command line prints comes from citizens and operators. A text stored before the
/// services refused control characters (or sent by a service of another version) must not drive
/// the terminal of the operator who reads it: stand-ins for the handler and intake answer with such
/// texts, and the real `liaison` prints them written out.
@Suite(.timeLimit(.minutes(2)))
struct TerminalSafetyTests {
    static let hostile = "rude \u{1B}[2J\u{1B}]0;owned\u{7} at\rthe desk \u{9B}31m\nsecond line\tend"

    /// Whether each stand-in has bound its endpoint, and whether the test is done with them.
    final class Flags: Sendable {
        let handlerBound = Atomic<Bool>(false)
        let intakeBound = Atomic<Bool>(false)
        let done = Atomic<Bool>(false)
    }

    /// Answers each request on `endpoint` with `answer(request)` until `flags.done`.
    static func standIn(_ ctx: Context, _ endpoint: String, flags: Flags, bound: @escaping @Sendable () -> Void,
                        answer: @escaping @Sendable (Liaison_V1_Request) -> Liaison_V1_Reply) async throws {
        try await Threads.run(name: "stand-in") {
            let router = try Socket(context: ctx, type: .router, role: "stand-in", linger: 0)
            defer { router.close() }
            try router.bind(endpoint)
            bound()
            let deadline = Date().addingTimeInterval(60)
            while !flags.done.load(ordering: .acquiring) && Date() < deadline {
                guard try router.waitReadable(timeout: 20) else { continue }
                while let frames = try router.receiveMultipart(dontWait: true) {
                    let incoming = Framing.parseRequest(frames: frames)
                    guard case .success(let request) = incoming.request else { continue }
                    var reply = answer(request)
                    reply.requestID = request.requestID
                    _ = try router.send(multipart: Framing.replyFrames(envelope: incoming.envelope, reply: reply))
                }
            }
        }
    }

    /// No escape, bell, carriage return or C1 control reaches standard output or error; the
    /// text's own lines and tabs still read as lines and tabs.
    static func expectSafe(_ output: String, _ command: String) {
        let controls = output.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || ($0.value >= 0x7F && $0.value <= 0x9F) }
        #expect(controls.isEmpty, "\(command) printed \(controls.map { String($0.value, radix: 16) })")
        // The carriage return is written out, or (in a case's text) taken for the line break it was.
        #expect(output.contains("rude \\u001B[2J\\u001B]0;owned\\u0007 at") && output.contains("the desk \\u009B31m"), "\(command): \(output.debugDescription)")
    }

    @Test func storedControlCharactersAreWrittenOutNotSentToTheTerminal() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let ctx = try Context()
        defer { ctx.terminate() }
        let flags = Flags()
        defer { flags.done.store(true, ordering: .releasing) }   // the stand-ins stop even when an expectation throws
        async let handler: Void = Self.standIn(ctx, set.instance("handler").requests, flags: flags,
                                                bound: { flags.handlerBound.store(true, ordering: .releasing) }) { request in
            var reply = Liaison_V1_Reply()
            guard case .getCase(let q)? = request.body else {
                reply.error = .with { $0.code = .invalidArgument; $0.field = "body"; $0.message = "stand-in answers get_case" }
                return reply
            }
            reply.caseInfo = .with {
                $0.caseNumber = q.caseNumber
                $0.kind = .complaint
                $0.channel = .hotline
                $0.state = "triaged"
                $0.unit = "STN-EAST-01"
                $0.accountableUnit = "STN-EAST-01"
                $0.text = Self.hostile
                $0.audit = [.with { $0.actor = "desk\u{1B}[1m"; $0.action = "note"; $0.detail = Self.hostile },
                            .with { $0.actor = "PC-1001"; $0.action = "respond"; $0.detail = "我们已经联系了派出所"; $0.reason = "why-1" },
                            .with { $0.actor = "PC-1001"; $0.action = "note"; $0.detail = "called back"; $0.reason = "why-2" }]
            }
            return reply
        }
        async let intake: Void = Self.standIn(ctx, set.instance("intake").requests, flags: flags,
                                               bound: { flags.intakeBound.store(true, ordering: .releasing) }) { request in
            var reply = Liaison_V1_Reply()
            reply.feedbackStatus = .with {
                $0.caseNumber = request.getFeedbackStatus.caseNumber
                $0.state = "being_handled"
                $0.publicNote = Self.hostile
            }
            return reply
        }
        #expect(await eventually { flags.handlerBound.load(ordering: .acquiring) && flags.intakeBound.load(ordering: .acquiring) })

        let show = try await set.cli(["case", "show", "L1-0000001"])
        #expect(show.status == 0, "\(show.output)")
        Self.expectSafe(show.output, "case show")
        #expect(show.output.contains("\\u001B[1m"), "the audit trail's actor: \(show.output)")
        // The text's second line starts under its first; in the audit trail's table the note's line
        // break is shown, its row staying one line.
        #expect(show.output.contains("\n            second line\tend"), "\(show.output)")
        #expect(show.output.split(separator: "\n").contains { $0.contains("note") && $0.contains("\\u009B31m ↵ second line end") }, "\(show.output)")
        #expect(show.output.contains("at\n            the desk"), "\(show.output)")
        // A detail in Chinese (two columns a character) keeps the WHY column in line.
        let rows = show.output.split(separator: "\n").map(String.init)
        let whyAt = rows.compactMap { row in
            ["WHY", "why-1", "why-2"].compactMap { row.range(of: $0) }.first.map { TerminalWidth.columns(row[..<$0.lowerBound]) }
        }
        #expect(whyAt.count == 3 && Set(whyAt).count == 1, "\(whyAt)\n\(show.output)")
        let json = try await set.cli(["case", "show", "L1-0000001", "--json"])
        #expect(!json.output.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || ($0.value >= 0x7F && $0.value <= 0x9F) },
                "\(json.output.debugDescription)")
        // Still JSON, reading back as the text the service sent.
        let line = try #require(json.output.split(separator: "\n").first { $0.hasPrefix("{") })
        let decoded = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(decoded?["text"] as? String == Self.hostile)
        let status = try await set.cli(["status", "L1-0000001", "ABCD-EFGH-JKLM-NPQR"])
        #expect(status.status == 0, "\(status.output)")
        Self.expectSafe(status.output, "status")
        flags.done.store(true, ordering: .releasing)
        try await handler
        try await intake
    }
}
