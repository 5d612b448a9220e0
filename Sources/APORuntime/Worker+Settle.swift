import APOEngine
import APOPipeline
import APOStore
import Foundation

// How an attempt ends: the one place its final state is chosen, and which errors are worth
// another attempt.

extension Worker {
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

    func failFast(_ lease: JobLease, _ message: String, retryable: Bool = false) -> AttemptOutcome {
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
}
