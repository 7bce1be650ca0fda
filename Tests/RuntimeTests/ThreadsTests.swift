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

/// Work a timer does far less often than it wakes: due at once, then every `every`, or sooner when asked.
@Test func aCadenceIsDueAtOnceThenEveryIntervalOrWhenAsked() {
    var cadence = Cadence(every: 10)
    let t0 = Date(timeIntervalSince1970: 1_790_000_000)
    var seen: [Bool] = []
    for dt in [0, 9.9, 10] { seen.append(cadence.isDue(t0.addingTimeInterval(dt))) }
    cadence.due(at: t0.addingTimeInterval(11))
    for dt in [10.5, 11, 20.9, 21] { seen.append(cadence.isDue(t0.addingTimeInterval(dt))) }
    #expect(seen == [true, false, true, false, true, false, true])
}
