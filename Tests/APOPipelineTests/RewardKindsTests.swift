import APOJSON
import Foundation
import Testing
@testable import APOEngine
@testable import APOPipeline

/// `train-rm` and `score` end to end on a tiny random backbone that uses the real SmolLM2 tokenizer
/// (so framing, SEP/PAD choice and the model directory round trip are the real ones), in seconds.
struct RewardKindsTests {
    /// A job context that reports cancellation once `cancelAfterSteps` loss metrics were recorded.
    final class CancellingContext: JobContext {
        var params: [String: JSONValue]
        let outputDirectory: URL
        let checkpointDirectory: URL
        let threads = 1
        /// A cache of this context's own (tests never touch the user's).
        var trunkCache: TrunkStateCache
        var cancelAfterSteps: Int?
        var metrics: [(step: Int, name: String, value: Double)] = []
        var logLines: [String] = []
        /// Artifacts written through `writeArtifact`, by name (model directories included).
        var artifacts: [String: URL] = [:]
        init(params: [String: JSONValue], root: URL) throws {
            self.params = params
            trunkCache = TrunkStateCache(root: root.appendingPathComponent("trunk-cache"), capacityBytes: 100_000_000)
            outputDirectory = root.appendingPathComponent("out")
            checkpointDirectory = root.appendingPathComponent("checkpoint")
            for d in [outputDirectory, checkpointDirectory] {
                try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            }
        }
        func reportProgress(done: Int, total: Int, message: String?) {}
        func log(_ line: String) { logLines.append(line) }
        func recordMetric(step: Int, name: String, value: Double) { metrics.append((step, name, value)) }
        /// Cancel at the n-th `checkCancelled` call (counted in `checks`).
        var cancelAtCheck: Int?
        var checks = 0
        func checkCancelled() throws {
            checks += 1
            if let n = cancelAtCheck, checks >= n { throw JobCancelled() }
            if let n = cancelAfterSteps, metrics.filter({ $0.name == "loss" }).count >= n { throw JobCancelled() }
        }
        func writeArtifact(named name: String, _ write: (URL) throws -> Void) throws -> URL {
            let tmp = outputDirectory.appendingPathComponent(".\(name).tmp")
            try write(tmp)
            let final = outputDirectory.appendingPathComponent(name)
            guard rename(tmp.path, final.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
            artifacts[name] = final
            return final
        }
    }

    /// Tiny LLaMA over SmolLM2's 49,152-token vocabulary, saved as a model directory.
    static func makeBackbone(in dir: TempDirectory) throws -> URL {
        let gguf = repositoryRoot().appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: gguf) else {
            throw JobParameterError.invalid(name: "model", message: "\(gguf) is missing: run `.ci/run` or `apoctl model pull` first")
        }
        let tokenizer = try makeTokenizer(try GGUFFile(path: gguf).tokenizerData())
        let config = LlamaConfig(vocabSize: 49152, hiddenSize: 16, intermediateSize: 24, layerCount: 2, headCount: 4,
                                 kvHeadCount: 2, ropeTheta: 10000, rmsNormEps: 1e-5, tiedEmbeddings: true, contextLength: 128)
        let p = ModelParameters(config: config)
        var rng = TrainingRandom(seed: 5)
        for t in p.layout.tensors {
            for i in 0..<t.count { p.values[t.offset + i] = t.shape.count == 1 ? 1 : Float(rng.nextNormal() * 0.3) }
        }
        let url = dir.file("backbone")
        try ModelLoader.saveDirectory(p, tokenizer: tokenizer, chatTemplate: nil, to: url)
        return url
    }

    static let pairsJSON: String = {
        var items: [String] = []
        for i in 0..<8 {
            let q = "\\n\\nHuman: question \(i)?\\n\\nAssistant:"
            items.append(#"{"text": ["\#(q)<sep> A kind and helpful answer.", "\#(q)<sep> Go away \#(i)."], "scores": [1, 0]}"#)
        }
        items.append(#"{"text": ["Q<sep> golden", "Q<sep> sample"], "scores": [1, 0], "type": "apo"}"#)
        items.append(#"{"text": ["Q<sep> same", "Q<sep> same"], "scores": [1, 0]}"#)  // identical: counted, skipped
        return "[" + items.joined(separator: ",\n") + "]"
    }()

    static func trainParams(backbone: URL, pairs: URL) -> [String: JSONValue] {
        var params: [String: JSONValue] = [:]
        for spec in TrainRMKind.parameters { if let d = spec.defaultValue { params[spec.name] = d } }
        params["train"] = .array([.string(pairs.path)])
        params["eval"] = .array([.string(pairs.path)])
        params["init"] = .string(backbone.path)
        params["epochs"] = .int(2)
        params["batch"] = .int(4)
        params["micro_batch"] = .int(2)
        params["max_length"] = .int(32)
        params["trainable_layers"] = .int(1)
        params["lr"] = .double(1e-2)
        params["warmup"] = .int(1)
        params["checkpoint_every"] = .int(1)
        params["threads"] = .int(1)
        return params
    }

    @Test func trainRMResumesAfterCancellationToTheSameHeadAndScoreUsesTheModel() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let backbone = try Self.makeBackbone(in: dir)
        let pairs = try dir.write("pairs.json", Self.pairsJSON)
        let params = Self.trainParams(backbone: backbone, pairs: pairs)

        let straight = try CancellingContext(params: params, root: dir.file("straight"))
        let outputs = try TrainRMKind.run(straight)
        let names = Set(straight.metrics.map(\.name))
        for n in ["loss", "accuracy", "chosen_reward", "rejected_reward", "lr", "grad_norm", "tokens_per_s", "samples_per_s", "eval_accuracy", "eval_ece"] {
            #expect(names.contains(n), "metric \(n)")
        }
        #expect(straight.metrics.filter { $0.name == "loss" }.count == 6)  // 2 epochs × ceil(9 items / 4)
        #expect(straight.logLines.contains { $0.contains("1 identical after truncation") })

        let interrupted = try CancellingContext(params: params, root: dir.file("resumed"))
        interrupted.cancelAfterSteps = 4
        #expect(throws: JobCancelled.self) { try TrainRMKind.run(interrupted) }
        let again = try CancellingContext(params: params, root: dir.file("resumed"))
        let resumedOutputs = try TrainRMKind.run(again)
        // The model directory is written as an artifact (so the runtime records it), only once finished.
        #expect(straight.artifacts["model"]?.path == outputs["model"]?.stringValue)
        #expect(interrupted.artifacts.isEmpty)
        #expect(Set(again.artifacts.keys) == ["model", "metrics.json"])
        #expect(again.logLines.contains { $0.contains("resumed from step-00000004") })
        #expect(again.metrics.filter { $0.name == "loss" }.count == 2)

        let a = try RewardModelFiles.load(path: outputs["model"]!.stringValue!, threads: 1)
        let b = try RewardModelFiles.load(path: resumedOutputs["model"]!.stringValue!, threads: 1)
        #expect(a.hadHead && b.hadHead)
        #expect(a.model.head.toArray() == b.model.head.toArray())
        #expect(a.model.format == RewardInputFormat(bos: 1, sep: 5, eos: 2, pad: 0))
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: outputs["metrics"]!.stringValue!))) as! [String: Any]
        #expect(summary["eval"] != nil)

        // score: samples → scores file; pairs → metrics.
        let samples = try dir.write("samples.json", #"[{"query_id": "q:1", "query": "Hi", "sample_0": " hello", "sample_1": " bye"}]"#)
        var scoreParams: [String: JSONValue] = [:]
        for spec in ScoreKind.parameters { if let d = spec.defaultValue { scoreParams[spec.name] = d } }
        scoreParams["model"] = outputs["model"]!
        scoreParams["samples"] = .string(samples.path)
        scoreParams["threads"] = .int(1)
        scoreParams["trunk_cache"] = .bool(false)  // fp32 states, as the direct scorer below computes them
        let scoreContext = try CancellingContext(params: scoreParams, root: dir.file("score"))
        let scored = try ScoreKind.run(scoreContext)
        let scores = try RMScoresFile.read(URL(fileURLWithPath: scored["scores"]!.stringValue!))
        #expect(scores.map(\.key) == ["q:1:sample_0", "q:1:sample_1"])
        // The kind's default `precision: auto`, resolved the same way.
        let direct = RewardScorer(model: a.model, batchSize: 1, maxSeqLen: 32, threads: 1,
                                  precision: try ComputePath.resolve(nil).precision)
            .score([a.model.format.frame(text: "Hi<sep> hello", tokenizer: a.tokenizer, maxLength: 512)!.ids])
        // Batched (the kind) and single-row scoring sum in different orders: equal up to rounding.
        #expect(abs(Float(scores[0].score) - direct[0]) <= 1e-5 * max(1, abs(direct[0])))

        scoreParams["samples"] = .null
        scoreParams["pairs"] = .string(pairs.path)
        let evalContext = try CancellingContext(params: scoreParams, root: dir.file("eval"))
        let evaluated = try ScoreKind.run(evalContext)
        let report = try JSONDecoder().decode(RewardEvaluation.self,
                                              from: Data(contentsOf: URL(fileURLWithPath: evaluated["metrics"]!.stringValue!)))
        #expect(report.metrics.pairCount == 9)
        #expect(report.data.identicalAfterTruncation == 1)
    }

    /// A second train-rm on the same backbone reads every text's frozen-trunk states from the cache
    /// and writes the same model, byte for byte; without the cache (no fp16 rounding) it comes out
    /// close but not equal.
    @Test func trainRMReadsTheFrozenTrunkFromTheCacheAndWritesTheSameModel() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let backbone = try Self.makeBackbone(in: dir)
        let pairs = try dir.write("pairs.json", Self.pairsJSON)
        let params = Self.trainParams(backbone: backbone, pairs: pairs)
        let cache = TrunkStateCache(root: dir.file("shared-cache"), capacityBytes: 100_000_000)
        func train(_ name: String, trunkCache: Bool = true) throws -> (CancellingContext, Data) {
            var p = params
            p["trunk_cache"] = .bool(trunkCache)
            let context = try CancellingContext(params: p, root: dir.file(name))
            context.trunkCache = cache
            let outputs = try TrainRMKind.run(context)
            let model = URL(fileURLWithPath: outputs["model"]!.stringValue!).appendingPathComponent("model.safetensors")
            return (context, try Data(contentsOf: model))
        }
        let (first, firstModel) = try train("first")
        // 9 items → 18 sequences, 2 epochs, plus 2 evaluations of 18 sequences; 17 distinct texts.
        let firstLine = try #require(first.logLines.first { $0.contains("frozen-trunk cache") })
        #expect(firstLine.contains("computed and kept"))
        let computedFirst = try #require(Self.count(before: " computed", in: firstLine))
        #expect(computedFirst > 0 && computedFirst <= 18)
        #expect(try #require(Self.count(before: " sequences read", in: firstLine)) > 0, "epoch 2 reads epoch 1's texts")
        let (second, secondModel) = try train("second")
        let secondLine = try #require(second.logLines.first { $0.contains("frozen-trunk cache") })
        #expect(Self.count(before: " computed", in: secondLine) == 0, "\(secondLine)")
        #expect(firstModel == secondModel)
        #expect(cache.stats().entries == computedFirst)

        // `score` on the trained model reads the states train-rm's evaluation kept (the model
        // directory records its 1 frozen block) and agrees with that evaluation.
        var scoreParams: [String: JSONValue] = [:]
        for spec in ScoreKind.parameters { if let d = spec.defaultValue { scoreParams[spec.name] = d } }
        scoreParams["model"] = .string(first.artifacts["model"]!.path)
        scoreParams["pairs"] = .string(pairs.path)
        scoreParams["max_length"] = .int(32)
        scoreParams["threads"] = .int(1)
        let scoring = try CancellingContext(params: scoreParams, root: dir.file("score"))
        scoring.trunkCache = cache
        let scored = try ScoreKind.run(scoring)
        let scoreLine = try #require(scoring.logLines.first { $0.contains("frozen-trunk cache") })
        #expect(Self.count(before: " computed", in: scoreLine) == 0, "\(scoreLine)")
        let evaluation = try JSONDecoder().decode(RewardEvaluation.self, from: Data(contentsOf: URL(fileURLWithPath: scored["metrics"]!.stringValue!)))
        #expect(first.metrics.last { $0.name == "eval_accuracy" }?.value == evaluation.metrics.accuracy)

        // So does `evaluate`, which measures every RM of a run on the same test pairs.
        var evaluateParams: [String: JSONValue] = [:]
        for spec in EvaluateKind.parameters { if let d = spec.defaultValue { evaluateParams[spec.name] = d } }
        evaluateParams["test_pairs"] = .string(pairs.path)
        evaluateParams["rm_models"] = .array([.string(first.artifacts["model"]!.path)])
        evaluateParams["rm_labels"] = .array([.string("apo")])
        evaluateParams["rm_max_length"] = .int(32)
        evaluateParams["threads"] = .int(1)
        let evaluating = try CancellingContext(params: evaluateParams, root: dir.file("evaluate"))
        evaluating.trunkCache = cache
        let evaluated = try EvaluateKind.Evaluation.read(URL(fileURLWithPath: try EvaluateKind.run(evaluating)["metrics"]!.stringValue!))
        let evaluateLine = try #require(evaluating.logLines.first { $0.contains("frozen-trunk cache") })
        // Only the identical pair's one text is new: training leaves that pair out, evaluation keeps it.
        #expect(Self.count(before: " computed", in: evaluateLine) == 1, "\(evaluateLine)")
        #expect(Self.count(before: " sequences read", in: evaluateLine) == 18, "\(evaluateLine)")
        // The same pairs right: evaluate also counts the identical pair, as a tie (wrong).
        let rm = try #require(evaluated.rm.first)
        #expect(rm.pairs == evaluation.metrics.pairCount + 1)
        #expect((rm.accuracy * Double(rm.pairs)).rounded() == (evaluation.metrics.accuracy * Double(evaluation.metrics.pairCount)).rounded())

        let (plain, plainModel) = try train("plain", trunkCache: false)
        #expect(!plain.logLines.contains { $0.contains("frozen-trunk cache") })
        #expect(plainModel != firstModel)
        #expect(plainModel.count == firstModel.count)
    }

    /// The number just before `suffix` in `line` ("… 12 sequences read" → 12).
    static func count(before suffix: String, in line: String) -> Int? {
        guard let r = line.range(of: suffix) else { return nil }
        return Int(line[..<r.lowerBound].split(separator: " ").last ?? "")
    }

    @Test func badPairsFilesAndParametersFailWithNamedErrors() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let backbone = try Self.makeBackbone(in: dir)
        let mismatched = try dir.write("bad.json", #"[{"text": ["a<sep>b", "a<sep>c"], "scores": [1, 0]}, {"text": ["a<sep>b", "a<sep>c"], "scores": [1]}]"#)
        let context = try CancellingContext(params: Self.trainParams(backbone: backbone, pairs: mismatched), root: dir.file("j1"))
        #expect {
            try TrainRMKind.run(context)
        } throws: { error in
            let e = error as? FormatError
            return e?.item == 1 && e?.field == "scores" && "\(error)".contains("bad.json")
        }
        let noSep = try dir.write("nosep.json", #"[{"text": ["a<sep>b", "a c"], "scores": [1, 0]}]"#)
        let context2 = try CancellingContext(params: Self.trainParams(backbone: backbone, pairs: noSep), root: dir.file("j2"))
        #expect {
            try TrainRMKind.run(context2)
        } throws: { error in "\(error)".contains("<sep>") && "\(error)".contains("nosep.json") }
        var params = Self.trainParams(backbone: backbone, pairs: noSep)
        params["pooling"] = .string("first")
        let context3 = try CancellingContext(params: params, root: dir.file("j3"))
        #expect {
            try TrainRMKind.run(context3)
        } throws: { error in "\(error)".contains("pooling") && "\(error)".contains("first") }
    }

    /// A chunk of 64 queries takes a minute or more on the real model, longer than apod's stop
    /// grace: a stop is seen between batches of `batch` sequences, and the unfinished chunk leaves
    /// no partial scores behind.
    @Test func scoreStopsBetweenBatchesNotOnlyBetweenChunks() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let backbone = try RewardModelFiles.load(path: try Self.makeBackbone(in: dir).path, threads: 1, headSeed: 3)
        let rmURL = dir.file("rm")
        try RewardModelFiles.save(backbone.model, tokenizer: backbone.tokenizer, chatTemplate: nil, to: rmURL)
        let items = (0..<3).map { q in
            "{\"query_id\": \"q\(q)\", \"query\": \"Hi \(q)\"" + (0..<4).map { ", \"sample_\($0)\": \" answer \($0)\"" }.joined() + "}"
        }
        let samples = try dir.write("samples.json", "[" + items.joined(separator: ", ") + "]")
        var params: [String: JSONValue] = [:]
        for spec in ScoreKind.parameters { if let d = spec.defaultValue { params[spec.name] = d } }
        params["model"] = .string(rmURL.path)
        params["samples"] = .string(samples.path)
        params["batch"] = .int(2)
        let context = try CancellingContext(params: params, root: dir.file("job"))
        context.cancelAtCheck = 3  // before the chunk, after its first batch, after its second
        #expect(throws: JobCancelled.self) { try ScoreKind.run(context) }
        #expect(context.checks == 3, "12 sequences in batches of 2: stopped after the second batch")
        #expect(!FileManager.default.fileExists(atPath: context.checkpointDirectory.appendingPathComponent(ScoreKind.partialName).path))
    }

    @Test func scoreContinuesFromItsPartialScoresAfterARetry() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let backbone = try RewardModelFiles.load(path: try Self.makeBackbone(in: dir).path, threads: 1, headSeed: 3)
        let rmURL = dir.file("rm")
        try RewardModelFiles.save(backbone.model, tokenizer: backbone.tokenizer, chatTemplate: nil, to: rmURL)
        let samples = try dir.write("samples.json", #"[{"query_id": "a", "query": "Hi", "sample_0": " x"}, {"query_id": "b", "query": "Yo", "sample_0": " y"}]"#)
        var params: [String: JSONValue] = [:]
        for spec in ScoreKind.parameters { if let d = spec.defaultValue { params[spec.name] = d } }
        params["model"] = .string(rmURL.path)
        params["samples"] = .string(samples.path)
        let context = try CancellingContext(params: params, root: dir.file("job"))
        // What an earlier attempt left after finishing query "a" (a marker score no model produces).
        try Data(#"{"items_done": 1, "scores": [{"a:sample_0": 12345.5}]}"#.utf8)
            .write(to: context.checkpointDirectory.appendingPathComponent(ScoreKind.partialName))
        let out = try ScoreKind.run(context)
        let scores = try RMScoresFile.read(URL(fileURLWithPath: out["scores"]!.stringValue!))
        #expect(scores.map(\.key) == ["a:sample_0", "b:sample_0"])
        #expect(scores[0].score == 12345.5)
        #expect(scores[1].score != 12345.5)
        #expect(context.logLines.contains { $0.contains("resuming after 1 of 2") })
        #expect(!FileManager.default.fileExists(atPath: context.checkpointDirectory.appendingPathComponent(ScoreKind.partialName).path))

        // With `score_bits`, the exact value wins over its decimal text (which may be an ulp off).
        let exact = 0.9637578725814819
        let bitsContext = try CancellingContext(params: params, root: dir.file("job-bits"))
        try Data(#"{"items_done": 1, "scores": [{"a:sample_0": 0.9637578725814823}], "score_bits": ["\#(String(exact.bitPattern, radix: 16))"]}"#.utf8)
            .write(to: bitsContext.checkpointDirectory.appendingPathComponent(ScoreKind.partialName))
        let bitsOut = try ScoreKind.run(bitsContext)
        // Compared as text: reading the file back goes through the same lossy parser.
        let written = try String(contentsOfFile: bitsOut["scores"]!.stringValue!, encoding: .utf8)
        #expect(written.contains("\(exact)"), "\(written)")
        #expect(!written.contains("0.9637578725814823"))
    }
}
