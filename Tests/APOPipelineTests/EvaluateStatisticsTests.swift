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

    /// The whole kind with two tiny random RMs on the same pairs: each gets an accuracy interval
    /// and pair outcomes agreeing with its accuracy, and one comparison whose McNemar counts and
    /// difference agree with the two accuracies.
    @Test func twoRewardModelsAreComparedOnTheSamePairs() throws {
        let dir = try TempDirectory(), other = try TempDirectory()
        defer { dir.remove(); other.remove() }
        let (first, _, _) = try tinyRewardModel(in: dir, seed: 7)
        let (second, _, _) = try tinyRewardModel(in: other, seed: 8)
        let pairs = ["bread", "hi", "2+2", "a colour", "a fish", "a city"].enumerated().map { k, topic in
            PreferencePair(query: "\n\nHuman: Tell me about \(topic).\n\nAssistant:", preferred: " Sure, \(topic) \(k).", other: " No.")
        }
        let pairsURL = dir.file("test_pairs.json")
        try PreferencePairsFile.write(pairs, to: pairsURL)
        let ctx = try TestJobContext(params: [
            "round": .int(0), "test_pairs": .string(pairsURL.path), "rm_max_length": .int(64),
            "rm_models": .array([.string(first.path), .string(second.path)]), "rm_labels": .array([.string("base"), .string("testing")]),
        ].withDefaults(EvaluateKind.parameters), root: dir.url)
        let url = URL(fileURLWithPath: try #require(try EvaluateKind.run(ctx)["metrics"]?.stringValue))
        let evaluation = try EvaluateKind.Evaluation.read(url)
        #expect(evaluation.testPairs == pairsURL.path && evaluation.bootstrap == .current)
        for rm in evaluation.rm {
            let outcomes = try EvaluateKind.outcomes(from: try #require(rm.pairOutcomes), file: "t")
            #expect(outcomes.count == 6 && Double(outcomes.filter { $0 }.count) / 6 == rm.accuracy)
            #expect(rm.accuracyInterval?.estimate == rm.accuracy)
        }
        let c = try #require(evaluation.rmComparisons?.first)
        #expect(evaluation.rmComparisons?.count == 1 && c.left == "base" && c.right == "testing" && c.pairs == 6)
        let difference = evaluation.rm[0].accuracy - evaluation.rm[1].accuracy
        #expect(abs(c.accuracyDifference.estimate - difference) < 1e-12)
        #expect(abs(Double(c.mcnemar.leftOnly - c.mcnemar.rightOnly) / 6 - difference) < 1e-12)
        if let path = ProcessInfo.processInfo.environment["APO_EVALUATION_SAMPLE"] {
            try FileManager.default.copyItem(at: url, to: URL(fileURLWithPath: path))
        }
    }
}
