import APOBenchmarks
import APOEngine
import ArgumentParser
import Foundation

// Engine commands for quick use without the daemon. Registered by the command tree in main.swift:
// `SampleCommand` as `apoctl sample`, `ModelPerplexityCommand` under `apoctl model`, and
// `BenchInferenceCommand` under `apoctl bench`.

/// A message for the user, printed as is (no stack of wrapped errors).
struct InferenceCommandError: Error, CustomStringConvertible {
    let description: String
}

/// Loads a model file and wraps the engine's errors with the path.
func loadInferenceModel(_ path: String, threads: Int) throws -> (LoadedModel, LlamaModel) {
    let loaded = try ModelLoader.load(path: path, threads: threads)
    return (loaded, try LlamaModel(loaded: loaded))
}

extension DecodeWeights: ExpressibleByArgument {}
extension ComputePrecision: ExpressibleByArgument {}

/// `apoctl sample`: N samples for one prompt, printed as they are generated.
struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Sample responses from a model for one prompt (no daemon needed).",
        discussion: """
        The prompt is a user message, or an HH dialogue when it contains "\\n\\nHuman:". It is rendered
        with the model's chat template (ChatML for SmolLM2-Instruct) or as raw HH text (--template raw).
        Generation stops at EOS, at "\\n\\nHuman:" or "<|im_end|>", or after --max-tokens.
        """)

    @Option(help: "Model file (.gguf) or model directory.") var model: String
    @Option(help: "The prompt (a user message or an HH dialogue).") var prompt: String
    @Option(name: .short, help: "Number of samples.") var n: Int = 1
    @Option(help: "Sampling temperature; 0 = greedy.") var temperature: Float = 0.6
    @Option(name: .customLong("top-k"), help: "Keep the k most probable tokens; 0 = off.") var topK: Int = 0
    @Option(name: .customLong("top-p"), help: "Nucleus sampling mass; 1 = off.") var topP: Float = 0.9
    @Option(name: .customLong("repetition-penalty"), help: "1 = off.") var repetitionPenalty: Float = 1.0
    @Option(name: .customLong("max-tokens"), help: "Most new tokens per sample.") var maxTokens: Int = 256
    @Option(name: .customLong("max-prompt-tokens"), help: "Longer prompts lose their beginning.") var maxPromptTokens: Int = 512
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "CPU threads.") var threads: Int = 2
    @Option(help: "Prompt rendering: auto (the model's template), chatml or raw.") var template: String = "auto"
    @Option(name: .customLong("decode-weights"),
            help: "Weights decode steps read: file (a GGUF's own blocks), int8 (int8 copies) or f32 (exact fp32).")
    var decodeWeights: DecodeWeights = .file
    @Flag(help: "Print a JSON list of {sample, text, finish_reason, tokens} instead of text.") var json = false

    func run() throws {
        let sampling = SamplingParameters(temperature: temperature, topK: topK, topP: topP, repetitionPenalty: repetitionPenalty)
        try sampling.validate()
        guard n > 0 else { throw ValidationError("-n must be > 0") }
        guard threads > 0 else { throw ValidationError("--threads must be > 0") }
        let chosen: ChatTemplate? = template == "auto" ? nil : try ChatTemplate(name: template)
        let (loaded, model) = try loadInferenceModel(self.model, threads: threads)
        let t = chosen ?? ChatTemplate.detect(chatTemplateString: loaded.chatTemplate)
        let system = t == .chatML ? ChatTemplate.defaultSystemPrompt(chatTemplateString: loaded.chatTemplate) : nil
        let text = prompt.contains("\n\nHuman:")
            ? t.renderHHQuery(prompt, systemPrompt: system)
            : t.render(dialogue: [ChatTurn(.user, prompt)], systemPrompt: system)
        let ids = loaded.tokenizer.encode(text, parseSpecial: true)
        guard !ids.isEmpty else { throw InferenceCommandError(description: "the prompt encodes to no tokens") }
        if ids.count > maxPromptTokens {
            FileHandle.standardError.write(Data("note: prompt of \(ids.count) tokens truncated to its last \(maxPromptTokens)\n".utf8))
        }
        let options = GenerationOptions(sampling: sampling, maxNewTokens: maxTokens, maxPromptTokens: maxPromptTokens,
                                        slots: min(n, 16), decodeWeights: decodeWeights)
        let generator = try BatchedGenerator(model: model, tokenizer: loaded.tokenizer, options: options, threads: threads)
        // Made once per loaded model; timed apart so the tokens/s below is the generation's own.
        let madeAt = Date()
        if let made = model.decodeWeights(decodeWeights, threads: threads), !json {
            FileHandle.standardError.write(Data(String(format: "decode weights %@ (%@) made in %.2f s\n",
                                                       decodeWeights.rawValue, made.summary,
                                                       Date().timeIntervalSince(madeAt)).utf8))
        }
        let requests = (0..<n).map {
            GenerationRequest(prompt: ids, seed: SplitMix64.streamSeed(base: seed, query: prompt, sample: $0))
        }
        let start = Date()
        var results = [GenerationResult?](repeating: nil, count: n)
        try generator.generate(requests) { r in
            results[r.requestIndex] = r
            if !json {
                print("--- sample \(r.requestIndex) (\(r.tokens.count) tokens, \(r.finishReason.rawValue)) ---")
                print(r.text)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let generated = results.reduce(0) { $0 + ($1?.tokens.count ?? 0) }
        if json {
            let list: [[String: Any]] = results.compactMap { $0 }.map {
                ["sample": $0.requestIndex, "text": $0.text, "finish_reason": $0.finishReason.rawValue, "tokens": $0.tokens.count]
            }
            let data = try JSONSerialization.data(withJSONObject: list, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            FileHandle.standardError.write(Data(String(format: "%d prompt tokens, %d generated in %.2f s (%.1f tokens/s)\n",
                                                       ids.count, generated, seconds, Double(generated) / seconds).utf8))
        }
    }
}

/// `apoctl model perplexity`: llama.cpp's perplexity procedure on a text file.
struct ModelPerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a model on a text file, computed as llama.cpp's llama-perplexity does.",
        discussion: """
        The text is tokenized as a whole and cut into chunks of --ctx tokens, each scored from an
        empty context; only the second half of each chunk counts. Needs at least 2·ctx tokens.
        """)

    @Option(help: "Model file (.gguf) or model directory.") var model: String
    @Option(help: "Text file.") var file: String
    @Option(help: "Context (chunk) length in tokens.") var ctx: Int = 512
    @Option(help: "CPU threads.") var threads: Int = 2
    @Flag(help: "Print JSON ({perplexity, chunks, scored_tokens, running}).") var json = false

    func run() throws {
        guard threads > 0 else { throw ValidationError("--threads must be > 0") }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw InferenceCommandError(description: "\(file): cannot read the text file")
        }
        let (loaded, model) = try loadInferenceModel(self.model, threads: threads)
        guard ctx <= model.config.contextLength else {
            throw InferenceCommandError(description: "--ctx \(ctx) exceeds the model's context of \(model.config.contextLength) tokens")
        }
        let tokens = loaded.tokenizer.encode(String(decoding: data, as: UTF8.self), parseSpecial: false)
        let bos = loaded.tokenizer.data.addBOS ? loaded.tokenizer.bosID : nil
        let result = try perplexity(model: model, tokens: tokens, context: ctx, bos: bos, threads: threads) { chunk, _ in
            if !json { FileHandle.standardError.write(Data(".".utf8)) }
            _ = chunk
        }
        if json {
            let object: [String: Any] = ["perplexity": result.perplexity, "chunks": result.chunkCount,
                                         "scored_tokens": result.scoredTokens, "running": result.runningPerplexity, "ctx": ctx]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            FileHandle.standardError.write(Data("\n".utf8))
            print("\(tokens.count) tokens, \(result.chunkCount) chunks of \(ctx), \(result.scoredTokens) scored")
            print(result.runningPerplexity.enumerated().map { String(format: "[%d]%.4f", $0 + 1, $1) }.joined(separator: ","))
            print(String(format: "Final estimate: PPL = %.4f", result.perplexity))
        }
    }
}

/// `apoctl bench inference`: the engine's throughput in llama-bench / llama-batched-bench shapes.
struct BenchInferenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference",
        abstract: "Inference throughput: prompt processing, single-stream and batched generation.",
        discussion: """
        Compare with llama.cpp on the same machine and thread count:
          llama-bench -m MODEL -t 2 -p 128 -n 64
          llama-batched-bench -m MODEL -t 2 -c 8192 -npp 128 -ntg 64 -npl 1,16,32
        MFU is the FLOPs prompt processing needs (2 per weight per token, plus attention) over the
        measured sgemm peak. On a shared machine the numbers are noisy: run when it is quiet.
        """)

    @Option(help: "Model file (.gguf) or model directory.") var model: String
    @Option(help: "CPU threads.") var threads: Int = 2
    @Option(name: .customLong("pp"), parsing: .upToNextOption, help: "Prompt lengths.") var promptLengths: [Int] = [128, 512]
    @Option(help: "Tokens generated per sequence.") var tg: Int = 64
    @Option(help: "Prompt length before batched generation.") var npp: Int = 128
    @Option(name: .customLong("npl"), parsing: .upToNextOption, help: "Batch sizes.") var batches: [Int] = [1, 16, 32]
    @Option(help: "Repetitions of each measure (the best is kept).") var repetitions: Int = 2
    @Option(name: .customLong("decode-weights"),
            help: "Weights generation steps of at most \(InferenceState.quantisedRowLimit) rows read: file, int8 or f32.")
    var decodeWeights: DecodeWeights = .file
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard threads > 0 else { throw ValidationError("--threads must be > 0") }
        let (_, model) = try loadInferenceModel(self.model, threads: threads)
        let bench = InferenceBenchmark(model: model, threads: threads, decodeWeights: decodeWeights)
        var report: [String: Any] = ["threads": threads, "parameters": model.parameterCount]
        try describeMachine(&report)
        let peak = InferenceBenchmark.sgemmPeak(threads: threads)
        report["sgemm_peak_gflops"] = peak
        say(String(format: "sgemm peak (1024³, %d threads): %.1f GFLOP/s", threads, peak))
        try measurePromptProcessing(bench, peak: peak, &report)
        let prepared = prepareDecodeWeights(bench, &report)
        let weightBytes = prepared?.weights.bytesPerToken ?? model.matmulParameterCount * 4
        try measureSingleGeneration(bench, weightBytes: weightBytes, &report)
        try measureBatchedGeneration(bench, &report)
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted]),
                         as: UTF8.self))
        }
    }

    /// Prints a line of the text report (nothing with --json, which prints the report at the end).
    private func say(_ line: String) {
        if !json { print(line) }
    }

    /// The compute path, CPU model and ISA flags every figure goes with.
    private func describeMachine(_ report: inout [String: Any]) throws {
        // Inference runs fp32 products (prefill: OpenBLAS; decode: the int8 kernel) in this version.
        let path = try ComputePath.resolve(.fp32)
        report["precision"] = path.precision.rawValue
        report["isa"] = path.isa
        report["compute_path"] = path.description
        report["cpu_model"] = CPUFeatures.current.modelName
        report["cpu_flags"] = CPUFeatures.current.flagNames
        say("compute: \(path); CPU \(CPUFeatures.current.modelName) [\(CPUFeatures.current.flagNames.joined(separator: " "))]")
    }

    private func measurePromptProcessing(_ bench: InferenceBenchmark, peak: Double, _ report: inout [String: Any]) throws {
        var pp: [[String: Any]] = []
        for length in promptLengths {
            let seconds = try bench.promptProcessing(length: length, repetitions: repetitions)
            let gflops = bench.promptFLOPs(tokens: length) / seconds / 1e9
            pp.append(["tokens": length, "tokens_per_s": Double(length) / seconds, "gflops": gflops, "mfu": gflops / peak])
            report["pp\(length)_tokens_per_s"] = Double(length) / seconds
            say(String(format: "pp%-4d %8.1f tokens/s  %6.1f GFLOP/s  %4.0f%% of sgemm peak",
                       length, Double(length) / seconds, gflops, 100 * gflops / peak))
        }
        report["prompt_processing"] = pp
    }

    private func prepareDecodeWeights(_ bench: InferenceBenchmark, _ report: inout [String: Any])
        -> (weights: QuantizedDecodeWeights, seconds: Double)? {
        let prepared = bench.prepareDecodeWeights()
        report["decode_weights"] = prepared == nil ? "f32" : decodeWeights.rawValue
        guard let prepared else {
            say("decode weights: f32" + (decodeWeights != .float32 ? " (this CPU lacks AVX2/FMA/F16C)" : ""))
            return nil
        }
        report["decode_weights_formats"] = prepared.weights.summary
        report["decode_weights_made_s"] = prepared.seconds
        say(String(format: "decode weights: %@ (%@; made in %.2f s, once per loaded model)",
                   decodeWeights.rawValue, prepared.weights.summary, prepared.seconds))
        return prepared
    }

    /// Best of `repetitions`: single runs swing by ±10 % on a shared machine.
    private func best(_ run: () throws -> Double) rethrows -> Double {
        var seconds = Double.infinity
        for _ in 0..<max(1, repetitions) { seconds = min(seconds, try run()) }
        return seconds
    }

    /// Batch-1 generation, against the machine's limit for decode: every weight read once per
    /// token at the measured read bandwidth.
    private func measureSingleGeneration(_ bench: InferenceBenchmark, weightBytes: Int, _ report: inout [String: Any]) throws {
        let tg1 = try best { try bench.generation(batch: 1, promptLength: 0, generateLength: tg) }
        report["tg_batch1_tokens_per_s"] = Double(tg) / tg1
        report["tg_tokens_per_s"] = Double(tg) / tg1
        // A decode step reads every matrix once: its speed is a memory bandwidth.
        let bandwidth = Double(weightBytes) * Double(tg) / tg1 / 1e9
        report["tg_batch1_weight_gb_per_s"] = bandwidth
        report["decode_bytes_per_token"] = weightBytes
        let readBandwidth = InferenceBenchmark.readBandwidth(threads: threads)
        report["read_bandwidth_gb_per_s"] = readBandwidth
        report["tg_bandwidth_limit_tokens_per_s"] = readBandwidth * 1e9 / Double(weightBytes)
        say(String(format: "tg%-4d %8.1f tokens/s  (batch 1, from an empty context; %.0f MB of weights per token, %.1f GB/s)",
                   tg, Double(tg) / tg1, Double(weightBytes) / 1e6, bandwidth))
        say(String(format: "       memory read bandwidth %.1f GB/s (%d threads): the weights alone bound decode at %.0f tokens/s; "
                   + "this run reached %.0f %%", readBandwidth, threads, readBandwidth * 1e9 / Double(weightBytes),
                   100 * bandwidth / readBandwidth))
    }

    private func measureBatchedGeneration(_ bench: InferenceBenchmark, _ report: inout [String: Any]) throws {
        var batched: [[String: Any]] = []
        for b in batches {
            let seconds = try best { try bench.generation(batch: b, promptLength: npp, generateLength: tg) }
            let rate = Double(b * tg) / seconds
            batched.append(["batch": b, "tokens_per_s": rate])
            report["batch\(b)_tokens_per_s"] = rate
            say(String(format: "batch %-3d after pp%d: %8.1f tokens/s aggregate (S_TG)", b, npp, rate))
        }
        report["batched_generation"] = batched
    }
}
