import ArgumentParser
import Handler
import LiaisonRuntime

/// `liaison-handler`: consumes every intake stream, opens one case per feedback, publishes `case.*`.
@main
struct HandlerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-handler",
        abstract: "Liaison handler: opens and routes cases from intake's feedback, holds them to deadlines.",
        discussion: "Consumes every intake instance of the topology and publishes case.* on its own stream. Stop with SIGTERM or Ctrl-C.")

    @OptionGroup var options: ServiceOptions

    func run() async throws {
        let logger = options.bootstrapLogging(label: "liaison.handler")
        let config = try options.resolve(service: "handler")
        try await HandlerService.host(config: config, clock: options.clock, logger: logger).runUntilSignalled()
    }
}
