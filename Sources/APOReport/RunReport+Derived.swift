import Foundation

/// What both pages show that the store does not hold as such: the run's span, each job's duration,
/// the training curves and artifact links.
extension RunReport {
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

    /// CPU seconds of the job's attempts that recorded them (every attempt: a released or failed
    /// one cost CPU too); nil when none did.
    func cpuSeconds(_ entry: JobEntry) -> Double? {
        let recorded = entry.attempts.compactMap(\.cpuSeconds)
        return recorded.isEmpty ? nil : recorded.reduce(0, +)
    }

    /// CPU seconds per step — a job id over every matrix cell and round (`apo_rm` sums
    /// `seed=1/r1.apo_rm`, `seed=2/r2.apo_rm`, …) — over the jobs that recorded any, in the order
    /// steps first ran: what each step of the pipeline costs per copy, the figure a time budget is
    /// made of. `wasted` is the share spent by attempts that did not succeed (released at a stop,
    /// failed, timed out).
    var cpuBySteps: [StepCPU] {
        var order: [String] = []
        var totals: [String: StepCPU] = [:]
        for entry in jobs {
            guard let cpu = cpuSeconds(entry) else { continue }
            let wasted = entry.attempts.filter { $0.outcome != "succeeded" }.compactMap(\.cpuSeconds).reduce(0, +)
            let step = RunReport.step(ofKey: entry.job.key)
            if totals[step] == nil { order.append(step) }
            var t = totals[step] ?? StepCPU(step: step, kind: entry.job.kind, jobs: 0, seconds: 0, wasted: 0)
            t.jobs += 1
            t.seconds += cpu
            t.wasted += wasted
            totals[step] = t
        }
        return order.map { totals[$0]! }
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
}
