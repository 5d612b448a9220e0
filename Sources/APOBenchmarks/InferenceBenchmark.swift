import APOEngine
import COpenBLAS
import Foundation

/// Throughput measurements of the inference engine, in the shapes llama.cpp's `llama-bench`
/// (pp N, tg N) and `llama-batched-bench` (npp, ntg, npl) report, so the numbers compare directly.
public struct InferenceBenchmark {
    public let model: LlamaModel
    public let threads: Int
    public let decodeWeights: DecodeWeights

    public init(model: LlamaModel, threads: Int, decodeWeights: DecodeWeights = .file) {
        self.model = model
        self.threads = threads
        self.decodeWeights = decodeWeights
    }

    /// Makes the quantised copies a decode step reads (a one-time cost per loaded model, kept out
    /// of the timed runs); returns them with their seconds, or nil when decode reads fp32 (by
    /// choice or for want of AVX2).
    public func prepareDecodeWeights() -> (weights: QuantizedDecodeWeights, seconds: Double)? {
        var made: QuantizedDecodeWeights?
        let seconds = Self.seconds { made = model.decodeWeights(decodeWeights, threads: threads) }
        return made.map { ($0, seconds) }
    }

    /// Wall-clock seconds of `body`.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Peak fp32 sgemm throughput (GFLOP/s) on square `size`³ products: the ceiling for prompt
    /// processing, measured rather than assumed because the machine is shared.
    public static func sgemmPeak(threads: Int, size: Int = 1024, repetitions: Int = 10) -> Double {
        // OpenBLAS's own threading is the peer measured here; apo's products keep it at one.
        openblas_set_num_threads(Int32(threads))
        defer { OpenBLASThreads.restoreToOne() }
        let a = FloatBuffer(count: size * size), b = FloatBuffer(count: size * size), c = FloatBuffer(count: size * size)
        for i in 0..<(size * size) { a[i] = Float(i % 7) * 0.01; b[i] = Float(i % 5) * 0.01 }
        let n = Int32(size)
        func run() {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a.pointer, n, b.pointer, n, 0, c.pointer, n)
        }
        run()  // warm-up: thread pool start, page faults
        var best = Double.infinity
        for _ in 0..<repetitions { best = min(best, seconds(run)) }
        return 2 * Double(size * size * size) / best / 1e9
    }

    /// Memory read bandwidth (GB/s) with `threads` threads, each summing its own contiguous part of
    /// a buffer far larger than the caches: the ceiling of a decode step, which reads every weight
    /// once. Best of `repetitions`.
    public static func readBandwidth(threads: Int, megabytes: Int = 512, repetitions: Int = 5) -> Double {
        let count = megabytes << 18  // floats
        let buffer = FloatBuffer(count: count)
        for i in stride(from: 0, to: count, by: 1024) { buffer[i] = 1 }  // fault every page in first
        let base = UnsafeRawPointer(buffer.pointer)
        let sums = FloatBuffer(count: threads * 16)
        var best = Double.infinity
        for _ in 0..<repetitions {
            best = min(best, seconds {
                parallelFor(threads, threads: threads) { parts in
                    for part in parts {
                        let lo = count / 64 * part / threads * 64, hi = count / 64 * (part + 1) / threads * 64
                        var a = SIMD16<Float>(), b = SIMD16<Float>()
                        var i = lo
                        while i < hi {
                            a += base.load(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                            b += base.load(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
                            i += 32
                        }
                        sums[part * 16] = (a + b).sum()  // kept, so the loads are not optimised away
                    }
                }
            })
        }
        return Double(count * 4) / best / 1e9
    }

    /// FLOPs of processing `tokens` new tokens of one sequence that already holds `past` tokens,
    /// logits for the last one only (what `promptProcessing` runs): the weight matmuls (2 per weight
    /// per token), attention scores and weighted values (2·2·headDim per query head per attended
    /// position), and one output-head row.
    public func promptFLOPs(tokens: Int, past: Int = 0) -> Double {
        let c = model.config
        let layerWeights = Double(model.matmulParameterCount - c.vocabSize * c.hiddenSize)
        let attendedPositions = Double(tokens) * Double(past) + Double(tokens) * Double(tokens + 1) / 2
        let attention = 4 * Double(c.qDim) * attendedPositions * Double(c.layerCount)
        return 2 * layerWeights * Double(tokens) + attention + 2 * Double(c.vocabSize * c.hiddenSize)
    }

    private func tokens(_ count: Int, seed: UInt64) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int32(rng.next() % UInt64(model.config.vocabSize)) }
    }

    /// Prompt processing: `length` tokens of one sequence in one call; returns seconds (best of
    /// `repetitions`).
    public func promptProcessing(length: Int, repetitions: Int = 3) throws -> Double {
        let state = InferenceState(model: model, slots: 1, maxPositions: length, threads: threads)
        let t = tokens(length, seed: 1)
        let positions = (0..<Int32(length)).map { $0 }
        let slots = [Int](repeating: 0, count: length)
        var best = Double.infinity
        for _ in 0..<repetitions {
            best = min(best, try Self.seconds { try state.forward(tokens: t, slots: slots, positions: positions) })
        }
        return best
    }

    /// `batch` sequences each read a `promptLength` prompt (untimed), then generate
    /// `generateLength` tokens together, one row per sequence per step (timed). Returns the seconds
    /// of the generation phase (llama-batched-bench's T_TG).
    public func generation(batch: Int, promptLength: Int, generateLength: Int) throws -> Double {
        let state = InferenceState(model: model, slots: batch, maxPositions: promptLength + generateLength,
                                   threads: threads, decodeWeights: decodeWeights)
        if promptLength > 0 {
            for s in 0..<batch {
                try state.forward(tokens: tokens(promptLength, seed: UInt64(s)), slots: [Int](repeating: s, count: promptLength),
                                  positions: (0..<Int32(promptLength)).map { $0 })
            }
        }
        var next = tokens(batch, seed: 99)
        let slots = Array(0..<batch)
        return try Self.seconds {
            for step in 0..<generateLength {
                try state.forward(tokens: next, slots: slots,
                                  positions: [Int32](repeating: Int32(promptLength + step), count: batch))
                // Greedy next token per sequence, as a generator would (argmax is cheap next to the step).
                for i in 0..<batch {
                    let l = state.logits(i)
                    var best = 0
                    for v in 1..<l.count where l[v] > l[best] { best = v }
                    next[i] = Int32(best)
                }
            }
        }
    }
}
