/// What Foundation's JSON reader passes over in silence, found in the text itself: a key given
/// twice in one object (the reader keeps the last and drops the other) and a `\u` escape that is
/// half of a UTF-16 pair (the reader says only that the text "ends" there).
package enum JSONText {
    /// A key given more than once in one object, with the element of a top-level array that holds
    /// it (0 when the text is not an array) and that element's bytes.
    package struct RepeatedKey: Equatable {
        package let key: String
        package let item: Int
        package let itemBytes: Range<Int>
    }

    /// The keys of `bytes`, JSON that has already parsed, given twice in one object, at most one
    /// for each element of a top-level array (a non-array text is its element 0). Keys are compared
    /// as written: `"text"` and `"t\u0065xt"` are not taken for the same key.
    package static func repeatedKeys(_ bytes: [UInt8]) -> [RepeatedKey] {
        /// An open object (with the keys seen in it and whether a key comes next) or array.
        struct Open {
            let isObject: Bool
            var keys: Set<ArraySlice<UInt8>> = []
            var keyNext = true
        }
        var stack: [Open] = []
        var found: [RepeatedKey] = []
        let topIsArray = bytes.first(where: { !isSpace($0) }) == UInt8(ascii: "[")
        var item = 0, itemStart = 0
        var repeated: String?  // the current element's first repeated key
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                var j = i + 1
                while j < bytes.count, bytes[j] != UInt8(ascii: "\"") { j += bytes[j] == UInt8(ascii: "\\") ? 2 : 1 }
                if let top = stack.indices.last, stack[top].isObject, stack[top].keyNext {
                    let key = bytes[(i + 1)..<min(j, bytes.count)]
                    if !stack[top].keys.insert(key).inserted, repeated == nil { repeated = String(decoding: key, as: UTF8.self) }
                    stack[top].keyNext = false
                }
                i = j
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if topIsArray, stack.count == 1 { itemStart = i }
                stack.append(Open(isObject: b == UInt8(ascii: "{")))
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                // Text Foundation read in another encoding (UTF-16 without its mark) may close more
                // than it opened, as UTF-8 bytes.
                guard !stack.isEmpty else { return found }
                stack.removeLast()
                if topIsArray, stack.count == 1, let key = repeated {
                    found.append(RepeatedKey(key: key, item: item, itemBytes: itemStart..<(i + 1)))
                    repeated = nil
                }
            case UInt8(ascii: ","):
                if let top = stack.indices.last, stack[top].isObject { stack[top].keyNext = true }
                if topIsArray, stack.count == 1 { item += 1 }
            default: break
            }
            i += 1
        }
        if !topIsArray, let key = repeated { found.append(RepeatedKey(key: key, item: 0, itemBytes: 0..<bytes.count)) }
        return found
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// The first `\u` escape of `text` that is half of a UTF-16 surrogate pair without its other
    /// half (`\ud83d` alone): the escape as written and its column, counted in characters from 1.
    package static func loneSurrogate(_ text: String) -> (escape: String, column: Int)? {
        let bytes = Array(text.utf8)
        /// The value of a `\uXXXX` escape starting at `at`, if one does.
        func escape(at: Int) -> UInt32? {
            guard at + 6 <= bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else { return nil }
            return UInt32(String(decoding: bytes[(at + 2)..<(at + 6)], as: UTF8.self), radix: 16)
        }
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "\\") else { i += 1; continue }
            guard let v = escape(at: i) else { i += 2; continue }
            if (0xD800...0xDBFF).contains(v), let low = escape(at: i + 6), (0xDC00...0xDFFF).contains(low) {
                i += 12
            } else if (0xD800...0xDFFF).contains(v) {
                let column = String(decoding: bytes[..<i], as: UTF8.self).count + 1
                return (String(decoding: bytes[i..<(i + 6)], as: UTF8.self), column)
            } else {
                i += 6
            }
        }
        return nil
    }

    /// `object` written as JSON, when it holds only what a submission's line holds once read and
    /// rewritten (strings, integers this module put in, objects of them); nil for anything else
    /// (a number or a `true` from the line, an array, a null), which Foundation's writer takes.
    /// What protobuf's JSON reader makes of the bytes is what it makes of Foundation's: each
    /// string escaped as JSON requires (the quote, the backslash, control characters) and the rest
    /// as UTF-8. Foundation's writer took two fifths of the desk's command's time.
    package static func written(_ object: [String: Any]) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        return write(object, into: &out) ? out : nil
    }

    private static func write(_ object: [String: Any], into out: inout [UInt8]) -> Bool {
        out.append(UInt8(ascii: "{"))
        var first = true
        for (key, value) in object {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            write(string: key, into: &out)
            out.append(UInt8(ascii: ":"))
            switch value {
            case let nested as [String: Any]:
                guard write(nested, into: &out) else { return false }
            case let text as String:
                write(string: text, into: &out)
            case let number as Int where type(of: value) == Int.self:
                out.append(contentsOf: String(number).utf8)
            default:
                return false
            }
        }
        out.append(UInt8(ascii: "}"))
        return true
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func write(string: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in string.utf8 {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(b)
            case 0..<0x20:
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hexDigits[Int(b >> 4)], hexDigits[Int(b & 0xF)]])
            default:
                out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
