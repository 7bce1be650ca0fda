import ArgumentParser
import Foundation
import LiaisonRuntime
import LiaisonSealing
import Scheduler

/// `liaison-scheduler`: consumes `case.*`, keeps durable timers, plans open-week campaigns,
/// publishes `schedule.*`.
@main
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-scheduler",
        abstract: "Liaison scheduler: the follow-up call after a case is resolved, and open-week campaigns.",
        discussion: """
            Consumes every handler instance of the topology and publishes schedule.* on its own \
            stream: schedule.followup_due when a follow-up call comes due, and \
            schedule.registration when an open-week registration is confirmed, waitlisted, \
            promoted or cancelled (never the registrant's name); liaison.paired and liaison.visited \
            for the household liaison programme (never a household's name or address). Planning \
            campaigns and sessions, putting officers on duty and the liaison programme need an \
            operator secret when --operator-secrets (or \
            $LIAISON_OPERATOR_SECRET) gives some; registering is anyone's. Registrants' names, \
            households' names and addresses and visits' notes are sealed at rest with the contact \
            keys (the same key file as intake's). SIGHUP reads --units and --operator-secrets \
            again (a file that does not load is refused and the previous one stays; one that names \
            no secret at all is refused, since it would open planning and the households' \
            addresses to anyone). Stop with SIGTERM or Ctrl-C.
            """)

    @OptionGroup var options: ServiceOptions

    @Option(help: "Hours after a case is resolved that the follow-up call to the citizen is due.")
    var followupAfterHours: Double = 24

    @Option(help: "Unit directory (JSON): the venues and stations; read again on SIGHUP. Default: $LIAISON_UNITS, else the demo city.")
    var units: String?

    @Option(help: "Households each officer is paired with a year in the household liaison programme.")
    var householdsPerOfficer: Int = ProgrammeSettings().householdsPerOfficer

    @Option(help: "Visits to each household a year, planned evenly across it.")
    var visitsPerYear: Int = ProgrammeSettings().visitsPerYear

    @Option(help: "The zone whose calendar years the programme counts (an IANA name). Default: $LIAISON_TIME_ZONE, else Asia/Shanghai.")
    var timeZone: String?

    func validate() throws {
        guard (1...20).contains(householdsPerOfficer) else { throw ValidationError("--households-per-officer is 1 to 20, not \(householdsPerOfficer)") }
        guard (1...52).contains(visitsPerYear) else { throw ValidationError("--visits-per-year is 1 to 52, not \(visitsPerYear)") }
        _ = try zone()
    }

    func zone() throws -> TimeZone { try ForceTimeZone.resolve(timeZone) }

    @Option(help: "Operator secrets, one per line ('SECRET' or 'NAME SECRET'); planning, duty and the liaison programme then need one; read again on SIGHUP. Default: $LIAISON_OPERATOR_SECRET, else open.")
    var operatorSecrets: String?

    @Option(help: "Contact key file: 'ID BASE64-32-BYTES' per line, the first seals (what intake's --contact-keys takes). Default: $LIAISON_CONTACT_KEYS, else a key file generated in the data directory.")
    var contactKeys: String?

    @Flag(help: "Seal every stored name, address and visit note again with the current contact key (the first line), then exit. Stop the scheduler first. Afterwards the older keys can leave the key file.")
    var resealContacts = false

    func run() async throws {
        let logger = options.bootstrapLogging(label: "liaison.scheduler")
        let config = try options.resolve(service: "scheduler")
        let dataDir = (config.databasePath as NSString).deletingLastPathComponent
        let (vault, source) = try ContactVault.resolve(path: contactKeys, dataDir: dataDir)
        logger.info("personal data sealed with key \(vault.currentKeyID) from \(source)")
        if resealContacts {
            let (lines, complete) = try SchedulerService.resealPersonalData(config: config, vault: vault)
            lines.forEach { print($0) }
            if !complete { throw ExitCode(1) }
            return
        }
        for warning in SecretFiles.warnings([("the contact keys", ContactVault.keyFileInUse(path: contactKeys, dataDir: dataDir)),
                                             ("the operator secrets", operatorSecrets)]) {
            logger.warning("\(warning)")
        }
        let operators = try OperatorCredentials.resolve(path: operatorSecrets)
        operators.announce(to: logger)
        if !operators.isConfigured, config.curve == nil {
            logger.warning("no operator secret configured: anyone who reaches the scheduler may plan open-week campaigns and duty")
        }
        let (host, service) = try SchedulerService.host(config: config, vault: vault, clock: options.clock, followupAfter: followupAfterHours * 3_600,
                                                        units: try UnitDirectory.resolve(path: units),
                                                        programme: ProgrammeSettings(householdsPerOfficer: householdsPerOfficer, visitsPerYear: visitsPerYear, timeZone: try zone()),
                                                        operators: operators,
                                                        options: options.loopOptions, logger: logger)
        let (unitsPath, operatorsPath) = (units, operatorSecrets)
        // SIGHUP: the unit directory and the operator secrets read again, without a restart (a
        // leaked secret taken out of the file stops working at once).
        try await host.runUntilSignalled {
            do { try service.reloadUnits(path: unitsPath) } catch {
                logger.error("reload refused; the previous unit directory stays", metadata: ["error": "\(error)"])
            }
            // Kept to someone: with no secret at all, planning and the households' addresses would be anyone's.
            service.operators.reload(path: operatorsPath, keepSomeone: true, logger: logger)
        }
    }
}
