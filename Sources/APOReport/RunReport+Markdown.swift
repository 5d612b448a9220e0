import Foundation

extension RunReport {
    /// The report as Markdown: the run, its jobs, the RM and policy tables, sample rewards,
    /// artifact links (relative to `base` where possible) and the files that could not be read.
    public func markdown(base: URL? = nil) -> String {
        var md = "# Run \(run.id): \(run.pipelineName)\n\n"
        md += "State **\(run.state.rawValue)**, created \(Formatting.timestamp(run.createdAt)) UTC"
        if let f = run.finishedAt { md += ", wall time \(Formatting.duration(f.timeIntervalSince(run.createdAt)))" }
        if !service.sessions.isEmpty { md += "; \(service.summary)" }
        md += ". Parameters: `\(run.paramsJSON)`\n\n"
        md += "## Jobs\n\n| job | kind | state | attempts | duration | CPU |\n|---|---|---|---|---|---|\n"
        for e in jobs {
            md += "| \(e.job.key) | \(e.job.kind) | \(e.job.state.rawValue) | \(e.attempts.count) | \(duration(e).map(Formatting.duration) ?? "–") | \(cpuSeconds(e).map(Formatting.duration) ?? "–") |\n"
        }
        let bySteps = cpuBySteps
        if !bySteps.isEmpty {
            md += "\n## CPU time by step (over matrix cells and rounds)\n\n| step | kind | jobs | CPU | per job | of it not kept |\n|---|---|---|---|---|---|\n"
            for k in bySteps {
                md += "| \(k.step) | \(k.kind) | \(k.jobs) | \(Formatting.duration(k.seconds)) | \(Formatting.duration(k.seconds / Double(k.jobs))) | \(Formatting.duration(k.wasted)) |\n"
            }
            let total = bySteps.reduce(0) { $0 + $1.seconds }, wasted = bySteps.reduce(0) { $0 + $1.wasted }
            md += "| all | | \(bySteps.reduce(0) { $0 + $1.jobs }) | \(Formatting.duration(total)) | | \(Formatting.duration(wasted)) |\n"
        }
        let rmRows = rmTableRows
        if !rmRows.isEmpty {
            md += "\n## Reward models on the test pairs\n\n" + RunReport.markdownTable(RunReport.rmHeader, rmRows)
            let lines = rmComparisonLines
            if !lines.isEmpty { md += "\nPaired on the same test pairs:\n\n" + lines.map { "- \($0)\n" }.joined() }
        }
        let goldenRows = goldenTableRows
        if !goldenRows.isEmpty {
            md += "\n## Golden answers vs the policy's samples (each round's APO pairs)\n\n" + RunReport.goldenExplanation + "\n\n"
                + RunReport.markdownTable(RunReport.rmHeader, goldenRows)
            let lines = goldenComparisonLines
            if !lines.isEmpty { md += "\nPaired on the same APO pairs:\n\n" + lines.map { "- \($0)\n" }.joined() }
        }
        let policyRows = policyTableRows
        if !policyRows.isEmpty {
            md += "\n## Policy on the test queries (testing RM; ties count half)\n\n| round | arm | queries | avg reward | win rates |\n|---|---|---|---|---|\n"
            for row in policyRows {
                let wins = row.wins.joined(separator: "; ")
                md += "| \(row.round) | \(row.arm) | \(row.queries) | \(row.reward) | \(wins.isEmpty ? "–" : wins) |\n"
            }
        }
        md += markdownForest("RM accuracy, APO − base RM (points)", rmForestRows, points: true)
        md += markdownForest("Policy reward, APO − baseline (testing RM)", policyForestRows, points: false)
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

    static func markdownTable(_ header: [String], _ rows: [[String]]) -> String {
        "| " + header.joined(separator: " | ") + " |\n|" + String(repeating: "---|", count: header.count) + "\n"
            + rows.map { "| " + $0.joined(separator: " | ") + " |\n" }.joined()
    }

    /// The forest plot's rows as a list, for pages without SVG.
    private func markdownForest(_ title: String, _ rows: [ForestRow], points: Bool) -> String {
        guard !rows.isEmpty else { return "" }
        return "\n## \(title)\n\n" + rows.map { row in
            let verdict = row.interval.excludesZero ? "excludes 0" : "crosses 0"
            return "- \(row.label): \(differenceCell(row.interval, points: points)), \(verdict); \(row.detail)\n"
        }.joined()
    }
}
