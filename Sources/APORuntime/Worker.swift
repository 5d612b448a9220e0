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
    private let store: JobStore
    private let registry: [String: any JobKind.Type]
    private let shutdown: ShutdownFlag
    private let parentAlive: () -> Bool
    private var logger: Logger
    private var artifactRoots: [Int64: String] = [:]
    private var unmountedRuns = UnmountedRuns()
    private var identity: DatabaseIdentity?

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
        if let root = try? artifactRoot(job), UnmountedRuns.isMissing(root, store: store) {
            return (leaveToOtherHosts(job, lease, root: root), nil)
        }
        var params: [String: JSONValue]
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

        // "auto" becomes this machine's precision before the memo key is made, so the key (and the
        // kind) see the arithmetic that will actually run.
        var computePath: ComputePath?
        if kind.parameters.contains(where: { $0.name == ParameterSpec.precision.name }) {
            do {
                let path = try PrecisionParameter.resolve(params)
                params[ParameterSpec.precision.name] = .string(path.precision.rawValue)
                computePath = path
            } catch {
                return (failFast(lease, "\(error)"), nil)
            }
        }

        var memoKey: MemoKey?
        if job.memoize {
            do {
                let dependencyPaths = Set(dependencyOutputs.values.flatMap { MemoKey.stringLeaves(of: .object($0)) })
                let key = try MemoKey.compute(kind: kind.name, kindVersion: kind.version,
                                              params: MemoKey.outputParameters(params, declared: kind.parameters),
                                              dependencyPaths: dependencyPaths, computeIdentity: computePath?.identity)
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

        if let mismatch = verifyInputs(lease, dependencyOutputs: dependencyOutputs, digests: memoKey?.inputDigests ?? [:]) {
            return (failFast(lease, mismatch), nil)
        }

        let folders: AttemptFolders
        do {
            let root = try artifactRoot(job)
            let owner = try folderOwner(job)
            folders = try store.holdingLease(lease) {
                try AttemptFolders.prepare(root: root, jobKey: job.key, attemptID: lease.attemptID, owner: owner)
            }
        } catch StoreError.leaseLost {
            return (.leaseLost, nil)
        } catch let error as RunFolderOwnedElsewhere {
            return (failFast(lease, "\(error)"), nil)
        } catch let error as RunFolderOwnerUnreadable {
            return (failFast(lease, "\(error)"), nil)
        } catch {
            return (failFast(lease, "cannot prepare the job's folders: \(error)", retryable: true), nil)
        }
        folders.removeTrash()
        defer { try? FileManager.default.removeItem(at: folders.staging) }

        let stop = StopSignal()
        // `resources.threads` caps what the job uses: two one-thread jobs side by side on a
        // 2-core host each get a core instead of both running two threads on both.
        let threads = min(configuration.threads,
                          ResourceNeeds.threads(resourcesJSON: job.resourcesJSON) ?? configuration.threads)
        let context = WorkerJobContext(params: params, folders: folders, threads: threads,
                                       store: store, lease: lease, stop: stop)
        if let computePath {
            do {
                try store.recordComputePath(lease, computePath.description)
            } catch StoreError.leaseLost {
                return (.leaseLost, nil)
            } catch {
                logger.warning("job \(job.id): compute path not recorded: \(error)")
            }
            context.log("compute: \(computePath)")
        }
        if let adopted = folders.adoptedFrom {
            context.log("checkpoints: adopted \(adopted) from an earlier attempt")
        }
        let cpuAtStart = ProcessCPUTime.seconds()
        let keeper = LeaseKeeper(
            store: store, lease: lease, leaseDuration: configuration.leaseDuration, stop: stop,
            shutdown: shutdown, parentAlive: parentAlive, timeout: job.timeoutSeconds,
            hardStopAfter: configuration.hardStopAfter, cpuAtStart: cpuAtStart, logger: logger)
        keeper.start()
        let result = Result { try kind.run(context) }
        let cpuSeconds = ProcessCPUTime.seconds() - cpuAtStart
        keeper.finish()
        let settled = settle(job: job, lease: lease, result: result, stop: stop.reason, memoKey: memoKey?.value,
                             context: context, cpuSeconds: cpuSeconds, handOff: handOff)
        if settled.outcome == .succeeded {
            AttemptFolders.removeScratch(root: folders.output.deletingLastPathComponent().path, jobKey: job.key)
        }
        return settled
    }

    /// An input artifact whose bytes changed since its producer recorded it (a flipped bit, a
    /// hand edit) is refused before use, naming the artifact and its producer. `digests` are the
    /// ones the memo key already computed; other inputs are hashed here.
    func verifyInputs(_ lease: JobLease, dependencyOutputs: [String: JobOutputs], digests: [String: String]) -> String? {
        let paths = Set(dependencyOutputs.values.flatMap { MemoKey.stringLeaves(of: .object($0)) })
        // No output of a dependency names a path (or there are no dependencies): nothing to check,
        // and no need to ask the store.
        if paths.isEmpty { return nil }
        let recorded: [String: ArtifactRecord]
        do {
            recorded = try store.dependencyArtifacts(lease)
        } catch {
            return nil  // The store is unreachable: the lease keeper or the final write will say so.
        }
        for path in paths.sorted() {
            guard let artifact = recorded[path] else { continue }
            let found: String
            do {
                if let known = digests[path] {
                    found = known
                } else if artifact.type == .directory {
                    found = try FileDigest.digest(ofDirectory: URL(fileURLWithPath: path)).sha256
                } else {
                    found = try FileDigest.sha256(ofFile: URL(fileURLWithPath: path))
                }
            } catch {
                return "input artifact '\(artifact.name)' of job \(artifact.jobKey) (run \(artifact.runID)) cannot be read at \(path): \(error)"
            }
            if found != artifact.sha256 {
                return "input artifact '\(artifact.name)' of job \(artifact.jobKey) (run \(artifact.runID)) changed since it was recorded: \(path) has sha256 \(found), recorded \(artifact.sha256)"
            }
        }
        return nil
    }

    /// The one place an attempt's final state is chosen. `cpuSeconds`, what the job's run cost,
    /// goes with a success in its completion and is recorded first otherwise.
    func settle(job: JobRecord, lease: JobLease, result: Result<JobOutputs, Error>, stop: StopReason?,
                memoKey: String?, context: WorkerJobContext?, cpuSeconds: Double,
                handOff: Bool = false) -> (outcome: AttemptOutcome, next: ClaimedJob?) {
        let now = Date()
        if case .failure = result, stop != .leaseLost {
            do {
                try store.recordCPUTime(lease, seconds: cpuSeconds)
            } catch {
                logger.warning("job \(job.id): CPU time not recorded: \(error)")
            }
        }
        do {
            switch (result, stop) {
            case (_, .leaseLost?):
                logger.warning("job \(job.id) \(job.key): lease lost; leaving it to its new owner")
                return (.leaseLost, nil)
            case (.success(let outputs), _):
                let outputsJSON = try MemoKey.canonicalJSON(.object(outputs))
                var completion = context?.completion(outputsJSON: outputsJSON, memoKey: memoKey)
                    ?? JobCompletion(outputsJSON: outputsJSON, memoKey: memoKey)
                completion.cpuSeconds = cpuSeconds
                do {
                    if handOff, !shutdown.isRequested, parentAlive() {
                        let next = try store.completeAndClaimNext(
                            lease, completion, leaseDuration: configuration.leaseDuration, now: now,
                            scope: unmountedRuns.scope(host: configuration.host, now: Date()))
                        logger.debug("job \(job.id) \(job.key) succeeded")
                        return (.succeeded, next)
                    }
                    try store.complete(lease, completion, now: now)
                } catch let error as StoreError {
                    throw error
                } catch {
                    // Publishing failed (a full disk, an I/O error): the completion was rolled back.
                    try store.fail(lease, error: "publishing the outputs failed: \(Self.describe(error))",
                                   retryable: Self.isRetryable(error), now: Date())
                    logger.warning("job \(job.id) \(job.key) could not publish its outputs: \(error)")
                    return (.failed(retryable: Self.isRetryable(error)), nil)
                }
                logger.debug("job \(job.id) \(job.key) succeeded")
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

    /// Only what can succeed on another attempt is retried: I/O errors (a full disk, an fsync
    /// that failed, a file busy), a busy database. Errors that say the input or the job's definition
    /// is wrong — a bad JSON file, a corrupt GGUF, a bad parameter — fail at once: reading the same
    /// bytes again gives the same answer. Lost leases and crashes are retried by the reaper, not here.
    static func isRetryable(_ error: Error) -> Bool {
        switch error {
        case is RetryableError, is DurabilityError, is POSIXError, is StoreError:
            return true
        case let error as CocoaError:
            // A missing or undecodable file stays so; a failed write or read may not.
            return ![.fileReadNoSuchFile, .fileReadCorruptFile, .fileReadInvalidFileName, .fileNoSuchFile,
                     .fileReadInapplicableStringEncoding, .fileReadNoPermission, .fileWriteNoPermission]
                .contains(error.code)
        case let error as DownloadError:
            if case .checksumMismatch = error { return false }
            return true
        case is EvaluateKind.EvaluateError:
            return false
        case let error as ModelFileError:
            if case .cannotWrite = error { return true }
            return false
        case let error as CheckpointError:
            // Only a failed write reaches here; unreadable checkpoints are skipped when resuming.
            if case .corrupt = error { return true }
            return false
        case let error as NSError where error.domain == NSPOSIXErrorDomain:
            return true
        default:
            return false
        }
    }

    /// What `apoctl show` prints for a failed attempt. Foundation's file errors print as
    /// "Error Domain=NSCocoaErrorDomain Code=640 …"; they become "no space left on device: PATH".
    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return String(describing: error) }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError
        let reason: String
        if let posix = [ns, underlying].compactMap({ $0 }).first(where: { $0.domain == NSPOSIXErrorDomain }) {
            reason = String(cString: strerror(Int32(posix.code)))
        } else if let cocoa = error as? CocoaError, cocoa.code == .fileWriteOutOfSpace {
            reason = String(cString: strerror(ENOSPC))
        } else {
            reason = String(describing: error)
        }
        return path.map { "\(reason.prefix(1).lowercased() + reason.dropFirst()): \($0)" } ?? reason
    }

    /// The run's artifact root (cached: it never changes).
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
