import APOStore
import Foundation
import Logging

/// Keeps one attempt's lease alive while its job runs, and turns outside events into a
/// `StopReason`: a cancel seen in a heartbeat reply, a worker shutdown, the job's timeout, a lost
/// lease. When `hardStopAfter` is set and the kind ignores the request that long, the keeper
/// settles the attempt itself and ends the process (only in a worker process, never in-process).
final class LeaseKeeper: @unchecked Sendable {
    private let store: JobStore
    private let lease: JobLease
    private let leaseDuration: TimeInterval
    private let stop: StopSignal
    private let shutdown: ShutdownFlag
    private let parentAlive: () -> Bool
    private let timeout: TimeInterval?
    private let hardStopAfter: TimeInterval?
    /// The worker's CPU seconds when the job started, for a hard stop's record.
    private let cpuAtStart: Double
    private let logger: Logger
    private let finished = ShutdownFlag()
    private let done = DispatchSemaphore(value: 0)
    /// Signalled by `finish()` so a short job is not held up by the keeper's polling interval.
    private let wake = DispatchSemaphore(value: 0)

    /// Heartbeats at most every second so a cancel reaches the job promptly even with long leases.
    var heartbeatInterval: TimeInterval { min(leaseDuration / 3, 1.0) }

    init(store: JobStore, lease: JobLease, leaseDuration: TimeInterval, stop: StopSignal,
         shutdown: ShutdownFlag, parentAlive: @escaping () -> Bool, timeout: TimeInterval?,
         hardStopAfter: TimeInterval?, cpuAtStart: Double = ProcessCPUTime.seconds(), logger: Logger) {
        self.cpuAtStart = cpuAtStart
        self.store = store
        self.lease = lease
        self.leaseDuration = leaseDuration
        self.stop = stop
        self.shutdown = shutdown
        self.parentAlive = parentAlive
        self.timeout = timeout
        self.hardStopAfter = hardStopAfter
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in
            loop()
            done.signal()
        }
        thread.name = "lease-keeper-\(lease.jobID)"
        thread.start()
    }

    /// Called once the kind returned; waits for the keeper thread so no heartbeat races the
    /// final `complete`/`fail`.
    func finish() {
        finished.request()
        wake.signal()
        done.wait()
    }

    private func loop() {
        let started = Date()
        var lastHeartbeat = started
        var leaseValidUntil = lease.expiresAt
        var stopSeenAt: Date?
        while !finished.isRequested {
            _ = wake.wait(timeout: .now() + .milliseconds(20))
            if finished.isRequested { break }
            let now = Date()
            if shutdown.isRequested || !parentAlive() { stop.request(.workerStopping) }
            if let timeout, now.timeIntervalSince(started) > timeout { stop.request(.timedOut(seconds: timeout)) }
            if now.timeIntervalSince(lastHeartbeat) >= heartbeatInterval, stop.reason != .leaseLost {
                lastHeartbeat = now
                do {
                    switch try store.heartbeat(lease, leaseDuration: leaseDuration, now: now) {
                    case .keepGoing: break
                    case .cancelRequested: stop.request(.cancelRequested)
                    }
                    leaseValidUntil = now.addingTimeInterval(leaseDuration)
                } catch StoreError.leaseLost {
                    stop.request(.leaseLost)
                } catch {
                    // A busy database is not a lost lease, until the lease has run out.
                    logger.warning("heartbeat for job \(lease.jobID) failed: \(error)")
                    if now >= leaseValidUntil { stop.request(.leaseLost) }
                }
            }
            if let reason = stop.reason {
                if stopSeenAt == nil {
                    stopSeenAt = now
                    logger.info("job \(lease.jobID): stop requested (\(reason))")
                }
                if let grace = hardStopAfter, now.timeIntervalSince(stopSeenAt!) > grace {
                    hardStop(reason)
                }
            }
        }
    }

    /// The kind did not honour `checkCancelled` in time: settle the attempt from here and exit;
    /// the supervisor starts a fresh worker.
    private func hardStop(_ reason: StopReason) -> Never {
        logger.error("job \(lease.jobID) ignored a stop request (\(reason)); settling it and exiting")
        let now = Date()
        // The job's thread is still running: its CPU time so far is what the attempt cost.
        if reason != .leaseLost { try? store.recordCPUTime(lease, seconds: ProcessCPUTime.seconds() - cpuAtStart) }
        switch reason {
        case .cancelRequested: try? store.finishCancelled(lease, now: now)
        case .workerStopping: try? store.release(lease, now: now)
        case .timedOut(let seconds):
            try? store.fail(lease, error: "timed out after \(seconds) s", retryable: true, now: now)
        case .leaseLost: break
        }
        // _exit, not exit: the job's thread is still running, and exit's atexit handlers and
        // static destructors can block on a lock it holds — three workers seen hanging there,
        // orphaned, in a 100-trial `apoctl bench chaos`. The store writes are committed already.
        _exit(WorkerExitCode.hardStop)
    }
}

/// Exit statuses of `apod worker`.
public enum WorkerExitCode {
    public static let clean: Int32 = 0
    public static let storeUnavailable: Int32 = 3
    /// A job ignored a stop request; the attempt was settled before exiting.
    public static let hardStop: Int32 = 75
}
