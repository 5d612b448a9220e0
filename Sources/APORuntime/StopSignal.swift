import Foundation

/// Why a running job must stop before it finishes.
public enum StopReason: Sendable, Equatable {
    /// The user cancelled the job or its run (seen through a heartbeat reply): acknowledge with
    /// `finishCancelled`.
    case cancelRequested
    /// The worker process is shutting down (SIGTERM/SIGINT, parent gone): `release` the lease so
    /// the job goes back to the queue without spending an attempt.
    case workerStopping
    /// The job ran past its `timeout`: a failed attempt, retried if attempts remain.
    case timedOut(seconds: Double)
    /// The lease is no longer ours (expired and reaped, or another attempt holds it): touch nothing.
    case leaseLost
}

/// A stop request shared between the job thread and the lease keeper; the first reason set wins,
/// except `leaseLost`, which overrides any other (a lost lease forbids every later write).
public final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: StopReason?

    public init() {}

    public func request(_ reason: StopReason) {
        lock.lock()
        defer { lock.unlock() }
        if stored == nil || reason == .leaseLost { stored = reason }
    }

    public var reason: StopReason? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}

/// A flag set once by a signal handler or a supervisor and read by worker loops.
public final class ShutdownFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false

    public init() {}

    public func request() {
        lock.lock()
        set = true
        lock.unlock()
    }

    public var isRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return set
    }
}
