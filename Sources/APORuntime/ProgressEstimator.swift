import Foundation

/// Estimates a job's remaining time from how fast its `progress_done` has been moving over the
/// last `window` seconds. Invariant: samples are in time order, at most one per distinct `done`.
public struct ProgressEstimator: Sendable {
    public var window: TimeInterval
    private var samples: [(time: Date, done: Int)] = []

    public init(window: TimeInterval = 30) { self.window = window }

    public mutating func observe(done: Int, at time: Date) {
        if let last = samples.last, last.done == done { return }
        if let last = samples.last, done < last.done { samples.removeAll() }  // a new attempt restarted
        samples.append((time, done))
        while samples.count > 2, let first = samples.first, time.timeIntervalSince(first.time) > window {
            samples.removeFirst()
        }
    }

    /// Units per second, or nil until two samples exist.
    public var rate: Double? {
        guard let first = samples.first, let last = samples.last, samples.count >= 2 else { return nil }
        let seconds = last.time.timeIntervalSince(first.time)
        guard seconds > 0 else { return nil }
        return Double(last.done - first.done) / seconds
    }

    public func eta(total: Int) -> TimeInterval? {
        guard let rate, rate > 0, let last = samples.last else { return nil }
        return Double(max(total - last.done, 0)) / rate
    }
}
