import ArgumentParser
import Foundation
import Intake
import LiaisonRuntime
import LiaisonSealing

/// `liaison-intake`: takes public feedback on its requests socket and publishes `feedback.received`.
@main
struct IntakeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "liaison-intake",
        abstract: "Liaison intake: accepts public feedback, stores it durably, publishes feedback.received.",
        discussion: "Binds the intake requests (ROUTER) and events (PUB) endpoints of the topology. Stop with SIGTERM or Ctrl-C. SIGHUP reloads the unit directory (a unit that opens is known without a restart) and the operator secrets file (a secret taken out stops reading contact data at once); a file that does not load is logged and the old one kept.")

    @OptionGroup var options: ServiceOptions

    @Option(help: "Unit directory (JSON) that unit codes are checked against. Default: $LIAISON_UNITS, else the demo city (deploy/units.json).")
    var units: String?

    @Option(help: "Contact-data keys: one 'ID BASE64-32-BYTES' per line, the first seals new data. Default: $LIAISON_CONTACT_KEYS, else a key file generated in the data directory.")
    var contactKeys: String?

    @Option(help: "Operator secrets, one per line ('SECRET' or 'NAME SECRET'), that may read contact data; read again on SIGHUP. Default: $LIAISON_OPERATOR_SECRET, else nobody.")
    var operatorSecrets: String?

    @Option(help: ArgumentHelp(
        "Days a citizen's contact data is kept after their case ends (closed or merged); then it is erased, and the erasure recorded.",
        discussion: "A number of days (365, 30, 0.5; 0 erases it as soon as the case ends) or 'never'.",
        valueName: "days"))
    var contactRetentionDays: ContactRetention = .standard

    @Option(help: ArgumentHelp(
        "The country calling code of the force's own phone numbers, so that '+86 138 1234 5678' and '138 1234 5678' are one caller to the near-duplicate check.",
        discussion: "1-3 digits, or 'none' to compare numbers by their digits as typed. Default: $LIAISON_PHONE_COUNTRY_CODE, else 86.",
        valueName: "code"))
    var phoneCountryCode: String?

    @Option(help: ArgumentHelp(
        "What a number dialled at home starts with and drops after the country code ('010-6552 1234' is '+86 10 6552 1234').",
        discussion: "0-2 digits, or 'none' (as in Italy, where '+39 06…' keeps its 0). Default: $LIAISON_PHONE_TRUNK_PREFIX, else 0.",
        valueName: "digits"))
    var phoneTrunkPrefix: String?

    @Flag(help: "Seal every stored contact again with the current contact key (the first line), then exit. Stop intake first. Afterwards the older keys can leave the key file.")
    var resealContacts = false

    func run() async throws {
        let logger = options.bootstrapLogging(label: "liaison.intake")
        let config = try options.resolve(service: "intake")
        // Settings checked before anything is written (a contact key file generated, a database made).
        let environment = ProcessInfo.processInfo.environment
        let phones = try PhoneNumbering(countryCode: phoneCountryCode ?? environment["LIAISON_PHONE_COUNTRY_CODE"] ?? "86",
                                        trunkPrefix: phoneTrunkPrefix ?? environment["LIAISON_PHONE_TRUNK_PREFIX"] ?? "0")
        logger.info("phone numbers compared as \(phones)")
        let (vault, source) = try ContactVault.resolve(path: contactKeys, dataDir: (config.databasePath as NSString).deletingLastPathComponent)
        logger.info("contact data sealed with key \(vault.currentKeyID) from \(source)")
        if resealContacts {
            let (lines, complete) = try IntakeService.resealContacts(config: config, vault: vault, logger: logger)
            lines.forEach { print($0) }
            if !complete { throw ExitCode(1) }
            return
        }
        let operators = try OperatorCredentials.resolve(path: operatorSecrets)
        operators.announce(to: logger)
        let keyFile = ContactVault.keyFileInUse(path: contactKeys, dataDir: (config.databasePath as NSString).deletingLastPathComponent)
        for warning in SecretFiles.warnings([("the contact keys", keyFile),
                                             ("the operator secrets", operatorSecrets)]) {
            logger.warning("\(warning)")
        }
        let (host, service) = try IntakeService.host(config: config, vault: vault, operators: operators, units: try UnitDirectory.resolve(path: units),
                                                     phones: phones, retention: contactRetentionDays, clock: options.clock, options: options.loopOptions, logger: logger)
        let (unitsPath, operatorsPath) = (units, operatorSecrets)
        try await host.runUntilSignalled {
            do { try service.reloadUnits(path: unitsPath) } catch {
                logger.error("reload refused; the previous unit directory stays", metadata: ["error": "\(error)"])
            }
            service.operators.reload(path: operatorsPath, keepSomeone: false, logger: logger)
        }
    }
}

extension ContactRetention: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
    public var defaultValueDescription: String { days.map { Self.number($0) } ?? "never" }
}
