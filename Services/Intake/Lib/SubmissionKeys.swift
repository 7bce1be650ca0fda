import GRDB

/// Which case each stored submission id went to, in memory: the idempotency check without an
/// index on disk.
///
/// A unique index on client-chosen ids (random strings) put every submission on a random leaf
/// page: one more page in every commit, and one more random page for every checkpoint to copy into
/// the database file, whose flush then stalled the commits that ran beside it. The ids are held
/// here instead, as a 64-bit hash (Swift's, seeded per process) to the case's sequence; the
/// database stays the authority: a hit is confirmed against the stored row, and when two ids share
/// a hash (about one chance in 10^8 with a million ids) the table is scanned.
///
/// Rebuilt from the table at start (a million ids: 35 MB, and intake's start took 0.97–1.49 s). Touched only
/// inside the write transaction.
struct SubmissionKeys {
    private var seqByHash: [Int: Int64] = [:]
    /// The hash of an id; tests replace it to make ids collide.
    var hash: @Sendable (String) -> Int = { $0.hashValue }

    var count: Int { seqByHash.count }

    /// Reads every stored submission id.
    static func load(_ db: Database) throws -> SubmissionKeys {
        var keys = SubmissionKeys()
        // Case sequences are dense from 1, so the largest is the count without a pass of its own.
        keys.seqByHash.reserveCapacity(try Int.fetchOne(db, sql: "SELECT MAX(case_seq) FROM submissions") ?? 0)
        let rows = try Row.fetchCursor(db, sql: "SELECT case_seq, submission_id FROM submissions ORDER BY case_seq")
        // Columns by index: by name, each read hashes the column's name (a fifth of the load).
        while let row = try rows.next() {
            keys.add(row[1], caseSeq: row[0])
        }
        return keys
    }

    /// An id looked up: its hash, and the case it may have gone to (confirm against the row, see
    /// ``SubmissionKeys``).
    struct Lookup {
        let hash: Int
        let candidate: Int64?
    }

    /// Looks `id` up; a new id is then recorded with ``add(_:caseSeq:)`` without hashing it again.
    func lookup(_ id: String) -> Lookup {
        let h = hash(id)
        return Lookup(hash: h, candidate: seqByHash[h])
    }

    /// Records a new submission; the first case keeps a shared hash (the others are found by a scan).
    mutating func add(_ id: String, caseSeq: Int64) {
        add(hash: hash(id), caseSeq: caseSeq)
    }

    /// Records a new submission looked up before (``lookup(_:)``).
    mutating func add(_ looked: Lookup, caseSeq: Int64) {
        add(hash: looked.hash, caseSeq: caseSeq)
    }

    private mutating func add(hash h: Int, caseSeq: Int64) {
        if seqByHash[h] == nil { seqByHash[h] = caseSeq }
    }

    /// Forgets what a rolled-back transaction recorded: the ids added for cases from `firstSeq` on.
    mutating func forget(_ ids: [String], from firstSeq: Int64) {
        for id in ids {
            let h = hash(id)
            if let seq = seqByHash[h], seq >= firstSeq { seqByHash[h] = nil }
        }
    }
}
