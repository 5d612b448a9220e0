import COpenBLAS
import Foundation
import Synchronization

/// A problem with the input of an inference call; each case names the offending value.
public enum InferenceError: Error, CustomStringConvertible, Equatable {
    case mismatchedInputs(tokens: Int, slots: Int, positions: Int)
    case tokenOutOfRange(row: Int, token: Int32, vocabularySize: Int)
    case slotOutOfRange(row: Int, slot: Int, slotCount: Int)
    case positionOutOfRange(row: Int, position: Int32, maxPositions: Int)
    case unsupportedModel(String)
    case outputRowOutOfRange(row: Int, rows: Int)
    case promptTooLong(tokens: Int, limit: Int)
    case emptyPrompt

    public var description: String {
        switch self {
        case let .mismatchedInputs(t, s, p):
            return "forward: \(t) tokens, \(s) slots and \(p) positions (all three must be equal)"
        case let .tokenOutOfRange(row, token, vocab):
            return "forward: token \(token) at row \(row) is outside the vocabulary (size \(vocab))"
        case let .slotOutOfRange(row, slot, count):
            return "forward: slot \(slot) at row \(row) does not exist (the state has \(count) slots)"
        case let .positionOutOfRange(row, position, max):
            return "forward: position \(position) at row \(row) is beyond the context of \(max) positions"
        case let .unsupportedModel(why):
            return "unsupported model: \(why)"
        case let .outputRowOutOfRange(row, rows):
            return "forward: logits requested for row \(row) of a call with \(rows) rows"
        case let .promptTooLong(tokens, limit):
            return "prompt of \(tokens) tokens does not fit the context of \(limit) tokens"
        case .emptyPrompt:
            return "empty prompt: at least one token is needed"
        }
    }
}

/// Which weights the matrix products of a `forward` call with few rows read.
public enum DecodeWeights: String, Sendable, CaseIterable {
    /// The fp32 weights, as every other call: logits agree with an fp32 reference to ~1e-3.
    case float32 = "f32"
    /// Int8 copies of the fp32 weights made at first use (blocks of 32, one fp32 scale each): 1.125
    /// bytes per weight, at ~1e-2 in log-probabilities (the parity test states the bound).
    case int8
    /// The model file's own blocks (GGUF Q4_1, Q4_0, Q8_0) as stored, no dequantised copy: the fewest
    /// bytes per token (Q4_1: 0.625 per weight), and the same weights the fp32 path dequantised, so
    /// logits agree with `float32` up to summation order. Matrices stored otherwise (F16, F32,
    /// K-quants) and models loaded from a directory get int8 copies.
    case file
}

extension DecodeWeights {
    /// Falls back to fp32 on CPUs without AVX2/FMA/F16C (the quantised kernels are compiled for them).
    public static var quantisedKernelsSupported: Bool { Int8Matrix.kernelsSupported }
}

/// A LLaMA decoder ready for inference: validated configuration over fp32 `ModelParameters`.
///
/// The weights must not change once a decode step ran with quantised `DecodeWeights`: their copies
/// are made once, on first use. A model given its GGUF `file` must hold that file's weights.
public final class LlamaModel: @unchecked Sendable {
    public let parameters: ModelParameters
    public var config: LlamaConfig { parameters.config }
    /// The GGUF the parameters were dequantised from, whose blocks `DecodeWeights.file` reads.
    public let file: GGUFFile?
    private let decodeLock = NSLock()
    private var decodeCopies: [DecodeWeights: QuantizedDecodeWeights?] = [:]

    /// A model as loaded, with its GGUF (if it came from one) for `DecodeWeights.file`.
    public convenience init(loaded: LoadedModel) throws {
        try self.init(parameters: loaded.parameters, file: loaded.ggufFile)
    }

    public init(parameters: ModelParameters, file: GGUFFile? = nil) throws {
        let c = parameters.config
        guard c.headCount > 0, c.kvHeadCount > 0, c.headCount % c.kvHeadCount == 0 else {
            throw InferenceError.unsupportedModel(
                "\(c.headCount) attention heads cannot be grouped over \(c.kvHeadCount) KV heads")
        }
        guard c.headDim > 0, c.headDim % 2 == 0 else {
            throw InferenceError.unsupportedModel("head dimension \(c.headDim) must be even for RoPE")
        }
        guard c.vocabSize > 0, c.hiddenSize > 0, c.layerCount > 0, c.intermediateSize > 0 else {
            throw InferenceError.unsupportedModel("empty dimension in \(c)")
        }
        self.parameters = parameters
        self.file = file
    }

    /// The quantised matrices `choice` reads, made on first call (under a second for 135M
    /// weights); nil for `.float32` and where the choice falls back to fp32.
    public func decodeWeights(_ choice: DecodeWeights, threads: Int) -> QuantizedDecodeWeights? {
        guard choice != .float32, DecodeWeights.quantisedKernelsSupported else { return nil }
        // Without a GGUF there are no file blocks: `.file` reads the int8 copies.
        let key: DecodeWeights = choice == .file && file == nil ? .int8 : choice
        decodeLock.lock()
        defer { decodeLock.unlock() }
        if let made = decodeCopies[key] { return made }
        let made: QuantizedDecodeWeights?
        if key == .file, let file {
            made = QuantizedDecodeWeights(blocksOf: file, parameters: parameters, threads: threads)
        } else {
            made = QuantizedDecodeWeights(int8From: parameters, threads: threads)
        }
        decodeCopies[key] = .some(made)
        return made
    }

    /// Number of distinct weights (a tied output head counted once).
    public var parameterCount: Int { parameters.layout.tensors.reduce(0) { $0 + $1.count } }

    /// Weights touched per token by the matmuls (the embedding lookup is a copy; the output head
    /// is a matmul), the `N` of the usual `2·N` FLOPs per token.
    public var matmulParameterCount: Int {
        let c = config
        let perLayer = c.hiddenSize * (c.qDim + 2 * c.kvDim) + c.qDim * c.hiddenSize
            + 3 * c.hiddenSize * c.intermediateSize
        return c.layerCount * perLayer + c.vocabSize * c.hiddenSize
    }
}

/// Which rows of a `forward` call get logits.
public enum LogitRows: Sendable, Equatable {
    /// The last row of each run of consecutive rows with the same slot (next-token prediction).
    case lastOfEachSequence
    /// Every row.
    case all
    /// These row indices, ascending.
    case rows([Int])
}

/// Everything one inference stream needs besides the weights: the KV cache for `slots` sequences of
/// up to `maxPositions` tokens, the RoPE table, scratch activations and the logits of the last call.
///
/// Not thread-safe: one `forward` at a time (it parallelises internally over `threads`).
public final class InferenceState {
    public let model: LlamaModel
    public let cache: KVCache
    public let threads: Int
    /// Which weights calls of at most `quantisedRowLimit` rows read.
    public let decodeWeights: DecodeWeights
    /// Largest call (in rows) that reads the quantised weights: beyond it the weights are reused by
    /// enough rows that sgemm on fp32 is faster.
    public static let quantisedRowLimit = 6
    public var maxPositions: Int { cache.maxPositions }
    public var slotCount: Int { cache.slotCount }
    let rope: RoPETable

    private var capacity = 0
    private var x = FloatBuffer(count: 0), xn = FloatBuffer(count: 0)
    private var q = FloatBuffer(count: 0), k = FloatBuffer(count: 0), v = FloatBuffer(count: 0)
    private var att = FloatBuffer(count: 0)
    private var gate = FloatBuffer(count: 0), up = FloatBuffer(count: 0)
    private var logitsBuffer = FloatBuffer(count: 0)
    private var scores = FloatBuffer(count: 0)
    private let blockInput = QuantisedInput()
    /// The threads every parallel loop of `forward` runs on (nil with one thread).
    private let team: ThreadTeam?
    /// The next chunk of rows of `quantisedMatmul` to take.
    private let nextChunk = Atomic<Int>(0)
    /// Shortest run of consecutive positions of one sequence that gets matrix-product attention.
    static let minimumAttentionRun = 16
    /// Input-row index of each logits row of the last `forward`.
    public private(set) var logitRowIndices: [Int] = []

    public init(model: LlamaModel, slots: Int, maxPositions: Int, threads: Int, decodeWeights: DecodeWeights = .file) {
        precondition(slots > 0 && maxPositions > 0 && threads > 0)
        self.model = model
        self.threads = threads
        self.decodeWeights = decodeWeights
        team = threads > 1 ? ThreadTeam(size: threads) : nil
        cache = KVCache(config: model.config, slots: slots, maxPositions: maxPositions)
        rope = RoPETable(headDim: model.config.headDim, maxPositions: maxPositions, theta: model.config.ropeTheta)
    }

    private func reserve(rows: Int) {
        guard rows > capacity else { return }
        let c = model.config
        let n = max(rows, capacity * 2)
        x = FloatBuffer(count: n * c.hiddenSize)
        xn = FloatBuffer(count: n * c.hiddenSize)
        q = FloatBuffer(count: n * c.qDim)
        k = FloatBuffer(count: n * c.kvDim)
        v = FloatBuffer(count: n * c.kvDim)
        att = FloatBuffer(count: n * c.qDim)
        gate = FloatBuffer(count: n * c.intermediateSize)
        up = FloatBuffer(count: n * c.intermediateSize)
        capacity = n
    }

    /// One matrix product of a `matmul` group: `out = inp · weightᵀ` (`[rows, outDim]`), reading
    /// `quantised` instead of `weight` when given (a decode-sized call).
    struct Product {
        let out: UnsafeMutablePointer<Float>
        let weight: UnsafePointer<Float>
        let quantised: DecodeMatrix?
        let outDim: Int
    }

    /// Products that share their input (Q/K/V, gate/up), each with its output columns split into
    /// one contiguous block per thread: every thread computes its block of every product, so the
    /// group costs one thread hand-off, not one per product (at decode speed the hand-offs were a
    /// sixth of the time). Each block is a single-threaded sgemm, sgemv or int8 kernel.
    private func matmul(_ products: [Product], inp: UnsafePointer<Float>, rows: Int, inDim: Int, accumulate: Bool) {
        // Block-quantised weights read the input as int16 blocks: quantised once, read by every thread.
        let blockInput = blockInput
        if products.contains(where: { $0.quantised?.isBlocks == true }) {
            blockInput.quantise(inp, rows: rows, width: inDim, stride: inDim)
        }
        if let team, products.allSatisfy({ $0.quantised != nil }) {
            quantisedMatmul(products, inp: inp, rows: rows, accumulate: accumulate, team: team)
            return
        }
        let parts = min(threads, max(1, products.map(\.outDim).min()! / 64))
        parallelFor(parts, threads: parts, team: parts > 1 ? team : nil) { range in
            for part in range {
                for product in products {
                    let outDim = product.outDim, weight = product.weight, out = product.out
                    // Block boundaries on multiples of 16 columns keep every block's weight rows aligned.
                    let lo = (outDim * part / parts) / 16 * 16
                    let hi = part == parts - 1 ? outDim : (outDim * (part + 1) / parts) / 16 * 16
                    if let quantised = product.quantised {
                        quantised.forward(out: out, inp: inp, blockInput: blockInput, rows: rows, columns: lo..<hi,
                                          accumulate: accumulate)
                    } else if rows == 1 {
                        // sgemv reads each weight once, where sgemm would first copy the whole matrix
                        // into its packed layout (1.7× slower measured).
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(hi - lo), Int32(inDim), 1, weight + lo * inDim,
                                    Int32(inDim), inp, 1, accumulate ? 1 : 0, out + lo, 1)
                    } else {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(hi - lo), Int32(inDim),
                                    1, inp, Int32(inDim), weight + lo * inDim, Int32(inDim),
                                    accumulate ? 1 : 0, out + lo, Int32(outDim))
                    }
                }
            }
        }
    }

    /// Output rows a thread takes at a time in `quantisedMatmul`.
    static let quantisedChunkRows = 64

    /// Quantised products with their output rows dealt out in chunks of `quantisedChunkRows` to
    /// whichever thread is free: with fixed halves, the thread that started later or shares its
    /// core kept the other spinning (a tenth of a decode step, measured). Each output row is still
    /// computed whole by one thread, so results do not depend on the thread count.
    private func quantisedMatmul(_ products: [Product], inp: UnsafePointer<Float>, rows: Int, accumulate: Bool,
                                 team: ThreadTeam) {
        let chunkRows = Self.quantisedChunkRows
        // Chunk numbers run through the products in order (no per-call table: this runs ~150 times a token).
        func chunks(_ product: Product) -> Int { (product.outDim + chunkRows - 1) / chunkRows }
        let total = products.reduce(0) { $0 + chunks($1) }
        let blockInput = blockInput
        nextChunk.store(0, ordering: .relaxed)
        team.parallelFor(team.size) { _ in
            while true {
                var chunk = self.nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
                if chunk >= total { return }
                var p = 0
                while chunk >= chunks(products[p]) { chunk -= chunks(products[p]); p += 1 }
                let product = products[p], lo = chunk * chunkRows
                product.quantised!.forward(out: product.out, inp: inp, blockInput: blockInput, rows: rows,
                                           columns: lo..<min(lo + chunkRows, product.outDim), accumulate: accumulate)
            }
        }
    }

    /// Logits of the `i`-th output row of the last `forward` (`[vocab]`).
    public func logits(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(i < logitRowIndices.count)
        let vocab = model.config.vocabSize
        return UnsafeMutableBufferPointer(start: logitsBuffer.pointer + i * vocab, count: vocab)
    }

    /// Runs token rows of possibly several sequences through the model at once.
    ///
    /// Row `r` is token `tokens[r]` of the sequence in slot `slots[r]` at position `positions[r]`;
    /// its K/V are stored in the cache, and it attends to positions `0...positions[r]` of its slot,
    /// so earlier positions must have gone through `forward` before (or earlier in this call).
    /// All rows share one sgemm per weight matrix. Returns the number of logits rows, readable with
    /// `logits(_:)`; `logitRowIndices` maps them back to input rows.
    @discardableResult
    public func forward(
        tokens: [Int32], slots: [Int], positions: [Int32], output: LogitRows = .lastOfEachSequence
    ) throws -> Int {
        let c = model.config
        let rows = tokens.count
        guard slots.count == rows, positions.count == rows else {
            throw InferenceError.mismatchedInputs(tokens: rows, slots: slots.count, positions: positions.count)
        }
        for r in 0..<rows {
            guard tokens[r] >= 0, Int(tokens[r]) < c.vocabSize else {
                throw InferenceError.tokenOutOfRange(row: r, token: tokens[r], vocabularySize: c.vocabSize)
            }
            guard slots[r] >= 0, slots[r] < cache.slotCount else {
                throw InferenceError.slotOutOfRange(row: r, slot: slots[r], slotCount: cache.slotCount)
            }
            guard positions[r] >= 0, Int(positions[r]) < cache.maxPositions else {
                throw InferenceError.positionOutOfRange(row: r, position: positions[r], maxPositions: cache.maxPositions)
            }
        }
        let outputRows: [Int]
        switch output {
        case .all: outputRows = Array(0..<rows)
        case .rows(let list): outputRows = list
        case .lastOfEachSequence:
            outputRows = (0..<rows).filter { $0 == rows - 1 || slots[$0 + 1] != slots[$0] }
        }
        for r in outputRows where r < 0 || r >= rows {
            throw InferenceError.outputRowOutOfRange(row: r, rows: rows)
        }
        guard rows > 0 else { logitRowIndices = []; return 0 }
        reserve(rows: rows)
        // OpenBLAS runs single-threaded; `matmul` splits each product over the threads itself. On a
        // shared 2-core machine OpenBLAS's own pool spends a third of the time in sched_yield
        // waiting for a descheduled partner, and it would compete with the attention threads.
        OpenBLASThreads.pinToOne()
        let quantised = rows <= Self.quantisedRowLimit ? model.decodeWeights(decodeWeights, threads: threads) : nil
        let matmul = { (products: [Product], inp: UnsafePointer<Float>, inDim: Int, accumulate: Bool) in
            self.matmul(products, inp: inp, rows: rows, inDim: inDim, accumulate: accumulate)
        }

        let p = model.parameters
        let hidden = c.hiddenSize, qDim = c.qDim, kvDim = c.kvDim, ffn = c.intermediateSize
        let x = x.pointer, xn = xn.pointer, q = q.pointer, k = k.pointer, v = v.pointer
        let att = att.pointer, gate = gate.pointer, up = up.pointer
        let threads = threads
        let eps = c.rmsNormEps
        // Elementwise work is split over rows only when there are enough of them to pay for it.
        let rowThreads = rows >= 4 * threads ? threads : 1
        // Runs of rows of one sequence at consecutive positions (prompt chunks) get matrix-product
        // attention; the other rows (decode steps, short runs) the per-row kernel.
        var runs: [Range<Int>] = [], singleRows: [Int] = []
        var start = 0
        while start < rows {
            var end = start + 1
            while end < rows, slots[end] == slots[start], positions[end] == positions[end - 1] + 1 { end += 1 }
            if end - start >= Self.minimumAttentionRun { runs.append(start..<end) } else { singleRows += start..<end }
            start = end
        }
        let scoresNeeded = min(threads, c.headCount) * (runs.map { $0.count * (Int(positions[$0.upperBound - 1]) + 1) }.max() ?? 0)
        if scores.count < scoresNeeded { scores = FloatBuffer(count: scoresNeeded) }

        tokens.withUnsafeBufferPointer { embeddingForward(out: x, tokens: $0.baseAddress!, count: rows,
                                                          table: p.pointer(p.layout.tokenEmbedding), dim: hidden) }
        slots.withUnsafeBufferPointer { slotPtr in
            positions.withUnsafeBufferPointer { posPtr in
                for (l, layer) in p.layout.layers.enumerated() {
                    parallelFor(rows, threads: rowThreads, team: rowThreads > 1 ? team : nil) { range in
                        rmsNormForward(out: xn + range.lowerBound * hidden, rstd: nil, inp: x + range.lowerBound * hidden,
                                       weight: p.pointer(layer.attentionNorm), rows: range.count, dim: hidden, eps: eps)
                    }
                    matmul([Product(out: q, weight: p.pointer(layer.wq), quantised: quantised?.layers[l].wq, outDim: qDim),
                            Product(out: k, weight: p.pointer(layer.wk), quantised: quantised?.layers[l].wk, outDim: kvDim),
                            Product(out: v, weight: p.pointer(layer.wv), quantised: quantised?.layers[l].wv, outDim: kvDim)],
                           xn, hidden, false)
                    parallelFor(rows, threads: rowThreads, team: rowThreads > 1 ? team : nil) { range in
                        let pos = posPtr.baseAddress! + range.lowerBound
                        ropeForward(x: q + range.lowerBound * qDim, positions: pos, rows: range.count,
                                    heads: c.headCount, table: rope)
                        ropeForward(x: k + range.lowerBound * kvDim, positions: pos, rows: range.count,
                                    heads: c.kvHeadCount, table: rope)
                    }
                    let keys = cache.keys(layer: l), values = cache.values(layer: l)
                    let slotStride = cache.maxPositions * kvDim
                    for r in 0..<rows {
                        let at = slotPtr[r] * slotStride + Int(posPtr[r]) * kvDim
                        (keys + at).update(from: k + r * kvDim, count: kvDim)
                        (values + at).update(from: v + r * kvDim, count: kvDim)
                    }
                    for run in runs {
                        cachedAttentionRunForward(
                            out: att + run.lowerBound * qDim, q: q + run.lowerBound * qDim, keys: keys, values: values,
                            slot: slotPtr[run.lowerBound], firstPosition: Int(posPtr[run.lowerBound]), count: run.count,
                            heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim,
                            maxPositions: cache.maxPositions, scores: scores.pointer, threads: threads, team: team)
                    }
                    singleRows.withUnsafeBufferPointer { single in
                        cachedAttentionForward(
                            out: att, q: q, keys: keys, values: values,
                            slots: slotPtr.baseAddress!, positions: posPtr.baseAddress!, rows: single,
                            heads: c.headCount, kvHeads: c.kvHeadCount, headDim: c.headDim,
                            maxPositions: cache.maxPositions, threads: threads, team: team)
                    }
                    // Residual connections come free: the projections accumulate into x.
                    matmul([Product(out: x, weight: p.pointer(layer.wo), quantised: quantised?.layers[l].wo, outDim: hidden)], att, qDim, true)
                    parallelFor(rows, threads: rowThreads, team: rowThreads > 1 ? team : nil) { range in
                        rmsNormForward(out: xn + range.lowerBound * hidden, rstd: nil, inp: x + range.lowerBound * hidden,
                                       weight: p.pointer(layer.ffnNorm), rows: range.count, dim: hidden, eps: eps)
                    }
                    matmul([Product(out: gate, weight: p.pointer(layer.wGate), quantised: quantised?.layers[l].wGate, outDim: ffn),
                            Product(out: up, weight: p.pointer(layer.wUp), quantised: quantised?.layers[l].wUp, outDim: ffn)],
                           xn, hidden, false)
                    parallelFor(rows, threads: rowThreads, team: rowThreads > 1 ? team : nil) { range in
                        let at = range.lowerBound * ffn
                        swigluForward(out: gate + at, gate: gate + at, up: up + at, count: range.count * ffn)
                    }
                    matmul([Product(out: x, weight: p.pointer(layer.wDown), quantised: quantised?.layers[l].wDown, outDim: hidden)], gate, ffn, true)
                }
            }
        }

        // Final norm and output head only for the rows whose logits are wanted: the head is the
        // largest matrix of a small model, and prompt rows rarely need it.
        let n = outputRows.count
        for (i, r) in outputRows.enumerated() {
            (xn + i * hidden).update(from: x + r * hidden, count: hidden)
        }
        rmsNormForward(out: xn, rstd: nil, inp: xn, weight: p.pointer(p.layout.finalNorm), rows: n, dim: hidden, eps: eps)
        if logitsBuffer.count < n * c.vocabSize { logitsBuffer = FloatBuffer(count: n * c.vocabSize) }
        let outputQuantised = n <= Self.quantisedRowLimit ? quantised?.output : nil
        self.matmul([Product(out: logitsBuffer.pointer, weight: p.pointer(p.layout.output), quantised: outputQuantised,
                             outDim: c.vocabSize)],
                    inp: xn, rows: n, inDim: hidden, accumulate: false)
        logitRowIndices = outputRows
        return n
    }
}

/// Natural-log softmax of `logits` at `index`, computed in double.
public func logSoftmax(_ logits: UnsafeBufferPointer<Float>, at index: Int) -> Double {
    var maxValue = -Float.infinity
    for value in logits where value > maxValue { maxValue = value }
    var sum: Double = 0
    for value in logits { sum += exp(Double(value - maxValue)) }
    return Double(logits[index] - maxValue) - log(sum)
}
