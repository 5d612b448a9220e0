/// Sample quantiles the way numpy's `np.percentile(..., method="linear")` (R's type 7) computes
/// them, so the bootstrap's percentile interval can be reproduced exactly in the reference script.
public enum Quantile {
    /// The `q`-quantile (0 ≤ q ≤ 1) of `sorted` (ascending, non-empty): linear interpolation
    /// between order statistics at position `q · (n − 1)`.
    public static func linear(sorted: [Double], _ q: Double) throws -> Double {
        guard !sorted.isEmpty else { throw StatisticsError.empty(what: "quantile") }
        guard q >= 0, q <= 1 else { throw StatisticsError.outOfRange(what: "quantile \(q) is not between 0 and 1") }
        let position = q * Double(sorted.count - 1)
        let below = Int(position.rounded(.down))
        let above = min(below + 1, sorted.count - 1)
        let fraction = position - Double(below)
        return sorted[below] + (sorted[above] - sorted[below]) * fraction
    }
}
