import Foundation

extension RunReport {
    /// A forest plot: one row per round, the difference as a dot and its interval as a bar, on an
    /// axis symmetric about a dashed zero line, so whether an interval crosses zero is seen at a
    /// glance. Rows whose interval excludes zero are coloured (green above, red below zero).
    func forestPlot(title: String, unit: String, rows: [ForestRow], points: Bool) -> String {
        guard !rows.isEmpty else { return "" }
        let W = 620, l = 70, r = 20, t = 28, rowH = 40, axisH = 34
        let H = t + rowH * rows.count + axisH
        let extent = max(rows.map { max(abs($0.interval.lower), abs($0.interval.upper), abs($0.interval.estimate)) }.max() ?? 0, 1e-9) * 1.15
        let pw = Double(W - l - r)
        func px(_ x: Double) -> Double { Double(l) + pw * (x + extent) / (2 * extent) }
        var s = "<svg width=\"\(W)\" height=\"\(H)\" role=\"img\" aria-label=\"\(esc(title))\">\n"
        s += "<text x=\"\(W / 2)\" y=\"16\" text-anchor=\"middle\" style=\"font-weight:bold\">\(esc(title))</text>\n"
        let bottom = t + rowH * rows.count
        for x in ticks(-extent, extent, 6) {
            s += "<line x1=\"\(f1(px(x)))\" y1=\"\(t)\" x2=\"\(f1(px(x)))\" y2=\"\(bottom)\" stroke=\"#f0f0f0\"/>"
            s += "<text x=\"\(f1(px(x)))\" y=\"\(bottom + 14)\" text-anchor=\"middle\">\(short(x))</text>\n"
        }
        s += "<line x1=\"\(f1(px(0)))\" y1=\"\(t - 4)\" x2=\"\(f1(px(0)))\" y2=\"\(bottom)\" stroke=\"#333\" stroke-dasharray=\"4,3\"/>\n"
        s += "<text x=\"\(l + Int(pw) / 2)\" y=\"\(bottom + 29)\" text-anchor=\"middle\">\(esc(unit)) (APO − baseline; left of the dashed line: APO worse)</text>\n"
        for (k, row) in rows.enumerated() {
            let y = t + rowH * k + 14
            let i = row.interval
            let color = i.lower > 0 ? "#2ca02c" : i.upper < 0 ? "#d62728" : "#555555"
            let text = differenceCell(i, points: points)
            s += "<text x=\"\(l - 8)\" y=\"\(y + 4)\" text-anchor=\"end\">\(esc(row.label))</text>\n"
            s += "<line x1=\"\(f1(px(i.lower)))\" y1=\"\(y)\" x2=\"\(f1(px(i.upper)))\" y2=\"\(y)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            for end in [i.lower, i.upper] {
                s += "<line x1=\"\(f1(px(end)))\" y1=\"\(y - 5)\" x2=\"\(f1(px(end)))\" y2=\"\(y + 5)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            }
            s += "<circle cx=\"\(f1(px(i.estimate)))\" cy=\"\(y)\" r=\"4\" fill=\"\(color)\"><title>\(esc(row.label)): \(esc(text)), \(esc(row.detail))</title></circle>\n"
            s += "<text x=\"\(l)\" y=\"\(y + 19)\" style=\"font-size:10px\">\(esc(text)) · \(Int((i.level * 100).rounded())) % interval · \(esc(row.detail))</text>\n"
        }
        return s + "</svg>\n"
    }
}
