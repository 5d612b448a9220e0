import APOEngine
import APOJSON
import Foundation
import Testing
@testable import APOPipeline

@Suite struct EvaluateKindTests {
    /// Hand-computed: the two files share q1 (0.5 > 0.1: win), q2 (-1 = -1: tie), q3 (2 < 3: loss);
    /// win rate (1 + 0.5) / 3; average reward over own sample_0 scores (0.5 - 1 + 2 + 1) / 4.
    @Test func averageRewardAndWinRateWithTiesCountingHalf() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let own = dir.file("own.json"), other = dir.file("other.json")
        try RMScoresFile.write([
            RMScore(queryID: "q1", answerKey: "sample_0", score: 0.5), RMScore(queryID: "q2", answerKey: "sample_0", score: -1),
            RMScore(queryID: "q3", answerKey: "sample_0", score: 2), RMScore(queryID: "q4", answerKey: "sample_0", score: 1),
            RMScore(queryID: "q1", answerKey: "sample_1", score: 100),  // not the evaluated answer key
        ], to: own)
        try RMScoresFile.write([
            RMScore(queryID: "q1", answerKey: "sample_0", score: 0.1), RMScore(queryID: "q2", answerKey: "sample_0", score: -1),
            RMScore(queryID: "q3", answerKey: "sample_0", score: 3), RMScore(queryID: "q5", answerKey: "sample_0", score: 9),
        ], to: other)
        let ctx = try TestJobContext(params: [
            "round": .int(2), "arm": .string("apo"), "scores": .string(own.path),
            "other_scores": .array([.string(other.path)]), "other_labels": .array([.string("baseline")]),
        ].withDefaults(EvaluateKind.parameters), root: dir.url)
        let outputs = try EvaluateKind.run(ctx)
        let evaluation = try EvaluateKind.Evaluation.read(URL(fileURLWithPath: try #require(outputs["metrics"]?.stringValue)))
        #expect(evaluation.schema == "apo-evaluation/1" && evaluation.round == 2 && evaluation.arm == "apo")
        #expect(evaluation.rm.isEmpty)
        let policy = try #require(evaluation.policy)
        #expect(policy.queries == 4)
        #expect(abs(policy.averageReward - 0.625) < 1e-12)
        #expect(policy.winRates.count == 1)
        let w = policy.winRates[0]
        #expect((w.against, w.queries, w.wins, w.ties, w.losses) == ("baseline", 3, 1, 1, 1))
        #expect(abs(w.winRate - 0.5) < 1e-12)
        #expect(ctx.metrics.contains { $0.step == 2 && $0.name == "policy.win_rate.baseline" && abs($0.value - 0.5) < 1e-12 })
        #expect(ctx.metrics.contains { $0.step == 2 && $0.name == "policy.average_reward" && abs($0.value - 0.625) < 1e-12 })
    }

    /// A tiny random reward model saved as a model directory (the real SmolLM2 tokenizer, a 1-block
    /// 16-wide backbone): the kind's accuracy and average score must equal those computed from
    /// the same model's rewards scored one sequence at a time, in memory.
    @Test func rewardModelMetricsMatchPerSequenceScoring() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (rmDir, model, tokenizer) = try tinyRewardModel(in: dir, seed: 7)
        let pairs = [
            PreferencePair(query: "\n\nHuman: How do I bake bread?\n\nAssistant:", preferred: " Mix flour, water and yeast.", other: " No."),
            PreferencePair(query: "\n\nHuman: What is 2+2?\n\nAssistant:", preferred: " 4.", other: " Fish."),
            PreferencePair(query: "\n\nHuman: Say hi.\n\nAssistant:", preferred: " Hi!", other: " I will not."),
            PreferencePair(query: "\n\nHuman: Name a colour.\n\nAssistant:", preferred: " Blue.", other: " Seven."),
        ]
        let pairsURL = dir.file("test_pairs.json")
        try PreferencePairsFile.write(pairs, to: pairsURL)
        let ctx = try TestJobContext(params: [
            "round": .int(1), "arm": .string("baseline"), "test_pairs": .string(pairsURL.path),
            "rm_models": .array([.string(rmDir.path)]), "rm_labels": .array([.string("base")]), "rm_max_length": .int(64),
        ].withDefaults(EvaluateKind.parameters), root: dir.url)
        let outputs = try EvaluateKind.run(ctx)
        let evaluation = try EvaluateKind.Evaluation.read(URL(fileURLWithPath: try #require(outputs["metrics"]?.stringValue)))
        let rm = try #require(evaluation.rm.first)
        #expect(evaluation.policy == nil && rm.label == "base" && rm.pairs == 4)

        // Independent path: the in-memory model, one sequence per forward pass, accuracy by hand, in
        // the arithmetic the kind's default `precision: auto` resolves to on this machine.
        let scorer = RewardScorer(model: model, batchSize: 1, maxSeqLen: 64, threads: 1,
                                  precision: try ComputePath.resolve(nil).precision)
        var correct = 0, sum = 0.0
        for p in pairs {
            let ids = p.text.map { model.format.frame(text: $0, tokenizer: tokenizer, maxLength: 64)!.ids }
            let r = scorer.score(ids).map(Double.init)
            if r[0] > r[1] { correct += 1 }
            sum += r[0] + r[1]
        }
        // Batched vs one-at-a-time forward passes differ only by float summation order.
        let tolerance = 1e-5
        #expect(rm.accuracy == Double(correct) / 4)
        #expect(abs(rm.averageScore - sum / 8) < tolerance)
        #expect(rm.ece >= 0 && rm.ece <= 1 && rm.mce >= rm.ace - 1e-12)
        #expect(ctx.metrics.contains { $0.step == 1 && $0.name == "rm.base.accuracy" && $0.value == rm.accuracy })
    }

    /// Two responses that tokenise identically are one sequence with one reward: their pair is a
    /// tie, which counts as wrong (spec §3), instead of being dropped (which reported 1/1 here).
    @Test func identicalResponsesAreTiesCountedAsWrong() throws {
        let items = [
            RewardScoring.EvaluationItem(sequences: [[1, 2], [1, 2]], scores: [1, 0]),
            RewardScoring.EvaluationItem(sequences: [[3], [4]], scores: [1, 0]),
            RewardScoring.EvaluationItem(sequences: [[5], [6]], scores: [0.5, 0.5]),  // no ordered pair
        ]
        var scored: [[Int32]] = []
        let rewards: [[Int32]: Double] = [[1, 2]: 5, [3]: 1, [4]: 0, [5]: 2, [6]: 4]
        let metrics = try EvaluateKind.metrics(of: items, file: "t.json") { sequences in
            scored = sequences
            return sequences.map { rewards[$0]! }
        }
        #expect(scored == [[1, 2], [3], [4], [5], [6]])  // each distinct sequence once
        #expect(metrics.pairCount == 2)
        #expect(metrics.accuracy == 0.5)
        // Every response counts in the average score, the equal-score item's too.
        #expect(abs(metrics.averageScore - (5 + 5 + 1 + 0 + 2 + 4) / 6.0) < 1e-12)
    }

    @Test func emptyOrUnrankableTestFilesAreErrorsNamingTheFile() throws {
        #expect(throws: EvaluateKind.EvaluateError.emptyTestPairs(file: "empty.json")) {
            _ = try EvaluateKind.metrics(of: [], file: "empty.json") { $0.map { _ in 0 } }
        }
        let equal = [RewardScoring.EvaluationItem(sequences: [[1], [2]], scores: [1, 1])]
        let error = try #require(throws: EvaluateKind.EvaluateError.self) {
            _ = try EvaluateKind.metrics(of: equal, file: "equal.json") { $0.map { _ in 0 } }
        }
        #expect(error.description.hasPrefix("equal.json: none of its 1 test items"))
    }

    /// The whole kind on a real tokenizer: a pair whose two responses are the same text is scored
    /// and counted (4 pairs, not 3), and an empty test file fails naming the file.
    @Test func evaluationCountsIdenticalPairsAndRefusesAnEmptyFile() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (rmDir, model, tokenizer) = try tinyRewardModel(in: dir)
        let pairs = [
            PreferencePair(query: "\n\nHuman: How do I bake bread?\n\nAssistant:", preferred: " Mix flour, water and yeast.", other: " No."),
            PreferencePair(query: "\n\nHuman: Say hi.\n\nAssistant:", preferred: " Hi!", other: " Hi!"),
            PreferencePair(query: "\n\nHuman: What is 2+2?\n\nAssistant:", preferred: " 4.", other: " Fish."),
            PreferencePair(query: "\n\nHuman: Name a colour.\n\nAssistant:", preferred: " Blue.", other: " Seven."),
        ]
        let pairsURL = dir.file("test_pairs.json")
        try PreferencePairsFile.write(pairs, to: pairsURL)
        func context(_ url: URL) throws -> TestJobContext {
            try TestJobContext(params: [
                "test_pairs": .string(url.path), "rm_models": .array([.string(rmDir.path)]),
                "rm_labels": .array([.string("base")]), "rm_max_length": .int(64),
            ].withDefaults(EvaluateKind.parameters), root: dir.url)
        }
        let outputs = try EvaluateKind.run(try context(pairsURL))
        let evaluation = try EvaluateKind.Evaluation.read(URL(fileURLWithPath: try #require(outputs["metrics"]?.stringValue)))
        let rm = try #require(evaluation.rm.first)
        #expect(rm.pairs == 4)
        let scorer = RewardScorer(model: model, batchSize: 1, maxSeqLen: 64, threads: 1)
        var correct = 0
        for p in pairs where p.text[0] != p.text[1] {
            let r = scorer.score(p.text.map { model.format.frame(text: $0, tokenizer: tokenizer, maxLength: 64)!.ids })
            if r[0] > r[1] { correct += 1 }
        }
        #expect(rm.accuracy == Double(correct) / 4)

        let emptyURL = dir.file("empty_pairs.json")
        try PreferencePairsFile.write([], to: emptyURL)
        let error = try #require(throws: EvaluateKind.EvaluateError.self) { try EvaluateKind.run(try context(emptyURL)) }
        #expect(error.description.contains(emptyURL.path))
    }

    @Test func labelsMustMatchTheirList() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let ctx = try TestJobContext(params: [
            "rm_models": .array([.string("a"), .string("b")]), "rm_labels": .array([.string("a")]),
        ].withDefaults(EvaluateKind.parameters), root: dir.url)
        #expect(throws: EvaluateKind.EvaluateError.self) { try EvaluateKind.run(ctx) }
    }

    @Test func notARewardModelIsNamed() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let pairsURL = dir.file("p.json")
        try PreferencePairsFile.write([PreferencePair(query: "q", preferred: "a", other: "b")], to: pairsURL)
        let ctx = try TestJobContext(params: [
            "test_pairs": .string(pairsURL.path), "rm_models": .array([.string(try realModelPath())]),
            "rm_labels": .array([.string("gguf")]),
        ].withDefaults(EvaluateKind.parameters), root: dir.url)
        let error = try #require(throws: EvaluateKind.EvaluateError.self) { try EvaluateKind.run(ctx) }
        #expect(error.description.contains("score.weight"))
    }
}

/// A tiny random reward model saved as a model directory: the real SmolLM2 tokenizer, a 1-block
/// 16-wide backbone.
func tinyRewardModel(in dir: TempDirectory, seed: UInt64 = 11) throws -> (URL, RewardModel, ByteLevelBPE) {
    let tokenizer = try ByteLevelBPE(GGUFFile(path: try realModelPath()).tokenizerData())
    let config = LlamaConfig(vocabSize: 49_152, hiddenSize: 16, intermediateSize: 24, layerCount: 1, headCount: 2,
                             kvHeadCount: 1, ropeTheta: 100_000, rmsNormEps: 1e-5, tiedEmbeddings: true, contextLength: 128)
    let parameters = ModelParameters(config: config)
    var rng = SplitMix(seed: seed)
    for t in parameters.layout.tensors {
        for i in 0..<t.count { parameters.values[t.offset + i] = t.shape.count == 1 ? 1 : Float(rng.nextUnit() - 0.5) }
    }
    let head = (0..<16).map { _ in Float(rng.nextUnit() - 0.5) }
    let rmDir = dir.file("rm")
    try ModelLoader.saveDirectory(parameters, tokenizer: tokenizer, chatTemplate: nil,
                                  extraTensors: [RewardModel.headTensorName: ([1, 16], head)], to: rmDir)
    let model = RewardModel(parameters: parameters, head: head, pooling: .last, format: .forTokenizer(tokenizer))
    return (rmDir, model, tokenizer)
}

/// A small deterministic generator for test weights.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextUnit() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Fills in every declared default the way the runtime does before a kind runs.
    func withDefaults(_ specs: [ParameterSpec]) -> [String: JSONValue] {
        var p = self
        for s in specs where p[s.name] == nil { if let d = s.defaultValue { p[s.name] = d } }
        return p
    }
}

/// The real SmolLM2 GGUF; a missing file fails the test with the command that fetches it.
func realModelPath() throws -> String {
    let path = repositoryRoot().appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    guard FileManager.default.fileExists(atPath: path) else {
        throw ModelMissing(path: path)
    }
    return path
}

struct ModelMissing: Error, CustomStringConvertible {
    let path: String
    var description: String { "\(path) is missing: run .ci/run or `apoctl model pull` (deploy/fetch-model.sh)" }
}
