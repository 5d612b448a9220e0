import Foundation

// MARK: - What keeps concurrent transactions apart on PostgreSQL
//
// SQLite runs one write transaction at a time per file, so every transition there sees the
// state it read until it commits. PostgreSQL runs them side by side (READ COMMITTED), and the
// store gets the same outcome from a fixed locking order:
//   1. the run's row (`lockRun`), by every transaction that moves a run's jobs between states
//      other than queued → running, in id order when it touches several runs;
//   2. then the job rows it changes (the reaper: `FOR UPDATE`, so a heartbeat cannot slip in
//      between the reaper's read and its write);
//   3. a memo key's advisory lock (`lockMemoKey`), only in `declareMemoKey`.
// Claims take only the one job row they pick (`FOR UPDATE SKIP LOCKED`), so claims never wait for
// each other or for a run's transitions, and nothing waits for a claim in the other order.
// Writes a worker makes under its lease read the job row `FOR SHARE`: a reaper holding it makes
// them wait and then find the lease gone.

extension JobStore {
    /// Holds `runID`'s row until the transaction ends (PostgreSQL; SQLite is already serial).
    static func lockRun(_ db: any SQLTransaction, _ runID: Int64) throws {
        guard db.dialect == .postgres else { return }
        try db.execute("SELECT id FROM runs WHERE id = ? FOR UPDATE", [runID])
    }

    /// Locks the run of job `jobID` (see `lockRun`) without waiting for the answer: the
    /// statement after it waits for the lock instead (one round trip to the server saved).
    static func lockRunWithoutWaiting(ofJob jobID: Int64, _ db: any SQLTransaction) throws {
        guard db.dialect == .postgres else { return }
        try db.executeWithoutWaiting("""
            SELECT r.id FROM runs r JOIN jobs j ON j.run_id = r.id WHERE j.id = ? FOR UPDATE OF r
            """, [jobID])
    }

    /// Locks the run of job `jobID` (see `lockRun`); nil when there is no such job.
    @discardableResult
    static func lockRun(ofJob jobID: Int64, _ db: any SQLTransaction) throws -> Int64? {
        guard db.dialect == .postgres else { return nil }
        return try db.fetchValue(Int64.self, """
            SELECT r.id FROM runs r JOIN jobs j ON j.run_id = r.id WHERE j.id = ? FOR UPDATE OF r
            """, [jobID])
    }

    /// Serialises the declarations of one memo key across runs and hosts (PostgreSQL).
    static func lockMemoKey(_ db: any SQLTransaction, _ memoKey: String) throws {
        guard db.dialect == .postgres else { return }
        try db.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [memoKey])
    }

    /// Wakes idle workers on every host once this transaction commits: a job may have become
    /// claimable (PostgreSQL NOTIFY; SQLite's workers poll).
    static func notifyQueued(_ db: any SQLTransaction) throws {
        guard db.dialect == .postgres else { return }
        try db.execute("NOTIFY \(PostgresDriver.queueChannel)")
    }
}

extension SQLDialect {
    /// Ends a SELECT that reads rows this transaction is about to change (the reaper).
    var rowLockSuffix: String { self == .postgres ? "FOR UPDATE" : "" }
    /// Ends the read of a job row that a worker's lease-guarded write depends on.
    var leaseReadSuffix: String { self == .postgres ? "FOR SHARE" : "" }
}
