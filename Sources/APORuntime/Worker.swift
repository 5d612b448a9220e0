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
    private let store: JobStore
    private let registry: [String: any JobKind.Type]
    private let shutdown: ShutdownFlag
    private let parentAlive: () -> Bool
    private var logger: Logger
    private var artifactRoots: [Int64: String] = [:]

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
            if claimed == nil {
                do {
                    claimed = try store.claimNextJob(
                        workerID: configuration.workerID, leaseDuration: configuration.leaseDuration, now: Date())
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
            Thread.sleep(forTimeInterval: idle)
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
            workerID: configuration.workerID, leaseDuration: configuration.leaseDuration, now: now)
        else { return nil }
        return process(claimed, handOff: false).outcome
    }

    // MARK: - One attempt

    /// With `handOff`, a successful completion also claims this worker's next job in the same
    /// transaction (one commit per job instead of two), returned as `next`.
    func process(_ claimed: ClaimedJob, handOff: Bool) -> (outcome: AttemptOutcome, next: ClaimedJob?) {
        let job = claimed.job
        let lease = claimed.lease
        logger.debug("claimed job \(job.id) \(job.key) (\(job.kind)) attempt \(job.attempts)")

        guard let kind = registry[job.kind] else {
            return (failFast(lease, "unknown job kind '\(job.kind)' (this apod knows: \(registry.keys.sorted().joined(separator: ", ")))"), nil)
        }
        var params: [String: ParamValue]
        let dependencyOutputs: [String: JobOutputs]
        do {
            (params, dependencyOutputs) = try ResolvedParameters.resolve(
                paramsJSON: job.paramsJSON, dependencyOutputs: claimed.dependencyOutputs, jobKey: job.key)
        } catch {
            return (failFast(lease, "\(error)"), nil)
        }
        // Jobs stored without the pipeline compiler (benchmarks, other tools) still get defaults.
        for spec in kind.parameters where params[spec.name] == nil {
            if let value = spec.defaultValue { params[spec.name] = value }
        }

        var memoKey: MemoKey?
        if job.memoize {
            do {
                let dependencyPaths = Set(dependencyOutputs.values.flatMap { MemoKey.stringLeaves(of: .object($0)) })
                let key = try MemoKey.compute(kind: kind.name, kindVersion: kind.version, params: params,
                                              dependencyPaths: dependencyPaths)
                memoKey = key
                // In-flight memoization (the rule is at `JobStore.declareMemoKey`): declared first,
                // so a twin finishing meanwhile is either still running here or found just below.
                if case .waiting(let twinID) = try store.declareMemoKey(lease, memoKey: key.value, now: Date()) {
                    logger.info("job \(job.id) \(job.key) waits for job \(twinID), which is running the same work")
                    return (.waiting(forJobID: twinID), nil)
                }
                if let earlier = try store.findMemoizedJob(memoKey: key.value), earlier.id != job.id,
                   outputsStillExist(earlier) {
                    try store.completeMemoized(
                        lease, fromJobID: earlier.id,
                        logLine: "memoized: reused outputs of job \(earlier.id) (run \(earlier.runID), \(earlier.key)); memo key \(key.value)",
                        now: Date())
                    logger.info("job \(job.id) \(job.key) memoized from job \(earlier.id)")
                    return (.memoized(fromJobID: earlier.id), nil)
                }
            } catch StoreError.leaseLost {
                return (.leaseLost, nil)
            } catch {
                // Hashing an input failed (unreadable file): run the job; the kind reports the real error.
                logger.warning("job \(job.id): memo key not computed: \(error)")
                memoKey = nil
            }
        }

        let directories: (output: URL, checkpoint: URL)
        do {
            directories = try jobDirectories(job)
        } catch {
            return (failFast(lease, "cannot create the job's artifact directory: \(error)", retryable: true), nil)
        }

        let stop = StopSignal()
        let context = WorkerJobContext(
            params: params, outputDirectory: directories.output, checkpointDirectory: directories.checkpoint,
            threads: configuration.threads, store: store, lease: lease, stop: stop)
        let keeper = LeaseKeeper(
            store: store, lease: lease, leaseDuration: configuration.leaseDuration, stop: stop,
            shutdown: shutdown, parentAlive: parentAlive, timeout: job.timeoutSeconds,
            hardStopAfter: configuration.hardStopAfter, logger: logger)
        keeper.start()
        let result = Result { try kind.run(context) }
        keeper.finish()
        return settle(job: job, lease: lease, result: result, stop: stop.reason, memoKey: memoKey?.value,
                      handOff: handOff)
    }

    /// The one place an attempt's final state is chosen.
    func settle(job: JobRecord, lease: JobLease, result: Result<JobOutputs, Error>, stop: StopReason?,
                memoKey: String?, handOff: Bool = false) -> (outcome: AttemptOutcome, next: ClaimedJob?) {
        let now = Date()
        do {
            switch (result, stop) {
            case (_, .leaseLost?):
                logger.warning("job \(job.id) \(job.key): lease lost; leaving it to its new owner")
                return (.leaseLost, nil)
            case (.success(let outputs), _):
                let outputsJSON = try MemoKey.canonicalJSON(.object(outputs))
                logger.debug("job \(job.id) \(job.key) succeeded")
                if handOff, !shutdown.isRequested, parentAlive() {
                    let next = try store.completeAndClaimNext(
                        lease, outputsJSON: outputsJSON, memoKey: memoKey,
                        leaseDuration: configuration.leaseDuration, now: now)
                    return (.succeeded, next)
                }
                try store.complete(lease, outputsJSON: outputsJSON, memoKey: memoKey, now: now)
                return (.succeeded, nil)
            case (.failure, .cancelRequested?):
                try store.finishCancelled(lease, now: now)
                logger.info("job \(job.id) \(job.key) cancelled")
                return (.cancelled, nil)
            case (.failure, .workerStopping?):
                try store.release(lease, now: now)
                logger.info("job \(job.id) \(job.key) released (worker stopping)")
                return (.released, nil)
            case (.failure, .timedOut(let seconds)?):
                try store.fail(lease, error: "timed out after \(seconds) s", retryable: true, now: now)
                logger.warning("job \(job.id) \(job.key) timed out after \(seconds) s")
                return (.timedOut, nil)
            case (.failure(let error), nil):
                let retryable = Self.isRetryable(error)
                try store.fail(lease, error: Self.describe(error), retryable: retryable, now: now)
                logger.warning("job \(job.id) \(job.key) failed (\(retryable ? "retryable" : "final")): \(Self.describe(error))")
                return (.failed(retryable: retryable), nil)
            }
        } catch StoreError.leaseLost {
            logger.warning("job \(job.id) \(job.key): lease lost before the result was recorded")
            return (.leaseLost, nil)
        } catch {
            // The database refused the final write; the lease will expire and the reaper retries.
            logger.error("job \(job.id) \(job.key): could not record the outcome: \(error)")
            return (.leaseLost, nil)
        }
    }

    private func failFast(_ lease: JobLease, _ message: String, retryable: Bool = false) -> AttemptOutcome {
        do {
            try store.fail(lease, error: message, retryable: retryable, now: Date())
        } catch {
            logger.error("job \(lease.jobID): could not record failure '\(message)': \(error)")
            return .leaseLost
        }
        logger.warning("job \(lease.jobID) failed: \(message)")
        return .failed(retryable: retryable)
    }

    /// Errors that say the job's definition is wrong fail at once; anything else (I/O, a crash in
    /// a dependency's files, a full disk) may pass on another attempt.
    static func isRetryable(_ error: Error) -> Bool {
        switch error {
        case is ParameterResolutionError, is DecodingError, is ArtifactError, is JobParameterError,
             is PipelineValidationError:
            return false
        default:
            return true
        }
    }

    static func describe(_ error: Error) -> String {
        String(describing: error)
    }

    /// `<artifactRoot>/<job key>/` for outputs, `<artifactRoot>/.checkpoints/<job key>/` for
    /// checkpoints (outside the outputs, so memoized outputs never carry checkpoint files).
    func jobDirectories(_ job: JobRecord) throws -> (output: URL, checkpoint: URL) {
        let root: String
        if let cached = artifactRoots[job.runID] {
            root = cached
        } else {
            guard let run = try store.run(job.runID) else {
                throw StoreError.notFound(what: "run", id: job.runID)
            }
            root = run.artifactRoot
            artifactRoots[job.runID] = root
        }
        let safeKey = job.key.replacingOccurrences(of: "/", with: "_")
        let output = URL(fileURLWithPath: root).appendingPathComponent(safeKey, isDirectory: true)
        let checkpoint = URL(fileURLWithPath: root).appendingPathComponent(".checkpoints", isDirectory: true)
            .appendingPathComponent(safeKey, isDirectory: true)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: checkpoint, withIntermediateDirectories: true)
        return (output, checkpoint)
    }

    /// A memo hit is only usable while the files it points at are still on disk.
    func outputsStillExist(_ earlier: JobRecord) -> Bool {
        guard let json = earlier.outputsJSON,
              let outputs = try? JSONDecoder().decode([String: ParamValue].self, from: Data(json.utf8))
        else { return false }
        for value in MemoKey.stringLeaves(of: .object(outputs)) where value.hasPrefix("/") {
            if !FileManager.default.fileExists(atPath: value) { return false }
        }
        return true
    }
}
