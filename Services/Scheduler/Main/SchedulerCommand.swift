import ArgumentParser
import LiaisonRuntime
import Scheduler

/// `liaison-scheduler`: consumes `case.*`, keeps durable timers, publishes `schedule.*`.
@main
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-scheduler",
        abstract: "Liaison scheduler: durable timers for the follow-up call after a case is resolved.",
        discussion: "Consumes every handler instance of the topology and publishes schedule.* on its own stream. Stop with SIGTERM or Ctrl-C.")

    @OptionGroup var options: ServiceOptions

    @Option(help: "Hours after a case is resolved that the follow-up call to the citizen is due.")
    var followupAfterHours: Double = 24

    func run() async throws {
        let logger = options.bootstrapLogging(label: "liaison.scheduler")
        let config = try options.resolve(service: "scheduler")
        try await SchedulerService.host(config: config, clock: options.clock, followupAfter: followupAfterHours * 3_600,
                                           options: options.loopOptions, logger: logger).runUntilSignalled()
    }
}
