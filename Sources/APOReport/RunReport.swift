import APOPipeline
import APORuntime
import APOStore
import Foundation

/// Everything `apoctl report` shows about one run, read from the store and the run's artifacts,
/// rendered as one self-contained HTML page (inline CSS and SVG, no script, no network) or as
/// Markdown. Invariant: every job, attempt, metric and artifact belongs to `run`.
public struct RunReport {
    public struct JobEntry {
        public var job: JobRecord
        public var attempts: [AttemptRecord]
        public var metrics: [MetricRecord]
        /// Round from a key `rN.…`; nil for jobs outside the rounds.
        public var round: Int? { RunReport.round(ofKey: job.key) }
    }

    /// One `score` job's rewards (histograms of the samples per round).
    public struct ScoreSet {
        public var jobKey: String
        public var round: Int?
        public var path: String
        public var scores: [Double]
    }

    public var run: RunRecord
    public var jobs: [JobEntry]
    public var artifacts: [ArtifactRecord]
    public var evaluations: [(jobKey: String, evaluation: EvaluateKind.Evaluation)]
    public var scoreSets: [ScoreSet]
    /// Files the report could not read (shown on the page, never fatal).
    public var problems: [String]
    public var generatedAt: Date

    public static func round(ofKey key: String) -> Int? {
        guard key.hasPrefix("r"), let dot = key.firstIndex(of: ".") else { return nil }
        return Int(key[key.index(after: key.startIndex)..<dot])
    }

    /// Reads a run; missing or unreadable artifact files become `problems`, not errors.
    public static func load(store: JobStore, runID: Int64, now: Date = Date()) throws -> RunReport {
        guard let run = try store.run(runID) else { throw StoreError.notFound(what: "run", id: runID) }
        let jobs = try store.jobs(runID: runID).map {
            JobEntry(job: $0, attempts: try store.attempts(jobID: $0.id), metrics: try store.metrics(jobID: $0.id))
        }
        let artifacts = try store.artifacts(runID: runID)
        var report = RunReport(run: run, jobs: jobs, artifacts: artifacts, evaluations: [], scoreSets: [],
                               problems: [], generatedAt: now)
        for entry in jobs where entry.job.state == .succeeded {
            let outputs = entry.job.outputsJSON.flatMap { try? ParamValue.fromJSON($0) }
            func output(_ name: String) -> String? {
                if case .object(let o)? = outputs { return o[name]?.stringValue }
                return nil
            }
            switch entry.job.kind {
            case EvaluateKind.name:
                guard let path = output("metrics") else { continue }
                do {
                    report.evaluations.append((entry.job.key, try EvaluateKind.Evaluation.read(URL(fileURLWithPath: path))))
                } catch { report.problems.append("\(entry.job.key): \(error)") }
            case "score":
                // The scores file is the score job's only RM-scores artifact; take the first that parses.
                let candidates = artifacts.filter { $0.jobID == entry.job.id }.map(\.path) + [output("scores")].compactMap { $0 }
                for path in candidates {
                    if let scores = try? RMScoresFile.read(URL(fileURLWithPath: path)) {
                        report.scoreSets.append(ScoreSet(jobKey: entry.job.key, round: entry.round, path: path,
                                                         scores: scores.map(\.score)))
                        break
                    }
                }
            default: break
            }
        }
        report.evaluations.sort { ($0.evaluation.round, $0.evaluation.arm, $0.jobKey) < ($1.evaluation.round, $1.evaluation.arm, $1.jobKey) }
        return report
    }

    // MARK: - Derived

    var runStart: Date {
        let starts = jobs.flatMap { $0.attempts.map(\.startedAt) }
        return min(run.createdAt, starts.min() ?? run.createdAt)
    }

    var runEnd: Date {
        let ends = jobs.flatMap { $0.attempts.map { $0.finishedAt ?? $0.lastHeartbeatAt ?? $0.startedAt } }
        return max(run.finishedAt ?? generatedAt, ends.max() ?? run.createdAt)
    }

    /// Seconds between the first attempt's start and the last attempt's end, per job.
    func duration(_ entry: JobEntry) -> Double? {
        guard let s = entry.job.startedAt else { return nil }
        return (entry.job.finishedAt ?? generatedAt).timeIntervalSince(s)
    }

    /// Metrics drawn as training curves, in page order (others stay in the store).
    static let curveMetrics = ["loss", "accuracy", "reward_margin", "eval_accuracy", "eval_ece"]
    static let curveKinds = ["train-rm", "train-llm", "dpo"]

    /// Training curves: "kind · metric" → one series per job (jobs of the train-* and dpo kinds).
    var trainingCurves: [(metric: String, series: [(name: String, points: [(Double, Double)])])] {
        var byMetric: [String: [(String, [(Double, Double)])]] = [:]
        var order: [String: (Int, Int)] = [:]
        for entry in jobs where entry.job.kind.hasPrefix("train") || entry.job.kind == "dpo" {
            let grouped = Dictionary(grouping: entry.metrics, by: \.name)
            for (name, records) in grouped where records.count > 1 {
                guard let rank = RunReport.curveMetrics.firstIndex(of: name) else { continue }
                let points = records.sorted { $0.step < $1.step }.map { (Double($0.step), $0.value) }
                let title = "\(entry.job.kind) · \(name)"
                byMetric[title, default: []].append((entry.job.key, points))
                order[title] = (RunReport.curveKinds.firstIndex(of: entry.job.kind) ?? RunReport.curveKinds.count, rank)
            }
        }
        let names = byMetric.keys.sorted { a, b in (order[a]!.0, order[a]!.1, a) < (order[b]!.0, order[b]!.1, b) }
        return names.map { name in (name, byMetric[name]!.sorted { $0.0 < $1.0 }.map { (name: $0.0, points: $0.1) }) }
    }

    /// Artifact path as a link relative to `base` (the report's directory) when possible.
    static func link(_ path: String, base: URL?) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let base else { return absolute }
        let from = base.standardizedFileURL.pathComponents, to = URL(fileURLWithPath: absolute).pathComponents
        var common = 0
        while common < from.count, common < to.count, from[common] == to[common] { common += 1 }
        if common <= 1 { return absolute }
        let ups = Array(repeating: "..", count: from.count - common)
        return (ups + to[common...]).joined(separator: "/")
    }

    // MARK: - Markdown

    public func markdown(base: URL? = nil) -> String {
        var md = "# Run \(run.id): \(run.pipelineName)\n\n"
        md += "State **\(run.state.rawValue)**, created \(Formatting.timestamp(run.createdAt)) UTC"
        if let f = run.finishedAt { md += ", wall time \(Formatting.duration(f.timeIntervalSince(run.createdAt)))" }
        md += ". Parameters: `\(run.paramsJSON)`\n\n"
        md += "## Jobs\n\n| job | kind | state | attempts | duration |\n|---|---|---|---|---|\n"
        for e in jobs {
            md += "| \(e.job.key) | \(e.job.kind) | \(e.job.state.rawValue) | \(e.attempts.count) | \(duration(e).map(Formatting.duration) ?? "–") |\n"
        }
        let rmRows = evaluations.flatMap { ev in ev.evaluation.rm.map { (ev.evaluation, $0) } }
        if !rmRows.isEmpty {
            md += "\n## Reward models on the test pairs\n\n| round | arm | RM | accuracy | avg score | ECE | ACE | MCE | pairs |\n|---|---|---|---|---|---|---|---|---|\n"
            for (ev, r) in rmRows {
                md += "| \(ev.round) | \(ev.arm) | \(r.label) | \(pct(r.accuracy)) | \(num(r.averageScore)) | \(num(r.ece)) | \(num(r.ace)) | \(num(r.mce)) | \(r.pairs) |\n"
            }
        }
        let policyRows = evaluations.compactMap { ev in ev.evaluation.policy.map { (ev.evaluation, $0) } }
        if !policyRows.isEmpty {
            md += "\n## Policy on the test queries (testing RM; ties count half)\n\n| round | arm | queries | avg reward | win rates |\n|---|---|---|---|---|\n"
            for (ev, p) in policyRows {
                let wins = p.winRates.map { "vs \($0.against): \(pct($0.winRate)) (\($0.wins)/\($0.ties)/\($0.losses))" }.joined(separator: "; ")
                md += "| \(ev.round) | \(ev.arm) | \(p.queries) | \(num(p.averageReward)) | \(wins.isEmpty ? "–" : wins) |\n"
            }
        }
        if !scoreSets.isEmpty {
            md += "\n## Sample rewards\n\n| job | round | samples | mean | min | max |\n|---|---|---|---|---|---|\n"
            for s in scoreSets {
                let mean = s.scores.isEmpty ? 0 : s.scores.reduce(0, +) / Double(s.scores.count)
                md += "| \(s.jobKey) | \(s.round.map(String.init) ?? "–") | \(s.scores.count) | \(num(mean)) | \(num(s.scores.min() ?? 0)) | \(num(s.scores.max() ?? 0)) |\n"
            }
        }
        if !artifacts.isEmpty {
            md += "\n## Artifacts\n\n"
            for a in artifacts { md += "- \(a.jobKey) / [\(a.name)](\(RunReport.link(a.path, base: base))) (\(a.size) bytes)\n" }
        }
        if !problems.isEmpty {
            md += "\n## Problems\n\n" + problems.map { "- \($0)\n" }.joined()
        }
        return md
    }

    // MARK: - HTML

    public func html(base: URL? = nil) -> String {
        var h = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <title>apo run \(run.id): \(esc(run.pipelineName))</title>
        <style>
        body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
        h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
        table { border-collapse: collapse; margin: 8px 0; } th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
        th { background: #f4f4f4; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
        .meta { color: #666; } .st-succeeded { color: #2a7d2a; } .st-failed, .st-upstream_failed { color: #b22; } .st-running { color: #c70; }
        .charts { display: flex; flex-wrap: wrap; gap: 12px; } svg { background: #fff; border: 1px solid #eee; }
        svg text { font: 11px Helvetica, Arial, sans-serif; fill: #333; } code { background: #f4f4f4; padding: 1px 4px; word-break: break-all; }
        .problems { color: #b22; }
        </style></head><body>
        <h1>Run \(run.id): \(esc(run.pipelineName))</h1>
        <p class="meta">State <b class="st-\(run.state.rawValue)">\(run.state.rawValue)</b> · created \(Formatting.timestamp(run.createdAt)) UTC
        """
        if let f = run.finishedAt { h += " · wall time \(Formatting.duration(f.timeIntervalSince(run.createdAt)))" }
        h += " · \(jobs.count) jobs · report generated \(Formatting.timestamp(generatedAt)) UTC<br>Parameters: <code>\(esc(run.paramsJSON))</code></p>\n"
        if !problems.isEmpty {
            h += "<div class=\"problems\"><b>Could not read:</b><ul>" + problems.map { "<li>\(esc($0))</li>" }.joined() + "</ul></div>\n"
        }
        h += "<h2>Job timeline</h2>\n" + gantt()
        h += "<h2>Job durations</h2>\n<table><tr><th>job</th><th>kind</th><th>state</th><th>attempts</th><th>duration</th><th>error</th></tr>\n"
        for e in jobs {
            h += "<tr><td>\(esc(e.job.key))</td><td>\(esc(e.job.kind))</td><td class=\"st-\(e.job.state.rawValue)\">\(e.job.state.rawValue)</td>"
            h += "<td class=\"n\">\(e.attempts.count)</td><td class=\"n\">\(duration(e).map(Formatting.duration) ?? "–")</td><td>\(esc(e.job.error ?? ""))</td></tr>\n"
        }
        h += "</table>\n"

        let curves = trainingCurves
        if !curves.isEmpty {
            h += "<h2>Training curves</h2>\n<div class=\"charts\">\n"
            for c in curves { h += lineChart(title: c.metric, xLabel: "step", series: c.series) }
            h += "</div>\n"
        }

        let rmRows = evaluations.flatMap { ev in ev.evaluation.rm.map { (ev.evaluation, $0) } }
        if !rmRows.isEmpty {
            h += "<h2>Reward models on the test pairs</h2>\n<table><tr><th>round</th><th>arm</th><th>RM</th><th>accuracy</th><th>avg score</th><th>ECE</th><th>ACE</th><th>MCE</th><th>pairs</th></tr>\n"
            for (ev, r) in rmRows {
                h += "<tr><td class=\"n\">\(ev.round)</td><td>\(esc(ev.arm))</td><td>\(esc(r.label))</td><td class=\"n\">\(pct(r.accuracy))</td><td class=\"n\">\(num(r.averageScore))</td>"
                h += "<td class=\"n\">\(num(r.ece))</td><td class=\"n\">\(num(r.ace))</td><td class=\"n\">\(num(r.mce))</td><td class=\"n\">\(r.pairs)</td></tr>\n"
            }
            h += "</table>\n"
        }

        let policyRows = evaluations.compactMap { ev in ev.evaluation.policy.map { (ev.evaluation, $0) } }
        if !policyRows.isEmpty {
            h += "<h2>Policy on the test queries</h2>\n<p class=\"meta\">Scored by the testing RM. Win rate = (wins + ties/2) / queries over the queries both policies answered.</p>\n"
            h += "<table><tr><th>round</th><th>arm</th><th>queries</th><th>avg reward</th><th>win rates (wins/ties/losses)</th></tr>\n"
            for (ev, p) in policyRows {
                let wins = p.winRates.map { "vs \(esc($0.against)): <b>\(pct($0.winRate))</b> (\($0.wins)/\($0.ties)/\($0.losses))" }.joined(separator: "<br>")
                h += "<tr><td class=\"n\">\(ev.round)</td><td>\(esc(ev.arm))</td><td class=\"n\">\(p.queries)</td><td class=\"n\">\(num(p.averageReward))</td><td>\(wins.isEmpty ? "–" : wins)</td></tr>\n"
            }
            h += "</table>\n"
            var byArm: [String: [(Double, Double)]] = [:]
            for (ev, p) in policyRows where ev.round > 0 { byArm[ev.arm.isEmpty ? "policy" : ev.arm, default: []].append((Double(ev.round), p.averageReward)) }
            // Round 0 is the starting policy, shared by every arm.
            if let start = policyRows.first(where: { $0.0.round == 0 }) {
                for arm in byArm.keys { byArm[arm]!.append((0, start.1.averageReward)) }
            }
            if byArm.values.contains(where: { $0.count > 1 }) {
                h += "<div class=\"charts\">" + lineChart(title: "policy average reward", xLabel: "round",
                                                         series: byArm.keys.sorted().map { ($0, byArm[$0]!.sorted { $0.0 < $1.0 }) }) + "</div>\n"
            }
        }

        if !scoreSets.isEmpty {
            h += "<h2>Reward histograms of the samples</h2>\n<div class=\"charts\">\n"
            for s in scoreSets.sorted(by: { ($0.round ?? 0, $0.jobKey) < ($1.round ?? 0, $1.jobKey) }) {
                h += histogram(title: "\(s.jobKey) (\(s.scores.count) samples)", values: s.scores)
            }
            h += "</div>\n"
        }

        if !artifacts.isEmpty {
            h += "<h2>Artifacts</h2>\n<table><tr><th>job</th><th>file</th><th>size</th><th>sha256</th></tr>\n"
            for a in artifacts {
                h += "<tr><td>\(esc(a.jobKey))</td><td><a href=\"\(esc(RunReport.link(a.path, base: base)))\">\(esc(a.name))</a></td>"
                h += "<td class=\"n\">\(a.size)</td><td><code>\(a.sha256.prefix(12))</code></td></tr>\n"
            }
            h += "</table>\n"
        }
        h += "</body></html>\n"
        return h
    }

    // MARK: - SVG

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    static let outcomeColors: [String: String] = [
        "succeeded": "#4a9d4a", "memoized": "#8bc48b", "failed": "#d9534f", "expired": "#f0ad4e",
        "timed_out": "#e07b39", "released": "#aaaaaa", "cancelled": "#777777",
    ]

    func gantt() -> String {
        let start = runStart, total = max(runEnd.timeIntervalSince(start), 1e-3)
        let rowH = 18, left = 190, width = 1000, plotW = width - left - 20
        let height = 30 + rowH * max(jobs.count, 1) + 24
        var s = "<svg width=\"\(width)\" height=\"\(height)\" role=\"img\" aria-label=\"job timeline\">\n"
        for t in ticks(0, total, 6) {
            let x = left + Int(Double(plotW) * t / total)
            s += "<line x1=\"\(x)\" y1=\"20\" x2=\"\(x)\" y2=\"\(height - 22)\" stroke=\"#eee\"/><text x=\"\(x)\" y=\"\(height - 8)\" text-anchor=\"middle\">\(Formatting.duration(t))</text>\n"
        }
        for (i, e) in jobs.enumerated() {
            let y = 24 + i * rowH
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

private func esc(_ s: String) -> String {
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

private func f1(_ x: Double) -> String { String(format: "%.1f", x) }
private func num(_ x: Double) -> String { String(format: "%.4f", x) }
private func pct(_ x: Double) -> String { String(format: "%.2f%%", x * 100) }
private func short(_ x: Double) -> String {
    if x == x.rounded(), abs(x) < 1e6 { return String(Int(x)) }
    return String(format: abs(x) >= 100 ? "%.0f" : abs(x) >= 1 ? "%.2f" : "%.3f", x)
}
