import Foundation

/// Everything the store refuses, with the ids and states needed to explain why.
public enum StoreError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The database records migrations this binary does not know: it was written by a newer apo.
    case databaseTooNew(found: String, supported: String)
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

extension StoreError: LocalizedError {
    public var errorDescription: String? { description }
}
