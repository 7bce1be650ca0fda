import Foundation
import LiaisonCodec
import LiaisonRuntime
import Testing
import ZeroMQ

/// The handler's life cycle, partitions, deadlines and reload, over the real executables.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct HandlerEndToEndTests {
    /// Submits one feedback and waits until its owner has opened the case.
    func openCase(_ set: LiaisonSet, _ f: Liaison_V1_SubmitFeedback, handlers: Int = 1) async throws -> String {
        try await openCaseWithToken(set, f, handlers: handlers).caseNumber
    }

    func openCaseWithToken(_ set: LiaisonSet, _ f: Liaison_V1_SubmitFeedback, handlers: Int = 1, intake: Int = 0) async throws -> Liaison_V1_FeedbackAccepted {
        let ack = try await set.call("intake", .submitFeedback(f), instance: intake).feedbackAccepted
        let number = ack.caseNumber
        let owner = CasePartition.owner(of: number, count: handlers)
        let opened = await eventually(20) {
            let r = try? await set.call("handler", .getCase(.with { $0.caseNumber = number }), instance: owner)
            return r?.caseInfo.caseNumber == number
        }
        if !opened { throw SetupError("case \(number) was not opened\n\(set.logs())") }
        return ack
    }

    func handlerEvents(_ set: LiaisonSet, _ i: Int = 0) async throws -> [Liaison_V1_Event] {
        try await set.call("handler", .replay(.with { $0.limit = 5_000 }), instance: i).replayBatch.events
    }

    @Test func caseLifeCycleOverTheCommandLine() async throws {
        let set = try LiaisonSet()
        for s in ["intake", "handler", "reporting"] { try set.start(s) }
        try await set.waitReady(["intake", "handler", "reporting"])
        var f = submission(1, prefix: "life")
        f.kind = .complaint
        f.unit = "STN-EAST-01"
        f.officerBadge = "PC-77"
        let ack = try await openCaseWithToken(set, f)
        let number = ack.caseNumber
        let actor = ["--actor", "desk-wang"]
        func citizenSees() async throws -> Liaison_V1_FeedbackStatus {
            var query = Liaison_V1_GetFeedbackStatus()
            query.caseNumber = number
            query.trackingToken = ack.trackingToken
            return try await set.call("intake", .getFeedbackStatus(query)).feedbackStatus
        }

        // Never to the officer's own station; the refusal names the field.
        let refused = try await set.cli(["case", "assign", number, "--unit", "STN-EAST-01"] + actor)
        #expect(refused.status != 0 && refused.output.contains("case_command.unit") && refused.output.contains("own unit"))
        // A command the state does not take: a conflict naming the state and what it accepts.
        let early = try await set.cli(["case", "resolve", number, "Done"] + actor)
        #expect(early.status != 0 && early.output.contains("triaged") && early.output.contains("accepts: assign"))

        let steps: [[String]] = [
            ["case", "transfer", number, "--unit", "DIST-EAST", "--reason", "the district investigates"],
            ["case", "assign", number, "--officer", "PC-1001", "--reason", "on duty that night"],
            ["case", "accept", number],
            ["case", "note", number, "Checked the duty roster"],
            ["case", "respond", number, "We are investigating and will call you."],
            ["case", "resolve", number, "The officer was reprimanded and apologised."],
            ["case", "confirm_resolution", number, "--satisfaction", "4"],   // the protocol's name, as the handler lists it, works too
            ["case", "close", number],
        ]
        for step in steps {
            let r = try await set.cli(step + actor)
            #expect(r.status == 0, "\(step.joined(separator: " ")): \(r.output)")
            if step[1] == "resolve" {
                // What may come next, as the commands to type: confirm, not confirm_resolution.
                #expect(r.output.contains("next: confirm, close, reopen, note"), "\(r.output)")
            }
            if step[1] == "respond" {
                // The citizen's status follows the case: the public state and the response, never the internal note.
                let seen = await eventually(10) { (try? await citizenSees())?.state == "responded" }
                #expect(seen)
                let status = try await citizenSees()
                #expect(status.publicNote == "We are investigating and will call you." && !status.publicNote.contains("roster"))
            }
        }
        let final = await eventually(10) { (try? await citizenSees())?.state == "closed" }
        #expect(final)
        let show = try await set.cli(["case", "show", number])
        #expect(show.status == 0)
        // Every command takes a reason (optional where the life cycle does not ask for one); it is the audit trail's WHY.
        for line in ["accountable: SUPERVISION", "state       closed", "desk-wang", "the district investigates", "on duty that night",
                     "internal: Checked the duty roster",
                     "resolved -> closed"] {
            #expect(show.output.contains(line), "case show lacks '\(line)':\n\(show.output)")
        }
        let closed = try await set.cli(["cases", "--state", "closed", "--json"])
        #expect(closed.output.contains(number))
        // Every change is an event on the handler's stream; the internal note's text is not.
        let topics = try await handlerEvents(set).map(\.topic)
        #expect(topics == ["case.opened", "case.transferred", "case.assigned", "case.accepted", "case.noted", "case.responded",
                           "case.resolved", "case.resolution_confirmed", "case.closed"])
        #expect(try await !handlerEvents(set).contains { $0.caseUpdated.publicNote.contains("duty roster") })
        // kill -9 loses no acknowledged command and repeats none.
        let trailBefore = try await set.call("handler", .getCase(.with { $0.caseNumber = number })).caseInfo.audit.count
        set.kill9("handler")
        try set.start("handler")
        try await set.waitReady(["handler"])
        let after = try await set.call("handler", .getCase(.with { $0.caseNumber = number })).caseInfo
        #expect(after.state == "closed" && after.audit.count == trailBefore && trailBefore == 9)   // opened + 8 commands
        #expect(try await handlerEvents(set).count == 9)
        // Reporting follows the case to its final state.
        let followed = await eventually(10) { (try? await set.report().byState.map(\.key)) == ["closed"] }
        #expect(followed)
        // And counts it in the rates: answered and resolved in time by the officer assigned, for
        // the unit accountable (supervision, through the transfer), rated 4 of 5.
        let rated = await eventually(10) { (try? await set.report().ratesByOfficer.first?.rated) == 1 }
        #expect(rated)
        let rates = try await set.report()
        #expect(rates.ratesByUnit.map(\.key) == ["SUPERVISION"] && rates.ratesByOfficer.map(\.key) == ["PC-1001"])
        #expect(rates.ratesByCategory.map(\.key) == ["complaint"])
        let officer = rates.ratesByOfficer[0]
        #expect(officer.respondedOnTime == 1 && officer.responseDue == 1 && officer.resolvedOnTime == 1 && officer.resolutionDue == 1
                && officer.satisfied == 1 && officer.meanRating == 4)
        let printed = try await set.cli(["report"])
        let line = printed.output.split(separator: "\n").first { $0.contains("PC-1001") }.map(String.init) ?? ""
        #expect(printed.status == 0 && line.components(separatedBy: "1/1 100%").count == 4 && line.hasSuffix("4.0"), "\(printed.output)")
    }

    /// Whoever reviews a case sees every look at the citizen's contact data: intake records each
    /// disclosure and the handler that owns the case puts it in the case's audit trail, with who
    /// and why, never the contact itself.
    @Test func contactDisclosuresAreInTheCaseAuditTrail() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        // A named secret: the services know whose it is, the command line sends only the secret.
        let secret = ["LIAISON_OPERATOR_SECRET": "night.shift night-shift-secret-2026"]
        for s in ["intake", "handler"] { try set.start(s, environment: secret) }
        try await set.waitReady(["intake", "handler"])
        var f = submission(4, prefix: "told")
        f.contact.name = "Chen Jing"
        f.contact.phone = "13600001111"
        let number = try await openCase(set, f)
        let anonymous = try await openCase(set, submission(5, prefix: "anon"))
        let read = try await set.cli(["contact", number, "--reason", "follow-up call on the complaint", "--actor", "desk-li"], environment: secret)
        #expect(read.status == 0 && read.output.contains("13600001111"), "\(read.output)")
        let asked = try await set.cli(["contact", anonymous, "--reason", "call back"], environment: secret.merging(["LIAISON_ACTOR": "desk-zhou"]) { a, _ in a })
        #expect(asked.status == 0 && asked.output.contains("anonymous"), "\(asked.output)")
        let trail = { (n: String) async throws -> [Liaison_V1_AuditEntry] in
            try await set.call("handler", .getCase(.with { $0.caseNumber = n })).caseInfo.audit
        }
        let audited = await eventually(20) {
            let told = (try? await trail(number))?.contains { $0.action == "contact_disclosed" } == true
            let none = (try? await trail(anonymous))?.contains { $0.action == "contact_disclosed" } == true
            return told && none
        }
        #expect(audited, "\(set.logs())")
        let entry = try #require(try await trail(number).last)
        #expect(entry.actor == "desk-li" && entry.reason == "follow-up call on the complaint" && entry.fromState == "triaged" && entry.toState == "triaged")
        #expect(entry.credentialName == "night.shift", "\(entry)")
        let anonymousEntry = try await trail(anonymous).last
        #expect(anonymousEntry?.detail.contains("anonymous") == true && anonymousEntry?.actor == "desk-zhou")
        // A case command given with the same secret is put down to it as well.
        let noted = try await set.cli(["case", "note", number, "Called back", "--actor", "desk-li"], environment: secret)
        #expect(noted.status == 0, "\(noted.output)")
        let show = try await set.cli(["case", "show", number], environment: secret)
        #expect(show.status == 0 && show.output.contains("contact_disclosed") && show.output.contains("desk-li (secret of night.shift)"), "\(show.output)")
        #expect(try await trail(number).last?.credentialName == "night.shift")
        #expect(!show.output.contains("13600001111") && !show.output.contains("Chen Jing"))
        #expect(!show.output.contains("taken from the text"), "no number was in this text: \(show.output)")
        // A number the citizen wrote into the text: the case worker reads the marker, and how to
        // read what stood there.
        var written = submission(6, prefix: "written")
        written.text = "Please call me back on 138 0000 2222 about the noise."
        let withNumber = try await openCase(set, written)
        let shown = try await set.cli(["case", "show", withNumber], environment: secret)
        #expect(shown.status == 0 && shown.output.contains("Please call me back on [phone: in the contact] about the noise.")
                && shown.output.contains("(taken from the text and sealed: liaison contact \(withNumber) --reason \"...\", operators only)")
                && !shown.output.contains("0000 2222"), "\(shown.output)")
        // The privacy officer's list: every disclosure, oldest first, by case or by operator.
        let all = try await set.cli(["disclosures"])
        #expect(all.status == 0 && all.output.contains("desk-li") && all.output.contains("follow-up call on the complaint")
                && all.output.contains("anonymous: none stored") && !all.output.contains("13600001111"), "\(all.output)")
        #expect(all.output.range(of: "desk-li")!.lowerBound < all.output.range(of: "desk-zhou")!.lowerBound)
        let byCase = try await set.cli(["disclosures", "--case", number.lowercased()])
        #expect(byCase.output.contains("desk-li") && !byCase.output.contains("desk-zhou"), "\(byCase.output)")
        #expect(all.output.contains("desk-li (secret of night.shift)"), "\(all.output)")
        let bySecret = try await set.cli(["disclosures", "--actor", "night.shift"])
        #expect(bySecret.output.contains(number) && bySecret.output.contains(anonymous), "\(bySecret.output)")
        let byActor = try await set.cli(["disclosures", "--actor", "desk-zhou"])
        #expect(byActor.output.contains(anonymous) && !byActor.output.contains(number), "\(byActor.output)")
        let nobody = try await set.cli(["disclosures", "--actor", "desk-nobody"])
        #expect(nobody.status == 0 && nobody.output.contains("no contact data was disclosed or erased to desk-nobody"), "\(nobody.output)")
        // A period: today's are there, none tomorrow or before yesterday; a date that is none is refused.
        let day = DateFormatter()
        day.dateFormat = "yyyy-MM-dd"
        let (yesterday, tomorrow) = (day.string(from: Date().addingTimeInterval(-86_400)), day.string(from: Date().addingTimeInterval(86_400)))
        let today = try await set.cli(["disclosures", "--since", yesterday, "--until", tomorrow])
        #expect(today.output.contains("desk-li") && today.output.contains("desk-zhou"), "\(today.output)")
        let later = try await set.cli(["disclosures", "--since", tomorrow])
        #expect(later.status == 0 && later.output.contains("no contact data was disclosed or erased since \(tomorrow)"), "\(later.output)")
        let earlier = try await set.cli(["disclosures", "--until", yesterday])
        #expect(earlier.output.contains("no contact data was disclosed or erased before \(yesterday)"), "\(earlier.output)")
        let wrong = try await set.cli(["disclosures", "--since", "last month"])
        #expect(wrong.status != 0 && wrong.output.contains("--since 'last month' is not a date"), "\(wrong.output)")
        let swapped = try await set.cli(["disclosures", "--since", "2026-12-01", "--until", "2026-11-01"])
        #expect(swapped.status != 0 && swapped.output.contains("--until 2026-11-01 is not after --since 2026-12-01"), "\(swapped.output)")
        // The case's state and deadlines are untouched: a look is not a step in the life cycle.
        let info = try await set.call("handler", .getCase(.with { $0.caseNumber = number })).caseInfo
        #expect(info.state == "triaged" && info.audit.count == 3)
    }

    /// On the real executables: once a case ends, intake erases its contact after the retention
    /// (here at once), the case's audit trail says so, and an operator is told when.
    @Test func aContactIsErasedOnceItsCaseHasEndedAndTheTrailSaysSo() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let secret = ["LIAISON_OPERATOR_SECRET": "night-shift-secret-2026"]
        try set.start("intake", extra: ["--contact-retention-days", "0"], environment: secret)
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])
        var f = submission(6, prefix: "ends")
        f.contact.phone = "13500002222"
        let endingAck = try await openCaseWithToken(set, f)
        let ending = endingAck.caseNumber
        var g = submission(7, prefix: "stays")
        g.contact.phone = "13500003333"
        let staying = try await openCase(set, g)
        let merged = try await set.cli(["case", "merge", ending, "--into", staying, "--reason", "the same crossing", "--actor", "desk-li"])
        #expect(merged.status == 0, "\(merged.output)")
        // The merged case's citizen follows the case that goes on, told why, not what its citizen is told.
        for step in [["assign", "--officer", "PC-1001"], ["accept"], ["respond", "Ms Zhao, the lights are fixed tomorrow."]] {
            let r = try await set.cli(["case", step[0], staying] + step.dropFirst() + ["--actor", "desk-li"])
            #expect(r.status == 0, "\(r.output)")
        }
        let follows = await eventually(20) {
            let seen = try? await set.cli(["status", ending, endingAck.trackingToken])
            return seen?.output.contains("responded") == true
        }
        let seen = try await set.cli(["status", ending, endingAck.trackingToken])
        #expect(follows && seen.output.contains("joined with case \(staying)") && !seen.output.contains("Zhao"), "\(seen.output)")
        let erased = await eventually(20) {
            let trail = (try? await set.call("handler", .getCase(.with { $0.caseNumber = ending })))?.caseInfo.audit ?? []
            return trail.last?.action == "contact_erased"
        }
        #expect(erased, "\(set.logs())")
        let told = try await set.cli(["contact", ending, "--reason", "call back"], environment: secret)
        #expect(told.status == 0 && told.output.contains("erased") && !told.output.contains("13500002222"), "\(told.output)")
        // The case that goes on keeps its contact.
        let kept = try await set.cli(["contact", staying, "--reason", "call back"], environment: secret)
        #expect(kept.status == 0 && kept.output.contains("13500003333"), "\(kept.output)")
        let stream = try await set.call("intake", .replay(.with { $0.topicPrefixes = ["contact."] })).replayBatch.events.map(\.topic)
        #expect(stream == [Topic.contactErased, Topic.contactDisclosed], "\(stream)")
        let listed = try await set.cli(["disclosures", "--case", ending])
        #expect(listed.status == 0 && listed.output.contains("retention") && listed.output.contains("erased") && listed.output.contains("the case ended"), "\(listed.output)")
    }

    /// A backup taken before a contact was erased holds the contact; restored, it does not bring
    /// the contact back for good: intake, finding the case ended past the retention, erases it
    /// again. (Here the retention is shortened after the backup, as time passing would.)
    @Test func aContactErasedSinceABackupIsErasedAgainAfterTheRestore() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        let secret = ["LIAISON_OPERATOR_SECRET": "night-shift-secret-2026"]
        try set.start("intake", extra: ["--contact-retention-days", "never"], environment: secret)
        for service in ["handler", "scheduler", "reporting"] { try set.start(service) }
        try await set.waitReady()
        var f = submission(8, prefix: "restored")
        f.contact.phone = "13500004444"
        let ending = try await openCase(set, f)
        let staying = try await openCase(set, submission(9, prefix: "restored"))
        let merged = try await set.cli(["case", "merge", ending, "--into", staying, "--reason", "the same crossing", "--actor", "desk-li"])
        #expect(merged.status == 0, "\(merged.output)")
        // Intake has heard that the case ended before the copy is taken.
        #expect(await eventually(20) {
            guard let head = await set.status("handler")?.headSeq, head > 0 else { return false }
            return await set.status("intake")?.consumers.first { $0.stream == "handler-1" }?.appliedSeq == head
        })
        let backup = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup"])
        #expect(backup.status == 0, "\(backup.output)")
        func contact() async throws -> String { try await set.cli(["contact", ending, "--reason", "call back"], environment: secret).output }
        #expect(try await contact().contains("13500004444"), "kept while the retention is 'never'")

        // The retention passes: intake erases the contact.
        set.terminate("intake")
        try set.start("intake", extra: ["--contact-retention-days", "0"], environment: secret)
        #expect(await eventually(20) { (try? await contact())?.contains("erased") == true }, "\(set.logs())")

        // The backup, from before the erasure, is restored: intake erases the contact again.
        set.stopAll()
        let restored = try await set.cli(["restore", "--from", set.dir + "/backup", "--data-dir", set.dir + "/data"])
        #expect(restored.status == 0, "\(restored.output)")
        try set.start("intake", extra: ["--contact-retention-days", "0"], environment: secret)
        for service in ["handler", "scheduler", "reporting"] { try set.start(service) }
        try await set.waitReady()
        var last = ""
        #expect(await eventually(20) {
            last = (try? await contact()) ?? ""
            return last.contains("erased") && !last.contains("13500004444")
        }, "\(last)\n\(set.logs())")
        let stream = try await set.call("intake", .replay(.with { $0.topicPrefixes = ["contact.erased"] })).replayBatch.events
        #expect(stream.count == 1, "the restored intake's own stream records the erasure once: \(stream.map(\.topic))")
    }

    /// With two intake instances (a hotline centre's and the web's), the command line asks each case
    /// of the instance that made it: a citizen calling about `L2-…` is answered, and an operator reads
    /// its contact. A case of one instance merged into a case of the other, which was answered before
    /// the merge, shows its citizen that answer's state at once.
    @Test func withTwoIntakesEachCaseIsAskedOfTheIntakeThatMadeIt() async throws {
        let set = try LiaisonSet(instances: ["intake": 2])
        defer { set.stopAll() }
        let secret = ["LIAISON_OPERATOR_SECRET": "night-shift-secret-2026"]
        for i in 0..<2 { try set.start("intake", i, environment: secret) }
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])
        var f = submission(8, prefix: "web")
        f.contact.phone = "13500005555"
        let web = try await openCaseWithToken(set, f, intake: 1)
        let hotline = try await openCaseWithToken(set, submission(9, prefix: "desk"))
        #expect(web.caseNumber.hasPrefix("L2-") && hotline.caseNumber.hasPrefix("L1-"))
        // (Received, then being handled once intake-2 has heard the handler open it.)
        let handled = await eventually(20) {
            (try? await set.cli(["status", web.caseNumber.lowercased(), web.trackingToken]))?.output.contains("case \(web.caseNumber): being handled") == true
        }
        let asked = try await set.cli(["status", web.caseNumber.lowercased(), web.trackingToken])
        #expect(handled && asked.status == 0, "\(asked.output)")
        let read = try await set.cli(["contact", web.caseNumber, "--reason", "call back"], environment: secret)
        #expect(read.status == 0 && read.output.contains("13500005555"), "\(read.output)")
        // The web case is answered; then the hotline's duplicate joins it.
        for step in [["assign", "--officer", "PC-1001"], ["accept"],
                     ["await", "--reason", "address unclear", "--ask", "Which entrance of the building do you mean?"]] {
            let r = try await set.cli(["case", step[0], web.caseNumber] + step.dropFirst() + ["--actor", "desk-li"])
            #expect(r.status == 0, "\(r.output)")
        }
        // Waiting on the citizen: their status says what for, never the reason recorded.
        let told = await eventually(20) {
            let out = (try? await set.cli(["status", web.caseNumber, web.trackingToken]))?.output ?? ""
            return out.contains("waiting for you") && out.contains("Which entrance")
        }
        let waiting = try await set.cli(["status", web.caseNumber, web.trackingToken])
        #expect(told && !waiting.output.contains("address unclear"), "\(waiting.output)")
        for step in [["resume", "--tell", "Thank you: the north entrance."], ["respond", "We have sent a patrol."]] {
            let r = try await set.cli(["case", step[0], web.caseNumber] + step.dropFirst() + ["--actor", "desk-li"])
            #expect(r.status == 0, "\(r.output)")
        }
        let answered = await eventually(20) {
            (try? await set.cli(["status", web.caseNumber, web.trackingToken]))?.output.contains("responded") == true
        }
        #expect(answered)
        let merged = try await set.cli(["case", "merge", hotline.caseNumber, "--into", web.caseNumber, "--reason", "the same patrol", "--actor", "desk-li"])
        #expect(merged.status == 0, "\(merged.output)")
        let follows = await eventually(20) {
            (try? await set.cli(["status", hotline.caseNumber, hotline.trackingToken]))?.output.contains("responded") == true
        }
        let seen = try await set.cli(["status", hotline.caseNumber, hotline.trackingToken])
        #expect(follows && seen.output.contains("joined with case \(web.caseNumber)") && !seen.output.contains("patrol"), "\(seen.output)")
        // A desk of the second instance submits through it; a retry goes to the same one.
        let args = ["submit", "--intake", "intake-2", "--kind", "inquiry", "--channel", "web", "--address", "5 Elm", "--text", "When is open week?",
                    "--submission-id", "web-desk-1"]
        let second = try await set.cli(args)
        let again = try await set.cli(args)
        #expect(second.status == 0 && second.output.contains("case L2-") && again.output.contains("already submitted"), "\(second.output)\n\(again.output)")
        let unknown = try await set.cli(["submit", "--intake", "intake-9", "--kind", "inquiry", "--address", "5 Elm", "--text", "t"])
        #expect(unknown.status != 0 && unknown.output.contains("intake-1, intake-2"), "\(unknown.output)")
        // A case of an instance the topology does not have is named as such, not "no case".
        let third = try await set.cli(["status", "L3-0000001", "ABCD-EFGH-JKLM-NPQR"])
        #expect(third.status != 0 && third.output.contains("intake instance 3") && third.output.contains("topology"), "\(third.output)")
    }

    /// With two handler partitions, a merge into a case the other partition owns: a mistyped
    /// number is refused (before, the complaint was merged into nothing and took no command again),
    /// and a target merged already names the case it joined.
    @Test func aMergeAcrossPartitionsIsCheckedAgainstTheTargetsOwner() async throws {
        let set = try LiaisonSet(instances: ["handler": 2])
        defer { set.stopAll() }
        let secret = ["LIAISON_OPERATOR_SECRET": "night-shift-secret-2026"]
        try set.start("intake")
        for i in 0..<2 { try set.start("handler", i, environment: secret) }
        try await set.waitReady(["intake", "handler"])
        var numbers: [String] = []
        for i in 0..<6 { numbers.append(try await openCase(set, submission(20 + i, prefix: "part"), handlers: 2)) }
        let first = try #require(numbers.first { CasePartition.owner(of: $0, count: 2) == 0 })
        let others = numbers.filter { CasePartition.owner(of: $0, count: 2) == 1 }
        try #require(others.count >= 2)
        // A number no intake has given yet, on the other partition.
        let typo = try #require((7...60).map { "L1-" + String(repeating: "0", count: 7 - String($0).count) + String($0) }
            .first { CasePartition.owner(of: $0, count: 2) == 1 })
        let refused = try await set.cli(["case", "merge", first, "--into", typo, "--reason", "dup", "--actor", "desk-li"], environment: secret)
        #expect(refused.status != 0 && refused.output.contains("no case '\(typo)'"), "\(refused.output)")
        #expect(try await set.call("handler", .getCase(.with { $0.caseNumber = first }), instance: 0).caseInfo.state == "triaged")
        // others[1] joins others[0]; merging first into others[1] names others[0] instead.
        let joined = try await set.cli(["case", "merge", others[1], "--into", others[0], "--reason", "dup", "--actor", "desk-li"], environment: secret)
        #expect(joined.status == 0, "\(joined.output)")
        let redirected = try await set.cli(["case", "merge", first, "--into", others[1], "--reason", "dup", "--actor", "desk-li"], environment: secret)
        #expect(redirected.status != 0 && redirected.output.contains("merge into \(others[0])"), "\(redirected.output)")
        let done = try await set.cli(["case", "merge", first, "--into", others[0], "--reason", "dup", "--actor", "desk-li"], environment: secret)
        #expect(done.status == 0 && done.output.contains("duplicate of \(others[0])"), "\(done.output)")
    }

    @Test func threePartitionsOwnEveryCaseOnceAndARestartLosesNothing() async throws {
        let set = try LiaisonSet(instances: ["handler": 3])
        try set.start("intake")
        for i in 0..<3 { try set.start("handler", i) }
        try await set.waitReady(["intake", "handler"])

        func owned() async throws -> [[String]] {
            var out: [[String]] = []
            for i in 0..<3 {
                var numbers: [String] = []
                var after = ""
                while true {
                    let page = try await set.call("handler", .listCases(.with { $0.limit = 1_000; $0.afterCaseNumber = after }), instance: i).caseList
                    numbers += page.cases.map(\.caseNumber)
                    guard let last = page.cases.last, page.cases.count == 1_000 else { break }
                    after = last.caseNumber
                }
                out.append(numbers)
            }
            return out
        }
        func check(_ acked: [String]) async throws {
            let done = await eventually(30) { ((try? await owned())?.map(\.count).reduce(0, +) ?? 0) >= acked.count }
            #expect(done, "\(set.logs())")
            let parts = try await owned()
            let all = parts.flatMap { $0 }
            #expect(all.count == acked.count && Set(all) == Set(acked), "every case exactly once")
            for (i, numbers) in parts.enumerated() {
                #expect(numbers.allSatisfy { CasePartition.owner(of: $0, count: 3) == i })
                #expect(numbers.count > acked.count / 6, "partition \(i + 1) owns a fair share")
            }
        }

        var acked = try await submitAll(set, 0..<300, prefix: "part").map(\.caseNumber)
        try await check(acked)

        // One partition dies hard; submissions go on; it comes back and catches up.
        set.kill9("handler", 1)
        // The office still sees the other partitions' cases, with a warning naming the missing one.
        let partial = try await set.cli(["cases", "--limit", "1000", "--json", "--timeout", "300", "--retries", "1"])
        #expect(partial.status == 4 && partial.output.contains("partition 2/3"))
        let shown = partial.output.split(separator: "\n").filter { $0.hasPrefix("{") }.count
        #expect(shown == 300 - CasePartition.count(acked, partition: 1))
        acked += try await submitAll(set, 300..<450, prefix: "part").map(\.caseNumber)
        try set.start("handler", 1)
        try await set.waitReady(["handler"])
        try await check(acked)
        // Each partition published only its own case.opened, once each.
        var opened = 0
        for i in 0..<3 { opened += try await handlerEvents(set, i).filter { $0.topic == "case.opened" }.count }
        #expect(opened == 450)

        // The command line routes a case to its owner; a wrong partition names the right one.
        let number = acked.first { CasePartition.owner(of: $0, count: 3) == 2 }!
        let show = try await set.cli(["case", "show", number])
        #expect(show.status == 0 && show.output.contains("handler-3"))
        // As a clerk types it: the owner is found from the stored form.
        let typed = try await set.cli(["case", "show", " " + number.lowercased()])
        #expect(typed.status == 0 && typed.output.contains(number) && typed.output.contains("handler-3"), "\(typed.output)")
        await #expect { _ = try await set.call("handler", .getCase(.with { $0.caseNumber = number }), instance: 0) } throws: { error in
            guard let e = error as? WireError else { return false }
            return e.code == .notFound && e.message.contains("partition 3/3")
        }
        let list = try await set.cli(["cases", "--limit", "1000", "--json"])
        #expect(list.output.split(separator: "\n").count == 450)
    }

    @Test func aBreachWhileTheHandlerIsDownIsRaisedLateWhenItReturns() async throws {
        let set = try LiaisonSet()
        try set.start("intake")
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])
        var f = submission(2, prefix: "late")
        f.kind = .helpRequest   // 2 plain hours to respond
        let number = try await openCase(set, f)
        set.kill9("handler")
        // It comes back three hours later (its clock moved on).
        try set.start("handler", extra: ["--clock-offset", "10800"])
        try await set.waitReady(["handler"])
        let raised = await eventually(20) {
            let alerts = (try? await handlerEvents(set))?.filter { $0.deadlineAlert.caseNumber == number } ?? []
            return alerts.contains { $0.topic == "case.deadline_breached" && $0.deadlineAlert.late && $0.deadlineAlert.deadline == "respond" }
        }
        #expect(raised, "\(set.logs())")
        let overdue = try await set.cli(["cases", "--overdue", "--json"], environment: [:])
        #expect(overdue.status == 0)
        let show = try await set.cli(["case", "show", number])
        #expect(show.output.contains("deadline_breached") && show.output.contains("raised late"))
    }

    @Test func sighupReloadsThePolicyAndKeepsTheOldOneWhenTheNewIsBad() async throws {
        let set = try LiaisonSet()
        let policy = set.dir + "/policy.conf"
        let base = try String(contentsOfFile: LiaisonSet.repoRoot + "/deploy/policy.conf", encoding: .utf8)
        try base.write(toFile: policy, atomically: true, encoding: .utf8)
        try set.start("intake")
        try set.start("handler", extra: ["--policy", policy])
        try await set.waitReady(["intake", "handler"])
        var f = submission(3, prefix: "hup")
        f.kind = .suggestion
        f.unit = "STN-WEST-01"
        f.officerBadge = ""
        let before = try await openCase(set, f)
        #expect(try await set.call("handler", .getCase(.with { $0.caseNumber = before })).caseInfo.unit == "STN-WEST-01")

        let suggestionsToPR = "rule suggestions\n  when kind=suggestion\n  route PR-OFFICE\n  priority P3\n  respond 2 working days\n  resolve 10 working days\n\n"
        try base.replacingOccurrences(of: "rule default\n", with: suggestionsToPR + "rule default\n").write(toFile: policy, atomically: true, encoding: .utf8)
        set.signal("handler", 0, SIGHUP)
        let reloaded = await eventually(10) { ((try? String(contentsOfFile: set.dir + "/handler-0.log", encoding: .utf8)) ?? "").contains("reloaded") }
        #expect(reloaded)
        f.submissionID = "hup-after"
        let after = try await openCase(set, f)
        #expect(try await set.call("handler", .getCase(.with { $0.caseNumber = after })).caseInfo.unit == "PR-OFFICE")

        try "rule default\n  route $unit\n  priority P9\n".write(toFile: policy, atomically: true, encoding: .utf8)
        set.signal("handler", 0, SIGHUP)
        let refused = await eventually(10) {
            let log = (try? String(contentsOfFile: set.dir + "/handler-0.log", encoding: .utf8)) ?? ""
            return log.contains("reload refused") && log.contains("policy.conf:3 priority")
        }
        #expect(refused, "\(set.logs())")
        f.submissionID = "hup-still"
        let still = try await openCase(set, f)
        #expect(try await set.call("handler", .getCase(.with { $0.caseNumber = still })).caseInfo.unit == "PR-OFFICE")
        #expect(await set.status("handler") != nil)
    }
}

extension CasePartition {
    /// How many of `numbers` partition `index` of 3 owns.
    static func count(_ numbers: [String], partition index: Int) -> Int {
        numbers.filter { owner(of: $0, count: 3) == index }.count
    }
}
