/// A point estimate with its confidence interval, as written into `evaluation.json`:
/// `{"estimate": 0.667, "lower": 0.623, "upper": 0.71, "level": 0.95, "method": "bootstrap-percentile"}`.
/// Invariant: `lower <= upper` (the estimate itself may lie outside a percentile interval in
/// skewed samples; nothing here forces it inside).
public struct IntervalEstimate: Codable, Equatable, Sendable {
    public var estimate: Double
    public var lower: Double
    public var upper: Double
    /// Nominal coverage, e.g. 0.95.
    public var level: Double
    /// How the interval was made: `bootstrap-percentile`, `paired-bootstrap-percentile`, `wilson`.
    public var method: String

    public init(estimate: Double, lower: Double, upper: Double, level: Double, method: String) {
        self.estimate = estimate; self.lower = lower; self.upper = upper; self.level = level; self.method = method
    }

    /// Whether zero lies outside the interval: the difference it describes is "significant" at `level`.
    public var excludesZero: Bool { lower > 0 || upper < 0 }

    /// The same interval with every number multiplied by `factor` (fractions → percentage points).
    public func scaled(by factor: Double) -> IntervalEstimate {
        IntervalEstimate(estimate: estimate * factor, lower: lower * factor, upper: upper * factor,
                         level: level, method: method)
    }
}
