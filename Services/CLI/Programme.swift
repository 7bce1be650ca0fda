import ArgumentParser
import Foundation
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime

/// `liaison programme`: the household liaison programme at the scheduler.
struct ProgrammeGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "programme",
        abstract: "The household liaison programme: officers paired with households, visits and their outcomes.",
        discussion: """
            Every station officer is paired with households for a year (the scheduler's \
            --households-per-officer, default 2) and visits each of them --visits-per-year times \
            (default 4), planned evenly across the year. A visit is recorded with its outcome: \
            practical_help, dispute_mediated, education, issue_raised (the issue submitted first, \
            liaison submit --channel liaison_visit, and its case number given) or nobody_home \
            (the visit is still owed).

              liaison programme pair 2026 --officer PC-1001 --station STN-EAST-01 \\
                  --household EAST01-0042 --name "Wang family" --address "No. 8 Lotus Lane, 3-402"
              liaison programme visit 2026 EAST01-0042 --officer PC-1001 --at "2026-03-14 15:00" \\
                  --outcome education --note "Anti-fraud leaflet, checked the door lock"
              liaison programme show 2026 --station STN-EAST-01

            Households' names and addresses are shown to operators only (--credential-file or \
            $LIAISON_OPERATOR_SECRET when the scheduler has operator secrets).
            """,
        subcommands: [Pair.self, Visit.self, Show.self])

    static func send(_ client: ClientOptions, _ body: Liaison_V1_Request.OneOf_Body, credentialFile: String?) throws -> Liaison_V1_Programme {
        var r = Liaison_V1_Request()
        r.body = body
        r.credential = try OperatorSecret.read(file: credentialFile)
        return try client.call("scheduler", r).programme
    }

    static func print(_ p: Liaison_V1_Programme, now: Date = Date()) {
        if p.pairings.isEmpty { Swift.print("no households paired for \(p.year)") } else { Swift.print(Output.table(["STATION", "OFFICER", "HOUSEHOLD", "NAME", "ADDRESS", "VISITS", "OWED", "NEXT PLANNED"], p.pairings.map { x in
            let next = x.planned.first { $0.date > now }.map { Output.time($0) } ?? "-"
            let visits = x.visits.isEmpty ? "-" : x.visits.map { "\(Output.time($0.visitedAt).prefix(10)) \($0.outcome.name)" }.joined(separator: "; ")
            return [x.station, x.officer, x.householdID, x.householdName, x.address, visits, "\(x.owed)", next]
        })) }
        guard !p.coverage.isEmpty else { return }
        Swift.print("\ncoverage \(p.year):")
        Swift.print(Output.table(["STATION", "OFFICERS", "HOUSEHOLDS", "VISITED", "VISITS", "SHORT OF HOUSEHOLDS (ROSTER)"], p.coverage.map {
            [$0.station, $0.roster > 0 ? "\($0.officers)/\($0.roster)" : "\($0.officers)", "\($0.households)", "\($0.householdsVisited)/\($0.households)", "\($0.visits)",
             $0.roster == 0 ? "-" : $0.shortOfHouseholds.isEmpty ? "none" : $0.shortOfHouseholds.joined(separator: " ")]
        }))
    }

    struct Pair: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pair an officer with a household for a year.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The year (2026).") var year: UInt32
        @Option(help: "The officer's badge.") var officer: String
        @Option(help: "The officer's station or community police office (unit code).") var station: String
        @Option(help: "The household's id, chosen by the station (EAST01-0042).") var household: String
        @Option(help: "The household's name (Wang family).") var name: String
        @Option(help: "Its address.") var address: String
        @Option(help: "Who pairs them. Default: $LIAISON_ACTOR, else $USER.") var actor: String?
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func run() throws {
            do {
                let q = Liaison_V1_PairHousehold.with {
                    $0.year = year; $0.officer = officer; $0.station = station; $0.householdID = household
                    $0.householdName = name; $0.address = address; $0.actor = Actor.resolve(actor)
                }
                let p = try ProgrammeGroup.send(client, .pairHousehold(q), credentialFile: credentialFile)
                if client.json { Swift.print(Output.json(p)) } else { ProgrammeGroup.print(p) }
            } catch { reportFailure(error) }
        }
    }

    struct Visit: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a visit to a household and its outcome.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The year of the pairing.") var year: UInt32
        @Argument(help: "The household's id.") var household: String
        @Option(help: "The officer who visited (the household's officer that year).") var officer: String
        @Option(help: "When (2026-03-14 15:00, this machine's time zone, or with a zone).") var at: String
        @Option(help: "practical_help, dispute_mediated, education, issue_raised or nobody_home.") var outcome: String
        @Option(help: "What was done (kept in the scheduler, never on the stream).") var note: String = ""
        @Option(help: "With issue_raised: the case number the issue was submitted as.") var caseNumber: String = ""
        @Option(help: "The visit's id, to send it again after no answer. Default: a new one.") var visitId: String?
        @Option(help: "Who records it. Default: $LIAISON_ACTOR, else $USER.") var actor: String?
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func validate() throws {
            guard Liaison_V1_VisitOutcome(name: outcome) != nil else {
                throw ValidationError("--outcome \(outcome) is not one of: \(Liaison_V1_VisitOutcome.named.map(\.0).joined(separator: ", "))")
            }
            guard FeedbackFile.time(at) != nil else { throw ValidationError(FeedbackFile.notATime("--at", at)) }
        }

        func run() throws {
            // Chosen before the first try: a visit that got no answer is sent again under it.
            let id = visitId ?? "visit-" + UUID().uuidString.prefix(13).lowercased()
            do {
                let q = Liaison_V1_RecordVisit.with {
                    $0.visitID = id
                    $0.year = year; $0.householdID = household; $0.officer = officer
                    $0.visitedAt = .init(date: FeedbackFile.time(at)!)
                    $0.outcome = Liaison_V1_VisitOutcome(name: outcome)!
                    $0.note = note; $0.feedbackCaseNumber = caseNumber.isEmpty ? "" : CaseNumberText.normalized(caseNumber)
                    $0.actor = Actor.resolve(actor)
                }
                let p = try ProgrammeGroup.send(client, .recordVisit(q), credentialFile: credentialFile)
                if client.json { Swift.print(Output.json(p)) } else { Swift.print("visit \(q.visitID) recorded"); ProgrammeGroup.print(p) }
            } catch let error as ClientError {
                reportFailure(error, hint: "send it again with --visit-id \(id): it is not recorded twice", json: ["visit_id": id])
            } catch { reportFailure(error) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a year's pairings, visits owed and coverage by station.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The year.") var year: UInt32
        @Option(help: "Only this station's.") var station: String = ""
        @Option(help: "Only this officer's.") var officer: String = ""
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func run() throws {
            do {
                let q = Liaison_V1_GetProgramme.with { $0.year = year; $0.station = station; $0.officer = officer }
                let p = try ProgrammeGroup.send(client, .getProgramme(q), credentialFile: credentialFile)
                if client.json { Swift.print(Output.json(p)) } else { ProgrammeGroup.print(p) }
            } catch { reportFailure(error) }
        }
    }
}
