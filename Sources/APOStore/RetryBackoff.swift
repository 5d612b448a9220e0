import Foundation

/// Exponential backoff with jitter: attempt n waits `min(max, base · 2^(n-1))`, scaled by a
/// factor in `[1 - jitter, 1 + jitter]`. With `jitter < 1/3` the delays strictly grow until capped.
public struct RetryBackoff: Equatable, Sendable {
    public var baseSeconds: Double
    public var maxSeconds: Double
    /// Relative spread of the random factor, so retries of many jobs that failed together spread out.
    public var jitter: Double

    public init(baseSeconds: Double, maxSeconds: Double, jitter: Double = 0.25) {
        self.baseSeconds = baseSeconds
        self.maxSeconds = maxSeconds
        self.jitter = jitter
    }

    /// The delay before the retry that follows failed attempt `attempt` (1-based).
    /// - Parameter unitRandom: a uniform draw in [0, 1); 0.5 gives the un-jittered delay.
    public func delay(afterAttempt attempt: Int, unitRandom: Double) -> TimeInterval {
        let exponent = Double(max(0, attempt - 1))
        // Cap the exponent so 2^n never overflows for silly attempt counts.
        let raw = min(maxSeconds, baseSeconds * pow(2, min(exponent, 60)))
        return max(0, raw * (1 + jitter * (2 * unitRandom - 1)))
    }

    /// The delay with a fresh random draw.
    public func delay(afterAttempt attempt: Int) -> TimeInterval {
        delay(afterAttempt: attempt, unitRandom: Double.random(in: 0..<1))
    }
}
