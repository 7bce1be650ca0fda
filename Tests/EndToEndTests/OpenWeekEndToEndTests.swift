import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing

/// A Police Open Week planned and booked through `liaison openweek` against the real scheduler.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct OpenWeekEndToEndTests {
    @Test func aCampaignPlannedBookedAndStaffedOverTheCommandLine() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let secret = ["LIAISON_OPERATOR_SECRET": "pr.office open-week-secret-2026"]
        try set.start("scheduler", environment: secret)
        try set.start("reporting")
        try await set.waitReady(["scheduler", "reporting"])
        let operatorEnv = ["LIAISON_OPERATOR_SECRET": "open-week-secret-2026"]
        func at(_ days: Double, _ hour: Double) -> String {
            let f = ISO8601DateFormatter()
            let midnight = Calendar(identifier: .gregorian).startOfDay(for: Date())
            return f.string(from: midnight.addingTimeInterval(days * 86_400 + hour * 3_600))
        }
        func ok(_ args: [String], _ env: [String: String] = [:]) async throws -> String {
            let r = try await set.cli(["openweek"] + args, environment: env)
            #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.output)")
            return r.output
        }

        // Planning is an operator's: refused without the secret, naming what to give.
        let plan = ["plan", "open-week-2026", "--name", "Police Open Week 2026", "--main", "CITY-BUREAU",
                    "--sub", "DIST-EAST", "--sub", "dist-west", "--from", at(7, 0), "--to", at(13, 23)]
        let refused = try await set.cli(["openweek"] + plan)
        #expect(refused.status != 0 && refused.output.contains("operator secret"), "\(refused.output)")
        #expect(try await ok(plan, operatorEnv).contains("venues: CITY-BUREAU (main), DIST-EAST, DIST-WEST"))
        _ = try await ok(["session", "open-week-2026", "east-am", "--venue", "DIST-EAST", "--theme", "The command centre",
                          "--from", at(7, 10), "--to", at(7, 12), "--capacity", "2"], operatorEnv)
        _ = try await ok(["session", "open-week-2026", "west-mid", "--venue", "DIST-WEST", "--theme", "Police dogs",
                          "--from", at(7, 11), "--to", at(7, 13), "--capacity", "30"], operatorEnv)
        // A venue the campaign does not have: refused by its field.
        let wrong = try await set.cli(["openweek", "session", "open-week-2026", "x", "--venue", "DIST-SOUTH", "--theme", "T",
                                       "--from", at(7, 10), "--to", at(7, 12), "--capacity", "2"], environment: operatorEnv)
        #expect(wrong.status != 0 && wrong.output.contains("add_session.venue"), "\(wrong.output)")

        // The public books; the third waits in line.
        #expect(try await ok(["register", "east-am", "--name", "Li Wei", "--registration-id", "r-1"]).contains("confirmed"))
        #expect(try await ok(["register", "east-am", "--name", "Wang Fang", "--registration-id", "r-2"]).contains("confirmed"))
        #expect(try await ok(["register", "east-am", "--name", "Zhang San", "--registration-id", "r-3"]).contains("number 1 in line"))
        // The same registration sent again (no answer the first time): not a second place.
        #expect(try await ok(["register", "east-am", "--name", "Li Wei", "--registration-id", "r-1"]).contains("confirmed"))

        // Never two places at once.
        _ = try await ok(["duty", "east-am", "--officer", "pc-1001", "--actor", "desk-wang"], operatorEnv)
        let clash = try await set.cli(["openweek", "duty", "west-mid", "--officer", "PC-1001", "--actor", "desk-wang"], environment: operatorEnv)
        #expect(clash.status != 0 && clash.output.contains("assign_duty.officer") && clash.output.contains("east-am"), "\(clash.output)")

        // kill -9 loses nothing acknowledged.
        set.kill9("scheduler")
        try set.start("scheduler", environment: secret)
        try await set.waitReady(["scheduler"])
        let shown = try await ok(["show", "open-week-2026"])
        let east = shown.split(separator: "\n").first { $0.hasPrefix("east-am") }.map(String.init) ?? ""
        #expect(east.contains("2/2") && east.contains("PC-1001") && east.contains("The command centre"), "\(shown)")

        // A cancellation gives the place to the one waiting; the stream says so, without names.
        #expect(try await ok(["cancel", "r-2"]).contains("cancelled"))
        #expect(try await ok(["register", "east-am", "--name", "Zhang San", "--registration-id", "r-3"]).contains("confirmed"))
        let events = try await set.call("scheduler", .replay(.with { $0.limit = 100 })).replayBatch.events
        #expect(events.map { "\($0.registrationChanged.registrationID) \($0.registrationChanged.state)" }
                == ["r-1 confirmed", "r-2 confirmed", "r-3 waitlisted", "r-2 cancelled", "r-3 confirmed"])
        #expect(events.last?.registrationChanged.promoted == true)
        // Reporting counts the people confirmed at each venue.
        let counted = await eventually(10) {
            (try? await set.report().openWeekConfirmed.map { "\($0.key)=\($0.count)" }) == ["open-week-2026 DIST-EAST=2"]
        }
        #expect(counted)
    }

    /// At the door, over the command line: the list by name (operators only), a party checked in,
    /// and reporting's attendance.
    @Test func theDoorChecksPeopleInAndReportingCountsThem() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("scheduler", environment: ["LIAISON_OPERATOR_SECRET": "pr.office door-secret-2026-east"])
        try set.start("reporting")
        try await set.waitReady(["scheduler", "reporting"])
        let operatorEnv = ["LIAISON_OPERATOR_SECRET": "door-secret-2026-east"]
        let f = ISO8601DateFormatter(), now = Date()
        func ok(_ args: [String], _ env: [String: String] = [:]) async throws -> String {
            let r = try await set.cli(["openweek"] + args, environment: env)
            #expect(r.status == 0, "\(args.joined(separator: " ")): \(r.output)")
            return r.output
        }
        _ = try await ok(["plan", "ow-door", "--name", "Open day", "--main", "CITY-BUREAU", "--sub", "DIST-EAST",
                          "--from", f.string(from: now - 3_600), "--to", f.string(from: now + 86_400)], operatorEnv)
        // Begins in half an hour: check-in is open.
        _ = try await ok(["session", "ow-door", "east-now", "--venue", "DIST-EAST", "--theme", "Police dogs",
                          "--from", f.string(from: now + 1_800), "--to", f.string(from: now + 7_200), "--capacity", "3"], operatorEnv)
        _ = try await ok(["register", "east-now", "--name", "Li Wei", "--party", "2", "--registration-id", "r-1"])
        _ = try await ok(["register", "east-now", "--name", "Wang Fang", "--party", "2", "--registration-id", "r-2"])
        #expect(try await set.cli(["openweek", "door", "east-now"]).status != 0)   // names: operators only
        let door = try await ok(["door", "east-now"], operatorEnv)
        #expect(door.contains("2/3 places taken, 0 people checked in") && door.contains("Li Wei") && door.contains("waiting (1)"), "\(door)")
        #expect(try await ok(["checkin", "r-1", "--people", "2", "--actor", "desk-east"], operatorEnv).contains("checked in at east-now, 2 of 2 people"))
        let waiting = try await set.cli(["openweek", "checkin", "r-2", "--actor", "desk-east"], environment: operatorEnv)
        #expect(waiting.status != 0 && waiting.output.contains("check_in.registration_id") && waiting.output.contains("in line"), "\(waiting.output)")
        #expect(try await ok(["door", "east-now"], operatorEnv).contains("2 people checked in"))
        // A later session called off: its registration cancelled, the registrant told why.
        _ = try await ok(["session", "ow-door", "east-later", "--venue", "DIST-EAST", "--theme", "Police dogs",
                          "--from", f.string(from: now + 10_800), "--to", f.string(from: now + 14_400), "--capacity", "3"], operatorEnv)
        _ = try await ok(["register", "east-later", "--name", "Sun Li", "--registration-id", "r-3"])
        let refused = try await set.cli(["openweek", "call-off", "east-later", "--reason", "Storm warning"])
        #expect(refused.status != 0 && refused.output.contains("operator secret"), "\(refused.output)")
        #expect(try await ok(["call-off", "east-later", "--reason", "Storm warning", "--actor", "desk-east"], operatorEnv).contains("called off: Storm warning"))
        #expect(try await ok(["status", "r-3"]).contains("cancelled: session east-later was called off (Storm warning)"))
        #expect(try await ok(["status", "r-2"]).contains("number 1 in line"))
        let counted = await eventually(10) {
            let r = try? await set.report()
            return r?.openWeekAttended.map { "\($0.key)=\($0.count)" } == ["ow-door DIST-EAST=2"]
                && r?.openWeekConfirmed.map { "\($0.key)=\($0.count)" } == ["ow-door DIST-EAST=2"]
        }
        #expect(counted)
    }

    /// A registration that gets no answer (the scheduler down) says which id to send it again
    /// under, so that it never takes two places.
    @Test func aRegistrationWithoutAnAnswerNamesItsIdToSendAgain() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let r = try await set.cli(["openweek", "register", "east-am", "--name", "Li Wei", "--timeout", "200", "--retries", "1"])
        let id = try #require(r.output.firstMatch(of: /--registration-id (reg-[0-9a-f-]+)/).map { String($0.output.1) }, "\(r.output)")
        #expect(r.status != 0 && id.count > 4)
        let json = try await set.cli(["openweek", "register", "east-am", "--name", "Li Wei", "--registration-id", "r-9",
                                      "--timeout", "200", "--retries", "1", "--json"])
        #expect(json.status != 0 && json.output.contains("\"registration_id\":\"r-9\""), "\(json.output)")
    }

    /// A household's address and a visit's note on the real scheduler: not in its database's files,
    /// read back by operators; after a key rotation (`--reseal-contacts`, refused while the
    /// scheduler runs) the old key can go; a key file without the key that sealed them is said at start.
    @Test func personalDataIsSealedAtRestAndTheKeysRotate() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let k1 = "k1 " + Data((0..<32).map { UInt8($0) }).base64EncodedString()
        let k2 = "k2 " + Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()
        let secret = ["LIAISON_OPERATOR_SECRET": "pr.office open-week-secret-2026"], operatorEnv = ["LIAISON_OPERATOR_SECRET": "open-week-secret-2026"]
        try set.start("scheduler", environment: secret.merging(["LIAISON_CONTACT_KEYS": k1]) { a, _ in a })
        try await set.waitReady(["scheduler"])
        let visited = Date().addingTimeInterval(-3_600)
        var shanghai = Calendar(identifier: .gregorian)
        shanghai.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let year = "\(shanghai.component(.year, from: visited))"
        let address = "No. 17 Peony Court, 5-1101", note = "Asked about the night patrol on Peony Court"
        let paired = try await set.cli(["programme", "pair", year, "--officer", "PC-2002", "--station", "STN-EAST-01", "--household", "EAST01-0017",
                                        "--name", "Chen household", "--address", address, "--actor", "desk-li"], environment: operatorEnv)
        #expect(paired.status == 0, "\(paired.output)")
        let visit = try await set.cli(["programme", "visit", year, "EAST01-0017", "--officer", "PC-2002", "--at", ISO8601DateFormatter().string(from: visited),
                                       "--outcome", "education", "--note", note], environment: operatorEnv)
        #expect(visit.status == 0, "\(visit.output)")
        let busy = try await set.runOnce("scheduler", ["--reseal-contacts"], environment: ["LIAISON_CONTACT_KEYS": k2 + "\n" + k1])
        #expect(busy.status != 0 && busy.output.contains("in use"), "\(busy.output)")
        #expect(set.terminate("scheduler") == 0)
        // The database's files (the WAL was checkpointed at the graceful stop) hold neither.
        let files = try FileManager.default.contentsOfDirectory(atPath: set.dir + "/data").filter { $0.hasPrefix("scheduler-1.sqlite") }
        #expect(!files.isEmpty)
        for file in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: set.dir + "/data/" + file))
            #expect(bytes.range(of: Data(address.utf8)) == nil && bytes.range(of: Data(note.utf8)) == nil && bytes.range(of: Data("Chen household".utf8)) == nil,
                    "\(file) holds personal data in the clear")
        }
        let resealed = try await set.runOnce("scheduler", ["--reseal-contacts"], environment: ["LIAISON_CONTACT_KEYS": k2 + "\n" + k1])
        #expect(resealed.status == 0 && resealed.output.contains("re-sealed 3 value(s) of personal data with key k2; sealed now: 3 with k2"), "\(resealed.output)")
        try set.start("scheduler", environment: secret.merging(["LIAISON_CONTACT_KEYS": k2]) { a, _ in a })
        try await set.waitReady(["scheduler"])
        let shown = try await set.cli(["programme", "show", year, "--json"], environment: operatorEnv)
        #expect(shown.status == 0 && shown.output.contains("Peony Court, 5-1101") && shown.output.contains("night patrol"), "\(shown.output)")
        #expect(set.terminate("scheduler") == 0)
        // Started with a key file that lacks k2: said at once, in the log.
        let k3 = "k3 " + Data(repeating: 7, count: 32).base64EncodedString()
        try set.start("scheduler", environment: secret.merging(["LIAISON_CONTACT_KEYS": k3]) { a, _ in a })
        try await set.waitReady(["scheduler"])
        #expect(set.logs().contains("personal data sealed with keys not in the contact key file, which cannot be read: 3 with key 'k2'"), "\(set.logs())")
        let unreadable = try await set.cli(["programme", "show", year], environment: operatorEnv)
        #expect(unreadable.status != 0 && unreadable.output.contains("is that key still in the contact key file"), "\(unreadable.output)")
    }

    /// SIGHUP makes a running scheduler read its operator secrets and its unit directory again: a
    /// leaked secret taken out of the file stops working at once, a new community office pairs
    /// households, an emptied secrets file is refused (it would open the households' addresses to
    /// anyone), all by the same process.
    @Test func sighupReloadsTheSchedulersSecretsAndUnits() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let secrets = set.dir + "/operator-secrets", unitsPath = set.dir + "/units.json"
        try "wang.li leaked-secret-2026-wang\nzhao.min zhao-min-secret-2026\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        let shipped = try Data(contentsOf: URL(fileURLWithPath: LiaisonSet.repoRoot + "/deploy/units.json"))
        try shipped.write(to: URL(fileURLWithPath: unitsPath))
        try set.start("scheduler", extra: ["--operator-secrets", secrets, "--units", unitsPath])
        try await set.waitReady(["scheduler"])
        let pid = try #require(await set.status("scheduler")?.pid)
        func pair(_ household: String, station: String, _ secret: String) async throws -> (status: Int32, output: String) {
            try await set.cli(["programme", "pair", "2026", "--officer", "PC-3003", "--station", station, "--household", household,
                               "--name", "Sun family", "--address", "No. 3 Willow Row", "--actor", "desk-zhao"],
                              environment: ["LIAISON_OPERATOR_SECRET": secret])
        }
        #expect(try await pair("EAST01-0031", station: "STN-EAST-01", "leaked-secret-2026-wang").status == 0)
        let unknown = try await pair("EAST99-0001", station: "CPO-EAST-99", "zhao-min-secret-2026")
        #expect(unknown.status != 0 && unknown.output.contains("pair_household.station"), "\(unknown.output)")

        try "zhao.min zhao-min-secret-2026\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        var json = try JSONSerialization.jsonObject(with: shipped) as! [String: Any]
        json["units"] = (json["units"] as! [[String: Any]]) + [["code": "CPO-EAST-99", "name": "Willow Row Community Police Office",
                                                               "type": "community_office", "parent": "STN-EAST-01"]]
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: unitsPath))
        set.signal("scheduler", 0, SIGHUP)
        #expect(await eventually(10) { set.logs().contains("operator secrets reloaded: 1 in force") && set.logs().contains("unit directory reloaded") },
                "\(set.logs().suffix(3_000))")
        let leaked = try await pair("EAST01-0032", station: "STN-EAST-01", "leaked-secret-2026-wang")
        #expect(leaked.status != 0 && leaked.output.contains("unauthorized"), "\(leaked.output)")
        let opened = try await pair("EAST99-0001", station: "cpo-east-99", "zhao-min-secret-2026")
        #expect(opened.status == 0 && opened.output.contains("CPO-EAST-99"), "\(opened.output)")

        // Emptied by mistake: refused, the secret in force stays; nobody without it reads addresses.
        try "# all secrets revoked\n".write(toFile: secrets, atomically: true, encoding: .utf8)
        set.signal("scheduler", 0, SIGHUP)
        #expect(await eventually(10) { set.logs().contains("operator secrets not reloaded; the previous ones stay") }, "\(set.logs().suffix(3_000))")
        #expect(try await set.cli(["programme", "show", "2026"]).status != 0)
        let shown = try await set.cli(["programme", "show", "2026"], environment: ["LIAISON_OPERATOR_SECRET": "zhao-min-secret-2026"])
        #expect(shown.status == 0 && shown.output.contains("Willow Row"), "\(shown.output)")
        #expect(await set.status("scheduler")?.pid == pid, "restarted")
    }

    /// The household liaison programme over the command line: pairings within the limit, an issue
    /// raised on a visit taken in as feedback and linked, the coverage in the report.
    @Test func householdLiaisonProgrammeOverTheCommandLine() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let secret = ["LIAISON_OPERATOR_SECRET": "pr.office open-week-secret-2026"]
        try set.start("scheduler", environment: secret)
        for s in ["intake", "reporting"] { try set.start(s) }
        try await set.waitReady(["scheduler", "intake", "reporting"])
        let operatorEnv = ["LIAISON_OPERATOR_SECRET": "open-week-secret-2026"]
        // An hour ago, in the year the programme counts in (Shanghai's).
        let visited = Date().addingTimeInterval(-3_600)
        var shanghai = Calendar(identifier: .gregorian)
        shanghai.timeZone = TimeZone(identifier: "Asia/Shanghai")!
        let year = "\(shanghai.component(.year, from: visited))"
        let at = ISO8601DateFormatter().string(from: visited)

        func pair(_ household: String, _ env: [String: String] = [:]) async throws -> (status: Int32, output: String) {
            try await set.cli(["programme", "pair", year, "--officer", "pc-1001", "--station", "STN-EAST-01", "--household", household,
                               "--name", "Wang family", "--address", "No. 8 Lotus Lane, 3-402", "--actor", "desk-li"], environment: env)
        }
        let refused = try await pair("EAST01-0001")
        #expect(refused.status != 0 && refused.output.contains("operator secret"), "\(refused.output)")
        for h in ["EAST01-0001", "EAST01-0002"] {
            let r = try await pair(h, operatorEnv)
            #expect(r.status == 0 && r.output.contains(h), "\(r.output)")
        }
        let third = try await pair("EAST01-0003", operatorEnv)
        #expect(third.status != 0 && third.output.contains("pair_household.officer"), "\(third.output)")

        // On a visit the household raises an issue: taken in as feedback, its case linked to the visit.
        let submitted = try await set.cli(["submit", "--kind", "suggestion", "--channel", "liaison_visit", "--unit", "STN-EAST-01",
                                           "--text", "Residents ask for a street light at the back gate of Lotus Lane"])
        let caseNumber = try #require(submitted.output.firstMatch(of: /L1-[0-9]{7}/).map { String($0.output) }, "\(submitted.output)")
        let issue = try await set.cli(["programme", "visit", year, "EAST01-0001", "--officer", "PC-1001", "--at", at,
                                       "--outcome", "issue_raised", "--case-number", caseNumber, "--note", "Street light asked for"],
                                      environment: operatorEnv)
        #expect(issue.status == 0 && issue.output.contains("recorded"), "\(issue.output)")
        let wrongOutcome = try await set.cli(["programme", "visit", year, "EAST01-0002", "--officer", "PC-1001", "--at", at,
                                              "--outcome", "tea"], environment: operatorEnv)
        #expect(wrongOutcome.status != 0 && wrongOutcome.output.contains("nobody_home"), "\(wrongOutcome.output)")
        let shown = try await set.cli(["programme", "show", year, "--station", "stn-east-01"], environment: operatorEnv)
        #expect(shown.status == 0 && shown.output.contains("Lotus Lane") && shown.output.contains("issue_raised"), "\(shown.output)")
        // Addresses are for operators only.
        #expect(try await set.cli(["programme", "show", year]).status != 0)

        // Reporting: one officer, two households, one visited.
        let covered = await eventually(10) {
            (try? await set.report().liaisonCoverage.map { "\($0.station) \($0.officers) \($0.households) \($0.householdsVisited) \($0.visits)" })
                == ["STN-EAST-01 1 2 1 1"]
        }
        #expect(covered)
        let events = try await set.call("scheduler", .replay(.with { $0.limit = 100 })).replayBatch.events
        #expect(events.map(\.topic) == [Topic.liaisonPaired, Topic.liaisonPaired, Topic.liaisonVisited])
        #expect(events.last?.liaisonVisited.feedbackCaseNumber == caseNumber)
    }
}
