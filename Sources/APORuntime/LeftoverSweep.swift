import APOStore
import Foundation
import Logging

/// What crashed attempts leave under a run's artifact root, removed when apod starts (each new
/// attempt also clears its own job's, in `AttemptFolders.prepare`): repeated crashes must not fill
/// the disk with half-written models.
///
/// Removed: the trash of earlier sweeps and adoptions (`.trash-*`), the staging folders of
/// attempts that no longer hold a lease, the checkpoints of succeeded jobs, and temporary names
/// (`.x.tmp-*`, `.x.old-*`) in published job folders and in checkpoint folders no attempt is
/// using. Never touched: anything of a running attempt, or of an attempt newer than what was read,
/// or a run folder another database owns (`RunFolderOwner`: a copy of the database sees the
/// original's live attempts as dead ones).
public enum LeftoverSweep {
    public struct Result: Equatable, Sendable {
        public var removed: [String] = []
    }

    @discardableResult
    public static func run(store: JobStore, logger: Logger? = nil) throws -> Result {
        var result = Result()
        let fm = FileManager.default
        func remove(_ url: URL) {
            guard fm.fileExists(atPath: url.path) else { return }
            do {
                try fm.removeItem(at: url)
                result.removed.append(url.path)
            } catch {
                logger?.warning("cannot remove leftover \(url.path): \(error)")
            }
        }
        let states = try ownFolders(try store.jobFolderStates(), store: store, logger: logger)
        for root in Set(states.map(\.artifactRoot)) {
            let base = URL(fileURLWithPath: root, isDirectory: true)
            for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(".trash-") {
                remove(base.appendingPathComponent(name))
            }
        }
        for job in states {
            let base = URL(fileURLWithPath: job.artifactRoot, isDirectory: true)
            let key = AttemptFolders.safeKey(job.key)
            let staging = base.appendingPathComponent(AttemptFolders.stagingFolder).appendingPathComponent(key)
            for name in (try? fm.contentsOfDirectory(atPath: staging.path)) ?? [] {
                guard let id = Int64(name), id != job.liveAttemptID, id <= (job.newestAttemptID ?? 0) else { continue }
                remove(staging.appendingPathComponent(name))
            }
            let checkpoints = base.appendingPathComponent(AttemptFolders.checkpointFolder).appendingPathComponent(key)
            if job.state == .succeeded {
                remove(checkpoints)
            } else if job.state != .running {
                for url in temporaries(below: checkpoints) { remove(url) }
            }
            // A running job may be publishing right now (a directory moved aside for a moment).
            if job.state != .running {
                for url in temporaries(below: base.appendingPathComponent(key)) { remove(url) }
            }
        }
        if !result.removed.isEmpty {
            logger?.info("removed \(result.removed.count) leftover(s) of crashed attempts")
        }
        return result
    }

    /// The jobs whose run folder records `store`'s database and their run as its owner, or no
    /// owner (folders made before owners were recorded).
    static func ownFolders(_ states: [JobFolderState], store: JobStore, logger: Logger?) throws -> [JobFolderState] {
        let identity = try store.databaseIdentity()
        var verdicts: [String: Bool] = [:]
        return states.filter { job in
            if let verdict = verdicts[job.artifactRoot] { return verdict }
            let claimant = RunFolderOwner(identity, run: job.runID)
            var own = false
            do {
                if let owner = try RunFolderOwner.read(root: job.artifactRoot),
                   owner.database != claimant.database || owner.run != claimant.run {
                    logger?.warning("leftover sweep skips \(RunFolderOwnedElsewhere(root: job.artifactRoot, owner: owner, claimant: claimant))")
                } else {
                    own = true
                }
            } catch {
                logger?.warning("leftover sweep skips \(job.artifactRoot): \(error)")
            }
            verdicts[job.artifactRoot] = own
            return own
        }
    }

    static func temporaries(below folder: URL) -> [URL] {
        guard let walker = FileManager.default.enumerator(atPath: folder.path) else { return [] }
        var found: [URL] = []
        for case let relative as String in walker {
            if AttemptFolders.isTemporaryName((relative as NSString).lastPathComponent) {
                found.append(folder.appendingPathComponent(relative))
                walker.skipDescendants()
            }
        }
        return found
    }
}
