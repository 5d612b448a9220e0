import APOJSON
import Foundation
import Testing
@testable import APOEngine
@testable import APOPipeline

/// The reference implementation's data files, hand-written in the exact shapes its README and tools
/// produce (Python `json.dump(..., indent=4)`: float scores, `\u` escapes, ids with `:`), go through
/// apo's job kinds as they are: the RM training list plus the APO converter's
/// `*_text_scores.json` into `train-rm`, a golden file and a sample file into `apo-pairs`, the sample
/// file into `score`, and a `*_pred_<rm>_results.json` score file into `rejection-sample`.
struct ReferenceFilesTests {
    /// `hh_split_rm.train.json`: comparison pairs, `<sep>` between query and response, ids with `:`.
    static let rmTrain = """
        [
            {
                "text": [
                    "\\n\\nHuman: How do I bake bread?\\n\\nAssistant:<sep> Mix flour, water, yeast and salt, then knead.",
                    "\\n\\nHuman: How do I bake bread?\\n\\nAssistant:<sep> Buy some."
                ],
                "scores": [
                    1.0,
                    0.0
                ],
                "query_id": "hh_split_rm.train:0"
            },
            {
                "text": [
                    "\\n\\nHuman: Is it safe to swim after eating?\\n\\nAssistant:<sep> Generally yes; a short rest is fine.",
                    "\\n\\nHuman: Is it safe to swim after eating?\\n\\nAssistant:<sep> I don\\u2019t know."
                ],
                "scores": [
                    1.0,
                    0.0
                ],
                "query_id": "hh_split_rm.train:1"
            }
        ]
        """

    /// `hh_split_rm.golden.json` and `hh_split_rm_alpaca_v0.sample.json`.
    static let golden = """
        [
            {
                "query_id": "hh_split_rm.train:0",
                "golden": " Mix flour, water, yeast and salt, then knead."
            },
            {
                "query_id": "hh_split_rm.train:1",
                "golden": " Generally yes; a short rest is fine."
            }
        ]
        """
    static let samples = """
        [
            {
                "query_id": "hh_split_rm.train:0",
                "query": "\\n\\nHuman: How do I bake bread?\\n\\nAssistant:",
                "sample_0": " Bread is made in an oven.",
                "sample_1": " I can\\u2019t help with that.",
                "sample_2": " Mix it.",
                "sample_3": " Flour."
            },
            {
                "query_id": "hh_split_rm.train:1",
                "query": "\\n\\nHuman: Is it safe to swim after eating?\\n\\nAssistant:",
                "sample_0": " Yes.",
                "sample_1": " No.",
                "sample_2": " Maybe.\\n\\nHuman: why?",
                "sample_3": " Swimming is fun."
            }
        ]
        """

    @Test func referenceShapedFilesRunThroughTheKinds() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let train = try dir.write("hh_split_rm.train.json", Self.rmTrain)
        let golden = try dir.write("hh_split_rm.golden.json", Self.golden)
        let samples = try dir.write("hh_split_rm_alpaca_v0.sample.json", Self.samples)

        // apo-pairs = the reference's apo_data_converter.py: golden wins over each sample, [1, 0].
        let pairsContext = try TestJobContext(params: ["samples": .string(samples.path), "golden": .string(golden.path),
                                                       "sampling": .bool(false), "seed": .int(42)], root: dir.file("pairs"))
        let apoPairsURL = URL(fileURLWithPath: try #require(try APOPairsKind.run(pairsContext)["pairs"]?.stringValue))
        let apoPairs = try PreferencePairsFile.read(apoPairsURL)
        #expect(apoPairs.count == 8)
        #expect(apoPairs[0] == PreferencePair(text: ["\n\nHuman: How do I bake bread?\n\nAssistant:<sep> Mix flour, water, yeast and salt, then knead.",
                                                     "\n\nHuman: How do I bake bread?\n\nAssistant:<sep>Bread is made in an oven."],
                                              scores: [1, 0], queryID: "hh_split_rm.train:0", type: "apo"))
        #expect(apoPairs[1].text[1].hasSuffix("<sep>I can\u{2019}t help with that."))
        // A sample that goes on into a new Human turn is cut there and trimmed (spec §2); the
        // golden answer stays as written.
        #expect(apoPairs[6].text == ["\n\nHuman: Is it safe to swim after eating?\n\nAssistant:<sep> Generally yes; a short rest is fine.",
                                     "\n\nHuman: Is it safe to swim after eating?\n\nAssistant:<sep>Maybe."])

        // train-rm on the reference's two-file TRAIN_DATA_LIST, as it names them.
        let backbone = try RewardKindsTests.makeBackbone(in: dir)
        var trainParams = RewardKindsTests.trainParams(backbone: backbone, pairs: train)
        trainParams["train"] = .array([.string(train.path), .string(apoPairsURL.path)])
        trainParams["epochs"] = .int(1)
        let training = try RewardKindsTests.CancellingContext(params: trainParams, root: dir.file("rm"))
        let model = try #require(try TrainRMKind.run(training)["model"]?.stringValue)
        #expect(training.logLines.contains { $0.contains("hh_split_rm.train.json: 2 items used") }, "\(training.logLines)")
        #expect(training.logLines.contains { $0.contains("pairs.json: 8 items used") }, "\(training.logLines)")

        // score writes the reference's score-file shape: one-key objects "<query_id>:<answer_key>".
        var scoreParams: [String: JSONValue] = [:]
        for spec in ScoreKind.parameters { if let d = spec.defaultValue { scoreParams[spec.name] = d } }
        scoreParams["model"] = .string(model)
        scoreParams["samples"] = .string(samples.path)
        scoreParams["max_length"] = .int(32)
        scoreParams["threads"] = .int(1)
        let scoring = try RewardKindsTests.CancellingContext(params: scoreParams, root: dir.file("score"))
        let scoresURL = URL(fileURLWithPath: try #require(try ScoreKind.run(scoring)["scores"]?.stringValue))
        let written = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: scoresURL)) as? [[String: Double]])
        #expect(written.count == 8 && written.allSatisfy { $0.count == 1 })
        #expect(written[0].keys.first == "hh_split_rm.train:0:sample_0")

        // rejection-sample reads a score file as the reference's inference step writes it
        // (`<DATA_PATH>_pred_base_rm_results.json`), in whatever order its ranks wrote it.
        let predicted = try dir.write("hh_split_rm_alpaca_v0.sample.json_pred_base_rm_results.json", """
            [
                {"hh_split_rm.train:1:sample_3": -0.25},
                {"hh_split_rm.train:0:sample_0": 0.5},
                {"hh_split_rm.train:0:sample_1": -1.0},
                {"hh_split_rm.train:0:sample_2": 1.5},
                {"hh_split_rm.train:0:sample_3": 0.0},
                {"hh_split_rm.train:1:sample_0": 2.0},
                {"hh_split_rm.train:1:sample_1": 1.0},
                {"hh_split_rm.train:1:sample_2": 0.75}
            ]
            """)
        let rjs = try TestJobContext(params: ["samples": .string(samples.path), "scores": .string(predicted.path)],
                                     root: dir.file("rjs"))
        let targets = try RejectionSamplesFile.read(URL(fileURLWithPath: try #require(try RejectionSampleKind.run(rjs)["targets"]?.stringValue)))
        #expect(targets.map(\.item.queryID) == ["hh_split_rm.train:0", "hh_split_rm.train:1"])
        #expect(targets.map(\.target) == [" Mix it.", " Yes."])

        // generate reads its queries from the reference's RM training list (the text before <sep>).
        let queries = try GenerateKind.readQueries(train)
        #expect(queries.map(\.queryID) == ["hh_split_rm.train:0", "hh_split_rm.train:1"])
        #expect(queries[1].query == "\n\nHuman: Is it safe to swim after eating?\n\nAssistant:")
    }
}
