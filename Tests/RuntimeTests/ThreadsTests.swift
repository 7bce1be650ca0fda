import Foundation
import Testing
@testable import LiaisonRuntime

@Suite struct ThreadsTests {
    /// An operator finds a service's socket threads by name in `top -H` (the kernel keeps 15 bytes).
    @Test func aBlockingThreadCarriesItsNameForTheKernel() async throws {
        @Sendable func comm() -> String {
            (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) ?? ""
        }
        let short = try await Threads.run(name: "test-requests") { comm() }
        #expect(short == "test-requests")
        let long = try await Threads.run(name: "intake-1-requests") { comm() }
        #expect(long == "intake-1-reques")
    }
}
