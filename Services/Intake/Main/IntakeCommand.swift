import ArgumentParser
import Intake
import LiaisonRuntime

/// `liaison-intake`: takes public feedback on its requests socket and publishes `feedback.received`.
@main
struct IntakeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-intake",
        abstract: "Liaison intake: accepts public feedback, stores it durably, publishes feedback.received.",
        discussion: "Binds the intake requests (ROUTER) and events (PUB) endpoints of the topology. Stop with SIGTERM or Ctrl-C.")

    @OptionGroup var options: ServiceOptions

    @Option(help: "Unit directory (JSON) that unit codes are checked against. Default: $LIAISON_UNITS, else the demo city (deploy/units.json).")
    var units: String?

    func run() async throws {
        let logger = options.bootstrapLogging(label: "liaison.intake")
        let config = try options.resolve(service: "intake")
        try await IntakeService.host(config: config, units: try UnitDirectory.resolve(path: units), clock: options.clock, options: options.loopOptions, logger: logger).runUntilSignalled()
    }
}
