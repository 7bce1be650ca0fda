import Foundation

/// An operator's files (a routing policy, calendar years, contact keys, operator secrets, the data
/// directory): read with errors that say why, and their lines as an editor shows them.
public enum ConfigFiles {
    /// Every line of `text` with its 1-based number, trimmed of the spaces and tabs around it;
    /// blank lines included, so numbers are the ones an editor shows.
    ///
    /// A Swift `String` holds a Windows line end (`\r\n`) as one `Character`, so splitting at
    /// `"\n"` read a file saved on Windows (or pasted from a password manager) as one long line and
    /// reported a fault on line 1 that the operator could not see. Here every line end splits
    /// (`\n`, `\r\n`, `\r`) and a UTF-8 byte-order mark is dropped.
    public static func numbered(_ text: String) -> [(number: Int, text: String)] {
        var body = Substring(text)
        if body.first == "\u{FEFF}" { body = body.dropFirst() }
        return body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().map { i, line in
            (i + 1, line.trimmingCharacters(in: .whitespaces))
        }
    }

    /// The lines that say something: not blank and not a `#` comment, each with its number.
    public static func meaningful(_ text: String) -> [(number: Int, text: String)] {
        numbered(text).filter { !$0.text.isEmpty && !$0.text.hasPrefix("#") }
    }

    /// The text of an operator's file, or a ``ConfigError`` at `key` (the option or setting that
    /// named the file) saying why it cannot be read: no such file, permission denied, not UTF-8.
    /// (Foundation's own error reads "Error Domain=NSCocoaErrorDomain Code=260 …".)
    public static func read(_ path: String, key: String) throws(ConfigError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ConfigError(key, "cannot read \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError(key, "cannot read \(path)") }
        guard let text = String(data: data, encoding: .utf8) else { throw ConfigError(key, "\(path) is not UTF-8 text") }
        return text
    }

    /// Creates the directory `path` (and its parents) if it is missing, or throws a
    /// ``ConfigError`` at `key` saying why not ("Permission denied" for a service user that may
    /// not write there).
    public static func makeDirectory(_ path: String, key: String) throws(ConfigError) {
        guard !path.isEmpty else { return }
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw ConfigError(key, "cannot create the directory \(current): \(String(cString: strerror(errno)))")
            }
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigError(key, "\(path) is not a directory")
        }
    }
}

/// Files that hold secrets (contact keys, operator secrets, a CURVE key pair) and who else may read
/// them: a service warns at start, as ssh does of a private key, when anyone but the file's owner
/// and group may. It does not refuse: a container's secrets are often mounted world-readable
/// inside a container that runs nothing else.
public enum SecretFiles {
    /// One warning for each file of `files` (what it holds, its path) that others may read.
    public static func warnings(_ files: [(what: String, path: String?)]) -> [String] {
        files.compactMap { what, path in
            guard let path else { return nil }
            var st = stat()
            guard stat(path, &st) == 0, st.st_mode & S_IROTH != 0 else { return nil }
            let mode = String(st.st_mode & 0o777, radix: 8)
            return "\(what) \(path) may be read by every user of this machine (mode \(mode)): chmod o-r \(path) (600 or 640)"
        }
    }
}
