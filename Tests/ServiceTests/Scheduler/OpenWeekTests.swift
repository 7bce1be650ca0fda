import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import LiaisonSealing
import Testing
@testable import Scheduler

/// Open-week campaigns at the scheduler, without sockets: venues, sessions, registration with a
/// waiting list, duty without double booking, and every refusal naming its field.
@Suite struct OpenWeekTests {
    static let hour: TimeInterval = 3_600
    /// Monday 2026-12-14 00:00 UTC.
    static let monday = Date(timeIntervalSince1970: 1_797_206_400)
    /// The scheduler tests' contact keys: one for the whole run, so a scheduler started again on
    /// a test's database opens what it sealed.
    static let vault = ContactVault.throwaway(id: "test")

    final class Scheduler {
        let dir: TempDir
        let clock: ManualClock
        let service: SchedulerService

        init(dir: TempDir? = nil, now: Date = OpenWeekTests.monday - 7 * 86_400, operators: OperatorCredentials = .init(secrets: [])) throws {
            self.dir = try dir ?? TempDir()
            clock = ManualClock(now)
            let store = try Store(path: self.dir.file("s.sqlite"), migrations: SchedulerService.migrations(vault: OpenWeekTests.vault))
            service = SchedulerService(log: try EventLog(store: store, stream: "scheduler-1"), clock: clock, vault: OpenWeekTests.vault, operators: operators)
        }

        func ask(_ body: Liaison_V1_Request.OneOf_Body, credential: String = "") -> Liaison_V1_Reply {
            var r = Liaison_V1_Request()
            r.body = body
            r.credential = credential
            return service.handle([r])[0]
        }

        func events() throws -> [Liaison_V1_Event] { try service.log.replay(after: 0, limit: 1_000, prefixes: []).events }
    }

    static func plan(_ id: String = "open-week-2026") -> Liaison_V1_PlanCampaign {
        var p = Liaison_V1_PlanCampaign()
        p.campaignID = id
        p.name = "Police Open Week 2026"
        p.mainVenue = "city-bureau"            // spelled as typed: kept in the directory's spelling
        p.subVenues = ["DIST-EAST", "DIST-WEST"]
        p.startsAt = .init(date: monday)
        p.endsAt = .init(date: monday + 6 * 86_400)
        return p
    }

    static func session(_ id: String, venue: String = "DIST-EAST", at start: TimeInterval = 10 * hour, hours: TimeInterval = 2,
                        capacity: UInt32 = 4) -> Liaison_V1_AddSession {
        var a = Liaison_V1_AddSession()
        a.campaignID = "open-week-2026"
        a.sessionID = id
        a.venue = venue
        a.theme = "The command centre"
        a.startsAt = .init(date: monday + start)
        a.endsAt = .init(date: monday + start + hours * hour)
        a.capacity = capacity
        return a
    }

    static func register(_ id: String, _ session: String = "east-am", party: UInt32 = 1, name: String = "Li Wei") -> Liaison_V1_Request.OneOf_Body {
        .registerForSession(.with { $0.sessionID = session; $0.registrationID = id; $0.name = name; $0.partySize = party })
    }

    @Test func aCampaignWithSessionsAtItsVenues() throws {
        let s = try Scheduler()
        let c = s.ask(.planCampaign(Self.plan())).campaign
        #expect(c.mainVenue == "CITY-BUREAU" && c.subVenues == ["DIST-EAST", "DIST-WEST"] && c.sessions.isEmpty)
        // The same plan again changes nothing; another under the same id is a conflict.
        #expect(s.ask(.planCampaign(Self.plan())).campaign == c)
        var other = Self.plan()
        other.name = "Another week"
        #expect(s.ask(.planCampaign(other)).error.field == "plan_campaign.campaign_id")
        #expect(s.ask(.planCampaign(other)).error.code == .conflict)
        _ = s.ask(.addSession(Self.session("west-am", venue: "DIST-WEST")))
        let added = s.ask(.addSession(Self.session("east-am"))).campaign
        #expect(added.sessions.map(\.sessionID) == ["east-am", "west-am"])   // by start, then venue
        #expect(added.sessions[0].capacity == 4 && added.sessions[0].confirmed == 0)
        #expect(s.ask(.getCampaign(.with { $0.campaignID = "open-week-2026" })).campaign == added)
        #expect(s.ask(.getCampaign(.with { $0.campaignID = "nope" })).error.code == .notFound)
    }

    @Test func everyRefusalNamesItsField() throws {
        let s = try Scheduler()
        _ = s.ask(.planCampaign(Self.plan()))
        func field(_ body: Liaison_V1_Request.OneOf_Body) -> String { s.ask(body).error.field }
        var p = Self.plan("w2")
        p.mainVenue = "DIST-EAST"
        #expect(field(.planCampaign(p)) == "plan_campaign.main_venue")      // a district bureau, not the city bureau
        p = Self.plan("w2"); p.subVenues = ["DIST-EAST", "STN-EAST-01"]
        #expect(field(.planCampaign(p)) == "plan_campaign.sub_venues[1]")   // a station
        p = Self.plan("w2"); p.subVenues = ["DIST-EAST", "dist-east"]
        #expect(field(.planCampaign(p)) == "plan_campaign.sub_venues[1]")   // twice
        p = Self.plan("w2"); p.subVenues = ["NOWHERE"]
        #expect(field(.planCampaign(p)) == "plan_campaign.sub_venues[0]")
        p = Self.plan("w 2")
        #expect(field(.planCampaign(p)) == "plan_campaign.campaign_id")
        p = Self.plan("w2"); p.name = "  "
        #expect(field(.planCampaign(p)) == "plan_campaign.name")
        p = Self.plan("w2"); p.endsAt = p.startsAt
        #expect(field(.planCampaign(p)) == "plan_campaign.ends_at")
        p = Self.plan("w2"); p.clearStartsAt()
        #expect(field(.planCampaign(p)) == "plan_campaign.starts_at")
        var a = Self.session("x", venue: "DIST-SOUTH")
        #expect(field(.addSession(a)) == "add_session.venue")               // not one of the campaign's
        a = Self.session("x", at: -2 * Self.hour)
        #expect(field(.addSession(a)) == "add_session.starts_at")           // before the campaign
        a = Self.session("x", capacity: 0)
        #expect(field(.addSession(a)) == "add_session.capacity")
        a = Self.session("x"); a.campaignID = "none"
        #expect(s.ask(.addSession(a)).error.code == .notFound && field(.addSession(a)) == "add_session.campaign_id")
        a = Self.session("x"); a.theme = "Tour\u{1B}[2J"
        #expect(field(.addSession(a)) == "add_session.theme")
        _ = s.ask(.addSession(Self.session("east-am")))
        #expect(field(Self.register("r1", party: 7)) == "register_for_session.party_size")
        #expect(field(Self.register("r1", name: "")) == "register_for_session.name")
        #expect(field(Self.register("", name: "Li")) == "register_for_session.registration_id")
        #expect(field(Self.register("r1", "no-such")) == "register_for_session.session_id")
        #expect(field(.cancelRegistration(.with { $0.registrationID = "none" })) == "cancel_registration.registration_id")
        #expect(field(.assignDuty(.with { $0.sessionID = "east-am"; $0.officer = "PC-1" })) == "assign_duty.actor")
        #expect(field(.assignDuty(.with { $0.sessionID = "east-am"; $0.actor = "desk" })) == "assign_duty.officer")
    }

    @Test func aFullSessionKeepsAWaitingListInOrder() throws {
        let s = try Scheduler()
        _ = s.ask(.planCampaign(Self.plan()))
        _ = s.ask(.addSession(Self.session("east-am", capacity: 4)))
        #expect(s.ask(Self.register("a", party: 3)).registration.state == "confirmed")
        // b (2) does not fit in the 1 place left: it waits; c (1) would fit, but does not pass b.
        let b = s.ask(Self.register("b", party: 2)).registration
        #expect(b.state == "waitlisted" && b.waitlistPosition == 1)
        let c = s.ask(Self.register("c", party: 1)).registration
        #expect(c.state == "waitlisted" && c.waitlistPosition == 2)
        // The same registration again: the same answer, not a second place.
        #expect(s.ask(Self.register("b", party: 2)).registration == b)
        #expect(s.ask(Self.register("b", party: 1)).error.code == .conflict)
        // a cancels: its 3 places go to b (2) and then c (1), in order.
        #expect(s.ask(.cancelRegistration(.with { $0.registrationID = "a" })).registration.state == "cancelled")
        let session = s.ask(.getCampaign(.with { $0.campaignID = "open-week-2026" })).campaign.sessions[0]
        #expect(session.confirmed == 3 && session.waitlisted == 0)
        #expect(s.ask(Self.register("b", party: 2)).registration.state == "confirmed")
        // Cancelling twice changes nothing.
        #expect(s.ask(.cancelRegistration(.with { $0.registrationID = "a" })).registration.state == "cancelled")
        // The stream: each change, the registrant's name never.
        let events = try s.events()
        #expect(events.map { "\($0.registrationChanged.registrationID):\($0.registrationChanged.was)>\($0.registrationChanged.state)\($0.registrationChanged.promoted ? "+" : "")" }
                == ["a:>confirmed", "b:>waitlisted", "c:>waitlisted", "a:confirmed>cancelled", "b:waitlisted>confirmed+", "c:waitlisted>confirmed+"])
        #expect(events.allSatisfy { $0.topic == Topic.registration && $0.registrationChanged.venue == "DIST-EAST" })
        #expect(try events.allSatisfy { e in
            let bytes: [UInt8] = try e.serializedBytes()
            return !String(decoding: bytes, as: UTF8.self).contains("Li Wei")
        })
    }

    /// The door: its list (operators only, names opened), check-in from an hour before the session
    /// to its end, only for a confirmed registration, idempotent, never more than the party;
    /// a registration checked in cannot be cancelled; each check-in is an `attended` event.
    @Test func theDoorListsWhoIsComingAndChecksThemIn() throws {
        let s = try Scheduler(operators: .init(secrets: ["door-secret-2026-east"]))
        let key = "door-secret-2026-east"
        _ = s.ask(.planCampaign(Self.plan()), credential: key)
        _ = s.ask(.addSession(Self.session("east-am", capacity: 3)), credential: key)   // Monday 10:00-12:00
        _ = s.ask(Self.register("a", party: 2, name: "Li Wei"))
        _ = s.ask(Self.register("b", party: 2, name: "Wang Fang"))     // waits: 1 place left
        _ = s.ask(Self.register("c", party: 1, name: "Zhang San"))     // waits behind b
        _ = s.ask(Self.register("d", party: 1, name: "Zhao Min"))
        _ = s.ask(.cancelRegistration(.with { $0.registrationID = "d" }))
        _ = s.ask(.addSession(Self.session("west-am", venue: "DIST-WEST")), credential: key)
        #expect(s.ask(Self.register("e", "west-am", name: "Sun Li")).registration.state == "confirmed")
        let list = { s.ask(.getSessionList(.with { $0.sessionID = "east-am" }), credential: key).sessionList }
        #expect(s.ask(.getSessionList(.with { $0.sessionID = "east-am" })).error.code == .unauthorized)
        #expect(list().entries.map { "\($0.registrationID) \($0.name) \($0.state) \($0.waitlistPosition)" }
                == ["a Li Wei confirmed 0", "b Wang Fang waitlisted 1", "c Zhang San waitlisted 2", "d Zhao Min cancelled 0"])
        #expect(s.ask(.getSessionList(.with { $0.sessionID = "nope" }), credential: key).error.field == "get_session_list.session_id")

        func checkIn(_ id: String, _ people: UInt32 = 0, actor: String = "desk-east") -> Liaison_V1_Reply {
            s.ask(.checkIn(.with { $0.registrationID = id; $0.people = people; $0.actor = actor }), credential: key)
        }
        // Too early: check-in opens an hour before the session.
        s.clock.set(Self.monday + 8 * Self.hour + 59 * 60)
        #expect(checkIn("a").error.field == "check_in.registration_id" && checkIn("a").error.message.contains("opens at 2026-12-14 09:00 UTC"))
        s.clock.set(Self.monday + 9 * Self.hour + 30 * 60)
        #expect(s.ask(.checkIn(.with { $0.registrationID = "a"; $0.actor = "desk-east" })).error.code == .unauthorized)
        #expect(checkIn("a", 3).error.field == "check_in.people")           // a party of 2
        #expect(checkIn("a", actor: "").error.field == "check_in.actor")
        #expect(checkIn("b").error.code == .conflict && checkIn("b").error.message.contains("number 1 in line"))
        #expect(checkIn("d").error.code == .conflict)                      // cancelled
        #expect(checkIn("zz").error.code == .notFound)
        let checked = checkIn("a", 1).registration
        #expect(checked.state == "confirmed" && checked.attended == 1 && checked.partySize == 2)
        #expect(checkIn("a", 1).registration == checked)                   // again: the same answer
        #expect(checkIn("a", 2).error.field == "check_in.people")          // another count: a conflict
        #expect(s.ask(.cancelRegistration(.with { $0.registrationID = "a" })).error.code == .conflict)
        let shown = list().entries[0]
        #expect(shown.attended == 1 && shown.checkedInAt.date == Self.monday + 9 * Self.hour + 30 * 60)
        // After the session's end: closed.
        s.clock.set(Self.monday + 12 * Self.hour + 60)
        #expect(checkIn("e").error.message.contains("west-am ended at 2026-12-14 12:00 UTC"))
        #expect(checkIn("a", 1).registration == checked)
        let attended = try s.events().filter { $0.registrationChanged.state == "attended" }
        #expect(attended.map { "\($0.registrationChanged.registrationID) \($0.registrationChanged.was) \($0.registrationChanged.partySize)" } == ["a confirmed 1"])
    }

    /// A session called off before it begins: every registration cancelled (confirmed and
    /// waiting, each an event), its officers released, registration and duty refused naming why;
    /// a registrant learns why from their status; again: the same answer; once begun: refused.
    @Test func aSessionCalledOffCancelsItsRegistrations() throws {
        let s = try Scheduler()
        _ = s.ask(.planCampaign(Self.plan()))
        _ = s.ask(.addSession(Self.session("east-am", capacity: 2)))
        _ = s.ask(.assignDuty(.with { $0.sessionID = "east-am"; $0.officer = "PC-1001"; $0.actor = "desk" }))
        _ = s.ask(Self.register("a", party: 2))
        _ = s.ask(Self.register("b", party: 1))
        let status = { (id: String) in s.ask(.getRegistration(.with { $0.registrationID = id })) }
        #expect(status("b").registration.state == "waitlisted" && status("b").registration.waitlistPosition == 1)
        #expect(status("zz").error.field == "get_registration.registration_id")
        func callOff(_ reason: String = "Storm warning: the dogs stay in", actor: String = "desk-east") -> Liaison_V1_Reply {
            s.ask(.cancelSession(.with { $0.sessionID = "east-am"; $0.reason = reason; $0.actor = actor }))
        }
        #expect(callOff("").error.field == "cancel_session.reason" && callOff(actor: "").error.field == "cancel_session.actor")
        let off = callOff().campaign.sessions[0]
        #expect(off.cancelled == "Storm warning: the dogs stay in" && off.confirmed == 0 && off.waitlisted == 0 && off.officers.isEmpty)
        #expect(callOff().campaign.sessions[0] == off)                         // again: the same
        #expect(status("a").registration.state == "cancelled" && status("a").registration.sessionCancelled == "Storm warning: the dogs stay in")
        let late = s.ask(Self.register("c"))
        #expect(late.error.field == "register_for_session.session_id" && late.error.message.contains("called off (Storm warning"))
        #expect(s.ask(.assignDuty(.with { $0.sessionID = "east-am"; $0.officer = "PC-1002"; $0.actor = "desk" })).error.code == .conflict)
        let cancelled = try s.events().filter { $0.registrationChanged.state == "cancelled" }
        #expect(cancelled.map { "\($0.registrationChanged.registrationID) \($0.registrationChanged.was)" } == ["a confirmed", "b waitlisted"])
        // Once a session has begun it is not called off.
        _ = s.ask(.addSession(Self.session("west-am", venue: "DIST-WEST")))
        s.clock.set(Self.monday + 10 * Self.hour + 1)
        let begun = s.ask(.cancelSession(.with { $0.sessionID = "west-am"; $0.reason = "Too late"; $0.actor = "desk" }))
        #expect(begun.error.code == .conflict && begun.error.message.contains("began"))
    }

    @Test func registrationClosesWhenTheSessionBegins() throws {
        let s = try Scheduler(now: Self.monday + 10 * Self.hour + 60)
        _ = s.ask(.planCampaign(Self.plan()))
        _ = s.ask(.addSession(Self.session("east-am")))
        let late = s.ask(Self.register("late"))
        #expect(late.error.code == .conflict && late.error.field == "register_for_session.session_id")
    }

    @Test func anOfficerIsNeverOnDutyAtTwoSessionsAtOnce() throws {
        let s = try Scheduler()
        _ = s.ask(.planCampaign(Self.plan()))
        _ = s.ask(.addSession(Self.session("east-am", at: 10 * Self.hour, hours: 2)))
        _ = s.ask(.addSession(Self.session("west-mid", venue: "DIST-WEST", at: 11 * Self.hour, hours: 2)))
        _ = s.ask(.addSession(Self.session("west-pm", venue: "DIST-WEST", at: 12 * Self.hour, hours: 2)))
        func duty(_ session: String, _ officer: String, release: Bool = false) -> Liaison_V1_Reply {
            s.ask(.assignDuty(.with { $0.sessionID = session; $0.officer = officer; $0.actor = "desk-wang"; $0.release = release }))
        }
        #expect(duty("east-am", "pc-1001").campaign.sessions.first { $0.sessionID == "east-am" }?.officers == ["PC-1001"])
        #expect(duty("east-am", "PC-1001").error.code == .unspecified)          // again: nothing changes
        let clash = duty("west-mid", "PC-1001")
        #expect(clash.error.code == .conflict && clash.error.field == "assign_duty.officer" && clash.error.message.contains("east-am"))
        // Back to back is not overlapping; another officer may take the overlapping one.
        #expect(duty("west-pm", "PC-1001").error.code == .unspecified)
        #expect(duty("west-mid", "PC-2002").error.code == .unspecified)
        // Released from the morning, free for the middle session... which overlaps the afternoon's.
        _ = duty("east-am", "PC-1001", release: true)
        #expect(duty("west-mid", "PC-1001").error.code == .conflict)
        _ = duty("west-pm", "PC-1001", release: true)
        let sessions = duty("west-mid", "PC-1001").campaign.sessions
        #expect(sessions.map(\.officers) == [[], ["PC-1001", "PC-2002"], []])
    }

    @Test func planningNeedsAnOperatorWhenTheSchedulerHasSecrets() throws {
        let s = try Scheduler(operators: .init(operators: [.init(name: "pr.office", secret: "open-week-secret-2026")]))
        #expect(s.ask(.planCampaign(Self.plan())).error.code == .unauthorized)
        #expect(s.ask(.planCampaign(Self.plan()), credential: "wrong").error.code == .unauthorized)
        #expect(s.ask(.planCampaign(Self.plan()), credential: "open-week-secret-2026").campaign.campaignID == "open-week-2026")
        #expect(s.ask(.addSession(Self.session("east-am"))).error.code == .unauthorized)
        _ = s.ask(.addSession(Self.session("east-am")), credential: "open-week-secret-2026")
        #expect(s.ask(.assignDuty(.with { $0.sessionID = "east-am"; $0.officer = "PC-1"; $0.actor = "x" })).error.code == .unauthorized)
        // The public registers without one.
        #expect(s.ask(Self.register("r1")).registration.state == "confirmed")
    }

    @Test func everythingSurvivesARestart() throws {
        let dir = try TempDir()
        do {
            let s = try Scheduler(dir: dir)
            _ = s.ask(.planCampaign(Self.plan()))
            _ = s.ask(.addSession(Self.session("east-am", capacity: 1)))
            _ = s.ask(Self.register("a"))
            _ = s.ask(Self.register("b"))
            _ = s.ask(.assignDuty(.with { $0.sessionID = "east-am"; $0.officer = "PC-1"; $0.actor = "x" }))
        }
        let s = try Scheduler(dir: dir)
        let session = s.ask(.getCampaign(.with { $0.campaignID = "open-week-2026" })).campaign.sessions[0]
        #expect(session.confirmed == 1 && session.waitlisted == 1 && session.officers == ["PC-1"])
        #expect(s.ask(Self.register("b")).registration.waitlistPosition == 1)
        _ = s.ask(.cancelRegistration(.with { $0.registrationID = "a" }))
        #expect(s.ask(Self.register("b")).registration.state == "confirmed")
    }
}
