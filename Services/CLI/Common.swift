import ArgumentParser
import Foundation
import LiaisonCodec
import LiaisonRuntime
import SwiftProtobuf
import ZeroMQ

/// Options every client command takes.
struct ClientOptions: ParsableArguments {
    @Option(help: "Topology file (JSON). Default: $LIAISON_TOPOLOGY, else the local defaults.")
    var topology: String?

    @Option(help: "Milliseconds to wait for a reply before retrying (Lazy Pirate). With submit --file: milliseconds without any reply; a slow line that keeps answering is waited for.")
    var timeout: Int32 = 3_000

    @Option(help: "Attempts before giving up.")
    var retries: Int = 3

    @Flag(help: "Print JSON (one object a line) instead of text; an error too, as {\"error\":{\"code\",\"field\",\"message\"}} on standard output.")
    var json = false

    @Option(help: "Your CURVE key pair (liaison keygen), for services the topology gives a curve_public_key. Default: $LIAISON_CURVE_KEY_FILE.")
    var curveKeyFile: String?

    func loadTopology() throws -> Topology { try Topology.resolve(path: topology) }

    /// A context carrying your CURVE key pair when you have one.
    func context() throws -> Context { try Context(curve: CurveKeyFile.resolve(path: curveKeyFile)) }

    /// A Lazy Pirate client of `instance`, over CURVE when the topology gives it a key.
    func requestClient(_ ctx: Context, _ instance: Topology.Instance, timeoutMs: Int32? = nil, attempts: Int? = nil) -> RequestClient {
        RequestClient(context: ctx, endpoint: instance.requests, serverKey: instance.curvePublicKey,
                      timeoutMs: timeoutMs ?? timeout, attempts: attempts ?? retries)
    }

    /// The instance of `service` to talk to.
    func endpoint(_ service: String, instance: Int = 0) throws -> Topology.Instance {
        let list = try loadTopology().instances(of: service)
        guard instance < list.count else {
            throw ValidationError("the topology has no instance \(instance) of \(service)")
        }
        return list[instance]
    }

    /// The intake instance that made `caseNumber` (and holds its token and contact): `L2-…` is
    /// instance 1. A number of no instance's form goes to the first, whose answer names the problem.
    func intakeInstance(of caseNumber: String) throws -> Int {
        guard let i = CaseOrigin.intakeInstance(of: caseNumber) else { return 0 }
        let count = try loadTopology().instances(of: "intake").count
        guard i < count else {
            throw ValidationError("case \(caseNumber) came in through intake instance \(i + 1) (its cases are L\(i + 1)-...), and this topology has \(count == 1 ? "one" : "\(count)"): is it the set's topology (--topology, $LIAISON_TOPOLOGY)?")
        }
        return i
    }

    /// Sends one request body to `service` and returns the reply; an `Error` reply is thrown.
    func call(_ service: String, _ body: Liaison_V1_Request.OneOf_Body, instance: Int = 0) throws -> Liaison_V1_Reply {
        var r = Liaison_V1_Request()
        r.body = body
        return try call(service, r, instance: instance)
    }

    /// Sends a whole request to `service`; an `Error` reply is thrown.
    func call(_ service: String, _ request: Liaison_V1_Request, instance: Int = 0) throws -> Liaison_V1_Reply {
        let ctx = try context()
        defer { ctx.terminate() }
        let client = requestClient(ctx, try endpoint(service, instance: instance))
        defer { client.reset() }
        let reply = try client.call(request)
        if case .error(let e)? = reply.result { throw WireError(e) }
        return reply
    }
}

/// Printing helpers.
enum Output {
    static func json(_ m: some SwiftProtobuf.Message) -> String {
        var o = JSONEncodingOptions()
        o.preserveProtoFieldNames = true
        return (try? m.jsonString(options: o)) ?? "{}"
    }

    /// An error as one JSON object, for `--json`: `{"error":{"code":"invalid_argument","field":…,
    /// "message":…}}`, with `line` for a desk file's line and any `extra` keys beside `error`
    /// (`submission_id`: the id to retry with). A service's error keeps its stable code and field;
    /// no answer at all is `no_answer`, a topology or key file that does not load `configuration`.
    static func errorJSON(_ error: Error, line: Int? = nil, extra: [String: String] = [:]) -> String {
        switch error {
        case let w as WireError: errorJSON(code: w.codeName, field: w.field, message: w.message, line: line, extra: extra)
        case let c as ClientError: errorJSON(code: "no_answer", message: "\(c)", line: line, extra: extra)
        case let l as FeedbackFile.LineError: errorJSON(code: "invalid_argument", message: l.message, line: line, extra: extra)
        case let c as ConfigError: errorJSON(code: "configuration", message: "\(c)", line: line, extra: extra)
        default: errorJSON(code: "error", message: "\(error)", line: line, extra: extra)
        }
    }

    /// ``errorJSON(_:line:extra:)`` from its parts; `field` left out when empty.
    static func errorJSON(code: String, field: String = "", message: String, line: Int? = nil, extra: [String: String] = [:]) -> String {
        var e = ["code": code, "message": message]
        if !field.isEmpty { e["field"] = field }
        var o: [String: Any] = ["error": e]
        if let line { o["line"] = line }
        for (k, v) in extra { o[k] = v }
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func time(_ t: Google_Protobuf_Timestamp) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm"
        f.timeZone = TimeZone.current
        return f.string(from: t.date)
    }

    /// Who did it: the actor recorded, and the name of the operator secret presented when it has
    /// one and says something more (`desk-li (secret of wang.li)`).
    static func who(actor: String, credentialName: String) -> String {
        if credentialName.hasPrefix(OperatorCredentials.keyNamePrefix) {
            return "\(actor) (key of \(credentialName.dropFirst(OperatorCredentials.keyNamePrefix.count)))"
        }
        return credentialName.isEmpty || credentialName == actor ? actor : "\(actor) (secret of \(credentialName))"
    }

    /// A size for people: `812 B`, `4.0 KiB`, `12.3 MiB`, `1.2 GiB`.
    static func bytes(_ n: UInt64) -> String { DiskSpace.text(n) }

    /// `text` on one line: line breaks as ` ↵ `, tabs as a space.
    static func oneLine(_ text: String) -> String {
        guard text.contains(where: { $0.isNewline || $0 == "\t" }) else { return text }
        return text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).joined(separator: " ↵ ")
            .replacingOccurrences(of: "\t", with: " ")
    }

    /// `text` after a label of `width` columns: its second and later lines start under its first
    /// (a letter's text, a public note written in lines).
    static func indented(_ text: String, width: Int = 12) -> String {
        guard text.contains(where: \.isNewline) else { return text }
        return text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .joined(separator: "\n" + String(repeating: " ", count: width))
    }

    /// A duration for people: `840 µs`, `12.3 ms`, `1.50 s`.
    static func micros(_ us: UInt64) -> String {
        if us < 1_000 { return "\(us) µs" }
        if us < 1_000_000 { return String(format: "%.1f ms", Double(us) / 1_000) }
        return String(format: "%.2f s", Double(us) / 1_000_000)
    }

    /// Left-aligned columns. A cell's own line breaks (a note written in lines) are shown as ` ↵ `
    /// and its tabs as spaces, so that each row stays one line.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        // Written out before the widths are measured, so the columns line up.
        let rows = rows.map { $0.map { PlainText.escapingControls(oneLine($0)) } }
        // In terminal columns: a Chinese character takes two.
        var widths = header.map { TerminalWidth.columns($0) }
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], TerminalWidth.columns(c)) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in i == r.count - 1 || i >= widths.count ? c : TerminalWidth.padded(c, to: widths[i]) }
                .joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }
}

/// Turns a thrown error into a clear message and a non-zero exit. With `--json` the error is also
/// one JSON object on standard output (``Output/errorJSON(_:line:extra:)``), with `json` beside it,
/// so that a script reading the output learns what a person reads on standard error.
func reportFailure(_ error: Error, hint: String? = nil, json: [String: String] = [:]) -> Never {
    if CommandLine.arguments.contains("--json") {
        print(Output.errorJSON(error, extra: json))
        fflush(nil)
    }
    let message: String
    switch error {
    case let e as WireError where e.code == .unauthorized && !e.message.hasPrefix(CurveRole.refusalPrefix):
        // Said by the service in protocol terms; an operator at the desk needs to know what to give.
        let given = ProcessInfo.processInfo.environment["LIAISON_OPERATOR_SECRET"].map { !$0.isEmpty } ?? false
            || CommandLine.arguments.contains { $0.hasPrefix("--credential-file") }
        message = "error: \(e)\n" + (given
            ? "The operator secret given is not one the service accepts: check --credential-file or $LIAISON_OPERATOR_SECRET against the service's --operator-secrets file or $LIAISON_OPERATOR_SECRET."
            : "This needs an operator secret, one the service was started with (its --operator-secrets file or $LIAISON_OPERATOR_SECRET): give it with --credential-file FILE or $LIAISON_OPERATOR_SECRET. Over CURVE, a key the service lets in as an operator stands in for it.")
    case let e as WireError: message = "error: \(e)"
    case let e as ClientError where hint == nil:
        // Silence is also what a running service far away gives when its answer (a long case
        // list, a replay) takes longer than the timeout to cross a slow line.
        message = "error: \(e)\nIf it is running and the line to it is slow (a long answer over a thin link takes seconds), give it longer: --timeout \(max(Int(e.timeoutMs) * 4, 10_000)) (milliseconds)."
    case let e as ClientError: message = "error: \(e)"
    case let e as ConfigError: message = "error: \(e)"
    default: message = "error: \(error)"
    }
    printError((message + "\n" + (hint.map { $0 + "\n" } ?? "")))
    Foundation.exit(error is ClientError ? 3 : 1)
}

/// Every line the command line prints goes through here (this shadows `Swift.print` in the
/// module): what it shows comes from citizens and operators, and a control character in it (an
/// escape sequence stored before intake refused them, a carriage return) is written out as
/// `\u001B` rather than sent to the terminal to act. Line feeds and tabs stay. JSON output stays
/// JSON: `\u001B` is JSON's own escape.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    let text = items.map { "\($0)" }.joined(separator: separator)
    Swift.print(PlainText.escapingControls(text, keepingLineBreaks: true), terminator: terminator)
}

/// Writes `text` to standard error, control characters written out as ``print(_:separator:terminator:)``
/// does. Not for the progress bar, whose carriage return and erase are meant.
func printError(_ text: String) {
    FileHandle.standardError.write(Data(PlainText.escapingControls(text, keepingLineBreaks: true).utf8))
}
