import APOPipeline
import Foundation

/// The report as one self-contained HTML page: inline CSS and SVG, no script, no network.
extension RunReport {
    public func html(base: URL? = nil) -> String {
        [htmlHeader(), htmlJobs(), htmlTrainingCurves(), htmlRewardModels(), htmlPolicy(), htmlRewardHistograms(),
         htmlArtifacts(base: base), "</body></html>\n"].joined()
    }

    /// Head and style, the run's state, times and parameters, and the files that could not be read.
    private func htmlHeader() -> String {
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
        if !service.sessions.isEmpty { h += " · \(esc(service.summary))" }
        h += " · \(jobs.count) jobs · report generated \(Formatting.timestamp(generatedAt)) UTC<br>Parameters: <code>\(esc(run.paramsJSON))</code></p>\n"
        if !problems.isEmpty {
            h += "<div class=\"problems\"><b>Could not read:</b><ul>" + problems.map { "<li>\(esc($0))</li>" }.joined() + "</ul></div>\n"
        }
        return h
    }

    /// The timeline of every attempt, then the table of jobs.
    private func htmlJobs() -> String {
        var h = "<h2>Job timeline</h2>\n" + gantt()
        h += "<h2>Job durations</h2>\n<table><tr><th>job</th><th>kind</th><th>state</th><th>attempts</th><th>duration</th><th>CPU</th><th>error</th></tr>\n"
        for e in jobs {
            h += "<tr><td>\(esc(e.job.key))</td><td>\(esc(e.job.kind))</td><td class=\"st-\(e.job.state.rawValue)\">\(e.job.state.rawValue)</td>"
            h += "<td class=\"n\">\(e.attempts.count)</td><td class=\"n\">\(duration(e).map(Formatting.duration) ?? "–")</td>"
            h += "<td class=\"n\">\(cpuSeconds(e).map(Formatting.duration) ?? "–")</td><td>\(esc(e.job.error ?? ""))</td></tr>\n"
        }
        h += "</table>\n"
        let bySteps = cpuBySteps
        if !bySteps.isEmpty {
            h += "<h2>CPU time by step</h2>\n<table><tr><th>step</th><th>kind</th><th>jobs</th><th>CPU</th><th>per job</th><th>of it not kept</th></tr>\n"
            for k in bySteps {
                h += "<tr><td>\(esc(k.step))</td><td>\(esc(k.kind))</td><td class=\"n\">\(k.jobs)</td><td class=\"n\">\(Formatting.duration(k.seconds))</td>"
                h += "<td class=\"n\">\(Formatting.duration(k.seconds / Double(k.jobs)))</td><td class=\"n\">\(Formatting.duration(k.wasted))</td></tr>\n"
            }
            let total = bySteps.reduce(0) { $0 + $1.seconds }, wasted = bySteps.reduce(0) { $0 + $1.wasted }
            h += "<tr><td>all</td><td></td><td class=\"n\">\(bySteps.reduce(0) { $0 + $1.jobs })</td><td class=\"n\">\(Formatting.duration(total))</td>"
            h += "<td></td><td class=\"n\">\(Formatting.duration(wasted))</td></tr>\n"
            h += "</table>\n<p>A step is a job id over every matrix cell and round (<code>apo_rm</code> sums <code>seed=1/r1.apo_rm</code>, <code>seed=2/r2.apo_rm</code>, …). CPU time is user + system time of the worker process while it ran the job, every thread; \"not kept\" is what attempts that were released, failed or timed out spent.</p>\n"
        }
        return h
    }

    private func htmlTrainingCurves() -> String {
        let curves = trainingCurves
        guard !curves.isEmpty else { return "" }
        var h = "<h2>Training curves</h2>\n<div class=\"charts\">\n"
        for c in curves { h += lineChart(title: c.metric, xLabel: "step", series: c.series) }
        h += "</div>\n"
        return h
    }

    private func htmlRewardModels() -> String {
        var h = ""
        let rmRows = rmTableRows
        if !rmRows.isEmpty {
            h += "<h2>Reward models on the test pairs</h2>\n"
            h += "<p class=\"meta\">Accuracy with its 95 % percentile bootstrap interval over the test pairs (2,000 seeded resamples); over several seeds: mean ± sd (min–max), then each seed's row.</p>\n"
            h += htmlRMTable(rmRows)
            let lines = rmComparisonLines
            if !lines.isEmpty { h += "<p>Paired on the same test pairs:</p><ul>" + lines.map { "<li>\(esc($0))</li>" }.joined() + "</ul>\n" }
        }
        let goldenRows = goldenTableRows
        if !goldenRows.isEmpty {
            h += "<h2>Golden answers vs the policy's samples</h2>\n<p class=\"meta\">\(esc(RunReport.goldenExplanation))</p>\n"
            h += htmlRMTable(goldenRows)
            let lines = goldenComparisonLines
            if !lines.isEmpty { h += "<p>Paired on the same APO pairs:</p><ul>" + lines.map { "<li>\(esc($0))</li>" }.joined() + "</ul>\n" }
        }
        return h
    }

    private func htmlRMTable(_ rows: [[String]]) -> String {
        var h = "<table><tr>" + RunReport.rmHeader.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
        for row in rows {
            h += "<tr><td class=\"n\">\(esc(row[0]))</td><td>\(esc(row[1]))</td><td>\(esc(row[2]))</td>"
            h += row[3...].map { "<td class=\"n\">\(esc($0))</td>" }.joined() + "</tr>\n"
        }
        return h + "</table>\n"
    }

    /// The policy table and, where an arm has two or more rounds, each arm's average reward per round.
    private func htmlPolicy() -> String {
        let policyRows = policyTableRows
        guard !policyRows.isEmpty else { return "" }
        var h = "<h2>Policy on the test queries</h2>\n<p class=\"meta\">Scored by the testing RM. Win rate = (wins + ties/2) / queries over the queries both policies answered, with its Wilson interval (ties counted as half a win); average reward and Δ reward (paired, same queries) with 95 % bootstrap intervals.</p>\n"
        h += "<table><tr><th>round</th><th>arm</th><th>queries</th><th>avg reward</th><th>win rates (wins/ties/losses)</th></tr>\n"
        for row in policyRows {
            let wins = row.wins.map(esc).joined(separator: "<br>")
            h += "<tr><td class=\"n\">\(row.round)</td><td>\(esc(row.arm))</td><td class=\"n\">\(row.queries)</td><td class=\"n\">\(esc(row.reward))</td><td>\(wins.isEmpty ? "–" : wins)</td></tr>\n"
        }
        h += "</table>\n"
        let evaluated = evaluations.compactMap { ev in ev.evaluation.policy.map { (ev.evaluation, $0) } }
        return h + policyRewardChart(evaluated) + htmlForestPlots()
    }

    /// APO − baseline per round for the reward models and the policies.
    private func htmlForestPlots() -> String {
        let rm = forestPlot(title: "RM accuracy: APO RM − base RM", unit: "accuracy difference, points", rows: rmForestRows, points: true)
        let policy = forestPlot(title: "Policy reward: APO − baseline", unit: "reward difference (testing RM)", rows: policyForestRows, points: false)
        guard !rm.isEmpty || !policy.isEmpty else { return "" }
        return "<h2>APO − baseline per round</h2>\n<p class=\"meta\">Point and 95 % paired bootstrap interval; an interval that crosses the dashed zero line does not tell the arms apart. RM accuracy: McNemar's exact test on the discordant pairs beside it.</p>\n<div class=\"charts\">" + rm + policy + "</div>\n"
    }

    /// Each arm's average reward per round; over matrix cells, the mean over the cells (one point
    /// per round, not one per seed). Round 0 is the starting policy, shared by every arm.
    private func policyRewardChart(_ policyRows: [(EvaluateKind.Evaluation, EvaluateKind.PolicyResult)]) -> String {
        var byArmRound: [String: [Int: [Double]]] = [:]
        for (ev, p) in policyRows where ev.round > 0 { byArmRound[ev.arm.isEmpty ? "policy" : ev.arm, default: [:]][ev.round, default: []].append(p.averageReward) }
        let starts = policyRows.filter { $0.0.round == 0 }.map(\.1.averageReward)
        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
        var byArm: [String: [(Double, Double)]] = byArmRound.mapValues { rounds in rounds.map { (Double($0.key), mean($0.value)) } }
        if !starts.isEmpty { for arm in byArm.keys { byArm[arm]!.append((0, mean(starts))) } }
        guard byArm.values.contains(where: { $0.count > 1 }) else { return "" }
        let seeds = Set(evaluations.map { RunReport.splitCell($0.jobKey).cell }.filter { !$0.isEmpty }).count
        return "<div class=\"charts\">" + lineChart(title: seeds > 1 ? "policy average reward (mean over \(seeds) seeds)" : "policy average reward", xLabel: "round",
                                                       series: byArm.keys.sorted().map { ($0, byArm[$0]!.sorted { $0.0 < $1.0 }) }) + "</div>\n"
    }

    private func htmlRewardHistograms() -> String {
        guard !scoreSets.isEmpty else { return "" }
        var h = "<h2>Reward histograms of the samples</h2>\n<div class=\"charts\">\n"
        for s in scoreSets.sorted(by: { ($0.round ?? 0, $0.jobKey) < ($1.round ?? 0, $1.jobKey) }) {
            h += histogram(title: "\(s.jobKey) (\(s.scores.count) samples)", values: s.scores)
        }
        h += "</div>\n"
        return h
    }

    private func htmlArtifacts(base: URL?) -> String {
        guard !artifacts.isEmpty else { return "" }
        var h = "<h2>Artifacts</h2>\n<table><tr><th>job</th><th>file</th><th>size</th><th>sha256</th></tr>\n"
        for a in artifacts {
            h += "<tr><td>\(esc(a.jobKey))</td><td><a href=\"\(esc(RunReport.link(a.path, base: base)))\">\(esc(a.name))</a></td>"
            h += "<td class=\"n\">\(a.size)</td><td><code>\(a.sha256.prefix(12))</code></td></tr>\n"
        }
        h += "</table>\n"
        return h
    }
}
