import ArgumentParser
import LiaisonRuntime
import Reporting

/// `liaison-reporting`: consumes every stream and answers report queries.
@main
struct ReportingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-reporting",
        abstract: "Liaison reporting: counts and deadlines rebuilt from every stream.",
        discussion: "Consumes every instance of intake, handler and scheduler in the topology. Stop with SIGTERM or Ctrl-C.")

    @OptionGroup var options: ServiceOptions

    func run() async throws {
        let logger = options.bootstrapLogging(label: "liaison.reporting")
        let config = try options.resolve(service: "reporting")
        try await ReportingService.host(config: config, clock: options.clock, options: options.loopOptions, logger: logger).runUntilSignalled()
    }
}
