import Foundation

extension RunReport {
    /// The report as Markdown: the run, its jobs, the RM and policy tables, sample rewards,
    /// artifact links (relative to `base` where possible) and the files that could not be read.
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
}
