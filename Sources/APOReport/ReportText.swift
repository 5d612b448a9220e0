import Foundation

// How the report writes text: HTML escaping and its number formats.

/// `s` safe inside HTML text and attribute values.
func esc(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}

/// SVG coordinates: one decimal.
func f1(_ x: Double) -> String { String(format: "%.1f", x) }
/// Metrics in tables: four decimals.
func num(_ x: Double) -> String { String(format: "%.4f", x) }
/// Rates as percentages: two decimals.
func pct(_ x: Double) -> String { String(format: "%.2f%%", x * 100) }
/// Axis labels: whole numbers bare, others with fewer decimals the larger they are.
func short(_ x: Double) -> String {
    if x == x.rounded(), abs(x) < 1e6 { return String(Int(x)) }
    return String(format: abs(x) >= 100 ? "%.0f" : abs(x) >= 1 ? "%.2f" : "%.3f", x)
}
