import Foundation

/// Which part of a LLaMA backbone receives gradients: the top `layerCount - firstTrainableLayer`
/// decoder blocks and the final norm, plus the token embedding only when every block trains.
///
/// Invariant: the trainable tensors form ONE contiguous range `[start, end)` of the parameter arena
/// (the layout is embedding, blocks 0…L-1, final norm, optional lm_head), so gradients and Adam
/// moments are allocated for that range only — the memory side of freezing layers.
public struct TrainableRange: Sendable, Equatable {
    public let firstTrainableLayer: Int
    public let trainsEmbedding: Bool
    public let start: Int
    public let end: Int
    public var count: Int { end - start }

    /// `trainableLayers`: how many top blocks train (clamped to 0…layerCount); the embedding trains
    /// only when all blocks do and `trainEmbedding` is set.
    public init(layout: ParameterLayout, trainableLayers: Int, trainEmbedding: Bool = true) {
        let L = layout.config.layerCount
        let k = max(0, min(trainableLayers, L))
        firstTrainableLayer = L - k
        trainsEmbedding = k == L && trainEmbedding
        if trainsEmbedding {
            start = layout.tokenEmbedding
        } else if firstTrainableLayer < L {
            start = layout.layers[firstTrainableLayer].attentionNorm
        } else {
            start = layout.finalNorm
        }
        // The final norm is the last tensor before an untied lm_head (which a reward model never uses).
        end = layout.config.tiedEmbeddings ? layout.totalCount : layout.output
    }

    public func contains(offset: Int) -> Bool { offset >= start && offset < end }
}

/// Saved activations of one decoder block for one micro-batch; N = B·T rows.
final class BlockActivations {
    let input, ln1, q, k, v, attOut, resid2, ln2: FloatBuffer  // [N, ·]
    let rstd1, rstd2: FloatBuffer                               // [N]
    let gate, up, act: FloatBuffer                              // [N, ffn]
    let probs: FloatBuffer                                      // [B, heads, T, T]

    init(rows n: Int, batch: Int, seqLen: Int, config c: LlamaConfig) {
        input = FloatBuffer(count: n * c.hiddenSize)
        ln1 = FloatBuffer(count: n * c.hiddenSize)
        q = FloatBuffer(count: n * c.qDim)
        k = FloatBuffer(count: n * c.kvDim)
        v = FloatBuffer(count: n * c.kvDim)
        attOut = FloatBuffer(count: n * c.qDim)
        resid2 = FloatBuffer(count: n * c.hiddenSize)
        ln2 = FloatBuffer(count: n * c.hiddenSize)
        rstd1 = FloatBuffer(count: n)
        rstd2 = FloatBuffer(count: n)
        gate = FloatBuffer(count: n * c.intermediateSize)
        up = FloatBuffer(count: n * c.intermediateSize)
        act = FloatBuffer(count: n * c.intermediateSize)
        probs = FloatBuffer(count: batch * c.headCount * seqLen * seqLen)
    }
}

/// The training forward and backward pass of a LLaMA backbone over right-padded sequences `[B, T]`.
///
/// `forward` returns the final hidden states (after the final RMSNorm), `[B·T, hidden]`; `backward`
/// takes their gradient and ADDS parameter gradients into `gradients` (llm.c style: zeroing is the
/// caller's separate step, so micro-batches accumulate for free). Blocks below the lowest trainable
/// one run forward only, into shared scratch, and backward stops there.
/// Invariant: positions `t ≥ lengths[b]` never influence positions `t < lengths[b]`.
public final class LlamaTrainingGraph {
    public let parameters: ModelParameters
    public let trainable: TrainableRange
    /// Gradients for `trainable` only: the gradient of arena offset `o` is at `o - trainable.start`.
    public let gradients: FloatBuffer
    public let threads: Int
    /// The arithmetic of the linears' products (attention's small per-head products stay fp32).
    public let precision: ComputePrecision
    let rope: RoPETable
    let maxBatch: Int, maxSeqLen: Int
    var blocks: [BlockActivations] = []   // trainable blocks, index l - firstTrainableLayer
    let frozenScratch: BlockActivations?
    let finalInput, finalOut, finalRstd: FloatBuffer
    // backward scratch
    let dX, dLn, dQ, dK, dV, dAttOut, dGate, dUp, dAct: FloatBuffer
    // state of the last forward pass
    private(set) var batch = 0, seqLen = 0
    private(set) var lengths: [Int] = []
    private(set) var tokens: [Int32] = []
    private var positions: [Int32] = []

    /// - needsGradients: false for scoring only (no gradient arena, no saved activations).
    public init(parameters: ModelParameters, trainableLayers: Int, trainEmbedding: Bool = true,
                maxBatch: Int, maxSeqLen: Int, threads: Int, needsGradients: Bool = true,
                precision: ComputePrecision = .fp32) {
        let c = parameters.config
        self.parameters = parameters
        trainable = needsGradients
            ? TrainableRange(layout: parameters.layout, trainableLayers: trainableLayers, trainEmbedding: trainEmbedding)
            : TrainableRange(layout: parameters.layout, trainableLayers: 0, trainEmbedding: false)
        gradients = FloatBuffer(count: needsGradients ? trainable.count : 0)
        self.threads = max(1, threads)
        self.precision = precision
        self.maxBatch = maxBatch
        self.maxSeqLen = maxSeqLen
        rope = RoPETable(headDim: c.headDim, maxPositions: maxSeqLen, theta: c.ropeTheta)
        let n = maxBatch * maxSeqLen
        let trainedBlocks = needsGradients ? c.layerCount - trainable.firstTrainableLayer : 0
        blocks = (0..<trainedBlocks).map { _ in
            BlockActivations(rows: n, batch: maxBatch, seqLen: maxSeqLen, config: c)
        }
        frozenScratch = trainedBlocks < c.layerCount
            ? BlockActivations(rows: n, batch: maxBatch, seqLen: maxSeqLen, config: c) : nil
        finalInput = FloatBuffer(count: n * c.hiddenSize)
        finalOut = FloatBuffer(count: n * c.hiddenSize)
        finalRstd = FloatBuffer(count: n)
        let g = needsGradients ? n : 0
        dX = FloatBuffer(count: g * c.hiddenSize)
        dLn = FloatBuffer(count: g * c.hiddenSize)
        dQ = FloatBuffer(count: g * c.qDim)
        dK = FloatBuffer(count: g * c.kvDim)
        dV = FloatBuffer(count: g * c.kvDim)
        dAttOut = FloatBuffer(count: g * c.qDim)
        dGate = FloatBuffer(count: g * c.intermediateSize)
        dUp = FloatBuffer(count: g * c.intermediateSize)
        dAct = FloatBuffer(count: g * c.intermediateSize)
    }

    /// Gradient slot of the parameter tensor at arena `offset`, or nil when it is frozen.
    public func gradient(_ offset: Int) -> UnsafeMutablePointer<Float>? {
        guard gradients.count > 0, trainable.contains(offset: offset) else { return nil }
        return gradients.pointer + (offset - trainable.start)
    }

    public func zeroGradients() { gradients.zero() }

    // MARK: - Forward

    /// tokens: `[B·T]` row-major (pads anywhere at or after `lengths[b]`); lengths: `[B]`, each 1…T.
    /// Returns the final hidden states `[B·T, hidden]` (rows at pads are computed but meaningless).
    @discardableResult
    public func forward(tokens: [Int32], lengths: [Int], batch B: Int, seqLen T: Int) -> UnsafePointer<Float> {
        precondition(B <= maxBatch && T <= maxSeqLen && tokens.count == B * T && lengths.count == B)
        let c = parameters.config
        let p = parameters
        let lay = p.layout
        let n = B * T, C = c.hiddenSize
        batch = B; seqLen = T
        self.lengths = lengths
        self.tokens = tokens
        positions = (0..<n).map { Int32($0 % T) }
        setMatrixProductThreads(threads)

        var x = c.layerCount > 0 ? activations(ofBlock: 0).input : finalInput
        tokens.withUnsafeBufferPointer { tok in
            embeddingForward(out: x.pointer, tokens: tok.baseAddress!, count: n,
                             table: p.pointer(lay.tokenEmbedding), dim: C)
        }
        for l in 0..<c.layerCount {
            let a = activations(ofBlock: l)
            if a.input !== x { a.input.pointer.update(from: x.pointer, count: n * C) }
            let next = l + 1 < c.layerCount ? activations(ofBlock: l + 1).input : finalInput
            blockForward(l, a, out: next)
            x = next
        }
        rowsParallel(n) { r in
            rmsNormForward(out: self.finalOut.pointer + r.lowerBound * C, rstd: self.finalRstd.pointer + r.lowerBound,
                           inp: self.finalInput.pointer + r.lowerBound * C, weight: p.pointer(lay.finalNorm),
                           rows: r.count, dim: C, eps: c.rmsNormEps)
        }
        return UnsafePointer(finalOut.pointer)
    }

    func activations(ofBlock l: Int) -> BlockActivations {
        l >= trainable.firstTrainableLayer && !blocks.isEmpty ? blocks[l - trainable.firstTrainableLayer] : frozenScratch!
    }

    private func blockForward(_ l: Int, _ a: BlockActivations, out: FloatBuffer) {
        let c = parameters.config, p = parameters, w = parameters.layout.layers[l]
        let n = batch * seqLen, C = c.hiddenSize, F = c.intermediateSize
        rowsParallel(n) { r in
            rmsNormForward(out: a.ln1.pointer + r.lowerBound * C, rstd: a.rstd1.pointer + r.lowerBound,
                           inp: a.input.pointer + r.lowerBound * C, weight: p.pointer(w.attentionNorm),
                           rows: r.count, dim: C, eps: c.rmsNormEps)
        }
        linearForward(out: a.q.pointer, inp: a.ln1.pointer, weight: p.pointer(w.wq), rows: n, inDim: C, outDim: c.qDim, precision: precision)
        linearForward(out: a.k.pointer, inp: a.ln1.pointer, weight: p.pointer(w.wk), rows: n, inDim: C, outDim: c.kvDim, precision: precision)
        linearForward(out: a.v.pointer, inp: a.ln1.pointer, weight: p.pointer(w.wv), rows: n, inDim: C, outDim: c.kvDim, precision: precision)
        positions.withUnsafeBufferPointer { pos in
            let pp = pos.baseAddress!
            rowsParallel(n) { r in
                ropeForward(x: a.q.pointer + r.lowerBound * c.qDim, positions: pp + r.lowerBound, rows: r.count,
                            heads: c.headCount, table: self.rope)
                ropeForward(x: a.k.pointer + r.lowerBound * c.kvDim, positions: pp + r.lowerBound, rows: r.count,
                            heads: c.kvHeadCount, table: self.rope)
            }
        }
        attentionForwardTraining(out: a.attOut.pointer, probs: a.probs.pointer, q: a.q.pointer, k: a.k.pointer,
                                 v: a.v.pointer, lengths: lengths, shape: attentionShape, threads: threads)
        // resid2 = input + attOut · Woᵀ
        a.resid2.pointer.update(from: a.input.pointer, count: n * C)
        linearForward(out: a.resid2.pointer, inp: a.attOut.pointer, weight: p.pointer(w.wo), rows: n,
                      inDim: c.qDim, outDim: C, accumulate: true, precision: precision)
        rowsParallel(n) { r in
            rmsNormForward(out: a.ln2.pointer + r.lowerBound * C, rstd: a.rstd2.pointer + r.lowerBound,
                           inp: a.resid2.pointer + r.lowerBound * C, weight: p.pointer(w.ffnNorm),
                           rows: r.count, dim: C, eps: c.rmsNormEps)
        }
        linearForward(out: a.gate.pointer, inp: a.ln2.pointer, weight: p.pointer(w.wGate), rows: n, inDim: C, outDim: F, precision: precision)
        linearForward(out: a.up.pointer, inp: a.ln2.pointer, weight: p.pointer(w.wUp), rows: n, inDim: C, outDim: F, precision: precision)
        rowsParallel(n) { r in
            swigluForward(out: a.act.pointer + r.lowerBound * F, gate: a.gate.pointer + r.lowerBound * F,
                          up: a.up.pointer + r.lowerBound * F, count: r.count * F)
        }
        out.pointer.update(from: a.resid2.pointer, count: n * C)
        linearForward(out: out.pointer, inp: a.act.pointer, weight: p.pointer(w.wDown), rows: n, inDim: F,
                      outDim: C, accumulate: true, precision: precision)
    }

    var attentionShape: AttentionShape {
        let c = parameters.config
        return AttentionShape(batch: batch, seqLen: seqLen, heads: c.headCount, kvHeads: c.kvHeadCount,
                              headDim: c.headDim)
    }

    // MARK: - Backward

    /// dHidden: `[B·T, hidden]`, the gradient w.r.t. `forward`'s result (zero at pad rows).
    public func backward(dHidden: UnsafePointer<Float>) {
        precondition(gradients.count > 0, "backward on a graph built without gradients")
        let c = parameters.config, p = parameters, lay = parameters.layout
        let n = batch * seqLen, C = c.hiddenSize, F = c.intermediateSize
        let first = trainable.firstTrainableLayer
        dX.pointer.update(repeating: 0, count: n * C)
        rmsNormBackward(dInp: first < c.layerCount ? dX.pointer : nil, dWeight: gradient(lay.finalNorm),
                        dOut: dHidden, inp: finalInput.pointer, weight: p.pointer(lay.finalNorm),
                        rstd: finalRstd.pointer, rows: n, dim: C)
        for l in stride(from: c.layerCount - 1, through: first, by: -1) {
            let a = activations(ofBlock: l), w = lay.layers[l]
            let needsInputGradient = l > first || trainable.trainsEmbedding
            // MLP: out = resid2 + down(silu(gate) ⊙ up)
            dAct.pointer.update(repeating: 0, count: n * F)
            linearBackward(dInp: dAct.pointer, dWeight: gradient(w.wDown), dOut: dX.pointer, inp: a.act.pointer,
                           weight: p.pointer(w.wDown), rows: n, inDim: F, outDim: C, precision: precision)
            dGate.pointer.update(repeating: 0, count: n * F)
            dUp.pointer.update(repeating: 0, count: n * F)
            rowsParallel(n) { r in
                let o = r.lowerBound * F
                swigluBackward(dGate: self.dGate.pointer + o, dUp: self.dUp.pointer + o, dOut: self.dAct.pointer + o,
                               gate: a.gate.pointer + o, up: a.up.pointer + o, count: r.count * F)
            }
            dLn.pointer.update(repeating: 0, count: n * C)
            linearBackward(dInp: dLn.pointer, dWeight: gradient(w.wGate), dOut: dGate.pointer, inp: a.ln2.pointer,
                           weight: p.pointer(w.wGate), rows: n, inDim: C, outDim: F, precision: precision)
            linearBackward(dInp: dLn.pointer, dWeight: gradient(w.wUp), dOut: dUp.pointer, inp: a.ln2.pointer,
                           weight: p.pointer(w.wUp), rows: n, inDim: C, outDim: F, precision: precision)
            rmsNormBackward(dInp: dX.pointer, dWeight: gradient(w.ffnNorm), dOut: dLn.pointer, inp: a.resid2.pointer,
                            weight: p.pointer(w.ffnNorm), rstd: a.rstd2.pointer, rows: n, dim: C)
            // Attention: resid2 = input + o(attn(rope(q), rope(k), v))
            dAttOut.pointer.update(repeating: 0, count: n * c.qDim)
            linearBackward(dInp: dAttOut.pointer, dWeight: gradient(w.wo), dOut: dX.pointer, inp: a.attOut.pointer,
                           weight: p.pointer(w.wo), rows: n, inDim: c.qDim, outDim: C, precision: precision)
            dQ.pointer.update(repeating: 0, count: n * c.qDim)
            dK.pointer.update(repeating: 0, count: n * c.kvDim)
            dV.pointer.update(repeating: 0, count: n * c.kvDim)
            attentionBackwardTraining(dq: dQ.pointer, dk: dK.pointer, dv: dV.pointer, dOut: dAttOut.pointer,
                                      probs: a.probs.pointer, q: a.q.pointer, k: a.k.pointer, v: a.v.pointer,
                                      lengths: lengths, shape: attentionShape, threads: threads)
            positions.withUnsafeBufferPointer { pos in
                let pp = pos.baseAddress!
                rowsParallel(n) { r in
                    ropeBackward(dx: self.dQ.pointer + r.lowerBound * c.qDim, positions: pp + r.lowerBound,
                                 rows: r.count, heads: c.headCount, table: self.rope)
                    ropeBackward(dx: self.dK.pointer + r.lowerBound * c.kvDim, positions: pp + r.lowerBound,
                                 rows: r.count, heads: c.kvHeadCount, table: self.rope)
                }
            }
            // dLn is needed even in the lowest trainable block: the attention norm's weight gradient reads it.
            let dLnIn = dLn.pointer
            dLn.pointer.update(repeating: 0, count: n * C)
            linearBackward(dInp: dLnIn, dWeight: gradient(w.wq), dOut: dQ.pointer, inp: a.ln1.pointer,
                           weight: p.pointer(w.wq), rows: n, inDim: C, outDim: c.qDim, precision: precision)
            linearBackward(dInp: dLnIn, dWeight: gradient(w.wk), dOut: dK.pointer, inp: a.ln1.pointer,
                           weight: p.pointer(w.wk), rows: n, inDim: C, outDim: c.kvDim, precision: precision)
            linearBackward(dInp: dLnIn, dWeight: gradient(w.wv), dOut: dV.pointer, inp: a.ln1.pointer,
                           weight: p.pointer(w.wv), rows: n, inDim: C, outDim: c.kvDim, precision: precision)
            rmsNormBackward(dInp: needsInputGradient ? dX.pointer : nil, dWeight: gradient(w.attentionNorm),
                            dOut: dLn.pointer, inp: a.input.pointer, weight: p.pointer(w.attentionNorm),
                            rstd: a.rstd1.pointer, rows: n, dim: C)
        }
        if trainable.trainsEmbedding, let dTable = gradient(lay.tokenEmbedding) {
            // Only real positions: pad rows carry no gradient, and skipping them keeps PAD's row untouched.
            for b in 0..<batch {
                tokens.withUnsafeBufferPointer { tok in
                    embeddingBackward(dTable: dTable, dOut: dX.pointer + b * seqLen * C,
                                      tokens: tok.baseAddress! + b * seqLen, count: lengths[b], dim: C)
                }
            }
        }
    }

    /// Splits `rows` into per-thread ranges for the elementwise kernels.
    private func rowsParallel(_ rows: Int, _ body: (Range<Int>) -> Void) {
        parallelFor(rows, threads: rows >= 64 ? threads : 1, body)
    }
}
