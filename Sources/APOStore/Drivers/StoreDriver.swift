import Foundation

/// One database the store can live in. The store's queries are written once (`JobStore`); a
/// driver supplies transactions in its dialect and the few things only it can do. Every driver
/// passes the same conformance suite (Tests/APOStoreTests).
public protocol StoreDriver: Sendable {
    var dialect: SQLDialect { get }
    /// What the user named: a file path, or a URL with its password left out.
    var location: String { get }
    /// The database's file, when it is one (SQLite); nil for a server's database.
    var filePath: String? { get }
    /// A transaction that may write. On SQLite one at a time per file (IMMEDIATE); on PostgreSQL
    /// READ COMMITTED, with the row locks the store takes (`JobStore.lockRun`) keeping each run's
    /// transitions serial.
    func write<T>(_ body: (any SQLTransaction) throws -> T) throws -> T
    /// A write transaction whose body runs one statement on this driver's dialect (on SQLite it
    /// may run several). PostgreSQL makes a lone statement a transaction of its own, so it goes
    /// without BEGIN and COMMIT: one round trip instead of three. SQLite: `write`.
    func writeOneStatement<T>(_ body: (any SQLTransaction) throws -> T) throws -> T
    /// A transaction that only reads, on one consistent snapshot.
    func read<T>(_ body: (any SQLTransaction) throws -> T) throws -> T
    /// The time the store acts at for a caller's `now`: the caller's own on SQLite (one machine);
    /// on PostgreSQL the database server's clock, so hosts whose clocks disagree still agree on
    /// when a lease expires.
    func storeTime(_ now: Date) -> Double
    /// What `waitForQueuedJobs` compares against: take it before looking for work, so a job queued
    /// while looking wakes the wait that follows instead of being slept through.
    func queueSignalMark() -> QueueSignalMark
    /// Sleeps up to `timeout` seconds, returning early once another process may have queued a job
    /// since `mark` was taken (PostgreSQL's LISTEN/NOTIFY). SQLite has no such signal: it sleeps
    /// the whole time.
    func waitForQueuedJobs(since mark: QueueSignalMark, timeout: TimeInterval)
    /// Closes connections. The driver must not be used afterwards.
    func close()
}

/// How many queue signals a driver had seen when the mark was taken (`StoreDriver.queueSignalMark`).
public struct QueueSignalMark: Sendable, Equatable {
    let seen: Int
}
