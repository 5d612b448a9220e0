import Foundation

extension RunReport {
    /// The report as Markdown: the run, its jobs, the RM and policy tables, sample rewards,
    /// artifact links (relative to `base` where possible) and the files that could not be read.
    public func markdown(base: URL? = nil) -> String {
        [markdownHeader(), markdownJobs(), markdownCPUBySteps(), markdownRewardModels(), markdownPolicy(),
         markdownForest("RM accuracy, APO − base RM (points)", rmForestRows, points: true),
         markdownForest("Policy reward, APO − baseline (testing RM)", policyForestRows, points: false),
         markdownSampleRewards(), markdownArtifacts(base: base), markdownProblems()].joined()
    }

    private func markdownHeader() -> String {
        var md = "# Run \(run.id): \(run.pipelineName)\n\n"
        md += "State **\(run.state.rawValue)**, created \(Formatting.timestamp(run.createdAt)) UTC"
        if let f = run.finishedAt { md += ", wall time \(Formatting.duration(f.timeIntervalSince(run.createdAt)))" }
        if !service.sessions.isEmpty { md += "; \(service.summary)" }
        return md + ". Parameters: `\(run.paramsJSON)`\n\n"
    }

    private func markdownJobs() -> String {
        "## Jobs\n\n" + RunReport.markdownTable(["job", "kind", "state", "attempts", "duration", "CPU"], jobs.map { e in
            [e.job.key, e.job.kind, e.job.state.rawValue, "\(e.attempts.count)", duration(e).map(Formatting.duration) ?? "–",
             cpuSeconds(e).map(Formatting.duration) ?? "–"]
        })
    }

    private func markdownCPUBySteps() -> String {
        let bySteps = cpuBySteps
        guard !bySteps.isEmpty else { return "" }
        var rows = bySteps.map { k in
            [k.step, k.kind, "\(k.jobs)", Formatting.duration(k.seconds), Formatting.duration(k.seconds / Double(k.jobs)),
             Formatting.duration(k.wasted)]
        }
        let total = bySteps.reduce(0) { $0 + $1.seconds }, wasted = bySteps.reduce(0) { $0 + $1.wasted }
        rows.append(["all", "", "\(bySteps.reduce(0) { $0 + $1.jobs })", Formatting.duration(total), "", Formatting.duration(wasted)])
        return "\n## CPU time by step (over matrix cells and rounds)\n\n"
            + RunReport.markdownTable(["step", "kind", "jobs", "CPU", "per job", "of it not kept"], rows)
    }

    private func markdownRewardModels() -> String {
        var md = ""
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
        return md
    }

    private func markdownPolicy() -> String {
        let policyRows = policyTableRows
        guard !policyRows.isEmpty else { return "" }
        return "\n## Policy on the test queries (testing RM; ties count half)\n\n"
            + RunReport.markdownTable(["round", "arm", "queries", "avg reward", "win rates"], policyRows.map { row in
                let wins = row.wins.joined(separator: "; ")
                return [row.round, row.arm, row.queries, row.reward, wins.isEmpty ? "–" : wins]
            })
    }

    private func markdownSampleRewards() -> String {
        guard !scoreSets.isEmpty else { return "" }
        return "\n## Sample rewards\n\n" + RunReport.markdownTable(["job", "round", "samples", "mean", "min", "max"], scoreSets.map { s in
            let mean = s.scores.isEmpty ? 0 : s.scores.reduce(0, +) / Double(s.scores.count)
            return [s.jobKey, s.round.map(String.init) ?? "–", "\(s.scores.count)", num(mean), num(s.scores.min() ?? 0), num(s.scores.max() ?? 0)]
        })
    }

    private func markdownArtifacts(base: URL?) -> String {
        guard !artifacts.isEmpty else { return "" }
        return "\n## Artifacts\n\n" + artifacts.map { "- \($0.jobKey) / [\($0.name)](\(RunReport.link($0.path, base: base))) (\($0.size) bytes)\n" }.joined()
    }

    private func markdownProblems() -> String {
        problems.isEmpty ? "" : "\n## Problems\n\n" + problems.map { "- \($0)\n" }.joined()
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
