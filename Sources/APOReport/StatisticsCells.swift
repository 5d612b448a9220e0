import APOPipeline
import Foundation

// Table cells for figures with intervals or spreads: "66.7 % [62.3, 71.0]" for one run,
// "66.7 % ± 1.2 (65.0–68.1, 3 seeds)" over seeds. Files written before evaluate version 3 have no
// interval; their cells keep the old form.

/// A rate: with its interval when there is one.
func rateCell(_ value: Double, _ interval: IntervalEstimate?) -> String {
    guard let i = interval else { return pct(value) }
    return String(format: "%.1f %% [%.1f, %.1f]", value * 100, i.lower * 100, i.upper * 100)
}

/// A reward (or other unbounded figure): with its interval when there is one.
func valueCell(_ value: Double, _ interval: IntervalEstimate?) -> String {
    guard let i = interval else { return num(value) }
    return String(format: "%.3f [%.3f, %.3f]", value, i.lower, i.upper)
}

/// A signed difference with its interval: in points ("+4.2 pts [−1.0, +9.3]") when `points`.
func differenceCell(_ i: IntervalEstimate, points: Bool) -> String {
    String(format: points ? "%+.1f pts [%+.1f, %+.1f]" : "%+.3f [%+.3f, %+.3f]", i.estimate, i.lower, i.upper)
}

/// The mean over seeds with its standard deviation and range; `percent` for rates.
func spreadCell(_ s: SeedAggregation.Spread, percent: Bool) -> String {
    let k = percent ? 100.0 : 1
    let format = percent ? "%.1f %% ± %.1f (%.1f–%.1f, %d seeds)" : "%.3f ± %.3f (%.3f–%.3f, %d seeds)"
    return String(format: format, s.mean * k, s.sd * k, s.min * k, s.max * k, s.seeds)
}
