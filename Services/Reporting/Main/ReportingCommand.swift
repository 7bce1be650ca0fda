import ArgumentParser
import Foundation
import LiaisonRuntime
import Reporting

/// `liaison-reporting`: consumes every stream, answers report queries and raises opinion alerts.
@main
struct ReportingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-reporting",
        abstract: "Liaison reporting: counts, deadlines, rates and opinion alerts rebuilt from every stream.",
        discussion: """
            Consumes every instance of intake, handler and scheduler in the topology. Its report \
            (liaison report) gives the response, resolution and satisfaction rates by unit, \
            category, officer and month. When complaints of one category about one unit reach \
            --alert-minimum in 24 hours and --alert-factor times their usual daily level (the mean \
            of the 28 days before), it raises an opinion alert: an opinion.alert event on its own \
            stream, once a day at most for the same category and unit. Stop with SIGTERM or Ctrl-C.
            """)

    @OptionGroup var options: ServiceOptions

    @Option(help: "The zone whose calendar months the rates by month count (an IANA name). Default: $LIAISON_TIME_ZONE, else Asia/Shanghai.")
    var timeZone: String?

    @Option(help: "The fewest complaints of one category about one unit in 24 hours that raise an opinion alert.")
    var alertMinimum: Int = OpinionAlertSettings().minimum

    @Option(help: "How many times their usual daily level those complaints must reach to raise an opinion alert.")
    var alertFactor: Double = OpinionAlertSettings().factor

    func validate() throws {
        guard alertMinimum >= 1 else { throw ValidationError("--alert-minimum is at least 1, not \(alertMinimum)") }
        guard alertFactor.isFinite, alertFactor >= 1 else { throw ValidationError("--alert-factor is at least 1, not \(alertFactor)") }
        _ = try zone()
    }

    func zone() throws -> TimeZone { try ForceTimeZone.resolve(timeZone) }

    func run() async throws {
        let logger = options.bootstrapLogging(label: "liaison.reporting")
        let config = try options.resolve(service: "reporting")
        try await ReportingService.host(config: config, clock: options.clock, options: options.loopOptions, timeZone: try zone(),
                                        alerts: OpinionAlertSettings(minimum: alertMinimum, factor: alertFactor), logger: logger).runUntilSignalled()
    }
}
