import Foundation
import Testing
@testable import APOEngine

/// A tiny random-weight model: small enough for a double-precision reference in plain loops.
func makeTinyModel(seed: UInt64 = 7, vocab: Int = 61, layers: Int = 2) throws -> LlamaModel {
    let config = LlamaConfig(
        vocabSize: vocab, hiddenSize: 32, intermediateSize: 48, layerCount: layers,
        headCount: 4, kvHeadCount: 2, ropeTheta: 10000, rmsNormEps: 1e-5,
        tiedEmbeddings: true, contextLength: 64)
    let parameters = ModelParameters(config: config)
    var rng = SplitMix64(seed: seed)
    for t in parameters.layout.tensors {
        let isNorm = t.shape.count == 1
        for i in 0..<t.count {
            let u = Float(rng.nextUniform()) * 2 - 1
            parameters.values[t.offset + i] = isNorm ? 1 + 0.2 * u : 0.3 * u
        }
    }
    return try LlamaModel(parameters: parameters)
}

/// Straightforward full-sequence forward in Double (no cache, no BLAS): the reference the
/// engine's batched, cached forward must agree with. Returns `[positions][vocab]` logits.
func referenceLogits(_ model: LlamaModel, _ tokens: [Int32]) -> [[Double]] {
    let c = model.config, p = model.parameters
    func w(_ offset: Int, _ i: Int) -> Double { Double(p.values[offset + i]) }
    func linear(_ x: [Double], _ offset: Int, _ outDim: Int) -> [Double] {
        (0..<outDim).map { o in (0..<x.count).reduce(0.0) { $0 + x[$1] * w(offset, o * x.count + $1) } }
    }
    func norm(_ x: [Double], _ offset: Int) -> [Double] {
        let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
        let s = 1 / (ms + Double(c.rmsNormEps)).squareRoot()
        return x.indices.map { x[$0] * s * w(offset, $0) }
    }
    func rope(_ v: inout [Double], heads: Int, pos: Int) {
        let d = c.headDim, half = d / 2
        for h in 0..<heads {
            for i in 0..<half {
                let angle = Double(pos) / pow(Double(c.ropeTheta), Double(2 * i) / Double(d))
                let a = v[h * d + i], b = v[h * d + i + half]
                v[h * d + i] = a * cos(angle) - b * sin(angle)
                v[h * d + i + half] = b * cos(angle) + a * sin(angle)
            }
        }
    }
    var xs = tokens.map { t in (0..<c.hiddenSize).map { w(p.layout.tokenEmbedding, Int(t) * c.hiddenSize + $0) } }
    for layer in p.layout.layers {
        var qs: [[Double]] = [], ks: [[Double]] = [], vs: [[Double]] = []
        for (pos, x) in xs.enumerated() {
            let xn = norm(x, layer.attentionNorm)
            var q = linear(xn, layer.wq, c.qDim), k = linear(xn, layer.wk, c.kvDim)
            rope(&q, heads: c.headCount, pos: pos)
            rope(&k, heads: c.kvHeadCount, pos: pos)
            qs.append(q); ks.append(k); vs.append(linear(xn, layer.wv, c.kvDim))
        }
        for pos in xs.indices {
            var out = [Double](repeating: 0, count: c.qDim)
            for h in 0..<c.headCount {
                let kvh = h / c.headsPerKVHead, d = c.headDim
                let scores = (0...pos).map { t in
                    (0..<d).reduce(0.0) { $0 + qs[pos][h * d + $1] * ks[t][kvh * d + $1] } / Double(d).squareRoot()
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }
                let sum = e.reduce(0, +)
                for t in 0...pos { for i in 0..<d { out[h * d + i] += e[t] / sum * vs[t][kvh * d + i] } }
            }
            let o = linear(out, layer.wo, c.hiddenSize)
            for i in 0..<c.hiddenSize { xs[pos][i] += o[i] }
            let xn = norm(xs[pos], layer.ffnNorm)
            let g = linear(xn, layer.wGate, c.intermediateSize), u = linear(xn, layer.wUp, c.intermediateSize)
            let a = g.indices.map { g[$0] / (1 + exp(-g[$0])) * u[$0] }
            let down = linear(a, layer.wDown, c.hiddenSize)
            for i in 0..<c.hiddenSize { xs[pos][i] += down[i] }
        }
    }
    return xs.map { linear(norm($0, p.layout.finalNorm), p.layout.output, c.vocabSize) }
}

/// fp32 accumulation over these tiny dimensions (≤ 48 terms per dot, 2 layers) stays far below
/// 1e-4 of the Double reference; a wrong RoPE pair, head mapping or mask is off by O(0.1).
let tinyModelTolerance = 1e-4

func maxDifference(_ state: InferenceState, row: Int, _ reference: [Double]) -> Double {
    let l = state.logits(row)
    return reference.indices.map { abs(Double(l[$0]) - reference[$0]) }.max()!
}

@Suite struct LlamaModelTests {
    @Test func fullSequenceMatchesReference() throws {
        let model = try makeTinyModel()
        // 21 rows: long enough for the matrix-product attention path (runs of ≥ 16 rows).
        let tokens: [Int32] = [3, 17, 60, 0, 42, 42, 9, 31, 5, 8, 8, 8, 1, 2, 3, 4, 50, 40, 30, 20, 10]
        let reference = referenceLogits(model, tokens)
        let state = InferenceState(model: model, slots: 2, maxPositions: 24, threads: 2)
        let n = try state.forward(tokens: tokens, slots: Array(repeating: 1, count: tokens.count),
                                  positions: (0..<Int32(tokens.count)).map { $0 }, output: .all)
        #expect(n == tokens.count)
        for pos in tokens.indices {
            #expect(maxDifference(state, row: pos, reference[pos]) < tinyModelTolerance)
        }
    }

    @Test func cachedDecodeAndMixedBatchesMatchReference() throws {
        let model = try makeTinyModel()
        let sequences: [[Int32]] = [[1, 2, 3, 4, 5, 6, 7], [60, 59], [10, 20, 30, 40, 50]]
        let references = sequences.map { referenceLogits(model, $0) }
        let state = InferenceState(model: model, slots: 3, maxPositions: 12, threads: 2)
        // Step 1: prefill all but the last token of each sequence together (different lengths).
        var tokens: [Int32] = [], slots: [Int] = [], positions: [Int32] = []
        for (s, seq) in sequences.enumerated() {
            for (i, t) in seq.dropLast().enumerated() { tokens.append(t); slots.append(s); positions.append(Int32(i)) }
        }
        let n = try state.forward(tokens: tokens, slots: slots, positions: positions)
        #expect(n == 3)
        for (i, row) in state.logitRowIndices.enumerated() {
            let s = slots[row], pos = Int(positions[row])
            #expect(maxDifference(state, row: i, references[s][pos]) < tinyModelTolerance)
        }
        // Step 2: one decode row per sequence, in a different slot order than the prefill.
        let order = [2, 0, 1]
        try state.forward(tokens: order.map { sequences[$0].last! }, slots: order,
                          positions: order.map { Int32(sequences[$0].count - 1) })
        for (i, s) in order.enumerated() {
            #expect(maxDifference(state, row: i, references[s].last!) < tinyModelTolerance)
        }
    }

    @Test func badInputsAreClearErrors() throws {
        let model = try makeTinyModel()
        let state = InferenceState(model: model, slots: 1, maxPositions: 4, threads: 1)
        #expect(throws: InferenceError.tokenOutOfRange(row: 1, token: 61, vocabularySize: 61)) {
            try state.forward(tokens: [1, 61], slots: [0, 0], positions: [0, 1])
        }
        #expect(throws: InferenceError.positionOutOfRange(row: 0, position: 4, maxPositions: 4)) {
            try state.forward(tokens: [1], slots: [0], positions: [4])
        }
        #expect(throws: InferenceError.slotOutOfRange(row: 0, slot: 1, slotCount: 1)) {
            try state.forward(tokens: [1], slots: [1], positions: [0])
        }
        #expect(throws: InferenceError.outputRowOutOfRange(row: 1, rows: 1)) {
            try state.forward(tokens: [1], slots: [0], positions: [0], output: .rows([1]))
        }
        #expect(throws: InferenceError.mismatchedInputs(tokens: 1, slots: 0, positions: 1)) {
            try state.forward(tokens: [1], slots: [], positions: [0])
        }
        var config = model.config
        config.kvHeadCount = 3
        #expect(throws: InferenceError.self) { try LlamaModel(parameters: ModelParameters(config: config)) }
    }
}
