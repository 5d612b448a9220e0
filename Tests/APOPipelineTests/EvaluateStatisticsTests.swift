import APOEngine
import Foundation
import Testing
@testable import APOPipeline

/// What `evaluate` version 3 adds to `evaluation.json`: intervals and paired comparisons, equal to
/// the `Statistics/` functions applied to the same units in the documented order.
@Suite struct EvaluateStatisticsTests {
    @Test func policyIntervalsAndPairedRewardDifference() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let own = dir.file("own.json"), other = dir.file("other.json")
        try RMScoresFile.write([("q1", 0.5), ("q2", -1), ("q3", 2), ("q4", 1)].map {
            RMScore(queryID: $0.0, answerKey: "sample_0", score: $0.1)
        }, to: own)
        try RMScoresFile.write([("q3", 3), ("q2", -1), ("q1", 0.1), ("q5", 9)].map {
            RMScore(queryID: $0.0, answerKey: "sample_0", score: $0.1)
        }, to: other)
        let ctx = try TestJobContext(params: [
            "round": .int(1), "arm": .string("apo"), "scores": .string(own.path),
            "other_scores": .array([.string(other.path)]), "other_labels": .array([.string("baseline")]),
        ].withDefaults(EvaluateKind.parameters), root: dir.url)
        let url = URL(fileURLWithPath: try #require(try EvaluateKind.run(ctx)["metrics"]?.stringValue))
        let policy = try #require(try EvaluateKind.Evaluation.read(url).policy)
        // Queries in sorted id order: q1 q2 q3 q4 for the reward; shared q1 q2 q3 for the difference.
        #expect(policy.averageRewardInterval == (try Bootstrap.meanInterval([0.5, -1, 2, 1], what: "average reward")))
        let w = try #require(policy.winRates.first)
        #expect(w.winRateInterval == (try Wilson.interval(successes: 1.5, trials: 3)))
        #expect(w.rewardDifference == (try Bootstrap.pairedDifference([0.5, -1, 2], [0.1, -1, 3], what: "reward difference")))
        #expect(w.rewardDifferences?.keys.sorted() == ["q1", "q2", "q3"])
        let json = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        for key in ["\"average_reward_interval\"", "\"win_rate_interval\"", "\"reward_difference\"", "\"method\" : \"wilson\"",
                    "\"bootstrap\"", "\"resamples\" : 2000"] {
            #expect(json.contains(key), "evaluation.json lacks \(key)")
        }
    }

    /// Two RMs' outcomes on the same pairs give an accuracy interval each and one comparison with
    /// McNemar's counts; an old file without the new fields still reads.
    @Test func rmComparisonsAndOldFilesStillRead() throws {
        let metrics = RMMetrics(items: [(rewards: [1, 0], scores: [1, 0])])
        let a = try EvaluateKind.rmResult(label: "apo", model: "m", metrics: metrics, outcomes: [true, true, false, true])
        let b = try EvaluateKind.rmResult(label: "base", model: "m", metrics: metrics, outcomes: [false, true, false, false])
        #expect(a.pairOutcomes == "1101" && a.accuracyInterval?.estimate == 0.75)
        let c = try #require(try EvaluateKind.rmComparisons([a, b]).first)
        #expect((c.left, c.right, c.pairs, c.mcnemar.leftOnly, c.mcnemar.rightOnly) == ("apo", "base", 4, 2, 0))
        #expect(c.mcnemar.pValue == 0.5 && c.accuracyDifference.estimate == 0.5)
        let old = #"{"schema":"apo-evaluation/1","round":1,"arm":"apo","rm":[{"label":"apo","model":"m","accuracy":0.5,"average_score":0,"ece":0,"ace":0,"mce":0,"pairs":2}],"policy":null}"#
        let decoded = try JSONDecoder().decode(EvaluateKind.Evaluation.self, from: Data(old.utf8))
        #expect(decoded.rm[0].accuracyInterval == nil && decoded.rmComparisons == nil && decoded.bootstrap == nil)
    }
}
