import Foundation
import LiaisonRuntime
import Testing

/// `liaison-bench`, stopped in the middle of a run, leaves nothing behind: no intake serving on
/// its port, no databases in the temporary directory (a full run writes gigabytes there).
@Suite(.timeLimit(.minutes(3)))
struct BenchmarkEndToEndTests {
    /// A benchmark under way, its temporary files in a directory of the test's own (`TMPDIR`).
    final class Run {
        let tmp: String
        let bench = Process()
        let output: String

        init() throws {
            tmp = "/tmp/lb-" + UUID().uuidString.prefix(8).lowercased()
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            output = tmp + "/bench.log"
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            bench.executableURL = URL(fileURLWithPath: LiaisonSet.binDir + "/liaison-bench")
            // Long enough to be still running when it is stopped, whatever the machine's speed.
            bench.arguments = ["intake", "--runs", "1", "--seconds", "120", "--more-clients", "0", "--low-load", "50"]
            bench.environment = LiaisonSet.childEnvironment(["TMPDIR": tmp])
            bench.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            bench.standardError = bench.standardOutput
            do { try bench.run() } catch { try? FileManager.default.removeItem(atPath: tmp); throw error }
        }

        var said: String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }

        /// The benchmark's temporary directories still in `TMPDIR`.
        var directories: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []).filter { $0.hasPrefix("liaison-bench-") }
        }

        /// The pid of the `liaison-intake` the benchmark started, once it is running.
        var intake: pid_t? {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(bench.processIdentifier)/task")) ?? []
            for task in tasks {
                let children = (try? String(contentsOfFile: "/proc/\(bench.processIdentifier)/task/\(task)/children", encoding: .utf8)) ?? ""
                for pid in children.split(separator: " ").compactMap({ pid_t($0) }) where Self.commandLine(pid).contains("liaison-intake") {
                    return pid
                }
            }
            return nil
        }

        static func commandLine(_ pid: pid_t) -> String {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
            return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        }

        /// Whether `pid` runs a `liaison-intake` (not a zombie, not a pid reused by something else).
        static func runsIntake(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")"), !stat[close...].hasPrefix(") Z") else { return false }
            return commandLine(pid).contains("liaison-intake")
        }

        /// The intake found by ``underWay()``.
        private(set) var startedIntake: pid_t?

        /// Waits until the run is under way: its intake answers (the header follows its readiness)
        /// and runs; returns the intake's pid.
        func underWay() async throws -> pid_t {
            #expect(await eventually(90) { said.contains("liaison-bench intake:") && intake != nil }, "\(said)")
            startedIntake = intake
            return try #require(startedIntake)
        }

        /// Stops whatever is left and removes the directory, also when the test failed.
        func cleanUp() {
            if bench.isRunning { kill(bench.processIdentifier, SIGKILL); bench.waitUntilExit() }
            if let startedIntake, Self.runsIntake(startedIntake) { kill(startedIntake, SIGKILL) }
            try? FileManager.default.removeItem(atPath: tmp)
        }
    }

    /// Ctrl-C, SIGTERM (a CI job's timeout) or a closed terminal: the benchmark stops the intake it
    /// started, removes its directory, says so and exits with 128 + the signal's number.
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func anInterruptedBenchmarkStopsItsIntakeAndRemovesItsFiles(signal: Int32) async throws {
        let run = try Run()
        defer { run.cleanUp() }
        let pid = try await run.underWay()
        #expect(run.directories.count == 1, "\(run.directories)")   // the benchmark's files, in TMPDIR

        kill(run.bench.processIdentifier, signal)
        #expect(await eventually(30) { !run.bench.isRunning }, "\(run.said)")
        run.bench.waitUntilExit()
        #expect(run.bench.terminationReason == .exit && run.bench.terminationStatus == 128 + signal, "\(run.bench.terminationStatus)\n\(run.said)")
        #expect(!Run.runsIntake(pid), "liaison-intake (pid \(pid)) still runs")
        #expect(run.directories.isEmpty, "left behind: \(run.directories)")
        #expect(run.said.contains("liaison-bench: interrupted") && run.said.contains("liaison-intake (pid \(pid))"), "\(run.said)")
    }

    /// Killed outright, the benchmark cleans up nothing itself; the intake it started notices its
    /// supervisor gone and stops by itself.
    @Test func theIntakeOfABenchmarkKilledOutrightStopsByItself() async throws {
        let run = try Run()
        defer { run.cleanUp() }
        let pid = try await run.underWay()
        kill(run.bench.processIdentifier, SIGKILL)
        run.bench.waitUntilExit()
        #expect(await eventually(20) { !Run.runsIntake(pid) }, "liaison-intake (pid \(pid)) still runs after its benchmark was killed")
    }
}
