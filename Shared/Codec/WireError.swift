/// An error that crosses the wire as `liaison.v1.Error`: a stable code, a message for a human,
/// and the field at fault.
public struct WireError: Error, Equatable, CustomStringConvertible, Sendable {
    public var code: Liaison_V1_ErrorCode
    public var message: String
    public var field: String
    public var retryAfterMs: UInt32

    public init(_ code: Liaison_V1_ErrorCode, _ message: String, field: String = "", retryAfterMs: UInt32 = 0) {
        self.code = code
        self.message = message
        self.field = field
        self.retryAfterMs = retryAfterMs
    }

    public init(_ proto: Liaison_V1_Error) {
        self.init(proto.code, proto.message, field: proto.field, retryAfterMs: proto.retryAfterMs)
    }

    /// The request is wrong; `field` names the field at fault.
    public static func invalidArgument(_ field: String, _ message: String) -> WireError {
        WireError(.invalidArgument, message, field: field)
    }
    public static func notFound(_ field: String, _ message: String) -> WireError {
        WireError(.notFound, message, field: field)
    }
    public static func conflict(_ field: String, _ message: String) -> WireError {
        WireError(.conflict, message, field: field)
    }
    public static func unauthorized(_ message: String) -> WireError {
        WireError(.unauthorized, message)
    }
    /// The service cannot take the request now (overload, shutting down); retry after a while.
    public static func unavailable(_ message: String, retryAfterMs: UInt32 = 100) -> WireError {
        WireError(.unavailable, message, retryAfterMs: retryAfterMs)
    }
    public static func `internal`(_ message: String) -> WireError {
        WireError(.internal, message)
    }

    public var proto: Liaison_V1_Error {
        var e = Liaison_V1_Error()
        e.code = code
        e.message = message
        e.field = field
        e.retryAfterMs = retryAfterMs
        return e
    }

    /// The stable code as the lower-case word of DESIGN §3 (`invalid_argument`, …).
    public var codeName: String { code.name }

    public var description: String {
        field.isEmpty ? "\(codeName): \(message)" : "\(codeName) (\(field)): \(message)"
    }
}

extension Liaison_V1_ErrorCode {
    /// Whether an error of this code is the caller's: a field wrong, a conflict, nothing found, no
    /// credential; to be put right, not sent again as it is. Not `unavailable` (overloaded: a
    /// service counts it as shed) nor `internal` (the service's own failure).
    public var isRefusal: Bool {
        switch self {
        case .invalidArgument, .conflict, .notFound, .unauthorized: true
        default: false
        }
    }
}

extension WireError {
    /// The refusal of `value` (`name` in the message, `field` named) when it has more than `limit`
    /// characters, as a person counts them, or more than four bytes of UTF-8 for each (a character
    /// of thousands of combining marks counts once but is stored whole); nil when it fits. Its time
    /// is bounded by the limit: characters are counted only when the bytes allow it. Callers on a
    /// hot path test `value.utf8.count > limit` first, which is all that most values need.
    public static func tooLong(_ field: String, _ name: String, _ value: some StringProtocol, limit: Int) -> WireError? {
        let bytes = value.utf8.count
        if bytes <= limit { return nil }
        if bytes > 4 * limit { return .invalidArgument(field, "\(name) is \(bytes) bytes of UTF-8; at most \(limit) characters (\(4 * limit) bytes)") }
        let characters = value.count
        if characters > limit { return .invalidArgument(field, "\(name) is \(characters) characters; at most \(limit)") }
        return nil
    }

    /// `value` quoted for an error message: whole when it is short, else its first 40 code points
    /// and its length, so that a refused value of any size is named without being sent back whole
    /// (a reply as large as the request) or written whole into a log.
    public static func quoted(_ value: some StringProtocol) -> String {
        let scalars = value.unicodeScalars
        var shown = String.UnicodeScalarView()
        var index = scalars.startIndex
        var taken = 0
        while index != scalars.endIndex && taken < 40 {
            shown.append(scalars[index])
            index = scalars.index(after: index)
            taken += 1
        }
        // Control characters written out (`\u001B`): a quoted value goes into replies a terminal
        // shows and into log lines, where an escape sequence or a line break would act.
        if index == scalars.endIndex { return "'\(PlainText.escapingControls(String(value)))'" }
        return "'\(PlainText.escapingControls(String(shown)))…' (\(scalars.count) characters)"
    }
}

extension Liaison_V1_ErrorCode {
    /// The stable lower-case name: `invalid_argument`, `not_found`, `conflict`, `unauthorized`,
    /// `unavailable`, `internal`.
    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .invalidArgument: "invalid_argument"
        case .notFound: "not_found"
        case .conflict: "conflict"
        case .unauthorized: "unauthorized"
        case .unavailable: "unavailable"
        case .internal: "internal"
        case .UNRECOGNIZED(let n): "unrecognized_\(n)"
        }
    }
}

extension Liaison_V1_Reply {
    /// A reply carrying `error` for the request `requestID`.
    public static func failure(_ error: WireError, requestID: String = "") -> Liaison_V1_Reply {
        var r = Liaison_V1_Reply()
        r.requestID = requestID
        r.error = error.proto
        return r
    }
}
