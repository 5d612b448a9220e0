import APOEngine
import Foundation

/// Throughput of reward-model training and scoring on synthetic token ids, with model-FLOPs
/// utilisation against the measured matrix-product peak of the same precision and the process's peak resident memory.
///
/// FLOPs per token follow the usual 6·N / 2·N rule over non-embedding parameters N (attention
/// score FLOPs left out): training counts 2·N for the forward pass plus 4·N_trainable for the
/// backward pass (frozen blocks run forward only), scoring counts 2·N.
public struct RewardModelBenchmark {
    /// JSON keys are snake case (`train_tokens_per_s`, …) so scripts can compare two runs.
    public struct Result: Codable, Sendable {
        public var precision: ComputePrecision
        /// The resolved path (`ComputePath.isa`), e.g. "avx512-bf16" or "fp32-cooperlake".
        public var isa: String
        public var computePath: String
        public var cpuModel: String
        public var cpuFlags: [String]
        public var threads: Int
        public var seqLen: Int
        public var microBatch: Int
        public var trainableLayers: Int
        public var gradientCheckpointing: Bool
        public var nonEmbeddingParameters: Int
        public var trainableParameters: Int
        /// Measured peak of the products in this precision (fp32 sgemm or bf16 oneDNN matmul).
        public var gemmPeakGflops: Double
        public var trainTokensPerS: Double
        public var trainMfu: Double
        public var scoreTokensPerS: Double
        public var scoreMfu: Double
        public var peakRssBytes: Int
        /// Resident memory when the run began (the loaded weights and the process itself): the
        /// rest of the peak is training's own (gradients, AdamW moments, activations).
        public var startRssBytes: Int
    }

    /// Measured matrix-product rate in `precision` on a shape typical of the model's linears
    /// (`[rows, k] · [n, k]ᵀ`): the ceiling MFU is measured against.
    public static func gemmPeak(threads: Int, precision: ComputePrecision, rows: Int = 1024, k: Int = 576, n: Int = 1536,
                                seconds: Double = 1) -> Double {
        let a = FloatBuffer(count: rows * k), b = FloatBuffer(count: n * k), c = FloatBuffer(count: rows * n)
        for i in 0..<a.count { a[i] = Float(i % 7) * 0.01 }
        for i in 0..<b.count { b[i] = Float(i % 5) * 0.01 }
        linearForward(out: c.pointer, inp: a.pointer, weight: b.pointer, rows: rows, inDim: k, outDim: n, precision: precision,
                      threads: threads)
        var iterations = 0
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            linearForward(out: c.pointer, inp: a.pointer, weight: b.pointer, rows: rows, inDim: k, outDim: n,
                          precision: precision, threads: threads)
            iterations += 1
        }
        return 2 * Double(rows * k * n) * Double(iterations) / Date().timeIntervalSince(start) / 1e9
    }

    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024  // Linux reports kilobytes
    }

    /// Resident memory now (Linux: /proc/self/statm's second field, in pages); 0 where unreadable.
    public static func currentResidentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// - microBatch: sequences per forward pass (an even number: pairs of chosen/rejected);
    /// - steps: timed optimiser steps (after one untimed warm-up step); likewise scoring batches.
    public static func run(parameters: ModelParameters, seqLen: Int, microBatch: Int, trainableLayers: Int,
                           threads: Int, steps: Int, path: ComputePath, gradientCheckpointing: Bool = false,
                           log: (String) -> Void = { _ in }) -> Result {
        let startRss = currentResidentBytes()
        let precision = path.precision
        let c = parameters.config
        var rng = TrainingRandom(seed: 1)
        let pairs = max(1, microBatch / 2)
        let examples = (0..<pairs * (steps + 1)).map { _ in
            RewardExample(sequences: (0..<2).map { _ in
                [1] + (0..<(seqLen - 2)).map { _ in Int32(17 + rng.next() % UInt64(c.vocabSize - 17)) } + [2]
            }, scores: [1, 0], isAPO: false)
        }
        let model = RewardModel(parameters: parameters, head: RewardModel.initialHead(hiddenSize: c.hiddenSize, seed: 3),
                                pooling: .last, format: RewardInputFormat(bos: 1, sep: 5, eos: 2, pad: 0))
        log("compute: \(path); CPU \(CPUFeatures.current.modelName) [\(CPUFeatures.current.flagNames.joined(separator: " "))]")
        let peak = gemmPeak(threads: threads, precision: precision)
        log(String(format: "%@ matmul peak (1024×1536×576): %.1f GFLOP/s (%d threads)", precision.rawValue, peak, threads))

        var settings = RewardTrainingSettings()
        settings.batchSize = pairs
        settings.microBatchSize = pairs
        settings.maxLength = seqLen
        settings.trainableLayers = trainableLayers
        settings.threads = threads
        settings.learningRate = 1e-6
        settings.epochs = 1
        settings.gradientCheckpointing = gradientCheckpointing
        let trainer = RewardTrainer(model: model, settings: settings, examples: examples, precision: precision)
        _ = trainer.step()  // warm-up: first-touch of activations and moments
        let start = Date()
        var tokens = 0
        for _ in 0..<steps { tokens += trainer.step().tokens }
        let trainSeconds = Date().timeIntervalSince(start)
        let lay = parameters.layout
        let embedding = c.vocabSize * c.hiddenSize
        let nonEmbedding = lay.tensors.filter { $0.offset != lay.tokenEmbedding && $0.name != "lm_head.weight" }
            .reduce(0) { $0 + $1.count }
        let range = trainer.graph.backbone.trainable
        let trainable = range.count - (range.trainsEmbedding ? embedding : 0) + c.hiddenSize
        let trainTPS = Double(tokens) / trainSeconds
        let trainFlops = Double(2 * nonEmbedding + 4 * trainable)
        log(String(format: "train: %d tokens in %.2f s = %.1f tokens/s", tokens, trainSeconds, trainTPS))

        let scorer = RewardScorer(model: model, batchSize: microBatch, maxSeqLen: seqLen, threads: threads,
                                  precision: precision)
        let sequences = examples.flatMap(\.sequences)
        _ = scorer.score(Array(sequences.prefix(microBatch)))
        let scoreStart = Date()
        let scored = Array(sequences.prefix(microBatch * steps))
        _ = scorer.score(scored)
        let scoreSeconds = Date().timeIntervalSince(scoreStart)
        let scoreTPS = Double(scored.count * seqLen) / scoreSeconds
        log(String(format: "score: %d tokens in %.2f s = %.1f tokens/s", scored.count * seqLen, scoreSeconds, scoreTPS))
        return Result(
            precision: precision, isa: path.isa, computePath: path.description,
            cpuModel: CPUFeatures.current.modelName, cpuFlags: CPUFeatures.current.flagNames,
            threads: threads, seqLen: seqLen, microBatch: microBatch,
            trainableLayers: range.firstTrainableLayer == 0 ? c.layerCount : c.layerCount - range.firstTrainableLayer,
            gradientCheckpointing: gradientCheckpointing,
            nonEmbeddingParameters: nonEmbedding, trainableParameters: trainable, gemmPeakGflops: peak,
            trainTokensPerS: trainTPS, trainMfu: trainTPS * trainFlops / (peak * 1e9),
            scoreTokensPerS: scoreTPS, scoreMfu: scoreTPS * Double(2 * nonEmbedding) / (peak * 1e9),
            peakRssBytes: peakResidentBytes(), startRssBytes: startRss)
    }
}
