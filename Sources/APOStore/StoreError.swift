import Foundation

/// Everything the store refuses, with the ids and states needed to explain why.
public enum StoreError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The database records migrations this binary does not know: it was written by a newer apo.
    case databaseTooNew(found: String, supported: String)
    /// A command that only reads was pointed at a file that does not exist (a typo in `--db`).
    case databaseMissing(path: String)
    /// The file (or its directory, where SQLite keeps `-wal`/`-shm`) is not writable, or the
    /// file's mode has no write bit at all (a deliberately read-only database, even for root).
    case databaseReadOnly(path: String, reason: String)
    /// The file is not an SQLite database, or an SQLite database of another program; apo leaves it
    /// untouched.
    case notAnApoDatabase(path: String, reason: String)
    /// Another connection held a lock on the file for longer than the busy timeout.
    case databaseLocked(path: String, waitedSeconds: Double)
    /// The database's directory is on a network file system, where SQLite's WAL mode is unsafe.
    case networkFileSystem(path: String, fileSystem: String)
    /// SQLite could not open the file for another reason (its message is kept).
    case cannotOpen(path: String, reason: String)
    /// The database server refused a statement (its SQLSTATE and message are kept).
    case databaseServer(location: String, sqlState: String, message: String)
    /// The lease's token no longer matches: the job was reaped, finished or re-claimed.
    case leaseLost(jobID: Int64)
    case notFound(what: String, id: Int64)
    case invalidTransition(jobID: Int64, expected: [JobState], found: JobState)
    /// A job can only be retried once every job it needs is succeeded or can still run.
    case dependencyNotRunnable(jobID: Int64, dependencyKey: String, state: JobState)
    case duplicateJobKey(String)
    case unknownDependency(job: String, needs: String)
    case dependencyCycle([String])
    case invalidJob(key: String, reason: String)

    public var description: String {
        switch self {
        case let .databaseTooNew(found, supported):
            return "database is too new: it has migration \(found) but this apo only knows up to "
                + "\(supported); upgrade apo or use another database"
        case let .databaseMissing(path):
            return "no database at \(path): check --db or $APO_DB (only `apoctl submit` and `apod` create a database)"
        case let .databaseReadOnly(path, reason):
            return "\(path) is read-only (\(reason)): apo writes to its database even to read it (migrations, WAL); "
                + "make it writable or copy it"
        case let .notAnApoDatabase(path, reason):
            return "\(path) is not an apo database (\(reason)); it was left untouched"
        case let .databaseLocked(path, waited):
            return "\(path) is locked by another process (waited \(Self.seconds(waited))): "
                + "another program holds an exclusive lock on it; try again once it lets go"
        case let .networkFileSystem(path, fileSystem):
            return "\(path) is on a network file system (\(fileSystem)): SQLite's WAL mode needs one machine's "
                + "shared memory and locks, and on a network file system two workers can claim the same job "
                + "or corrupt the file; keep the database on a local disk"
        case let .cannotOpen(path, reason):
            return "cannot open \(path): \(reason)"
        case let .databaseServer(location, sqlState, message):
            return "\(location): PostgreSQL error \(sqlState): \(message)"
        case let .leaseLost(jobID):
            return "lease lost on job \(jobID): it was reaped, finished or claimed by another worker"
        case let .notFound(what, id):
            return "no \(what) with id \(id)"
        case let .invalidTransition(jobID, expected, found):
            return "job \(jobID) is \(found.rawValue), expected one of "
                + expected.map(\.rawValue).joined(separator: ", ")
        case let .dependencyNotRunnable(jobID, key, state):
            return "job \(jobID) needs \(key), which is \(state.rawValue): retry \(key) first"
        case let .duplicateJobKey(key):
            return "duplicate job key \(key)"
        case let .unknownDependency(job, needs):
            return "job \(job) needs unknown job \(needs)"
        case let .dependencyCycle(keys):
            return "dependency cycle among jobs: " + keys.joined(separator: ", ")
        case let .invalidJob(key, reason):
            return "job \(key): \(reason)"
        }
    }
}

extension StoreError {
    /// Whether this error is about the database file itself (apoctl's exit code 6).
    public var isDatabaseUnavailable: Bool {
        switch self {
        case .databaseTooNew, .databaseMissing, .databaseReadOnly, .notAnApoDatabase, .databaseLocked,
             .networkFileSystem, .cannotOpen:
            return true
        default:
            return false
        }
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
    }
}

extension StoreError: LocalizedError {
    public var errorDescription: String? { description }
}
