import Foundation
import GRDB
import LiaisonCodec
import Testing
@testable import LiaisonRuntime

@Suite struct StoreAndEventLogTests {
    @Test func commitTimesCoverTheLastMinuteOnly() throws {
        let times = CommitTimes()
        #expect(times.lastMinute(now: 1_000) == .init(count: 0, meanMicros: 0, maxMicros: 0))
        times.record(micros: 900, now: 1_000.2)
        times.record(micros: 100, now: 1_000.7)
        times.record(micros: 50_000, now: 1_030)
        #expect(times.lastMinute(now: 1_030.5) == .init(count: 3, meanMicros: 17_000, maxMicros: 50_000))
        // A minute on, the first second has left the window and its slot is reused.
        times.record(micros: 300, now: 1_060.1)
        #expect(times.lastMinute(now: 1_060.5) == .init(count: 2, meanMicros: 25_150, maxMicros: 50_000))
        #expect(times.lastMinute(now: 1_200) == .init(count: 0, meanMicros: 0, maxMicros: 0))
        // The event log times its own transactions.
        let dir = try TempDir()
        let log = try EventLog(store: Store(path: dir.file("s.sqlite")), stream: "t-1")
        for _ in 0..<5 { try log.write { _, out in try out.append(topic: "t.x", at: Date()) { _ in } } }
        let mine = log.commitTimes.lastMinute()
        #expect(mine.count == 5 && mine.maxMicros > 0 && mine.meanMicros <= mine.maxMicros)
    }

    @Test func boundRowsStoreEveryValueAsGRDBWouldAndFailuresNameSQLitesError() throws {
        let dir = try TempDir()
        let store = try Store(path: dir.file("s.sqlite")) { m in
            m.registerMigration("t") { db in
                try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, name TEXT, note TEXT, body BLOB, extra BLOB, score REAL NOT NULL)")
            }
        }
        let insert = "INSERT INTO rows (id, name, note, body, extra, score) VALUES (?, ?, ?, ?, ?, ?)"
        try store.pool.write { db in
            try db.executeBound(db.cachedStatement(sql: insert)) { row in
                row.int(1); row.text("Zhāng Wěi 张伟 ✓"); row.text(nil as String?); row.blob([0, 1, 2, 255] as [UInt8]); row.blob(nil as Data?); row.double(2.5)
            }
            // The same cached statement again: nothing of the first row's bindings is left over.
            try db.executeBound(db.cachedStatement(sql: insert)) { row in
                row.int(2); row.text(""); row.text("n"); row.blob(Data()); row.blob(Data([9])); row.double(-1)
            }
        }
        let rows = try store.pool.read { db in try Row.fetchAll(db, sql: "SELECT id, name, note, typeof(note) AS nt, body, typeof(body) AS bt, extra, typeof(extra) AS et, score FROM rows ORDER BY id") }
        #expect(rows.count == 2)
        #expect(rows[0]["name"] as String == "Zhāng Wěi 张伟 ✓" && rows[0]["nt"] as String == "null")
        #expect(rows[0]["body"] as Data == Data([0, 1, 2, 255]) && rows[0]["et"] as String == "null" && rows[0]["score"] as Double == 2.5)
        // Empty text and an empty blob stay empty values, not NULL.
        #expect(rows[1]["name"] as String == "" && rows[1]["note"] as String == "n")
        #expect(rows[1]["bt"] as String == "blob" && (rows[1]["body"] as Data?)?.isEmpty == true)
        #expect(rows[1]["extra"] as Data == Data([9]) && rows[1]["score"] as Double == -1)

        // A failing row (a NOT NULL column left NULL, a taken key) throws SQLite's error, and the
        // statement can be used again afterwards.
        #expect { () throws in
            try store.pool.write { db in
                try db.executeBound(db.cachedStatement(sql: insert)) { row in row.int(3); row.text("x"); row.null(); row.null(); row.null(); row.null() }
            }
        } throws: { error in
            guard let e = error as? DatabaseError else { return false }
            return e.resultCode == .SQLITE_CONSTRAINT && (e.message ?? "").contains("rows.score")
        }
        #expect { () throws in
            try store.pool.write { db in
                try db.executeBound(db.cachedStatement(sql: insert)) { row in row.int(1); row.text("dup"); row.null(); row.null(); row.null(); row.double(0) }
            }
        } throws: { error in (error as? DatabaseError)?.resultCode == .SQLITE_CONSTRAINT }
        try store.pool.write { db in
            try db.executeBound(db.cachedStatement(sql: insert)) { row in row.int(3); row.text("after"); row.null(); row.null(); row.null(); row.double(0) }
        }
        #expect(try store.pool.read { db in try String.fetchOne(db, sql: "SELECT name FROM rows WHERE id = 3") } == "after")
        // A row with a value missing would take the row before's: refused, nothing written.
        #expect { () throws in
            try store.pool.write { db in
                try db.executeBound(db.cachedStatement(sql: insert)) { row in row.int(4); row.text("short"); row.null(); row.null(); row.null() }
            }
        } throws: { error in
            guard let e = error as? DatabaseError else { return false }
            return e.resultCode == .SQLITE_MISUSE && (e.message ?? "").contains("5 values bound to 6 parameters")
        }
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rows") } == 3)

        // Values past the binder's own buffer are copied by SQLite instead; a row mixing both, and
        // the row after it, store every value.
        let big = [UInt8]((0..<(RowBinder.scratchSize + 1_000)).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let text = String(repeating: "长", count: RowBinder.scratchSize / 3)   // 3 bytes each: fills the buffer
        try store.pool.write { db in
            try db.executeBound(db.cachedStatement(sql: insert)) { row in row.int(5); row.text(text); row.text("after the buffer"); row.blob(big); row.blob([1, 2] as [UInt8]); row.double(1) }
            try db.executeBound(db.cachedStatement(sql: insert)) { row in row.int(6); row.text("small"); row.null(); row.blob(Data([3])); row.null(); row.double(2) }
        }
        let mixed = try #require(try store.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM rows WHERE id = 5") })
        #expect(mixed["name"] as String == text && mixed["note"] as String == "after the buffer")
        #expect(mixed["body"] as Data == Data(big) && mixed["extra"] as Data == Data([1, 2]))
        let next = try #require(try store.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM rows WHERE id = 6") })
        #expect(next["name"] as String == "small" && next["body"] as Data == Data([3]) && (next["extra"] as Data?) == nil)
    }

    @Test func aReleasedStoreHasClosedEveryFileItOpened() throws {
        let dir = try TempDir()
        func openFiles() -> [String] {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
            return fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + $0) }
                .filter { $0.hasPrefix(dir.path + "/") }
        }
        // Twenty times: a connection closed later, on another thread, is still open right after the
        // release often enough to be caught (one time in three here, before the fix).
        for round in 0..<20 {
            do {
                let log = try EventLog(store: Store(path: dir.file("s\(round).sqlite")), stream: "t-1")
                for _ in 0..<5 { try log.write { _, out in try out.append(topic: "t.x", at: Date()) { _ in } } }
                // The writer, a reader and the checkpointing connection have the database open.
                #expect(openFiles().filter { $0.hasSuffix("/s\(round).sqlite") }.count >= 2)
            }
            // Released: every connection is closed before the release returns, the background
            // checkpoint's too, so a test's or the benchmark's directory can be removed for good.
            #expect(openFiles() == [], "round \(round)")
        }
    }

    @Test func storeIsWALWithSynchronousFull() throws {
        let dir = try TempDir()
        let store = try Store(path: dir.file("s.sqlite"))
        #expect(try store.synchronousLevel() == 2)     // FULL, not GRDB's NORMAL
        #expect(try store.journalMode() == "wal")
    }

    @Test func checkpointsRunBesideTheWriterNotInItsCommits() async throws {
        let dir = try TempDir()
        let store = try Store(path: dir.file("s.sqlite")) { m in
            m.registerMigration("t") { db in try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)") }
        }
        // No commit runs SQLite's automatic checkpoint...
        func writeRows() throws -> Int? {
            let row = Data(repeating: 7, count: 4_000)
            for _ in 0..<1_500 {
                try store.pool.write { db in try db.execute(sql: "INSERT INTO rows (body) VALUES (?)", arguments: [row]) }
            }
            return try store.pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint") }
        }
        func count() throws -> Int? { try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rows") } }
        #expect(try writeRows() == 0)
        // ...yet the pages reach the database file (1,500 rows of 4 KB: past the 1,000-page mark),
        // copied by the store's own checkpointing connection.
        let file = dir.file("s.sqlite")
        func size() -> Int { ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0 }
        #expect(await eventually(20) { size() >= 1_500 * 4_000 })
        #expect(try count() == 1_500)
    }

    @Test func theWALStartsOverUnderASteadyStreamOfCommits() async throws {
        let dir = try TempDir()
        let store = try Store(path: dir.file("s.sqlite"), walRestartFrames: 100) { m in
            m.registerMigration("t") { db in try db.execute(sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)") }
        }
        // One 4 KB row per transaction, back to back: the background checkpoint never finds the
        // WAL fully copied, so only the writer's help lets it start over.
        let row = Data(repeating: 7, count: 4_000)
        let wal = dir.file("s.sqlite-wal")
        func walSize() -> Int { ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? 0 }
        var written = 0
        let deadline = Date().addingTimeInterval(60)
        // Without restarts the WAL would hold every row written (one 4 KB page each, 12 MB and more).
        // Its file keeps the largest size it reached, which grows while the checkpoint lags (other
        // tests running beside it): writing on until it is under half of what was written shows it
        // stopped growing with the writes; a WAL that never starts over stays above, to the deadline.
        func walIsSmall() -> Bool { walSize() < written * 4_096 / 2 }
        while (written < 3_000 || store.walRestarts < 3 || !walIsSmall()) && Date() < deadline {
            try store.write { db in try db.inTransaction { try db.execute(sql: "INSERT INTO rows (body) VALUES (?)", arguments: [row]); return .commit } }
            written += 1
            if written % 50 == 0 { await Task.yield() }   // an fsync each: the other tests' turn on the cooperative pool
        }
        #expect(store.walRestarts >= 3)
        #expect(walIsSmall(), "WAL \(walSize()) bytes after \(written) one-page commits")
        #expect(try await store.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rows") } == written)
    }

    @Test func sequenceNumbersAreDenseAcrossTransactions() throws {
        let dir = try TempDir()
        let log = try EventLog(store: Store(path: dir.file("s.sqlite")), stream: "t-1")
        #expect(log.head == 0)
        try log.write { _, out in
            for i in 0..<3 { try out.append(topic: "case.opened", at: Date()) { $0.caseOpened.caseNumber = "C\(i)" } }
        }
        try log.write { _, out in try out.append(topic: "case.noted", at: Date()) { _ in } }
        #expect(log.head == 4)
        let batch = try log.replay(after: 0, limit: 100, prefixes: [])
        #expect(batch.events.map(\.seq) == [1, 2, 3, 4])
        #expect(batch.events.allSatisfy { $0.stream == "t-1" && !$0.eventID.isEmpty })
        #expect(batch.headSeq == 4 && batch.lastSeq == 4 && !batch.more)
    }

    @Test func aFailedTransactionLeavesNoEventAndNoGap() throws {
        let dir = try TempDir()
        let log = try EventLog(store: Store(path: dir.file("s.sqlite")), stream: "t-1")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try log.write { _, out in
                try out.append(topic: "case.opened", at: Date()) { _ in }
                throw Boom()
            }
        }
        #expect(log.head == 0)
        // A service's own refusal is not a failed write; SQLite failing one is, with its message.
        #expect(log.failedWrites == 0 && log.lastFailedWrite == nil)
        #expect(throws: DatabaseError.self) { try log.write { db, _ in try db.execute(sql: "INSERT INTO no_such_table VALUES (1)") } }
        #expect(log.failedWrites == 1 && log.lastFailedWrite?.message.contains("no such table") == true)
        try log.write { _, out in try out.append(topic: "case.opened", at: Date()) { _ in } }
        #expect(try log.replay(after: 0, limit: 10, prefixes: []).events.map(\.seq) == [1])
    }

    @Test func replayFiltersByTopicAndReportsHowFarItScanned() throws {
        let dir = try TempDir()
        let log = try EventLog(store: Store(path: dir.file("s.sqlite")), stream: "t-1")
        try log.write { _, out in
            for topic in ["case.opened", "schedule.followup_due", "case.opened", "followup.done", "case.closed"] {
                try out.append(topic: topic, at: Date()) { _ in }
            }
        }
        let first = try log.replay(after: 0, limit: 3, prefixes: ["case."])
        #expect(first.events.map(\.seq) == [1, 3])
        #expect(first.lastSeq == 3 && first.more && first.headSeq == 5)
        let second = try log.replay(after: first.lastSeq, limit: 3, prefixes: ["case."])
        #expect(second.events.map(\.seq) == [5])
        #expect(second.lastSeq == 5 && !second.more)
        #expect(try log.replay(after: 5, limit: 3, prefixes: []).events.isEmpty)
    }

    @Test func publisherTakesCommittedEventsInOrderFromMemoryOrTheLog() throws {
        let dir = try TempDir()
        let log = try EventLog(store: Store(path: dir.file("s.sqlite")), stream: "t-1")
        for batch in 0..<3 {
            try log.write { _, out in
                for i in 0..<4 { try out.append(topic: "case.opened", at: Date()) { $0.caseOpened.caseNumber = "C\(batch)-\(i)" } }
            }
        }
        let first = try log.eventsToPublish(after: 0, limit: 5)
        #expect(first.map(\.seq) == [1, 2, 3, 4, 5])
        let rest = try log.eventsToPublish(after: 5, limit: 100)
        #expect(rest.map(\.seq) == Array(6...12))
        let decoded = try Liaison_V1_Event(serializedBytes: rest.last!.data)
        #expect(decoded.caseOpened.caseNumber == "C2-3" && decoded.seq == 12)
        // Taken events are gone from memory; asking again reads them back from the log, the same bytes.
        let again = try log.eventsToPublish(after: 3, limit: 2)
        #expect(again.map(\.seq) == [4, 5])
        #expect(again[1].data == first[4].data)
        // A rolled-back transaction leaves nothing for the publisher.
        struct Boom: Error {}
        _ = try? log.write { _, out in
            try out.append(topic: "case.opened", at: Date()) { $0.caseOpened.caseNumber = "lost" }
            throw Boom()
        }
        #expect(try log.eventsToPublish(after: 12, limit: 10).isEmpty)
    }

    @Test func secureRandomHandsOutFreshBytesAcrossRefills() {
        var seen = Set<[UInt8]>()
        var total = 0
        for n in [1, 7, 12, 16, 100, 4_000, 5_000] {   // crosses the 4 KiB refill more than once
            let b = SecureRandom.bytes(n)
            #expect(b.count == n)
            total += n
            if n >= 12 { seen.insert(Array(b.prefix(12))) }
        }
        #expect(seen.count == 5)
        // Not all zero: the handed-out slots are zeroed in the pool, never the output.
        let big = SecureRandom.bytes(4_096)
        #expect(big.filter { $0 == 0 }.count < 100)
    }

    @Test func eventIDsAreVersion4UUIDs() {
        var seen = Set<String>()
        for _ in 0..<1_000 {
            let id = EventID.make()
            let uuid = UUID(uuidString: id)
            #expect(uuid != nil && id == id.lowercased())
            #expect(Array(id)[14] == "4")
            #expect("89ab".contains(Array(id)[19]))
            seen.insert(id)
        }
        #expect(seen.count == 1_000)
    }

    @Test func headSurvivesReopening() throws {
        let dir = try TempDir()
        do {
            let log = try EventLog(store: Store(path: dir.file("s.sqlite")), stream: "t-1")
            try log.write { _, out in for _ in 0..<7 { try out.append(topic: "x", at: Date()) { _ in } } }
        }
        let again = try EventLog(store: Store(path: dir.file("s.sqlite")), stream: "t-1")
        #expect(again.head == 7)
    }
}

@Suite struct TopologyTests {
    @Test func localDefaultsAreTheDesignPorts() throws {
        let t = Topology.local
        #expect(t.instances(of: "intake").first?.requests == "tcp://127.0.0.1:7101")
        #expect(t.instances(of: "reporting").first?.events == "tcp://127.0.0.1:7402")
        try t.validate()
    }

    @Test func fileAndEnvironmentOverrides() throws {
        let dir = try TempDir()
        let path = dir.file("topo.json")
        try Topology.ipc(in: dir.path, instances: ["intake": 2]).write(to: path)
        let t = try Topology.resolve(path: path, environment: ["LIAISON_HANDLER_REQUESTS": "tcp://127.0.0.1:9999"])
        #expect(t.instances(of: "intake").map(\.stream) == ["intake-1", "intake-2"])
        #expect(t.instances(of: "handler")[0].requests == "tcp://127.0.0.1:9999")
        let viaEnv = try Topology.resolve(path: nil, environment: ["LIAISON_TOPOLOGY": path])
        #expect(viaEnv.instances(of: "intake").count == 2)
    }

    @Test func errorsNameTheKey() throws {
        let dir = try TempDir()
        func load(_ json: String) -> String {
            let p = dir.file("bad-\(UUID().uuidString).json")
            try? json.write(toFile: p, atomically: true, encoding: .utf8)
            do { _ = try Topology.load(path: p); return "" } catch let e as ConfigError { return e.key } catch { return "\(error)" }
        }
        #expect(load(#"{"services":{"intake":[{"stream":"a","requests":"bogus","events":"tcp://x:1"}]}}"#) == "services.intake[0].requests")
        #expect(load(#"{"services":{"intake":[{"stream":"a","events":"tcp://x:1"}]}}"#) == "services.intake[0].requests")
        #expect(load(#"{"services":{"intake":[{"stream":"a","requests":"tcp://x:1","events":"tcp://x:2"}],"handler":[{"stream":"a","requests":"tcp://x:3","events":"tcp://x:4"}]}}"#) == "services.intake[0].stream")
        #expect(load(#"{"services":{"mailroom":[]}}"#) == "services.mailroom")
        // One endpoint twice, within an instance or across services.
        #expect(load(#"{"services":{"intake":[{"stream":"a","requests":"tcp://x:1","events":"tcp://x:1"}]}}"#) == "services.intake[0].events")
        #expect(load(#"{"services":{"intake":[{"stream":"a","requests":"tcp://x:1","events":"tcp://x:2"}],"handler":[{"stream":"b","requests":"tcp://x:2","events":"tcp://x:4"}]}}"#)
                == "services.intake[0].events")
        #expect(throws: ConfigError.self) { try Topology.resolve(path: nil, environment: ["LIAISON_HANDLER_REQUESTS": "tcp://127.0.0.1:7101"]) }
        #expect(load("not json") == "topology")
        #expect(load(#"{"services":{"intake":{"stream":"a"}}}"#) == "services.intake")   // an object where a list belongs
    }

    /// A unit directory that does not decode names the entry and key at fault, and what is wrong,
    /// not Foundation's description of its decoder.
    @Test func unitDirectoryDecodingErrorsNameTheKey() throws {
        let dir = try TempDir()
        func load(_ json: String) -> ConfigError? {
            let p = dir.file("units-\(UUID().uuidString).json")
            try? json.write(toFile: p, atomically: true, encoding: .utf8)
            do { _ = try UnitDirectory.load(path: p); return nil } catch { return error as? ConfigError }
        }
        let pr = #"{"code":"PR","name":"PR","type":"pr_office"}"#
        let wrongType = load(#"{"units":[\#(pr),{"code":"SUP","name":"S","type":"supervision"}]}"#)
        #expect(wrongType?.key == "units[1].type" && wrongType?.message.contains("'supervision' is not a unit type") == true
                && wrongType?.message.contains("did you mean supervision_office?") == true, "\(String(describing: wrongType))")
        let missing = load(#"{"units":[\#(pr),{"code":"SUP","type":"supervision_office"}]}"#)
        #expect(missing?.key == "units[1].name" && missing?.message.hasPrefix("required key is missing") == true, "\(String(describing: missing))")
        let number = load(#"{"units":[{"code":7,"name":"PR","type":"pr_office"}]}"#)
        #expect(number?.key == "units[0].code" && number?.message.hasPrefix("must be a string") == true, "\(String(describing: number))")
        let broken = load(#"{"units":[\#(pr)"#)
        #expect(broken?.key == "units" && broken?.message.contains("is not valid JSON") == true && !(broken?.message.contains("DecodingError") ?? true),
                "\(String(describing: broken))")
    }
}

@Suite struct ShippedConfigTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func deployTopologyIsTheLocalDefault() throws {
        #expect(try Topology.load(path: Self.root + "/deploy/topology.json") == Topology.local)
    }

    @Test func deployUnitsAreTheBuiltInDemoCity() throws {
        let shipped = try UnitDirectory.load(path: Self.root + "/deploy/units.json")
        #expect(shipped == UnitDirectory.demo)
        #expect(shipped.first(.supervisionOffice)?.code == "SUPERVISION")
        #expect(shipped.first(.prOffice)?.code == "PR-OFFICE")
    }

    @Test func unitDirectoryErrorsNameTheEntry() throws {
        var d = UnitDirectory.demo
        d.units.append(d.units[3])
        #expect(throws: ConfigError.self) { try d.validate() }
        var orphan = UnitDirectory.demo
        orphan.units[5].parent = "NOWHERE"
        do { try orphan.validate(); Issue.record("expected an error") } catch { #expect(error.key == "units[5].parent") }
    }

    /// A roster's badges are kept as badges are (upper case), each officer at one unit.
    @Test func unitDirectoryRostersNameTheOfficerAtFault() throws {
        let hillside = try #require(UnitDirectory.demo.units.firstIndex { $0.code == "STN-WEST-01" })
        #expect(UnitDirectory.demo.unit(ofOfficer: "PC-0102")?.code == "STN-WEST-01" && UnitDirectory.demo.unit(ofOfficer: "PC-9999") == nil)
        var twice = UnitDirectory.demo
        twice.units[hillside + 1].officers = ["PC-0201", "PC-0102"]
        do { try twice.validate(); Issue.record("expected an error") } catch {
            #expect(error.key == "units[\(hillside + 1)].officers[1]" && "\(error)".contains("PC-0102 is listed under STN-WEST-01 too"), "\(error)")
        }
        var lower = UnitDirectory.demo
        lower.units[hillside].officers = ["PC-0101", "pc-0104"]
        do { try lower.validate(); Issue.record("expected an error") } catch {
            #expect(error.key == "units[\(hillside)].officers[1]" && "\(error)".contains("PC-0104"), "\(error)")
        }
    }
}
