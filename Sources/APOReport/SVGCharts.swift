import Foundation

/// The page's charts as inline SVG: the job timeline, line charts and histograms.
extension RunReport {
    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    static let outcomeColors: [String: String] = [
        "succeeded": "#4a9d4a", "memoized": "#8bc48b", "failed": "#d9534f", "expired": "#f0ad4e",
        "timed_out": "#e07b39", "released": "#aaaaaa", "cancelled": "#777777",
    ]

    /// The job timeline: one row per job, one bar per attempt, coloured by the attempt's outcome.
    func gantt() -> String {
        let start = runStart, total = max(runEnd.timeIntervalSince(start), 1e-3)
        let rowH = 18, left = 190, width = 1000, plotW = width - left - 20, top = 38
        let height = top + rowH * max(jobs.count, 1) + 24
        var s = "<svg width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"job timeline\">\n"
        // Labelled above and below: a run's timeline can be a hundred rows tall.
        for t in RunReport.timeTicks(total: total, atMost: 7) {
            let x = left + Int(Double(plotW) * t / total)
            let label = Formatting.duration(t)
            s += "<line x1=\"\(x)\" y1=\"\(top - 4)\" x2=\"\(x)\" y2=\"\(height - 22)\" stroke=\"#eee\"/>"
            s += "<text x=\"\(x)\" y=\"\(top - 8)\" text-anchor=\"middle\">\(label)</text><text x=\"\(x)\" y=\"\(height - 8)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for (i, e) in jobs.enumerated() {
            let y = top + i * rowH
            s += "<text x=\"\(left - 6)\" y=\"\(y + 12)\" text-anchor=\"end\">\(esc(e.job.key))</text>\n"
            for a in e.attempts {
                let end = a.finishedAt ?? (e.job.state == .running ? generatedAt : (a.lastHeartbeatAt ?? a.startedAt))
                let x0 = Double(plotW) * a.startedAt.timeIntervalSince(start) / total
                let w = max(Double(plotW) * end.timeIntervalSince(a.startedAt) / total, 2)
                let outcome = a.outcome ?? "running"
                let color = RunReport.outcomeColors[outcome] ?? "#f0c040"
                s += "<rect x=\"\(f1(Double(left) + x0))\" y=\"\(y + 2)\" width=\"\(f1(w))\" height=\"\(rowH - 4)\" fill=\"\(color)\"><title>\(esc(e.job.key)) attempt \(a.number): \(outcome), \(Formatting.duration(end.timeIntervalSince(a.startedAt))) on \(esc(a.workerID))</title></rect>\n"
            }
        }
        s += "<text x=\"\(left)\" y=\"13\">time since run start; colour = attempt outcome (green succeeded, red failed, orange expired/timed out, grey released/cancelled)</text>\n"
        return s + "</svg>\n"
    }

    /// Tick times for a timeline `total` seconds long: multiples of the smallest clock step
    /// (1, 2, 5, 10, 15, 30 s; 1, 2, 5, 10, 15, 30 min; 1, 2, 3, 6, 12, 24 h) that gives at most
    /// `atMost` ticks, so labels read as round times (0, 15m00s, 30m00s, …).
    public static func timeTicks(total: Double, atMost: Int) -> [Double] {
        let steps: [Double] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
        guard total > 0 else { return [0] }
        let step = steps.first { (total / $0).rounded(.down) + 1 <= Double(atMost) } ?? (total / Double(max(atMost - 1, 1)))
        return stride(from: 0, through: total, by: step).map { $0 }
    }

    /// One polyline per series with the legend below; points are marked up to 30 per series.
    func lineChart(title: String, xLabel: String, series: [(name: String, points: [(Double, Double)])]) -> String {
        let W = 520, H = 280, l = 56, r = 12, t = 26, b = 40
        let pts = series.flatMap(\.points)
        guard !pts.isEmpty else { return "" }
        var (x0, x1) = (pts.map(\.0).min()!, pts.map(\.0).max()!)
        var (y0, y1) = (pts.map(\.1).min()!, pts.map(\.1).max()!)
        if x1 == x0 { x0 -= 1; x1 += 1 }
        if y1 == y0 { y0 -= 0.5; y1 += 0.5 }
        let pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad
        let pw = Double(W - l - r), ph = Double(H - t - b)
        func px(_ x: Double) -> Double { Double(l) + pw * (x - x0) / (x1 - x0) }
        func py(_ y: Double) -> Double { Double(t) + ph * (1 - (y - y0) / (y1 - y0)) }
        var s = "<svg width=\"\(W)\" height=\"\(H + 18 * ((series.count + 1) / 2))\" role=\"img\" aria-label=\"\(esc(title))\">\n"
        s += "<text x=\"\(W / 2)\" y=\"16\" text-anchor=\"middle\" style=\"font-weight:bold\">\(esc(title))</text>\n"
        for y in ticks(y0, y1, 5) {
            s += "<line x1=\"\(l)\" y1=\"\(f1(py(y)))\" x2=\"\(W - r)\" y2=\"\(f1(py(y)))\" stroke=\"#eee\"/><text x=\"\(l - 4)\" y=\"\(f1(py(y) + 4))\" text-anchor=\"end\">\(short(y))</text>\n"
        }
        // Steps and rounds are whole numbers: no ticks between them.
        let wholeX = pts.allSatisfy { $0.0 == $0.0.rounded() }
        for x in ticks(x0, x1, 6) where !wholeX || x == x.rounded() {
            s += "<text x=\"\(f1(px(x)))\" y=\"\(H - b + 14)\" text-anchor=\"middle\">\(short(x))</text>\n"
        }
        s += "<rect x=\"\(l)\" y=\"\(t)\" width=\"\(Int(pw))\" height=\"\(Int(ph))\" fill=\"none\" stroke=\"#999\"/>\n"
        s += "<text x=\"\(l + Int(pw) / 2)\" y=\"\(H - b + 30)\" text-anchor=\"middle\">\(esc(xLabel))</text>\n"
        for (i, sr) in series.enumerated() {
            let color = RunReport.palette[i % RunReport.palette.count]
            let path = sr.points.map { "\(f1(px($0.0))),\(f1(py($0.1)))" }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"/>\n"
            if sr.points.count <= 30 {
                for p in sr.points { s += "<circle cx=\"\(f1(px(p.0)))\" cy=\"\(f1(py(p.1)))\" r=\"2.5\" fill=\"\(color)\"><title>\(esc(sr.name)): \(short(p.0)) → \(num(p.1))</title></circle>\n" }
            }
            let lx = l + (i % 2) * (W - l) / 2, ly = H + 4 + 18 * (i / 2)
            s += "<rect x=\"\(lx)\" y=\"\(ly - 9)\" width=\"12\" height=\"3\" fill=\"\(color)\"/><text x=\"\(lx + 16)\" y=\"\(ly - 4)\">\(esc(sr.name))</text>\n"
        }
        return s + "</svg>\n"
    }

    /// `bins` equal-width bins over the values' range, the mean as a dashed line.
    func histogram(title: String, values: [Double], bins: Int = 20) -> String {
        let W = 340, H = 200, l = 36, r = 10, t = 24, b = 30
        guard let lo = values.min(), let hi = values.max() else { return "" }
        let span = hi > lo ? hi - lo : 1
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(bins - 1, Int(Double(bins) * (v - lo) / span))] += 1 }
        let maxCount = max(counts.max() ?? 1, 1)
        let pw = Double(W - l - r), ph = Double(H - t - b), bw = pw / Double(bins)
        let mean = values.reduce(0, +) / Double(values.count)
        var s = "<svg width=\"\(W)\" height=\"\(H)\" role=\"img\" aria-label=\"\(esc(title))\">\n"
        s += "<text x=\"\(W / 2)\" y=\"15\" text-anchor=\"middle\" style=\"font-weight:bold\">\(esc(title))</text>\n"
        for (i, c) in counts.enumerated() where c > 0 {
            let h = ph * Double(c) / Double(maxCount)
            s += "<rect x=\"\(f1(Double(l) + bw * Double(i)))\" y=\"\(f1(Double(t) + ph - h))\" width=\"\(f1(max(bw - 1, 1)))\" height=\"\(f1(h))\" fill=\"#1f77b4\"><title>\(c)</title></rect>\n"
        }
        let mx = Double(l) + pw * (mean - lo) / span
        s += "<line x1=\"\(f1(mx))\" y1=\"\(t)\" x2=\"\(f1(mx))\" y2=\"\(t + Int(ph))\" stroke=\"#d62728\" stroke-dasharray=\"3,2\"/>\n"
        s += "<line x1=\"\(l)\" y1=\"\(t + Int(ph))\" x2=\"\(W - r)\" y2=\"\(t + Int(ph))\" stroke=\"#999\"/>\n"
        s += "<text x=\"\(l)\" y=\"\(H - b + 14)\">\(short(lo))</text><text x=\"\(W - r)\" y=\"\(H - b + 14)\" text-anchor=\"end\">\(short(hi))</text>\n"
        s += "<text x=\"\(f1(mx))\" y=\"\(H - 4)\" text-anchor=\"middle\" fill=\"#d62728\">mean \(short(mean))</text>\n"
        s += "<text x=\"\(l - 4)\" y=\"\(t + 8)\" text-anchor=\"end\">\(maxCount)</text>\n"
        return s + "</svg>\n"
    }

    /// Up to about `count` round tick values covering [lo, hi].
    func ticks(_ lo: Double, _ hi: Double, _ count: Int) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var v = (lo / step).rounded(.up) * step, out: [Double] = []
        while v <= hi + step * 1e-9 { out.append(v); v += step }
        return out
    }
}
