import Foundation

/// One database the store can live in. The store's queries are written once (`JobStore`); a
/// driver supplies transactions in its dialect and the few things only it can do. Every driver
/// passes the same conformance suite (Tests/APOStoreTests).
public protocol StoreDriver: Sendable {
    var dialect: SQLDialect { get }
    /// What the user named: a file path, or a URL with its password left out.
    var location: String { get }
    /// A transaction that may write. On SQLite one at a time per file (IMMEDIATE); on PostgreSQL
    /// READ COMMITTED, with the row locks the store takes (`JobStore.lockRun`) keeping each run's
    /// transitions serial.
    func write<T>(_ body: (any SQLTransaction) throws -> T) throws -> T
    /// A transaction that only reads, on one consistent snapshot.
    func read<T>(_ body: (any SQLTransaction) throws -> T) throws -> T
    /// The time the store acts at for a caller's `now`: the caller's own on SQLite (one machine);
    /// on PostgreSQL the database server's clock, so hosts whose clocks disagree still agree on
    /// when a lease expires.
    func storeTime(_ now: Date) -> Double
    /// Sleeps up to `timeout` seconds, returning early when another process may have queued a job
    /// (PostgreSQL's LISTEN/NOTIFY). SQLite has no such signal: it sleeps the whole time.
    func waitForQueuedJobs(timeout: TimeInterval)
    /// Closes connections. The driver must not be used afterwards.
    func close()
}
