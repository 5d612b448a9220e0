import APOEngine
import APOJSON
import APOPipeline
import APOStore
import Foundation

// One claimed attempt, in the order it happens: find the kind, resolve the parameters, try the
// memo, check the inputs, lay out the folders, run the kind, settle. A phase that ends the attempt
// early (a fast failure, a memo hit, a twin to wait for, a lost lease) throws `AttemptEnded`.

/// An attempt that ended before its kind ran, with what became of it (already recorded).
struct AttemptEnded: Error {
    let outcome: AttemptOutcome
}

extension Worker {
    /// What an attempt has once its parameters, memo key and folders are settled.
    struct PreparedAttempt {
        let job: JobRecord
        let lease: JobLease
        let kind: any JobKind.Type
        let params: [String: JSONValue]
        let computePath: ComputePath?
        let memoKey: MemoKey?
        let folders: AttemptFolders
    }

    /// With `handOff`, a successful completion also claims this worker's next job in the same
    /// transaction (one commit per job instead of two), returned as `next`.
    func process(_ claimed: ClaimedJob, handOff: Bool) -> (outcome: AttemptOutcome, next: ClaimedJob?) {
        let job = claimed.job, lease = claimed.lease
        logger.debug("claimed job \(job.id) \(job.key) (\(job.kind)) attempt \(job.attempts)")
        let prepared: PreparedAttempt
        do {
            let kind = try kindToRun(job, lease)
            let (params, dependencyOutputs, computePath) = try resolvedParameters(claimed, kind)
            let memoKey = try memoize(job, lease, kind: kind, params: params, dependencyOutputs: dependencyOutputs,
                                      computePath: computePath)
            if let mismatch = verifyInputs(lease, dependencyOutputs: dependencyOutputs, digests: memoKey?.inputDigests ?? [:]) {
                throw failedFast(lease, mismatch)
            }
            prepared = PreparedAttempt(job: job, lease: lease, kind: kind, params: params, computePath: computePath,
                                       memoKey: memoKey, folders: try attemptFolders(job, lease))
        } catch let early as AttemptEnded {
            return (early.outcome, nil)
        } catch {
            return (failFast(lease, "\(error)"), nil)
        }
        return run(prepared, handOff: handOff)
    }

    /// Records the attempt as failed now (the message is the job's error); thrown, it ends the attempt.
    func failedFast(_ lease: JobLease, _ message: String, retryable: Bool = false) -> AttemptEnded {
        AttemptEnded(outcome: failFast(lease, message, retryable: retryable))
    }

    /// The job's kind, if this apod knows it and the run's folder is on this host.
    func kindToRun(_ job: JobRecord, _ lease: JobLease) throws -> any JobKind.Type {
        guard let kind = registry[job.kind] else {
            throw failedFast(lease, "unknown job kind '\(job.kind)' (this apod knows: \(registry.keys.sorted().joined(separator: ", ")))")
        }
        if let root = try? artifactRoot(job), UnmountedRuns.isMissing(root, store: store) {
            throw AttemptEnded(outcome: leaveToOtherHosts(job, lease, root: root))
        }
        return kind
    }

    /// The job's parameters with its dependencies' outputs substituted and the kind's defaults
    /// filled in; "auto" precision becomes this machine's before the memo key is made, so the key
    /// (and the kind) see the arithmetic that will actually run.
    func resolvedParameters(_ claimed: ClaimedJob, _ kind: any JobKind.Type) throws
        -> (params: [String: JSONValue], dependencyOutputs: [String: JobOutputs], computePath: ComputePath?) {
        var params: [String: JSONValue]
        let dependencyOutputs: [String: JobOutputs]
        do {
            (params, dependencyOutputs) = try ResolvedParameters.resolve(
                paramsJSON: claimed.job.paramsJSON, dependencyOutputs: claimed.dependencyOutputs, jobKey: claimed.job.key)
        } catch {
            throw failedFast(claimed.lease, "\(error)")
        }
        // Jobs stored without the pipeline compiler (benchmarks, other tools) still get defaults.
        for spec in kind.parameters where params[spec.name] == nil {
            if let value = spec.defaultValue { params[spec.name] = value }
        }
        guard kind.parameters.contains(where: { $0.name == ParameterSpec.precision.name }) else {
            return (params, dependencyOutputs, nil)
        }
        do {
            let path = try PrecisionParameter.resolve(params)
            params[ParameterSpec.precision.name] = .string(path.precision.rawValue)
            return (params, dependencyOutputs, path)
        } catch {
            throw failedFast(claimed.lease, "\(error)")
        }
    }

    /// The job's memo key, after ending the attempt if a twin is running the same work (wait for
    /// it) or an earlier job did it and its files are still there (reuse them). Nil for jobs that
    /// do not memoize, and when an input could not be hashed (the kind then reports the real error).
    func memoize(_ job: JobRecord, _ lease: JobLease, kind: any JobKind.Type, params: [String: JSONValue],
                 dependencyOutputs: [String: JobOutputs], computePath: ComputePath?) throws -> MemoKey? {
        guard job.memoize else { return nil }
        do {
            let dependencyPaths = Set(dependencyOutputs.values.flatMap { MemoKey.stringLeaves(of: .object($0)) })
            let key = try MemoKey.compute(kind: kind.name, kindVersion: kind.version,
                                          params: MemoKey.outputParameters(params, declared: kind.parameters),
                                          dependencyPaths: dependencyPaths, computeIdentity: computePath?.identity)
            // In-flight memoization (the rule is at `JobStore.declareMemoKey`): declared first,
            // so a twin finishing meanwhile is either still running here or found just below.
            if case .waiting(let twinID) = try store.declareMemoKey(lease, memoKey: key.value, now: Date()) {
                logger.info("job \(job.id) \(job.key) waits for job \(twinID), which is running the same work")
                throw AttemptEnded(outcome: .waiting(forJobID: twinID))
            }
            if let earlier = try store.findMemoizedJob(memoKey: key.value), earlier.id != job.id, outputsStillExist(earlier) {
                try store.completeMemoized(
                    lease, fromJobID: earlier.id,
                    logLine: "memoized: reused outputs of job \(earlier.id) (run \(earlier.runID), \(earlier.key)); memo key \(key.value)",
                    now: Date())
                logger.info("job \(job.id) \(job.key) memoized from job \(earlier.id)")
                throw AttemptEnded(outcome: .memoized(fromJobID: earlier.id))
            }
            return key
        } catch let early as AttemptEnded {
            throw early
        } catch StoreError.leaseLost {
            throw AttemptEnded(outcome: .leaseLost)
        } catch {
            logger.warning("job \(job.id): memo key not computed: \(error)")
            return nil
        }
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

    /// The attempt's output, staging and checkpoint folders, laid out under the lease after
    /// checking that the run's folder belongs to this database's run.
    func attemptFolders(_ job: JobRecord, _ lease: JobLease) throws -> AttemptFolders {
        do {
            let root = try artifactRoot(job)
            let owner = try folderOwner(job)
            return try store.holdingLease(lease) {
                try AttemptFolders.prepare(root: root, jobKey: job.key, attemptID: lease.attemptID, owner: owner)
            }
        } catch StoreError.leaseLost {
            throw AttemptEnded(outcome: .leaseLost)
        } catch let error as RunFolderOwnedElsewhere {
            throw failedFast(lease, "\(error)")
        } catch let error as RunFolderOwnerUnreadable {
            throw failedFast(lease, "\(error)")
        } catch {
            throw failedFast(lease, "cannot prepare the job's folders: \(error)", retryable: true)
        }
    }

    /// Runs the kind under a lease keeper (heartbeats, stop requests, timeout) and settles the attempt.
    func run(_ attempt: PreparedAttempt, handOff: Bool) -> (outcome: AttemptOutcome, next: ClaimedJob?) {
        let (job, lease, folders) = (attempt.job, attempt.lease, attempt.folders)
        folders.removeTrash()
        defer { try? FileManager.default.removeItem(at: folders.staging) }
        let stop = StopSignal()
        // `resources.threads` caps what the job uses: two one-thread jobs side by side on a
        // 2-core host each get a core instead of both running two threads on both.
        let threads = min(configuration.threads,
                          ResourceNeeds.threads(resourcesJSON: job.resourcesJSON) ?? configuration.threads)
        let context = WorkerJobContext(params: attempt.params, folders: folders, threads: threads,
                                       store: store, lease: lease, stop: stop)
        if let computePath = attempt.computePath {
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
        let result = Result { try attempt.kind.run(context) }
        let cpuSeconds = ProcessCPUTime.seconds() - cpuAtStart
        keeper.finish()
        let settled = settle(job: job, lease: lease, result: result, stop: stop.reason, memoKey: attempt.memoKey?.value,
                             context: context, cpuSeconds: cpuSeconds, handOff: handOff)
        if settled.outcome == .succeeded {
            AttemptFolders.removeScratch(root: folders.output.deletingLastPathComponent().path, jobKey: job.key)
        }
        return settled
    }
}
