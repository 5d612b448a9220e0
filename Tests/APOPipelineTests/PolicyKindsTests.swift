import APOJSON
import Foundation
import Testing
@testable import APOEngine
@testable import APOPipeline

/// `train-llm` and `dpo` end to end on a tiny random LLaMA over SmolLM2's real tokenizer and chat
/// template (so prompt rendering, `<|im_end|>` and the model directory round trip are the real
/// ones): resume after cancellation gives bit-identical weights, the saved directory loads and
/// generates, frozen layers stay put.
struct PolicyKindsTests {
    typealias CancellingContext = RewardKindsTests.CancellingContext

    /// Tiny random policy with SmolLM2's tokenizer and its ChatML template, saved as a model directory.
    static func makePolicy(in dir: TempDirectory) throws -> (url: URL, tokenizer: any Tokenizer, chatTemplate: String?) {
        let gguf = repositoryRoot().appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: gguf) else {
            throw JobParameterError.invalid(name: "model", message: "\(gguf) is missing: run `.ci/run` or `apoctl model pull` first")
        }
        let file = try GGUFFile(path: gguf)
        let tokenizer = try makeTokenizer(try file.tokenizerData())
        let chatTemplate = try file.optionalString("tokenizer.chat_template")
        let config = LlamaConfig(vocabSize: 49152, hiddenSize: 16, intermediateSize: 24, layerCount: 2, headCount: 4,
                                 kvHeadCount: 2, ropeTheta: 10000, rmsNormEps: 1e-5, tiedEmbeddings: true, contextLength: 256)
        let p = ModelParameters(config: config)
        var rng = TrainingRandom(seed: 6)
        for t in p.layout.tensors {
            for i in 0..<t.count { p.values[t.offset + i] = t.shape.count == 1 ? 1 : Float(rng.nextNormal() * 0.3) }
        }
        let url = dir.file("policy")
        try ModelLoader.saveDirectory(p, tokenizer: tokenizer, chatTemplate: chatTemplate, to: url)
        return (url, tokenizer, chatTemplate)
    }

    static func samples(_ n: Int) -> [LLMSample] {
        (0..<n).map { i in
            LLMSample(queryID: "q\(i)", query: "\n\nHuman: Tell me about topic \(i).\n\nAssistant:",
                      samples: ["Topic \(i) is interesting.", "No.", "   ", "I am not sure about \(i)."])
        }
    }

    static func params(_ kind: any JobKind.Type, policy: URL) -> [String: JSONValue] {
        var params: [String: JSONValue] = [:]
        for spec in kind.parameters { if let d = spec.defaultValue { params[spec.name] = d } }
        params["model"] = .string(policy.path)
        params["epochs"] = .int(2)
        params["batch"] = .int(2)
        params["micro_batch"] = .int(1)
        params["trainable_layers"] = .int(1)
        params["lr"] = .double(1e-2)
        params["warmup"] = .int(1)
        params["checkpoint_every"] = .int(1)
        params["threads"] = .int(1)
        return params
    }

    /// Runs `kind` straight, then interrupted after `stopAfter` steps and resumed; returns both models.
    static func runStraightAndResumed(_ kind: any JobKind.Type, params: [String: JSONValue], dir: TempDirectory,
                                      stopAfter: Int, expectedSteps: Int) throws -> (LoadedModel, LoadedModel, CancellingContext, CancellingContext) {
        let straight = try CancellingContext(params: params, root: dir.file("\(kind.name)-straight"))
        let outputs = try kind.run(straight)
        #expect(straight.metrics.filter { $0.name == "loss" }.count == expectedSteps)

        let interrupted = try CancellingContext(params: params, root: dir.file("\(kind.name)-resumed"))
        interrupted.cancelAfterSteps = stopAfter
        #expect(throws: JobCancelled.self) { try kind.run(interrupted) }
        let again = try CancellingContext(params: params, root: dir.file("\(kind.name)-resumed"))
        let resumedOutputs = try kind.run(again)
        // The model directory is written as an artifact (so the runtime records it), only once finished.
        #expect(straight.artifacts["model"]?.path == outputs["model"]?.stringValue)
        #expect(interrupted.artifacts["model"] == nil)
        #expect(again.artifacts["model"]?.path == resumedOutputs["model"]?.stringValue)
        #expect(again.logLines.contains { $0.contains(String(format: "resumed from step-%08d", stopAfter)) })
        #expect(again.metrics.filter { $0.name == "loss" }.count == expectedSteps - stopAfter)
        let a = try ModelLoader.load(path: outputs["model"]!.stringValue!, threads: 1)
        let b = try ModelLoader.load(path: resumedOutputs["model"]!.stringValue!, threads: 1)
        return (a, b, straight, again)
    }

    @Test func trainLLMResumesToIdenticalWeightsAndItsModelLoadsAndGenerates() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let policy = try Self.makePolicy(in: dir)
        let targets = Self.samples(5).map { RejectionSample(item: $0, target: $0.samples[0], scores: ["sample_0": 1]) }
        let data = dir.file("rjs.json")
        try RejectionSamplesFile.write(targets, to: data)
        var params = Self.params(TrainLLMKind.self, policy: policy.url)
        params["data"] = .string(data.path)

        // 5 targets, batch 2: 3 steps per epoch, 6 in all; interrupted after 4 (mid-epoch 2).
        let (a, b, straight, _) = try Self.runStraightAndResumed(TrainLLMKind.self, params: params, dir: dir,
                                                              stopAfter: 4, expectedSteps: 6)
        #expect(a.parameters.values.toArray() == b.parameters.values.toArray())
        for n in ["loss", "lr", "grad_norm", "tokens_per_s"] { #expect(straight.metrics.contains { $0.name == n }, "metric \(n)") }
        let losses = straight.metrics.filter { $0.name == "loss" }.map(\.value)
        #expect(losses.last! < losses.first!, "SFT on its own targets should lower the loss: \(losses)")
        #expect(straight.logLines.contains { $0.contains("template chatml") })

        // Only the top block and the final norm moved; the tokenizer and template came along.
        let start = try ModelLoader.load(path: policy.url.path, threads: 1)
        let lay = a.parameters.layout
        let frozen = 0..<lay.layers[1].attentionNorm
        #expect(Array(a.parameters.values.buffer[frozen]) == Array(start.parameters.values.buffer[frozen]))
        #expect(Array(a.parameters.values.buffer[lay.layers[1].wDown..<lay.finalNorm])
                != Array(start.parameters.values.buffer[lay.layers[1].wDown..<lay.finalNorm]))
        #expect(a.chatTemplate == policy.chatTemplate)
        #expect(a.tokenizer.encode("Hello <|im_end|>", parseSpecial: true) == policy.tokenizer.encode("Hello <|im_end|>", parseSpecial: true))

        // train-rm and score take it as a backbone (a fresh reward head, no score.weight inside).
        let asBackbone = try RewardModelFiles.load(path: a.path, threads: 1)
        #expect(!asBackbone.hadHead && asBackbone.model.parameters.values.toArray() == a.parameters.values.toArray())

        let format = PromptFormat(chatTemplateString: a.chatTemplate)
        let prompt = format.promptTokens(query: targets[0].item.query, tokenizer: a.tokenizer)
        let generator = try BatchedGenerator(model: try LlamaModel(parameters: a.parameters), tokenizer: a.tokenizer,
                                             options: GenerationOptions(sampling: SamplingParameters(temperature: 0),
                                                                        maxNewTokens: 4, maxPromptTokens: 128, slots: 1), threads: 1)
        let results = try generator.generate([GenerationRequest(prompt: prompt, seed: 1)])
        #expect(results.count == 1 && results[0].promptTokenCount == prompt.count)
        #expect(results[0].finishReason != .length || results[0].tokens.count == 4)
    }

    @Test func dpoPicksBestAndWorstResumesWithItsStoredReferenceToIdenticalWeights() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let policy = try Self.makePolicy(in: dir)
        var items = Self.samples(4)
        items[3].samples = ["Same.", "Same again."]  // tie below: skipped
        let samplesURL = dir.file("samples.json")
        try LLMSamplesFile.write(items, to: samplesURL)
        var scores: [RMScore] = []
        for (i, item) in items.enumerated() {
            for k in item.samples.indices {
                let tie = i == 3
                scores.append(RMScore(queryID: item.queryID, answerKey: "sample_\(k)", score: tie ? 0.5 : Double((k * 7 + i) % 5)))
            }
        }
        let scoresURL = dir.file("scores.json")
        try RMScoresFile.write(scores, to: scoresURL)
        let selection = try DPOKind.select(samples: items, scores: scores, scoresFile: scoresURL.path)
        #expect(selection.skippedQueryIDs == ["q3"])
        // q0 scores: sample_0 0, sample_1 2, sample_2 (blank, unusable) 4, sample_3 1 → chosen 1, rejected 0.
        #expect(selection.pairs[0].chosenKey == "sample_1" && selection.pairs[0].rejectedKey == "sample_0")
        #expect(selection.pairs.allSatisfy { !$0.chosen.allSatisfy(\.isWhitespace) && !$0.rejected.allSatisfy(\.isWhitespace) })

        var params = Self.params(DPOKind.self, policy: policy.url)
        params["samples"] = .string(samplesURL.path)
        params["scores"] = .string(scoresURL.path)
        params["beta"] = .double(0.5)
        // 3 pairs, batch 2: 2 steps per epoch, 4 in all; interrupted after 3.
        let (a, b, straight, resumed) = try Self.runStraightAndResumed(DPOKind.self, params: params, dir: dir,
                                                              stopAfter: 3, expectedSteps: 4)
        #expect(a.parameters.values.toArray() == b.parameters.values.toArray())
        for n in ["loss", "reward_margin", "accuracy", "lr", "grad_norm", "tokens_per_s"] {
            #expect(straight.metrics.contains { $0.name == n }, "metric \(n)")
        }
        // Policy == reference at the first step: the loss is log 2 (fp32 forward passes, 1e-4).
        let first = straight.metrics.first { $0.name == "loss" }!.value
        #expect(abs(first - Foundation.log(2)) < 1e-4, "first DPO loss \(first)")
        // The resumed attempt loaded, not recomputed, the reference.
        #expect(resumed.logLines.contains { $0.contains("reference log-probs loaded") })
        let summary = try JSONDecoder().decode(PolicyTrainingSummary.self, from: Data(contentsOf: resumed.outputDirectory.appendingPathComponent("metrics.json")))
        #expect(summary.steps == 4 && summary.examples == 3 && summary.skippedQueries == 1 && summary.finalAccuracy != nil)
    }

    /// Splitting prompt and response tokenization loses nothing: with SmolLM2's real tokenizer,
    /// prompt + response tokens equal the tokens of the whole rendered training text (ChatML's
    /// newline after "assistant" is a pre-token boundary), and the prompt is what `generate` encodes.
    @Test func promptAndResponseTokensEqualTheWholeRenderedText() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let policy = try Self.makePolicy(in: dir)
        let format = PromptFormat(chatTemplateString: policy.chatTemplate)
        #expect(format.template == .chatML && format.systemPrompt != nil)
        let cases = [
            ("\n\nHuman: Hi!\n\nAssistant: Hello.\n\nHuman: 2+2?\n\nAssistant:", "It is 4.\n\nAnything else?"),
            ("\n\nHuman: Why is the sky blue?\n\nAssistant:", " Rayleigh scattering, mostly."),
            ("\n\nHuman: Say nothing.\n\nAssistant:", ""),
        ]
        for (query, response) in cases {
            let prompt = format.promptTokens(query: query, tokenizer: policy.tokenizer)
            #expect(prompt == policy.tokenizer.encode(ChatTemplate.chatML.renderHHQuery(query, systemPrompt: format.systemPrompt),
                                                      parseSpecial: true))
            let whole = policy.tokenizer.encode(format.template.renderTraining(query: query, response: response,
                                                                               systemPrompt: format.systemPrompt),
                                                parseSpecial: true)
            let split = prompt + format.responseTokens(response: response, tokenizer: policy.tokenizer)
            #expect(split == whole, "query \(query.debugDescription)")
            #expect(split.last == policy.tokenizer.id(ofToken: "<|im_end|>"))
        }
    }

    @Test func badInputsFailWithNamedErrors() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let policy = try Self.makePolicy(in: dir)
        let items = Self.samples(1)
        let samplesURL = dir.file("samples.json")
        try LLMSamplesFile.write(items, to: samplesURL)
        let scoresURL = try dir.write("scores.json", #"[{"q0:sample_9": 1.0}]"#)
        var params = Self.params(DPOKind.self, policy: policy.url)
        params["samples"] = .string(samplesURL.path)
        params["scores"] = .string(scoresURL.path)
        let c1 = try CancellingContext(params: params, root: dir.file("j1"))
        #expect { try DPOKind.run(c1) } throws: { "\($0)".contains("scores.json") && "\($0)".contains("sample_9") }
        params["beta"] = .double(0)
        let c2 = try CancellingContext(params: params, root: dir.file("j2"))
        #expect { try DPOKind.run(c2) } throws: { "\($0)".contains("beta") }

        var sft = Self.params(TrainLLMKind.self, policy: policy.url)
        sft["data"] = .string(try dir.write("empty.json", "[]").path)
        let c3 = try CancellingContext(params: sft, root: dir.file("j3"))
        #expect { try TrainLLMKind.run(c3) } throws: { "\($0)".contains("empty.json") }
        sft["template"] = .string("jinja")
        let c4 = try CancellingContext(params: sft, root: dir.file("j4"))
        #expect { try TrainLLMKind.run(c4) } throws: { "\($0)".contains("template") }
    }
}
