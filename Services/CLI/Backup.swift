import ArgumentParser
import Foundation
import LiaisonRuntime

/// `liaison backup`: a consistent copy of every service's database, taken while the set runs.
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy every service's database, as it stands, into a new directory (the set may keep running).",
        discussion: """
            Each database is copied as it stood at one moment (SQLite's online backup), without \
            stopping its service or holding back its writes, consumers before what they consume \
            (reporting, scheduler, handler, intake). To restore, stop the set, run liaison \
            restore --from DIR and start the set: each service takes up from its copy and \
            replays from the others what its copy had not seen yet. The contact \
            keys are not copied: keep them apart from the data and from its backups; without \
            them the contacts in a backup cannot be read.
              liaison backup --data-dir ./data --to /srv/backup/liaison-2026-12-05

            Scheduled (the systemd timer in deploy/systemd does this every night): --into makes a \
            directory named for the moment (liaison-20261205-033000Z) under the one given, and \
            --keep N then deletes the oldest complete backups there beyond N. Only directories of \
            that name with a completed backup's marker are counted or deleted, and only when this \
            backup succeeded.
              liaison backup --data-dir /var/lib/liaison --into /var/lib/liaison-backups --keep 14
            """)

    @Option(help: "The set's data directory (where the services keep their databases).")
    var dataDir: String = ProcessInfo.processInfo.environment["LIAISON_DATA_DIR"] ?? "data"
    @Option(help: "A new directory for the copies (it may exist, but without databases of the same names).")
    var to: String?
    @Option(help: "A directory of backups: this one goes into a new directory in it named for the moment (liaison-YYYYMMDD-HHMMSSZ).")
    var into: String?
    @Option(help: "With --into: keep this many complete backups there, deleting the oldest (0: delete none).")
    var keep: Int = 0
    @Option(help: "Topology file (JSON): which streams' databases to copy. Default: $LIAISON_TOPOLOGY, else the local defaults.")
    var topology: String?

    func validate() throws {
        guard (to == nil) != (into == nil) else { throw ValidationError("give --to (a new directory) or --into (a directory of backups), not both") }
        guard keep >= 0 else { throw ValidationError("--keep is a number of backups, 0 or more") }
        if keep > 0 && into == nil { throw ValidationError("--keep goes with --into: it counts the backups in that directory") }
    }

    func run() throws {
        let topo = try Topology.resolve(path: topology)
        let to: String
        if let into {
            try ConfigFiles.makeDirectory(into, key: "into")
            to = BackupSeries.newDirectory(in: into, at: Date())
        } else {
            to = self.to!
        }
        try ConfigFiles.makeDirectory(to, key: into == nil ? "to" : "into")
        var rows: [[String]] = []
        var failed = 0
        // Downstream first (reporting, scheduler, handler, intake): each consumer's copy then ends
        // no further than the copy of what it consumes, and on restore it replays the rest. The
        // other way round, a handler copy ahead of intake's would skip the events a restored
        // intake numbers again.
        for name in Topology.serviceNames.reversed() {
            for inst in topo.instances(of: name) {
                let file = inst.stream + ".sqlite"
                let started = SuspendingClock.now
                do {
                    let copied = try DatabaseBackup.copy((dataDir as NSString).appendingPathComponent(file),
                                                         to: (to as NSString).appendingPathComponent(file))
                    rows.append([inst.stream, "\(copied.head)", Output.bytes(copied.bytes), String(format: "%.2f s", (SuspendingClock.now - started) / .seconds(1))])
                } catch {
                    failed += 1
                    printError("error: \(inst.stream): \(error)\n")
                }
            }
        }
        if !rows.isEmpty { print(Output.table(["STREAM", "HEAD", "SIZE", "TOOK"], rows)) }
        // Wherever they are kept (the data directory in a demo, /etc/liaison with the systemd units).
        let keys = (dataDir as NSString).appendingPathComponent("contact-keys")
        let which = FileManager.default.fileExists(atPath: keys) ? "The contact keys (\(keys))" : "The contact keys (the --contact-keys file of intake and the scheduler)"
        print("\(which) are not in the backup: keep a copy of them apart from it; without them its contacts cannot be read.")
        if failed > 0 {
            if into != nil { print("\(to) is incomplete: it is not counted as a backup, and no older one was deleted") }
            throw ExitCode(1)
        }
        do {
            try BackupSeries.markComplete(to, streams: rows.map(\.[0]), key: into == nil ? "to" : "into")
        } catch {
            printError("error: \(error)\n")
            print(into != nil ? "\(to) is incomplete: it is not counted as a backup, and no older one was deleted"
                              : "\(to) is not whole on the disk: do not rely on it")
            throw ExitCode(1)
        }
        print("backup complete in \(to)")
        if let into, keep > 0 {
            for old in try BackupSeries.beyond(keep, in: into) {
                try FileManager.default.removeItem(atPath: old)
                print("deleted the older backup \(old) (--keep \(keep))")
            }
        }
    }
}

/// Backups made with `--into`: one directory each, named for its moment, with a marker once it is
/// complete; the oldest beyond `--keep` go.
enum BackupSeries {
    static let marker = "BACKUP-COMPLETE"

    /// `liaison-20261205-033000Z`: sorts by time as text.
    static func name(at date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "liaison-\(f.string(from: date))Z"
    }

    /// Whether `name` is one of ours (and not a directory someone else put there).
    static func isBackupName(_ name: String) -> Bool {
        name.wholeMatch(of: /liaison-\d{8}-\d{6}Z(-\d+)?/) != nil
    }

    /// A name in `dir` not taken yet: the moment's, then `-2`, `-3`, … within the same second
    /// (which still sort after it, and before the next second's).
    static func newDirectory(in dir: String, at date: Date) -> String {
        let base = (dir as NSString).appendingPathComponent(name(at: date))
        var candidate = base
        var n = 1
        while FileManager.default.fileExists(atPath: candidate) {
            n += 1
            candidate = "\(base)-\(n)"
        }
        return candidate
    }

    /// Written last, fsync'd: the backup in `dir` is whole. A marker the disk fails to write or
    /// flush is removed again, so that the directory is not counted as a backup (nor an older one
    /// deleted for it); `key` names the option that gave `dir` in the error.
    static func markComplete(_ dir: String, streams: [String], key: String) throws {
        let path = (dir as NSString).appendingPathComponent(marker)
        let text = Array("liaison backup completed \(ISO8601DateFormatter().string(from: Date()))\nstreams: \(streams.joined(separator: " "))\n".utf8)
        do {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ConfigError(key, "cannot write \(path): \(String(cString: strerror(errno)))") }
            let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let failure = errno
            close(fd)
            guard written == text.count else {
                throw ConfigError(key, "cannot write \(path): \(written < 0 ? String(cString: strerror(failure)) : "short write")")
            }
            try DatabaseBackup.flushToDisk(path, key: key)
            try DatabaseBackup.flushToDisk(dir, key: key)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// The complete backups in `dir` beyond the newest `keep`, oldest first.
    static func beyond(_ keep: Int, in dir: String) throws -> [String] {
        let complete = try FileManager.default.contentsOfDirectory(atPath: dir).filter(isBackupName).sorted().map {
            (dir as NSString).appendingPathComponent($0)
        }.filter { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent(marker)) }
        return Array(complete.dropLast(keep))
    }
}

/// `liaison restore`: a backup put in place of a stopped set's databases.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put a backup (liaison backup) in place of the databases of a stopped set.",
        discussion: """
            Refused while any service of the set runs. The databases in --data-dir, with their \
            -wal and -shm files, are moved into a directory of their own inside it first (an old \
            write-ahead log beside a restored database would be applied to it as its own). A \
            cursor beyond the head of the stream it follows, as restored, is set back to it (intake \
            follows the handler too, and its copy, taken last, may be ahead of the handler's; at \
            start it then makes the citizens' statuses of that handler's cases again from its stream). \
            Then start the set: each service takes up from its copy. The contact keys must be the ones \
            the backup's contacts were sealed with.
              liaison restore --from /srv/backup/liaison-2026-12-05 --data-dir ./data
            """)

    @Option(help: "The backup's directory (what liaison backup --to wrote).")
    var from: String
    @Option(help: "The set's data directory.")
    var dataDir: String = ProcessInfo.processInfo.environment["LIAISON_DATA_DIR"] ?? "data"
    @Option(help: "Topology file (JSON): which streams' databases to restore. Default: $LIAISON_TOPOLOGY, else the local defaults.")
    var topology: String?

    func run() throws {
        let topo = try Topology.resolve(path: topology)
        let streams = Topology.serviceNames.flatMap { topo.instances(of: $0).map(\.stream) }
        // Everything checked before anything is moved: a missing copy or a running service stops it all.
        var problems: [String] = []
        for stream in streams {
            let copy = (from as NSString).appendingPathComponent(stream + ".sqlite")
            if !FileManager.default.fileExists(atPath: copy) { problems.append("\(stream): no copy at \(copy)") }
            if let who = DatabaseOwnership.holder(of: (dataDir as NSString).appendingPathComponent(stream + ".sqlite")) {
                problems.append("\(stream): its database is in use by \(who); stop the set first")
            }
        }
        guard problems.isEmpty else {
            for p in problems { printError("error: \(p)\n") }
            printError("nothing was restored\n")
            throw ExitCode(1)
        }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let aside = (dataDir as NSString).appendingPathComponent("replaced-" + stamp)
        try ConfigFiles.makeDirectory(dataDir, key: "data-dir")
        for stream in streams {
            let moved = try DatabaseBackup.restore(copy: (from as NSString).appendingPathComponent(stream + ".sqlite"),
                                                   over: (dataDir as NSString).appendingPathComponent(stream + ".sqlite"), setAside: aside)
            print("\(stream): restored\(moved.isEmpty ? "" : " (the database it replaced is in \(aside))")")
        }
        let databases = Dictionary(uniqueKeysWithValues: streams.map { ($0, (dataDir as NSString).appendingPathComponent($0 + ".sqlite")) })
        for line in try DatabaseBackup.alignCursors(databases) { print(line) }
        print("Start the set with the contact keys the backup's contacts were sealed with.")
    }
}
