import ArgumentParser
import Foundation
import Handler
import LiaisonRuntime

/// `liaison-handler`: consumes every intake stream, opens one case per feedback in its partition,
/// runs the case life cycle and its deadlines, publishes `case.*`.
@main
struct HandlerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-handler",
        abstract: "Liaison handler: routes cases by policy, runs their life cycle, holds them to deadlines.",
        discussion: """
            Consumes every intake instance of the topology and publishes case.* on its own \
            stream. With several handler instances in the topology, instance k of n owns the cases \
            whose number hashes to partition k/n (override with --partition). SIGHUP reloads the \
            policy, the calendar, the unit directory and the operator secrets file (a bad file is \
            reported and the old ones kept; a secrets file emptied is refused, since no secret \
            would open case commands to anyone). Stop with SIGTERM or Ctrl-C.
            """)

    @OptionGroup var options: ServiceOptions

    @Option(help: "Routing policy file (see deploy/policy.conf). Default: $LIAISON_POLICY, else the built-in policy.")
    var policy: String?

    @Option(help: "Directory of working-calendar year files (see deploy/calendar). Default: $LIAISON_CALENDAR, else the built-in demo calendar.")
    var calendar: String?

    @Option(help: "Unit directory (JSON). Default: $LIAISON_UNITS, else the demo city.")
    var units: String?

    @Option(help: "This instance's partition k/n (1-based). Default: from --instance and the number of handler instances in the topology.")
    var partition: String?

    @Option(help: "Operator secrets, one per line ('SECRET' or 'NAME SECRET'); case commands then need one; read again on SIGHUP. Default: $LIAISON_OPERATOR_SECRET, else commands are open.")
    var operatorSecrets: String?

    func run() async throws {
        let logger = options.bootstrapLogging(label: "liaison.handler")
        let config = try options.resolve(service: "handler")
        let part: CasePartition
        if let partition {
            part = try CasePartition(parsing: partition)
        } else {
            part = CasePartition(index: config.index, count: max(1, config.topology.instances(of: "handler").count))
        }
        let unitDirectory = try UnitDirectory.resolve(path: units)
        let settings = try HandlerSettings.load(policyPath: policy, calendarDir: calendar, units: unitDirectory)
        let operators = try OperatorCredentials.resolve(path: operatorSecrets)
        operators.announce(to: logger)
        for warning in SecretFiles.warnings([("the operator secrets", operatorSecrets)]) {
            logger.warning("\(warning)")
        }
        if !operators.isConfigured {
            if config.curve != nil {
                // Over CURVE the role table already keeps case commands to operator keys.
                logger.notice("no operator secret configured: case commands need a key its --curve-clients file lets in as operator")
            } else {
                logger.warning("no operator secret configured: anyone who reaches the handler may give case commands")
            }
        }
        logger.info("handler partition \(part); policy \(settings.policy.source) with \(settings.policy.rules.count) rules")
        let (host, service) = try HandlerService.host(config: config, settings: settings, partition: part, operators: operators,
                                                      clock: options.clock, options: options.loopOptions, logger: logger)
        let (policyPath, calendarDir, unitsPath) = (policy, calendar, units)
        let operatorsPath = operatorSecrets
        try await host.runUntilSignalled {
            do { try service.reload(policyPath: policyPath, calendarDir: calendarDir, unitsPath: unitsPath) } catch {
                logger.error("reload refused; the previous policy, calendar and unit directory stay", metadata: ["error": "\(error)"])
            }
            // Kept to someone: with no secret at all, case commands would be anyone's.
            service.operators.reload(path: operatorsPath, keepSomeone: true, logger: logger)
        }
    }
}
