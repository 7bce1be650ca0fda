import Foundation
import GRDB
import LiaisonCodec
import LiaisonRuntime
import Testing

/// Disks that fill or fail, databases damaged, backups taken and restored.
extension EndToEndTests {
    /// Intake's writes start failing (here a trigger added from outside makes SQLite refuse every
    /// new submission, as a full disk would): each submission is answered `unavailable`, the
    /// operator sees the failures and SQLite's message in `liaison streams`, the log says it once
    /// rather than at every batch, and when the cause goes the same submissions go in.
    @Test func failingWritesShowInStreamsAndEndWhenTheCauseGoes() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake")
        try await set.waitReady(["intake"])
        let database = try DatabaseQueue(path: set.dir + "/data/intake-1.sqlite")
        try await database.write { db in
            try db.execute(sql: "CREATE TRIGGER injected_failure BEFORE INSERT ON submissions BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
        }
        for n in 0..<20 {
            let reply = try await set.withClient("intake") { c -> Liaison_V1_Reply in
                var r = Liaison_V1_Request()
                r.submitFeedback = submission(n)
                return try c.call(r)
            }
            #expect(reply.error.code == .unavailable && reply.error.retryAfterMs > 0, "\(reply)")
        }
        let streams = try await set.cli(["streams"])
        #expect(streams.output.contains("FAILED"), "\(streams.output)")
        #expect(streams.output.contains("intake-1: 20 write(s) failed since it started; the latest at ") && streams.output.contains("injected failure"), "\(streams.output)")
        let status = try #require(await set.status("intake"))
        #expect(status.writeFailures == 20 && status.lastWriteFailure.contains("injected failure") && status.headSeq == 0)
        try await database.write { db in try db.execute(sql: "DROP TRIGGER injected_failure") }
        for n in 0..<20 {
            #expect(try await set.call("intake", .submitFeedback(submission(n))).feedbackAccepted.caseNumber.hasPrefix("L1-"))
        }
        #expect(await set.status("intake")?.headSeq == 20)
        let log = set.logs()
        #expect(log.components(separatedBy: "commit failed").count - 1 == 1 && log.contains("commit works again after 20 failure(s)"), "\(log)")
    }

    /// A disk nearly full is told before it fails every write: in the service's log and under
    /// `liaison streams`, with the free space each service reports. (The warning level stands in
    /// for a full disk: here it is set above the disk's whole size.)
    @Test func aNearlyFullDiskIsToldBeforeEveryWriteFails() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.start("intake", extra: ["--disk-free-warning-mib", "\(UInt64(1) << 40)"])
        try set.start("handler")
        try await set.waitReady(["intake", "handler"])
        let warned = await eventually(20) { set.logs().contains("the disk of the database is nearly full") }
        #expect(warned, "\(set.logs())")
        let status = try #require(await set.status("intake"))
        let disk = try #require(DiskSpace.of(set.dir + "/data"))
        #expect(status.diskTotalBytes == disk.total && status.diskFreeBytes > 0 && status.diskFreeBytes <= disk.total)
        #expect(status.diskFreeWarningBytes == UInt64(1) << 60)
        #expect(await set.status("handler")?.diskFreeWarningBytes == 1 << 30)
        let streams = try await set.cli(["streams"])
        #expect(streams.output.contains("DISK FREE"), "\(streams.output)")
        #expect(streams.output.contains("intake-1: the disk of its database is nearly full"), "\(streams.output)")
        // The handler's level is the default; this disk has more than 1 GiB free, or it would be named too.
        if disk.free >= 1 << 30 { #expect(!streams.output.contains("handler-1: the disk")) }
        // Still serving: a warning, not a refusal.
        #expect(try await set.call("intake", .submitFeedback(submission(1))).feedbackAccepted.caseNumber.isEmpty == false)
    }

    /// Nightly backups as the systemd timer takes them: each into a directory of its own named
    /// for its moment, the oldest complete ones beyond --keep deleted, never an incomplete one's
    /// count, never a directory that is not ours, and nothing deleted when the backup failed.
    @Test func scheduledBackupsKeepTheNewestCompleteOnes() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        _ = try await set.call("intake", .submitFeedback(submission(1)))
        let into = set.dir + "/backups"
        try FileManager.default.createDirectory(atPath: into + "/liaison-20200101-000000Z", withIntermediateDirectories: true)   // no marker
        try FileManager.default.createDirectory(atPath: into + "/keep-me", withIntermediateDirectories: true)
        func backup(_ dataDir: String) async throws -> (status: Int32, output: String) {
            try await set.cli(["backup", "--data-dir", dataDir, "--into", into, "--keep", "2"])
        }
        var made: [String] = []
        for _ in 0..<3 {
            let run = try await backup(set.dir + "/data")
            #expect(run.status == 0, "\(run.output)")
            made.append(try #require(run.output.firstMatch(of: /backup complete in (\S+)/)?.1).description)
        }
        #expect(made == made.sorted() && Set(made).count == 3, "\(made)")
        let left = try FileManager.default.contentsOfDirectory(atPath: into).sorted()
        #expect(left == ["keep-me", "liaison-20200101-000000Z"] + made.suffix(2).map { ($0 as NSString).lastPathComponent }, "\(left)")
        for dir in made.suffix(2) {
            #expect(FileManager.default.fileExists(atPath: dir + "/BACKUP-COMPLETE") && FileManager.default.fileExists(atPath: dir + "/intake-1.sqlite"))
        }
        // A backup that fails (here: no databases where it looks) deletes nothing and is not counted.
        try FileManager.default.createDirectory(atPath: set.dir + "/empty", withIntermediateDirectories: true)
        let failed = try await backup(set.dir + "/empty")
        #expect(failed.status == 1 && failed.output.contains("is incomplete") && !failed.output.contains("deleted the older backup"), "\(failed.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: into).filter { made.suffix(2).contains(into + "/" + $0) }.count == 2)
        // The options that do not go together say so.
        let both = try await set.cli(["backup", "--to", set.dir + "/x", "--into", into])
        #expect(both.status != 0 && both.output.contains("not both"), "\(both.output)")
        let keepAlone = try await set.cli(["backup", "--to", set.dir + "/x", "--keep", "3"])
        #expect(keepAlone.status != 0 && keepAlone.output.contains("--keep goes with --into"), "\(keepAlone.output)")
    }

    /// `liaison backup` copies every database of a running set, each as it stood at one moment,
    /// while submissions keep coming; `liaison restore` puts the copies in place once the set is
    /// stopped (a killed one too, whose write-ahead logs it moves aside), and the set started on
    /// them has every case acknowledged before the copy: a retry gets the same case number.
    @Test func aBackupTakenWhileTheSetRunsIsRestoredWithEveryAcknowledgedCase() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let before = try await submitAll(set, 0..<40, prefix: "bk")
        #expect(await eventually(30) { (await set.status("handler")?.headSeq ?? 0) >= 40 })
        // Submissions go on while the copy is taken.
        async let during = submitAll(set, 40..<140, prefix: "bk")
        let backup = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup"])
        _ = try await during
        #expect(backup.status == 0, "\(backup.output)")
        for stream in ["intake-1", "handler-1", "scheduler-1", "reporting-1"] { #expect(backup.output.contains(stream + " "), "\(backup.output)") }
        #expect(backup.output.contains("contact keys") && backup.output.contains("not in the backup"))
        // Into a directory that holds a backup already: refused, nothing overwritten.
        let again = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup"])
        #expect(again.status == 1 && again.output.contains("exists already"), "\(again.output)")
        // Restoring is refused while the set runs, and nothing is moved.
        let refused = try await set.cli(["restore", "--from", set.dir + "/backup", "--data-dir", set.dir + "/data"])
        #expect(refused.status == 1 && refused.output.contains("stop the set first") && refused.output.contains("nothing was restored"), "\(refused.output)")
        // Killed, the set leaves write-ahead logs beside its databases: applied to a restored
        // database they would tear it, so the restore moves them aside with the databases.
        for service in Topology.serviceNames { set.kill9(service) }
        #expect(await eventually(10) { await set.status("intake") == nil })
        #expect(FileManager.default.fileExists(atPath: set.dir + "/data/intake-1.sqlite-wal"))
        let restore = try await set.cli(["restore", "--from", set.dir + "/backup", "--data-dir", set.dir + "/data"])
        #expect(restore.status == 0 && restore.output.contains("intake-1: restored (the database it replaced is in"), "\(restore.output)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: set.dir + "/data").filter { $0.hasPrefix("replaced-") }
        #expect(aside.count == 1)
        #expect(!FileManager.default.fileExists(atPath: set.dir + "/data/intake-1.sqlite-wal"))
        let restored = set   // the same set, its data directory now the backup's
        try restored.startAll()
        try await restored.waitReady()
        // Intake is where the copy left it (submissions went on after it: the killed set had 140).
        let copiedHead = try #require(backup.output.split(separator: "\n").first { $0.hasPrefix("intake-1 ") }
            .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { UInt64($0) })
        #expect(copiedHead >= 40 && copiedHead <= 140)
        #expect(await restored.status("intake")?.headSeq == copiedHead)
        // No cursor is beyond what it follows (restore sets such a one back): intake, which
        // follows the handler, has applied no more than the handler's head.
        let intakeOnHandler = await restored.status("intake")?.consumers.first { $0.stream == "handler-1" }?.appliedSeq
        let handlerHead = await restored.status("handler")?.headSeq
        #expect(intakeOnHandler != nil && handlerHead != nil && intakeOnHandler! <= handlerHead!, "\(String(describing: intakeOnHandler)) > \(String(describing: handlerHead))")
        let retried = try await submitAll(restored, 0..<40, prefix: "bk")
        #expect(retried.map(\.caseNumber) == before.map(\.caseNumber) && retried.allSatisfy(\.duplicate))
        #expect(await eventually(30) { (await restored.status("handler")?.headSeq ?? 0) >= 40 })
        let cases = try await restored.call("handler", .getCase(.with { $0.caseNumber = before[39].caseNumber })).caseInfo
        #expect(cases.caseNumber == before[39].caseNumber)
        // New submissions after the restore each open their own case: the handler's copy was not
        // ahead of intake's (it would skip the sequence numbers intake gives out again).
        let after = try await submitAll(restored, 0..<5, prefix: "after-restore")
        #expect(Set(after.map(\.caseNumber)).isDisjoint(with: before.map(\.caseNumber)))
        for a in after {
            let kind = kinds[after.firstIndex(of: a)! % kinds.count]
            #expect(await eventually(20) {
                (try? await restored.call("handler", .getCase(.with { $0.caseNumber = a.caseNumber })).caseInfo.kind) == kind
            }, "\(a.caseNumber) was not opened")
        }
    }

    /// The on-call night of a damaged disk: intake refuses to start on a damaged database with a
    /// message naming the file and the restore; a backup of it fails naming the damage; the restore
    /// of the last backup brings back every case acknowledged before it.
    @Test func aDamagedDatabaseIsNamedAndTheRestoreBringsTheCasesBack() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let before = try await submitAll(set, 0..<10, prefix: "damaged")
        #expect(await eventually(30) { (await set.status("handler")?.headSeq ?? 0) >= 10 })
        let backup = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup"])
        #expect(backup.status == 0, "\(backup.output)")
        set.stopAll()
        // The disk returns garbage for the database and its write-ahead log (a log left by a stop
        // that did not finish would otherwise still hold the first page).
        let path = set.dir + "/data/intake-1.sqlite"
        for file in [path, path + "-wal"] {
            guard let f = FileHandle(forWritingAtPath: file) else { continue }
            let size = try f.seekToEnd()
            try f.seek(toOffset: 0)
            try f.write(contentsOf: Data(repeating: 0x5A, count: Int(size)))
            try f.close()
        }
        try? FileManager.default.removeItem(atPath: path + "-shm")

        let run = try await set.runWithin(30, "liaison-intake", ["--topology", set.topologyPath, "--data-dir", set.dir + "/data", "--instance", "0"])
        #expect(run.ended && run.status != 0, "\(run.output)\n\(set.logs())")
        #expect(run.output.contains("the database \(path) is damaged") && run.output.contains("liaison restore --from"), "\(run.output)")
        let again = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", set.dir + "/backup-2"])
        #expect(again.status != 0 && again.output.contains("\(path) is damaged"), "\(again.output)")

        let restore = try await set.cli(["restore", "--from", set.dir + "/backup", "--data-dir", set.dir + "/data"])
        #expect(restore.status == 0 && restore.output.contains("intake-1: restored (the database it replaced is in"), "\(restore.output)")
        try set.startAll()
        try await set.waitReady()
        let retried = try await submitAll(set, 0..<10, prefix: "damaged")
        #expect(retried.map(\.caseNumber) == before.map(\.caseNumber) && retried.allSatisfy(\.duplicate))
    }

    /// The backup's intake copy is taken after the handler's, so it may hold a response the
    /// handler's copy lacks. After the restore the citizen must not be shown what the office has no
    /// record of: intake makes that partition's statuses again from the handler's whole stream.
    @Test func aResponseTheRestoredHandlerLacksLeavesTheCitizensStatus() async throws {
        let set = try LiaisonSet()
        defer { set.stopAll() }
        try set.startAll()
        try await set.waitReady()
        let ack = try await set.call("intake", .submitFeedback(submission(1, prefix: "restored"))).feedbackAccepted
        func citizenSees() async throws -> Liaison_V1_FeedbackStatus {
            try await set.call("intake", .getFeedbackStatus(.with { $0.caseNumber = ack.caseNumber; $0.trackingToken = ack.trackingToken })).feedbackStatus
        }
        #expect(await eventually(20) { (try? await citizenSees())?.state == "being_handled" })
        let backupDir = set.dir + "/backup"
        let backup = try await set.cli(["backup", "--data-dir", set.dir + "/data", "--to", backupDir])
        #expect(backup.status == 0, "\(backup.output)")
        // After the handler's copy: the office answers the citizen; intake shows it.
        for step in [["assign", "--officer", "PC-1001"], ["accept"], ["respond", "We will call you on Friday."]] {
            let r = try await set.cli(["case", step[0], ack.caseNumber] + step.dropFirst() + ["--actor", "desk-li"])
            #expect(r.status == 0, "\(r.output)")
        }
        #expect(await eventually(20) { (try? await citizenSees())?.publicNote == "We will call you on Friday." })
        // Intake's copy taken again now, as a backup running late on intake would have taken it.
        try FileManager.default.removeItem(atPath: backupDir + "/intake-1.sqlite")
        _ = try DatabaseBackup.copy(set.dir + "/data/intake-1.sqlite", to: backupDir + "/intake-1.sqlite")
        for service in Topology.serviceNames { set.kill9(service) }
        let restore = try await set.cli(["restore", "--from", backupDir, "--data-dir", set.dir + "/data"])
        #expect(restore.status == 0 && restore.output.contains("intake-1: its cursor on handler-1 set back"), "\(restore.output)")
        try set.startAll()
        try await set.waitReady()
        // The handler's copy has the case as it was opened; so does the citizen's status now.
        #expect(try await set.call("handler", .getCase(.with { $0.caseNumber = ack.caseNumber })).caseInfo.state == "triaged")
        let rebuilt = await eventually(20) {
            let seen = try? await citizenSees()
            return seen?.state == "being_handled" && seen?.publicNote == ""
        }
        let seenNow = try? await citizenSees()
        #expect(rebuilt, "\(String(describing: seenNow))\n\(set.logs())")
        #expect(set.logs().contains("after the restore, the citizens' statuses of handler-1's cases are made again from its whole stream"))
        // And the life cycle goes on from there: a response given now is shown.
        for step in [["assign", "--officer", "PC-1001"], ["accept"], ["respond", "We will call you on Monday."]] {
            let r = try await set.cli(["case", step[0], ack.caseNumber] + step.dropFirst() + ["--actor", "desk-li"])
            #expect(r.status == 0, "\(r.output)")
        }
        #expect(await eventually(20) { (try? await citizenSees())?.publicNote == "We will call you on Monday." })
    }
}
