import APOPipeline
import APOReport
import APOStore
import Foundation
import Testing

/// A small but valid finished run written through the store API: a train-rm job with a loss
/// curve, a score job with a scores file, an evaluate job (two rounds, two arms) with its JSON, a
/// failed-then-retried attempt. The report must show each of those numbers.
@Suite struct RunReportTests {
    final class FakeRun {
        let directory: URL
        let store: JobStore
        let runID: Int64

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("apo-report-test-\(UUID().uuidString.prefix(8))")
            let artifacts = directory.appendingPathComponent("artifacts")
            try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
            store = try JobStore(path: directory.appendingPathComponent("apo.db").path)
            func job(_ key: String, _ kind: String, needs: [String] = []) -> NewJob {
                NewJob(key: key, kind: kind, kindVersion: 1, paramsJSON: "{}", needs: needs, priority: 0, maxAttempts: 3,
                       backoffBaseSeconds: 0, backoffMaxSeconds: 0, timeoutSeconds: nil, resourcesJSON: "{}", memoize: false)
            }
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            runID = try store.createRun(NewRun(
                pipelineName: "fake-apo", pipelineYAML: "name: fake-apo\n", pipelineHash: "fake", paramsJSON: #"{"rounds":2}"#,
                artifactRoot: artifacts.path,
                jobs: [job("r1.train_rm", "train-rm"), job("r1.score", "score", needs: ["r1.train_rm"]),
                       job("r1.evaluate_apo", "evaluate", needs: ["r1.score"]),
                       job("r1.evaluate_baseline", "evaluate", needs: ["r1.score"]),
                       job("r2.evaluate_apo", "evaluate", needs: ["r1.evaluate_apo"])]), now: t0)
            var now = t0
            func finish(_ key: String, outputs: [String: String], seconds: Double, fail: Bool = false,
                        body: (JobLease) throws -> [StagedArtifact] = { _ in [] }) throws {
                let claimed = try #require(try store.claimNextJob(workerID: "w1", leaseDuration: 600, now: now))
                #expect(claimed.job.key == key)
                if fail {
                    now += seconds / 2
                    try store.recordCPUTime(claimed.lease, seconds: seconds / 4)
                    try store.fail(claimed.lease, error: "killed", retryable: true, now: now)
                    return try finish(key, outputs: outputs, seconds: seconds, body: body)
                }
                let staged = try body(claimed.lease)
                now += seconds
                let json = String(decoding: try JSONEncoder().encode(outputs), as: UTF8.self)
                try store.complete(claimed.lease, JobCompletion(outputsJSON: json, artifacts: staged, cpuSeconds: seconds / 2), now: now)
            }
            try finish("r1.train_rm", outputs: ["model": artifacts.appendingPathComponent("rm").path], seconds: 40, fail: true) { lease in
                for step in 1...10 {
                    try store.recordMetric(lease, step: step, name: "loss", value: 0.7 - 0.03 * Double(step), now: now)
                    try store.recordMetric(lease, step: step, name: "accuracy", value: 0.5 + 0.02 * Double(step), now: now)
                }
                return []
            }
            let scoresURL = artifacts.appendingPathComponent("scores.json")
            try RMScoresFile.write((0..<40).map { RMScore(queryID: "q\($0 / 4)", answerKey: "sample_\($0 % 4)", score: Double($0) * 0.05 - 1) },
                                   to: scoresURL)
            try finish("r1.score", outputs: ["scores": scoresURL.path], seconds: 12) { _ in
                [StagedArtifact(name: "scores.json", path: scoresURL.path, sha256: "ab12cd34ef56ab12", size: 999)]
            }
            func evaluation(_ key: String, round: Int, arm: String, accuracy: Double, ece: Double, reward: Double, win: Double?) throws {
                let url = artifacts.appendingPathComponent("\(key).json")
                let rm = EvaluateKind.RMResult(label: arm, model: "rm", accuracy: accuracy, averageScore: 0.125, ece: ece,
                                               ace: 0.05, mce: 0.2, pairs: 200)
                let wins = win.map { [EvaluateKind.WinRate(against: "baseline", scores: "s", queries: 50, wins: 30, ties: 2, losses: 18, winRate: $0)] } ?? []
                let policy = EvaluateKind.PolicyResult(scores: "s", answerKey: "sample_0", queries: 50, averageReward: reward, winRates: wins)
                try JSONEncoder().encode(EvaluateKind.Evaluation(round: round, arm: arm, rm: [rm], policy: policy)).write(to: url)
                try finish(key, outputs: ["metrics": url.path], seconds: 3) { _ in
                    [StagedArtifact(name: "evaluation.json", path: url.path, sha256: "00", size: 10)]
                }
            }
            try evaluation("r1.evaluate_apo", round: 1, arm: "apo", accuracy: 0.6125, ece: 0.0321, reward: 0.4375, win: 0.62)
            try evaluation("r1.evaluate_baseline", round: 1, arm: "baseline", accuracy: 0.5875, ece: 0.0456, reward: 0.3125, win: nil)
            try evaluation("r2.evaluate_apo", round: 2, arm: "apo", accuracy: 0.6333, ece: 0.0299, reward: 0.5125, win: 0.655)
        }

        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    @Test func htmlShowsEverySection() throws {
        let fake = try FakeRun()
        let report = try RunReport.load(store: fake.store, runID: fake.runID)
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.evaluations.map(\.jobKey) == ["r1.evaluate_apo", "r1.evaluate_baseline", "r2.evaluate_apo"])
        #expect(report.scoreSets.count == 1 && report.scoreSets[0].scores.count == 40 && report.scoreSets[0].round == 1)
        let html = report.html(base: fake.directory)
        for needle in ["Job timeline", "Training curves", "Reward models on the test pairs", "Policy on the test queries",
                       "Reward histograms of the samples", "Artifacts",
                       "61.25%", "0.0321", "58.75%", "0.0456", "63.33%", "0.4375", "0.5125", "62.00%", "65.50%", "(30/2/18)",
                       "r1.train_rm attempt 1: failed", "r1.train_rm attempt 2: succeeded",
                       "href=\"artifacts/scores.json\"", "policy average reward", ">train-rm · loss<", ">train-rm · accuracy<"] {
            #expect(html.contains(needle), "HTML lacks \(needle)")
        }
        // Self-contained: no script, no external resource.
        #expect(!html.contains("<script"))
        #expect(!html.contains("http://") && !html.contains("https://"))
        #expect(html.components(separatedBy: "<svg").count - 1 == 5)  // gantt, loss, accuracy, reward per round, histogram
        if let path = ProcessInfo.processInfo.environment["APO_REPORT_SAMPLE"] {
            try Data(html.utf8).write(to: URL(fileURLWithPath: path))
        }
    }

    @Test func markdownSummarisesTheNumbers() throws {
        let fake = try FakeRun()
        let md = try RunReport.load(store: fake.store, runID: fake.runID).markdown(base: fake.directory)
        for needle in ["# Run \(fake.runID): fake-apo", "| 1 | apo | apo | 61.25% | 0.1250 | 0.0321 |",
                       "| 2 | apo | 50 | 0.5125 | vs baseline: 65.50% (30/2/18) |", "| r1.score | 1 | 40 |",
                       "| r1.train_rm | train-rm | succeeded | 2 | 1m00s |", "[scores.json](artifacts/scores.json)"] {
            #expect(md.contains(needle), "Markdown lacks \(needle)")
        }
        // CPU by step: a round's copies are one step; train_rm's killed attempt is "not kept".
        let cpu = md.components(separatedBy: "## CPU time by step").last?.components(separatedBy: "\n\n").dropFirst().first ?? ""
        #expect(cpu.split(separator: "\n").dropFirst(2).map(String.init) == [
            "| train_rm | train-rm | 1 | 30.0s | 30.0s | 10.0s |",
            "| score | score | 1 | 6.0s | 6.0s | 0ms |",
            "| evaluate_apo | evaluate | 2 | 3.0s | 1.5s | 0ms |",
            "| evaluate_baseline | evaluate | 1 | 1.5s | 1.5s | 0ms |",
            "| all |  | 5 | 40.5s |  | 10.0s |",
        ], "\(cpu)")
    }

    @Test func timelineTicksFallOnRoundClockTimes() {
        #expect(RunReport.timeTicks(total: 4000, atMost: 7) == [0, 600, 1200, 1800, 2400, 3000, 3600])
        #expect(RunReport.timeTicks(total: 4000, atMost: 5) == [0, 900, 1800, 2700, 3600])
        #expect(RunReport.timeTicks(total: 100, atMost: 4) == [0, 30, 60, 90])
        #expect(RunReport.timeTicks(total: 3.5, atMost: 7) == [0, 1, 2, 3])
        #expect(RunReport.timeTicks(total: 20_000, atMost: 7) == [0, 3600, 7200, 10800, 14400, 18000])
        #expect(RunReport.timeTicks(total: 0, atMost: 7) == [0])
    }

    @Test func aJobsStepDropsItsCellAndRound() {
        #expect(RunReport.step(ofKey: "seed=2/r1.apo_rm") == "apo_rm")
        #expect(RunReport.step(ofKey: "r12.policy_apo") == "policy_apo")
        #expect(RunReport.step(ofKey: "seed=1/base_rm") == "base_rm")
        #expect(RunReport.step(ofKey: "testing_rm") == "testing_rm")
        #expect(RunReport.step(ofKey: "rm.v2") == "rm.v2", "not a round: r is not followed by a number")
    }

    @Test func unreadableEvaluationIsAProblemNotACrash() throws {
        let fake = try FakeRun()
        try Data("{not json".utf8).write(to: fake.directory.appendingPathComponent("artifacts/r2.evaluate_apo.json"))
        let report = try RunReport.load(store: fake.store, runID: fake.runID)
        #expect(report.problems.count == 1 && report.problems[0].contains("r2.evaluate_apo"))
        #expect(report.html().contains("Could not read"))
    }
}
