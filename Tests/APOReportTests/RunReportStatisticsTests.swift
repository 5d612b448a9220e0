import APOPipeline
import APOReport
import APOStore
import Foundation
import Testing

/// The report's intervals, seed spreads and forest plots, on runs whose evaluations carry version-3
/// statistics: one run without matrix cells (single-run intervals) and one whose evaluate jobs ran
/// in two seed cells (`seed=1/…`, `seed=2/…`: mean and spread, pooled comparisons).
@Suite struct RunReportStatisticsTests {
    /// A finished run made only of evaluate jobs, each writing the given evaluation.
    final class EvaluationRun {
        let directory: URL
        let store: JobStore
        let runID: Int64

        init(_ evaluations: [(key: String, evaluation: EvaluateKind.Evaluation)]) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("apo-report-stats-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            store = try JobStore(path: directory.appendingPathComponent("apo.db").path)
            let jobs = evaluations.map {
                NewJob(key: $0.key, kind: "evaluate", kindVersion: 3, paramsJSON: "{}", needs: [], priority: 0, maxAttempts: 1,
                       backoffBaseSeconds: 0, backoffMaxSeconds: 0, timeoutSeconds: nil, resourcesJSON: "{}", memoize: false)
            }
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            runID = try store.createRun(NewRun(pipelineName: "stats", pipelineYAML: "name: stats\n", pipelineHash: "s",
                                               paramsJSON: "{}", artifactRoot: directory.path, jobs: jobs), now: now)
            for _ in evaluations {
                let claimed = try #require(try store.claimNextJob(workerID: "w", leaseDuration: 60, now: now))
                let evaluation = try #require(evaluations.first { $0.key == claimed.job.key }).evaluation
                let url = directory.appendingPathComponent(claimed.job.key.replacingOccurrences(of: "/", with: "_") + ".json")
                try JSONEncoder().encode(evaluation).write(to: url)
                let outputs = String(decoding: try JSONEncoder().encode(["metrics": url.path]), as: UTF8.self)
                try store.complete(claimed.lease, JobCompletion(outputsJSON: outputs, artifacts: []), now: now)
            }
        }

        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    static func rm(_ label: String, _ outcomes: [Bool]) throws -> EvaluateKind.RMResult {
        let accuracy = Double(outcomes.filter { $0 }.count) / Double(outcomes.count)
        return EvaluateKind.RMResult(label: label, model: "m", accuracy: accuracy, averageScore: 0, ece: 0.1, ace: 0.1, mce: 0.2,
                                     pairs: outcomes.count, accuracyInterval: try AccuracyInterval.of(outcomes, what: label),
                                     pairOutcomes: EvaluateKind.outcomeString(outcomes))
    }

    /// The APO arm's evaluation in `round`: APO RM outcomes, and rewards own/baseline per query.
    static func apo(round: Int, outcomes: [Bool], own: [Double], baseline: [Double]) throws -> EvaluateKind.Evaluation {
        let ids = own.indices.map { "q\($0)" }
        let o = Dictionary(uniqueKeysWithValues: zip(ids, own)), b = Dictionary(uniqueKeysWithValues: zip(ids, baseline))
        let w = try EvaluateKind.withStatistics(EvaluateKind.winRate(o, b), own: o, other: b)
        var win = w
        win.against = "baseline"
        let policy = EvaluateKind.PolicyResult(scores: "s", answerKey: "sample_0", queries: own.count,
                                               averageReward: own.reduce(0, +) / Double(own.count), winRates: [win],
                                               averageRewardInterval: try Bootstrap.meanInterval(own, what: "reward"))
        return EvaluateKind.Evaluation(round: round, arm: "apo", rm: [try rm("apo", outcomes)], policy: policy,
                                       testPairs: "test_pairs.json", bootstrap: .current)
    }

    static func base(_ outcomes: [Bool]) throws -> EvaluateKind.Evaluation {
        EvaluateKind.Evaluation(round: 0, arm: "baseline", rm: [try rm("base", outcomes)], policy: nil,
                                testPairs: "test_pairs.json", bootstrap: .current)
    }

    static let baseOutcomes = (0..<60).map { $0 % 5 < 3 }           // 60 %
    static let apoOutcomes = (0..<60).map { $0 % 5 < 3 || $0 % 10 == 3 }  // 70 %: 6 more right, none lost
    static let own = (0..<20).map { Double($0 % 7) * 0.1 + 0.3 }
    static let baseline = (0..<20).map { Double($0 % 7) * 0.1 }

    @Test func singleRunShowsIntervalsAndForestPlots() throws {
        let run = try EvaluationRun([("evaluate_fixed_rms", try Self.base(Self.baseOutcomes)),
                                     ("r1.evaluate_apo", try Self.apo(round: 1, outcomes: Self.apoOutcomes, own: Self.own, baseline: Self.baseline))])
        let report = try RunReport.load(store: run.store, runID: run.runID)
        #expect(report.problems.isEmpty, "\(report.problems)")
        let md = report.markdown()
        let accuracy = try #require(try Self.rm("apo", Self.apoOutcomes).accuracyInterval)
        let cell = String(format: "70.0 %% [%.1f, %.1f]", accuracy.lower * 100, accuracy.upper * 100)
        #expect(md.contains("| 1 | apo | apo | \(cell) |"), "\(md)")
        // 6 discordant pairs, all APO's: McNemar p = 2 · (½)^6.
        #expect(md.contains("- round 1: +10.0 pts ["), "\(md)")
        #expect(md.contains("McNemar p = 0.031 (6/0)"))
        #expect(md.contains("vs baseline: 100.0 % [") && md.contains("(20/0/0); Δ reward +0.300 [+0.300, +0.300]"))
        let html = report.html()
        #expect(html.contains("APO − baseline per round") && html.contains("RM accuracy: APO RM − base RM"))
        #expect(html.contains("stroke-dasharray=\"4,3\""))  // the zero line
        if let path = ProcessInfo.processInfo.environment["APO_REPORT_STATS_SAMPLE"] {
            try Data(html.utf8).write(to: URL(fileURLWithPath: path + ".html"))
            try Data(md.utf8).write(to: URL(fileURLWithPath: path + ".md"))
        }
    }

    @Test func seedCellsShowSpreadsAndPooledComparisons() throws {
        let flipped = Self.apoOutcomes.enumerated().map { $0.offset == 0 ? false : $0.element }  // one fewer right
        let run = try EvaluationRun([
            ("seed=1/evaluate_fixed_rms", try Self.base(Self.baseOutcomes)),
            ("seed=2/evaluate_fixed_rms", try Self.base(Self.baseOutcomes)),
            ("seed=1/r1.evaluate_apo", try Self.apo(round: 1, outcomes: Self.apoOutcomes, own: Self.own, baseline: Self.baseline)),
            ("seed=2/r1.evaluate_apo", try Self.apo(round: 1, outcomes: flipped, own: Self.baseline, baseline: Self.own)),
        ])
        let md = try RunReport.load(store: run.store, runID: run.runID).markdown()
        // Accuracy 70 % and 68.3 %: mean 69.2 %, sd 1.2.
        #expect(md.contains("| 1 | apo | apo | 69.2 % ± 1.2 (68.3–70.0, 2 seeds) |"), "\(md)")
        // Pooled: discordant 6/0 and 6/1 → 12/1; reward differences +0.3 and −0.3 average to 0 per query.
        #expect(md.contains("2 seeds pooled, 120 pairs, McNemar p = ") && md.contains("(12/1)"), "\(md)")
        // And each seed's own comparison, unpooled: 6/0 (p = 2 · ½^6) and 6/1.
        #expect(md.contains("- seed=1: round 1, RM apo − RM base: +10.0 pts [") && md.contains("McNemar exact p = 0.031 (6/0 discordant pairs)"), "\(md)")
        #expect(md.contains("- seed=2: round 1, RM apo − RM base: +8.3 pts [") && md.contains("(6/1 discordant pairs)"), "\(md)")
        #expect(md.contains("- round 1: +0.000 [+0.000, +0.000], crosses 0; 2 seeds pooled, 20 queries each"), "\(md)")
        #expect(md.contains("vs baseline: 50.0 % ± 70.7 (0.0–100.0, 2 seeds)"))
        // Each seed's own row, with its interval, follows the spread.
        let accuracy = try #require(try Self.rm("apo", flipped).accuracyInterval)
        #expect(md.contains(String(format: "| 1 | apo, seed=2 | apo | 68.3 %% [%.1f, %.1f] |", accuracy.lower * 100, accuracy.upper * 100)), "\(md)")
        #expect(md.contains("| 1 | apo, seed=1 | 20 | ") && md.contains("(20/0/0); Δ reward +0.300 [+0.300, +0.300]"), "\(md)")
        #expect(md.contains("(0/0/20); Δ reward -0.300 [-0.300, -0.300]"), "\(md)")
    }

    /// The policy reward chart over seeds draws one line per arm through each round's mean, not a
    /// line through every seed's point.
    @Test func policyRewardChartAveragesOverSeeds() throws {
        func start(_ rewards: [Double]) throws -> EvaluateKind.Evaluation {
            var e = try Self.base(Self.baseOutcomes)
            e.policy = EvaluateKind.PolicyResult(scores: "s", answerKey: "sample_0", queries: rewards.count,
                                                 averageReward: rewards.reduce(0, +) / Double(rewards.count), winRates: [],
                                                 averageRewardInterval: try Bootstrap.meanInterval(rewards, what: "reward"))
            return e
        }
        let run = try EvaluationRun([
            ("seed=1/evaluate_fixed_rms", try start(Self.baseline)),
            ("seed=2/evaluate_fixed_rms", try start(Self.baseline)),
            ("seed=1/r1.evaluate_apo", try Self.apo(round: 1, outcomes: Self.apoOutcomes, own: Self.own, baseline: Self.baseline)),
            ("seed=2/r1.evaluate_apo", try Self.apo(round: 1, outcomes: Self.apoOutcomes, own: Self.baseline, baseline: Self.own)),
        ])
        let html = try RunReport.load(store: run.store, runID: run.runID).html()
        let chart = try #require(html.components(separatedBy: "aria-label=\"policy average reward (mean over 2 seeds)\"").dropFirst().first,
                                 "\(html)")
        let svg = try #require(chart.components(separatedBy: "</svg>").first)
        // The apo arm: round 0 at the starts' mean (0.285), round 1 at the two seeds' mean of
        // 0.585 and 0.285 — two points, not three.
        let points = svg.components(separatedBy: "<polyline points=\"").dropFirst().map { $0.prefix { $0 != "\"" }.split(separator: " ").count }
        #expect(points == [2], "\(svg)")
        #expect(svg.contains("apo: 0 → 0.2850") && svg.contains("apo: 1 → 0.4350"), "\(svg)")
    }

    /// `golden_preference` scores the APO pairs, not the test pairs: its own table, its own
    /// comparison lines, and nothing of it in the test-pair table or the forest plots.
    @Test func goldenPreferenceHasItsOwnTable() throws {
        let golden = (0..<40).map { $0 % 10 < 9 }   // the testing RM prefers golden 90 % of the time
        let fit = (0..<40).map { $0 % 10 < 7 }
        func evaluation(_ outcomes: [Bool]) throws -> EvaluateKind.Evaluation {
            let testing = try Self.rm("testing", outcomes), apo = try Self.rm("apo", fit)
            let comparison = EvaluateKind.RMComparison(left: "testing", right: "apo",
                                                       comparison: try PairedAccuracyComparison(left: outcomes, right: fit, what: "golden"))
            return EvaluateKind.Evaluation(round: 1, arm: "golden", rm: [testing, apo], policy: nil, testPairs: "apo_pairs.json",
                                           rmComparisons: [comparison], bootstrap: .current)
        }
        let run = try EvaluationRun([
            ("seed=1/evaluate_fixed_rms", try Self.base(Self.baseOutcomes)),
            ("seed=2/evaluate_fixed_rms", try Self.base(Self.baseOutcomes)),
            ("seed=1/r1.golden_preference", try evaluation(golden)),
            ("seed=2/r1.golden_preference", try evaluation(golden.enumerated().map { $0.offset < 4 ? false : $0.element })),
        ])
        let report = try RunReport.load(store: run.store, runID: run.runID)
        let md = report.markdown()
        let parts = md.components(separatedBy: "## Golden answers vs the policy's samples")
        #expect(parts.count == 2, "\(md)")
        #expect(!parts[0].contains("| golden") && !parts[0].contains("RM testing − RM apo"), "\(md)")
        // 90 % and 80 %: mean 85 %, sd 7.1; then each seed's row.
        #expect(parts[1].contains("| 1 | golden | testing | 85.0 % ± 7.1 (80.0–90.0, 2 seeds) |"), "\(md)")
        #expect(parts[1].contains("| 1 | golden, seed=1 | testing | 90.0 % ["), "\(md)")
        #expect(parts[1].contains("Paired on the same APO pairs:") && parts[1].contains("seed=2: round 1, RM testing − RM apo: +10.0 pts"), "\(md)")
        #expect(!md.contains("RM accuracy, APO − base RM"), "\(md)")
        #expect(report.html().contains("<h2>Golden answers vs the policy's samples</h2>"))
    }
}
