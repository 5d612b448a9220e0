import APOEngine
import APOJSON
import APOPipeline
import APOStore
import Foundation
import Logging

/// How a worker claims and runs jobs.
public struct WorkerConfiguration: Sendable {
    /// Recorded on every attempt (`job_history.worker`), e.g. "w1@host:1234".
    public var workerID: String
    public var leaseDuration: TimeInterval
    /// Idle polling starts at `minIdleSleep` after work and backs off to `maxIdleSleep`, which
    /// bounds the scheduling latency of an idle worker.
    public var minIdleSleep: TimeInterval = 0.005
    public var maxIdleSleep: TimeInterval = 0.04
    /// CPU threads offered to each job (a job's own `threads` resource caps it further).
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Seconds a kind may ignore a stop request before the process settles the attempt and exits;
    /// nil in-process (tests, benchmarks), set by `apod worker` (`--stop-grace`).
    public var hardStopAfter: TimeInterval?
    /// The host this worker claims for: only jobs whose `resources:` it satisfies. nil claims any
    /// job (in-process workers of tests and benchmarks).
    public var host: HostCapacity?

    /// `apod --stop-grace` when not given.
    public static let defaultStopGrace: TimeInterval = 10

    public init(workerID: String, leaseDuration: TimeInterval) {
        self.workerID = workerID
        self.leaseDuration = leaseDuration
    }
}

/// What became of one claimed attempt.
public enum AttemptOutcome: Equatable, Sendable {
    case succeeded
    case memoized(fromJobID: Int64)
    case failed(retryable: Bool)
    case cancelled
    case released
    /// Job `forJobID` was running the same work (same memo key): the job went back to the queue
    /// to wait for it, without running the kind or counting an attempt.
    case waiting(forJobID: Int64)
    case timedOut
    /// Someone else owns the job now; nothing was written.
    case leaseLost
}

/// Claims ready jobs one at a time and runs each to a final store transition. Invariant: every
/// claimed attempt ends in exactly one of complete / completeMemoized / fail / finishCancelled /
/// release / declareMemoKey's wait, or in nothing at all when its lease was lost (the reaper then owns the job).
public final class Worker {
    public let configuration: WorkerConfiguration
    let store: JobStore
    let registry: [String: any JobKind.Type]
    let shutdown: ShutdownFlag
    let parentAlive: () -> Bool
    var logger: Logger
    var artifactRoots: [Int64: String] = [:]
    var unmountedRuns = UnmountedRuns()
    var identity: DatabaseIdentity?

    public init(store: JobStore, registry: [String: any JobKind.Type] = JobKindRegistry.standard, configuration: WorkerConfiguration,
                shutdown: ShutdownFlag = ShutdownFlag(), parentAlive: @escaping () -> Bool = { true },
                logger: Logger = Logger(label: "apo.worker")) {
        self.store = store
        self.registry = registry
        self.configuration = configuration
        self.shutdown = shutdown
        self.parentAlive = parentAlive
        self.logger = logger
        self.logger[metadataKey: "worker"] = "\(configuration.workerID)"
    }

    /// Runs until shutdown is requested or the parent process is gone; returns the number of
    /// attempts handled.
    @discardableResult
    public func run() -> Int {
        var handled = 0
        var idle = configuration.minIdleSleep
        // A job handed over by the previous completion (same transaction), if any.
        var next: ClaimedJob?
        while !shutdown.isRequested, parentAlive() {
            var claimed = next
            next = nil
            // Taken before looking: a job queued while the claim looks cuts the wait below short.
            let mark = store.driver.queueSignalMark()
            if claimed == nil {
                do {
                    claimed = try store.claimNextJob(
                        workerID: configuration.workerID, leaseDuration: configuration.leaseDuration, now: Date(),
                        scope: unmountedRuns.scope(host: configuration.host, now: Date()))
                } catch {
                    logger.warning("claim failed: \(error)")
                }
            }
            if let claimed {
                next = process(claimed, handOff: true).next
                handled += 1
                idle = configuration.minIdleSleep
                continue
            }
            // PostgreSQL wakes the wait as soon as any host queues a job; SQLite sleeps it out.
            store.driver.waitForQueuedJobs(since: mark, timeout: idle)
            idle = min(idle * 2, configuration.maxIdleSleep)
        }
        if let next {
            // Claimed in the same transaction as the last completion, just as the stop came.
            try? store.release(next.lease, now: Date())
        }
        return handled
    }

    /// Claims one ready job and runs it; nil when nothing was ready.
    @discardableResult
    public func runOnce(now: Date = Date()) throws -> AttemptOutcome? {
        guard let claimed = try store.claimNextJob(
            workerID: configuration.workerID, leaseDuration: configuration.leaseDuration, now: now,
            scope: unmountedRuns.scope(host: configuration.host, now: now))
        else { return nil }
        return process(claimed, handOff: false).outcome
    }

    /// Gives back a job of a run whose folder this host does not have (see `UnmountedRuns`).
    func leaveToOtherHosts(_ job: JobRecord, _ lease: JobLease, root: String) -> AttemptOutcome {
        logger.error("run \(job.runID)'s artifact folder \(root) is not on this host: is the artifact root mounted here at the same path? Leaving the run's jobs to other hosts (job \(job.id) \(job.key) given back)")
        unmountedRuns.skip(job.runID, now: Date())
        do {
            try store.release(lease, now: Date())
        } catch StoreError.leaseLost {
            return .leaseLost
        } catch {
            logger.warning("job \(job.id): could not give it back: \(error)")
        }
        return .released
    }

    /// The run's artifact root (cached: it never changes).
    func artifactRoot(_ job: JobRecord) throws -> String {
        if let cached = artifactRoots[job.runID] { return cached }
        guard let run = try store.run(job.runID) else { throw StoreError.notFound(what: "run", id: job.runID) }
        artifactRoots[job.runID] = run.artifactRoot
        return run.artifactRoot
    }

    /// What this worker's attempts claim their run's folder as (checked before any folder is laid out).
    func folderOwner(_ job: JobRecord) throws -> RunFolderOwner {
        if identity == nil { identity = try store.databaseIdentity() }
        return RunFolderOwner(identity!, run: job.runID)
    }

    /// A memo hit is only usable while the files it points at are still on disk.
    func outputsStillExist(_ earlier: JobRecord) -> Bool {
        guard let json = earlier.outputsJSON,
              let outputs = try? JSONDecoder().decode([String: JSONValue].self, from: Data(json.utf8))
        else { return false }
        for value in MemoKey.stringLeaves(of: .object(outputs)) where value.hasPrefix("/") {
            if !FileManager.default.fileExists(atPath: value) { return false }
        }
        return true
    }
}
