import ArgumentParser
import Foundation
import LiaisonClient
import LiaisonCodec
import LiaisonRuntime
import SwiftProtobuf

/// `liaison openweek`: open-week campaigns at the scheduler.
struct OpenWeekGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openweek",
        abstract: "Plan a Police Open Week: venues, sessions, public registration, officers on duty.",
        discussion: """
            A campaign has one main venue (the city bureau) and linked sub-venues (district \
            bureaus); each venue has sessions with a time, a theme and a capacity. The public \
            registers for a session; once it is full, registrations wait in order, and a \
            cancellation gives its places to the first waiting party that fits. An officer is put \
            on duty at sessions, never at two that overlap.

              liaison openweek plan open-week-2026 --name "Police Open Week 2026" \\
                  --main CITY-BUREAU --sub DIST-EAST --sub DIST-WEST \\
                  --from "2026-12-14 09:00" --to "2026-12-20 18:00"
              liaison openweek session open-week-2026 east-mon-am --venue DIST-EAST \\
                  --theme "The command centre" --from "2026-12-14 10:00" --to "2026-12-14 12:00" --capacity 40
              liaison openweek duty east-mon-am --officer PC-1001
              liaison openweek register east-mon-am --name "Li Wei" --party 2
              liaison openweek cancel <registration id>
              liaison openweek show open-week-2026
              liaison openweek status <registration id>         # as it stands: confirmed, in line, ...
              liaison openweek door east-mon-am                 # the list at the door, with names
              liaison openweek checkin <registration id> --people 2
              liaison openweek call-off east-mon-am --reason "Storm warning: the dogs stay in"

            Times are this machine's local time unless they carry a zone. Planning, sessions, \
            duty, the door (its list, check-in) and calling a session off need an operator secret when the scheduler has \
            some (--credential-file or $LIAISON_OPERATOR_SECRET); registering and cancelling do \
            not, nor does a registration's status. Every command may be run again: the same plan, session, registration or check-in \
            changes nothing.
            """,
        subcommands: [Plan.self, AddSession.self, Register.self, Cancel.self, Status.self, Duty.self, Show.self, Door.self, CheckIn.self, CallOff.self])

    /// A time as `--from`/`--to` take it.
    static func time(_ text: String, _ option: String) throws -> Google_Protobuf_Timestamp {
        guard let t = FeedbackFile.time(text) else { throw ValidationError(FeedbackFile.notATime(option, text)) }
        return .init(date: t)
    }

    static func send(_ client: ClientOptions, _ body: Liaison_V1_Request.OneOf_Body, credentialFile: String? = nil,
                     operator: Bool = false) throws -> Liaison_V1_Reply {
        var r = Liaison_V1_Request()
        r.body = body
        if `operator` { r.credential = try OperatorSecret.read(file: credentialFile) }
        return try client.call("scheduler", r)
    }

    static func print(_ c: Liaison_V1_Campaign) {
        Swift.print("\(c.campaignID): \(c.name), \(Output.time(c.startsAt)) to \(Output.time(c.endsAt))")
        Swift.print("venues: \(c.mainVenue) (main)\(c.subVenues.map { ", " + $0 }.joined())")
        guard !c.sessions.isEmpty else { Swift.print("no sessions yet"); return }
        Swift.print(Output.table(["SESSION", "VENUE", "FROM", "TO", "THEME", "PLACES", "WAITING", "ON DUTY"], c.sessions.map { s in
            s.cancelled.isEmpty
                ? [s.sessionID, s.venue, Output.time(s.startsAt), Output.time(s.endsAt), s.theme, "\(s.confirmed)/\(s.capacity)",
                   "\(s.waitlisted)", s.officers.isEmpty ? "-" : s.officers.joined(separator: " ")]
                : [s.sessionID, s.venue, Output.time(s.startsAt), Output.time(s.endsAt), s.theme, "called off: \(s.cancelled)", "-", "-"]
        }))
    }

    static func print(_ r: Liaison_V1_Registration) {
        switch r.state {
        case "confirmed" where r.attended == 0: Swift.print("registration \(r.registrationID): confirmed for \(r.sessionID), \(r.partySize) \(r.partySize == 1 ? "person" : "people")")
        case "waitlisted": Swift.print("registration \(r.registrationID): session \(r.sessionID) is full; waiting, number \(r.waitlistPosition) in line (a cancellation gives the place)")
        case "confirmed" where r.attended > 0:
            Swift.print("registration \(r.registrationID): checked in at \(r.sessionID), \(r.attended) of \(r.partySize) \(r.partySize == 1 ? "person" : "people")")
        case "cancelled" where !r.sessionCancelled.isEmpty:
            Swift.print("registration \(r.registrationID): cancelled: session \(r.sessionID) was called off (\(r.sessionCancelled))")
        default: Swift.print("registration \(r.registrationID): \(r.state)")
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Plan a campaign: its main venue, sub-venues and dates.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The campaign's id, chosen by the office (open-week-2026).") var campaignId: String
        @Option(help: "Its name.") var name: String
        @Option(help: "The main venue: the city bureau's unit code.") var main: String
        @Option(help: "A sub-venue: a district bureau's unit code (repeat for each).") var sub: [String] = []
        @Option(help: "When it starts (2026-12-14 09:00).") var from: String
        @Option(help: "When it ends.") var to: String
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func run() throws {
            do {
                var p = Liaison_V1_PlanCampaign()
                p.campaignID = campaignId
                p.name = name
                p.mainVenue = main
                p.subVenues = sub
                p.startsAt = try OpenWeekGroup.time(from, "--from")
                p.endsAt = try OpenWeekGroup.time(to, "--to")
                let c = try OpenWeekGroup.send(client, .planCampaign(p), credentialFile: credentialFile, operator: true).campaign
                if client.json { Swift.print(Output.json(c)) } else { OpenWeekGroup.print(c) }
            } catch { reportFailure(error) }
        }
    }

    struct AddSession: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "session", abstract: "Add a session at one of a campaign's venues.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The campaign's id.") var campaignId: String
        @Argument(help: "The session's id, chosen by the office (east-mon-am).") var sessionId: String
        @Option(help: "The venue: the main venue or a sub-venue.") var venue: String
        @Option(help: "What it shows (The command centre).") var theme: String
        @Option(help: "When it starts (2026-12-14 10:00).") var from: String
        @Option(help: "When it ends.") var to: String
        @Option(help: "How many people it takes.") var capacity: UInt32
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func run() throws {
            do {
                var a = Liaison_V1_AddSession()
                a.campaignID = campaignId
                a.sessionID = sessionId
                a.venue = venue
                a.theme = theme
                a.startsAt = try OpenWeekGroup.time(from, "--from")
                a.endsAt = try OpenWeekGroup.time(to, "--to")
                a.capacity = capacity
                let c = try OpenWeekGroup.send(client, .addSession(a), credentialFile: credentialFile, operator: true).campaign
                if client.json { Swift.print(Output.json(c)) } else { OpenWeekGroup.print(c) }
            } catch { reportFailure(error) }
        }
    }

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a member of the public for a session (a place, or a place in line).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The session's id.") var sessionId: String
        @Option(help: "Who comes, as the door will ask.") var name: String
        @Option(help: "How many come together (1 to 6).") var party: UInt32 = 1
        @Option(help: "The registration's id, to send it again after no answer. Default: a new one, printed.") var registrationId: String?

        func run() throws {
            // Chosen before the first try, so that a registration that got no answer can be sent
            // again under the same id and never takes two places.
            let id = registrationId ?? "reg-" + UUID().uuidString.prefix(13).lowercased()
            do {
                var q = Liaison_V1_RegisterForSession()
                q.sessionID = sessionId
                q.name = name
                q.partySize = party
                q.registrationID = id
                let r = try OpenWeekGroup.send(client, .registerForSession(q)).registration
                if client.json { Swift.print(Output.json(r)) } else { OpenWeekGroup.print(r) }
            } catch let error as ClientError {
                reportFailure(error, hint: "send it again with --registration-id \(id): it is not registered twice", json: ["registration_id": id])
            } catch { reportFailure(error) }
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a registration; its places go to those waiting.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The registration's id.") var registrationId: String

        func run() throws {
            do {
                let r = try OpenWeekGroup.send(client, .cancelRegistration(.with { $0.registrationID = registrationId })).registration
                if client.json { Swift.print(Output.json(r)) } else { OpenWeekGroup.print(r) }
            } catch { reportFailure(error) }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A registration as it stands: confirmed, its number in line, checked in, cancelled (and why).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The registration's id.") var registrationId: String

        func run() throws {
            do {
                let r = try OpenWeekGroup.send(client, .getRegistration(.with { $0.registrationID = registrationId })).registration
                if client.json { Swift.print(Output.json(r)) } else { OpenWeekGroup.print(r) }
            } catch { reportFailure(error) }
        }
    }

    struct CallOff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "call-off",
            abstract: "Call a session off before it begins: its registrations cancelled, its officers released.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The session's id.") var sessionId: String
        @Option(help: "Why: told to those who ask after their registration.") var reason: String
        @Option(help: "Who calls it off. Default: $LIAISON_ACTOR, else $USER.") var actor: String?
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func run() throws {
            do {
                var q = Liaison_V1_CancelSession()
                q.sessionID = sessionId
                q.reason = reason
                q.actor = Actor.resolve(actor)
                let c = try OpenWeekGroup.send(client, .cancelSession(q), credentialFile: credentialFile, operator: true).campaign
                if client.json { Swift.print(Output.json(c)) } else { OpenWeekGroup.print(c) }
            } catch { reportFailure(error) }
        }
    }

    struct Duty: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put an officer on duty at a session (never at two that overlap), or --release them.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The session's id.") var sessionId: String
        @Option(help: "The officer's badge.") var officer: String
        @Flag(help: "Take the officer off the session instead.") var release = false
        @Option(help: "Who assigns. Default: $LIAISON_ACTOR, else $USER.") var actor: String?
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func run() throws {
            do {
                var q = Liaison_V1_AssignDuty()
                q.sessionID = sessionId
                q.officer = officer
                q.release = release
                q.actor = Actor.resolve(actor)
                let c = try OpenWeekGroup.send(client, .assignDuty(q), credentialFile: credentialFile, operator: true).campaign
                if client.json { Swift.print(Output.json(c)) } else { OpenWeekGroup.print(c) }
            } catch { reportFailure(error) }
        }
    }

    struct Door: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The list at a session's door: who registered, by name, confirmed first, and who has come.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The session's id.") var sessionId: String
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func run() throws {
            do {
                let l = try OpenWeekGroup.send(client, .getSessionList(.with { $0.sessionID = sessionId }), credentialFile: credentialFile, operator: true).sessionList
                if client.json { Swift.print(Output.json(l)); return }
                let confirmed = l.entries.filter { $0.state == "confirmed" }
                Swift.print("\(l.sessionID) at \(l.venue) (\(l.campaignID)), \(Output.time(l.startsAt)) to \(Output.time(l.endsAt)): "
                            + "\(confirmed.map(\.partySize).reduce(0, +))/\(l.capacity) places taken, \(confirmed.map(\.attended).reduce(0, +)) people checked in")
                guard !l.entries.isEmpty else { Swift.print("nobody has registered"); return }
                Swift.print(Output.table(["REGISTRATION", "NAME", "PARTY", "STATE", "CHECKED IN"], l.entries.map { e in
                    [e.registrationID, e.name, "\(e.partySize)", e.state == "waitlisted" ? "waiting (\(e.waitlistPosition))" : e.state,
                     e.attended > 0 ? "\(e.attended) at \(Output.time(e.checkedInAt))" : "-"]
                }))
            } catch { reportFailure(error) }
        }
    }

    struct CheckIn: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkin",
            abstract: "Check a confirmed registration's people in at the door (from an hour before the session to its end).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The registration's id.") var registrationId: String
        @Option(help: "How many of the party came. Default: the whole party.") var people: UInt32 = 0
        @Option(help: "Who checks them in. Default: $LIAISON_ACTOR, else $USER.") var actor: String?
        @Option(help: "File whose first line is the operator secret. Default: $LIAISON_OPERATOR_SECRET.") var credentialFile: String?

        func run() throws {
            do {
                var q = Liaison_V1_CheckIn()
                q.registrationID = registrationId
                q.people = people
                q.actor = Actor.resolve(actor)
                let r = try OpenWeekGroup.send(client, .checkIn(q), credentialFile: credentialFile, operator: true).registration
                if client.json { Swift.print(Output.json(r)) } else { OpenWeekGroup.print(r) }
            } catch { reportFailure(error) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a campaign with its sessions: places taken, people waiting, officers on duty.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The campaign's id.") var campaignId: String

        func run() throws {
            do {
                let c = try OpenWeekGroup.send(client, .getCampaign(.with { $0.campaignID = campaignId })).campaign
                if client.json { Swift.print(Output.json(c)) } else { OpenWeekGroup.print(c) }
            } catch { reportFailure(error) }
        }
    }
}
