import Foundation

/// A fresh temporary directory for one test, removed when the test ends.
final class TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "liaison-rt-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Waits until `condition` holds, checking every 20 ms, for at most `seconds`. Returns whether it held.
func eventually(_ seconds: Double = 10, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(nanoseconds: 20_000_000)
    }
    return try condition()
}
