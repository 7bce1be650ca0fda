import Foundation
import LiaisonRuntime
import Logging
import Testing

/// The operator hears of a filling disk before it fails every write: once when it falls under the
/// warning level, again each reminder interval while it stays there, and once when there is room.
@Test func aFillingDiskIsToldOnceThenRemindedThenClearedOnce() {
    let log = CapturedLog()
    var watch = DiskWatch(threshold: 1 << 30, remindEvery: 3_600)
    let t0 = SuspendingClock.now
    let gib: UInt64 = 1 << 30
    func look(_ free: UInt64, at minutes: Double) {
        watch.check(DiskSpace(free: free, total: 50 * gib), path: "/var/lib/liaison", now: t0 + .seconds(minutes * 60), logger: log.logger)
    }
    look(5 * gib, at: 0)
    #expect(log.lines.isEmpty && !watch.isLow)
    look(gib - 1, at: 1)
    #expect(log.lines.count == 1 && watch.isLow)
    #expect(log.lines[0].hasPrefix("warning the disk of the database is nearly full: 1024.0 MiB free of 50.0 GiB"), "\(log.lines)")
    #expect(log.lines[0].contains("path=/var/lib/liaison") && log.lines[0].contains("warning_under=1.0 GiB"))
    look(gib / 2, at: 30)                     // still low, within the hour: nothing more
    #expect(log.lines.count == 1)
    look(gib / 4, at: 62)                     // an hour on: reminded
    #expect(log.lines.count == 2 && log.lines[1].contains("256.0 MiB free"))
    look(2 * gib, at: 70)                     // room again: said once
    #expect(log.lines.count == 3 && log.lines[2].hasPrefix("notice the disk of the database has room again: 2.0 GiB free") && !watch.isLow)
    look(3 * gib, at: 71)
    #expect(log.lines.count == 3)
    look(gib / 2, at: 72)                     // low again: told at once, not an hour later
    #expect(log.lines.count == 4 && log.lines[3].hasPrefix("warning"))
}

@Test func diskSpaceIsReadFromTheFileSystemAndWrittenAsTheCommandLineDoes() throws {
    let here = try #require(DiskSpace.of(NSTemporaryDirectory()))
    #expect(here.total > 0 && here.free <= here.total)
    #expect(DiskSpace.of("/no/such/directory/anywhere") == nil)
    #expect(DiskSpace.text(512) == "512 B" && DiskSpace.text(12 * 1_024) == "12.0 KiB" && DiskSpace.text(3 << 29) == "1.5 GiB")
}
