import Foundation

/// The standard normal quantile Φ⁻¹(p), for the `z` of a Wilson interval at any level.
/// Acklam's rational approximation (relative error < 1.2e-9) refined by one Halley step on
/// `erfc`, which brings it to about 1e-15 — checked against `scipy.stats.norm.ppf`.
public enum NormalQuantile {
    public static func of(_ p: Double) throws -> Double {
        guard p > 0, p < 1 else { throw StatisticsError.outOfRange(what: "normal quantile of \(p): needs 0 < p < 1") }
        let x = acklam(p)
        // Φ(x) − p, from the nearer tail: above ½, 1 − p is exact and Φ(x) near 1 is not.
        let error = p < 0.5 ? 0.5 * erfc(-x / 2.0.squareRoot()) - p : (1 - p) - 0.5 * erfc(x / 2.0.squareRoot())
        let u = error * (2 * Double.pi).squareRoot() * exp(x * x / 2)
        return x - u / (1 + x * u / 2)
    }

    /// z such that a two-sided interval of `level` is `estimate ± z·se`: Φ⁻¹((1 + level) / 2).
    public static func twoSided(level: Double) throws -> Double {
        guard level > 0, level < 1 else { throw StatisticsError.level(level) }
        return try of((1 + level) / 2)
    }

    static let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                    1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
    static let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                    6.680131188771972e+01, -1.328068155288572e+01]
    static let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                    -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
    static let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]

    /// Acklam's approximation: a central rational function and two tail ones.
    static func acklam(_ p: Double) -> Double {
        let low = 0.02425
        if p < low || p > 1 - low {
            let q = (-2 * log(p < low ? p : 1 - p)).squareRoot()
            let x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
            return p < low ? x : -x
        }
        let q = p - 0.5, r = q * q
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    }
}
