import APOStore
import Foundation

/// Runs whose folder this host cannot see. On a database many hosts share, a run's folder lives
/// under an artifact root every host must mount at the same path; a worker on a host without it
/// gives such a run's jobs back (uncounted) and leaves them to other hosts for a while, instead of
/// failing them or writing them to a local folder nobody else can read.
struct UnmountedRuns {
    /// How long a run is left to others before this host looks for its folder again (a mount
    /// may appear).
    static let recheckAfter: TimeInterval = 60

    private var skippedUntil: [Int64: Date] = [:]

    /// What this worker may claim now: `host`'s jobs, outside the runs it is leaving to others.
    mutating func scope(host: HostCapacity?, now: Date) -> ClaimScope {
        skippedUntil = skippedUntil.filter { $0.value > now }
        return ClaimScope(host: host, skippedRuns: Set(skippedUntil.keys))
    }

    mutating func skip(_ runID: Int64, now: Date) {
        skippedUntil[runID] = now.addingTimeInterval(Self.recheckAfter)
    }

    /// Whether `root`, a run's folder, is missing here although other hosts may have it: only a
    /// shared (PostgreSQL) database has other hosts; one machine's folder is made as it is needed.
    static func isMissing(_ root: String, store: JobStore) -> Bool {
        store.driver.dialect == .postgres && !FileManager.default.fileExists(atPath: root)
    }
}
