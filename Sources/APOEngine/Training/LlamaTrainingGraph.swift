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
    public let maxBatch: Int, maxSeqLen: Int
    /// The trained blocks' activations for the backward pass, index l - firstTrainableLayer.
    let saved: SavedActivations
    /// Frozen blocks run here, and with checkpointing every trained block's re-computation.
    let sharedScratch: BlockActivations?
    /// Where a re-computed block writes its (unused) output.
    let recomputedOutput: FloatBuffer
    let finalInput, finalOut, finalRstd: FloatBuffer
    // backward scratch
    let dX, dLn, dQ, dK, dV, dAttOut, dGate, dUp, dAct: FloatBuffer
    // state of the last forward pass
    private(set) var batch = 0, seqLen = 0
    private(set) var lengths: [Int] = []
    private(set) var tokens: [Int32] = []
    private var positions: [Int32] = []
    /// Where the hidden states entering block `trunkDepth` are kept between passes (nil: every
    /// block runs every time); see `useFrozenTrunk`.
    public private(set) var trunkStore: (any FrozenTrunkStore)?
    public private(set) var trunkDepth = 0
    /// Sequences whose frozen-trunk states came from `trunkStore` / had to be computed.
    public internal(set) var trunkHits = 0, trunkMisses = 0

    /// - needsGradients: false for scoring only (no gradient arena, no saved activations).
    /// - gradientCheckpointing: keep only each trained block's input and re-compute the rest in
    ///   `backward` (same gradients, bit for bit; ≈ 18× less activation memory, one more forward pass).
    public init(parameters: ModelParameters, trainableLayers: Int, trainEmbedding: Bool = true,
                maxBatch: Int, maxSeqLen: Int, threads: Int, needsGradients: Bool = true,
                precision: ComputePrecision = .fp32, gradientCheckpointing: Bool = false) {
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
        saved = SavedActivations(trainedBlocks: trainedBlocks, checkpointed: gradientCheckpointing, rows: n,
                                 batch: maxBatch, seqLen: maxSeqLen, config: c)
        sharedScratch = saved.needsSharedScratch(trainedBlocks: trainedBlocks, layerCount: c.layerCount)
            ? BlockActivations(rows: n, batch: maxBatch, seqLen: maxSeqLen, config: c) : nil
        if case .checkpointed = saved {
            recomputedOutput = FloatBuffer(count: n * c.hiddenSize)
        } else {
            recomputedOutput = FloatBuffer(count: 0)
        }
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
        bindBatch(tokens: tokens, lengths: lengths, batch: B, seqLen: T)
        let c = parameters.config
        let p = parameters
        let lay = p.layout
        let n = B * T, C = c.hiddenSize

        if let trunk = trunkStore {  // bound only with a depth > 0 (`useFrozenTrunk`)
            restoreFrozenTrunk(trunk, into: blockInput(trunkDepth))
            runBlocks(trunkDepth..<c.layerCount, from: blockInput(trunkDepth))
        } else {
            runBlocks(0..<c.layerCount, from: embedTokens())
        }
        rowsParallel(n) { r in
            rmsNormForward(out: self.finalOut.pointer + r.lowerBound * C, rstd: self.finalRstd.pointer + r.lowerBound,
                           inp: self.finalInput.pointer + r.lowerBound * C, weight: p.pointer(lay.finalNorm),
                           rows: r.count, dim: C, eps: c.rmsNormEps)
        }
        return UnsafePointer(finalOut.pointer)
    }

    /// The batch the next pass runs over.
    func bindBatch(tokens: [Int32], lengths: [Int], batch B: Int, seqLen T: Int) {
        precondition(B <= maxBatch && T <= maxSeqLen && tokens.count == B * T && lengths.count == B)
        batch = B; seqLen = T
        self.lengths = lengths
        self.tokens = tokens
        positions = (0..<(B * T)).map { Int32($0 % T) }
    }

    /// Keeps the hidden states entering block `depth` in `store` and reads them from there: blocks
    /// below `depth` run only for sequences the store does not hold. Those states are rounded to
    /// fp16 from then on, whether computed or loaded, so results do not depend on the store's
    /// contents. `depth` may not exceed the first trainable block (a scoring graph: any block
    /// whose weights are shared with the trunk the store is bound to).
    public func useFrozenTrunk(_ store: any FrozenTrunkStore, depth: Int) {
        precondition(depth >= 0 && depth <= trainable.firstTrainableLayer, "the frozen trunk ends at a trainable block")
        trunkStore = depth > 0 ? store : nil
        trunkDepth = depth
    }

    /// The embedded tokens, in block 0's input (the final norm's when there are no blocks).
    func embedTokens() -> FloatBuffer {
        let x = blockInput(0), C = parameters.config.hiddenSize
        tokens.withUnsafeBufferPointer { tok in
            embeddingForward(out: x.pointer, tokens: tok.baseAddress!, count: batch * seqLen,
                             table: parameters.pointer(parameters.layout.tokenEmbedding), dim: C)
        }
        return x
    }

    /// Where block `l` reads its input (`l` = layer count: the final norm's input).
    func blockInput(_ l: Int) -> FloatBuffer {
        l < parameters.config.layerCount ? activations(ofBlock: l).input : finalInput
    }

    /// Runs `blocks` in order starting from their first one's input `x`; each writes the next one's input.
    func runBlocks(_ blocks: Range<Int>, from x: FloatBuffer) {
        let n = batch * seqLen, C = parameters.config.hiddenSize
        var x = x
        for l in blocks {
            let a = activations(ofBlock: l)
            if a.input !== x { a.input.pointer.update(from: x.pointer, count: n * C) }
            checkpoint(ofBlock: l)?.pointer.update(from: a.input.pointer, count: n * C)
            let next = blockInput(l + 1)
            blockForward(l, a, out: next)
            x = next
        }
    }

    /// Where block `l`'s forward pass writes its activations.
    func activations(ofBlock l: Int) -> BlockActivations {
        if case .all(let blocks) = saved, l >= trainable.firstTrainableLayer {
            return blocks[l - trainable.firstTrainableLayer]
        }
        return sharedScratch!
    }

    /// Where block `l`'s input is kept for re-computation (checkpointing, trained blocks only).
    private func checkpoint(ofBlock l: Int) -> FloatBuffer? {
        guard case .checkpointed(let inputs) = saved, l >= trainable.firstTrainableLayer else { return nil }
        return inputs[l - trainable.firstTrainableLayer]
    }

    /// Block `l`'s activations as its forward pass left them: the saved ones, or with checkpointing
    /// the block's forward pass run again from its kept input.
    private func savedActivations(ofBlock l: Int) -> BlockActivations {
        let a = activations(ofBlock: l)
        if let input = checkpoint(ofBlock: l) {
            a.input.pointer.update(from: input.pointer, count: batch * seqLen * parameters.config.hiddenSize)
            blockForward(l, a, out: recomputedOutput)
        }
        return a
    }

    private func blockForward(_ l: Int, _ a: BlockActivations, out: FloatBuffer) {
        let c = parameters.config, p = parameters, w = parameters.layout.layers[l]
        let n = batch * seqLen, C = c.hiddenSize, F = c.intermediateSize
        rowsParallel(n) { r in
            rmsNormForward(out: a.ln1.pointer + r.lowerBound * C, rstd: a.rstd1.pointer + r.lowerBound,
                           inp: a.input.pointer + r.lowerBound * C, weight: p.pointer(w.attentionNorm),
                           rows: r.count, dim: C, eps: c.rmsNormEps)
        }
        linearForward(out: a.q.pointer, inp: a.ln1.pointer, weight: p.pointer(w.wq), rows: n, inDim: C, outDim: c.qDim, precision: precision, threads: threads)
        linearForward(out: a.k.pointer, inp: a.ln1.pointer, weight: p.pointer(w.wk), rows: n, inDim: C, outDim: c.kvDim, precision: precision, threads: threads)
        linearForward(out: a.v.pointer, inp: a.ln1.pointer, weight: p.pointer(w.wv), rows: n, inDim: C, outDim: c.kvDim, precision: precision, threads: threads)
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
                      inDim: c.qDim, outDim: C, accumulate: true, precision: precision, threads: threads)
        rowsParallel(n) { r in
            rmsNormForward(out: a.ln2.pointer + r.lowerBound * C, rstd: a.rstd2.pointer + r.lowerBound,
                           inp: a.resid2.pointer + r.lowerBound * C, weight: p.pointer(w.ffnNorm),
                           rows: r.count, dim: C, eps: c.rmsNormEps)
        }
        linearForward(out: a.gate.pointer, inp: a.ln2.pointer, weight: p.pointer(w.wGate), rows: n, inDim: C, outDim: F, precision: precision, threads: threads)
        linearForward(out: a.up.pointer, inp: a.ln2.pointer, weight: p.pointer(w.wUp), rows: n, inDim: C, outDim: F, precision: precision, threads: threads)
        rowsParallel(n) { r in
            swigluForward(out: a.act.pointer + r.lowerBound * F, gate: a.gate.pointer + r.lowerBound * F,
                          up: a.up.pointer + r.lowerBound * F, count: r.count * F)
        }
        out.pointer.update(from: a.resid2.pointer, count: n * C)
        linearForward(out: out.pointer, inp: a.act.pointer, weight: p.pointer(w.wDown), rows: n, inDim: F,
                      outDim: C, accumulate: true, precision: precision, threads: threads)
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
            let a = savedActivations(ofBlock: l), w = lay.layers[l]
            let needsInputGradient = l > first || trainable.trainsEmbedding
            // MLP: out = resid2 + down(silu(gate) ⊙ up)
            dAct.pointer.update(repeating: 0, count: n * F)
            linearBackward(dInp: dAct.pointer, dWeight: gradient(w.wDown), dOut: dX.pointer, inp: a.act.pointer,
                           weight: p.pointer(w.wDown), rows: n, inDim: F, outDim: C, precision: precision, threads: threads)
            dGate.pointer.update(repeating: 0, count: n * F)
            dUp.pointer.update(repeating: 0, count: n * F)
            rowsParallel(n) { r in
                let o = r.lowerBound * F
                swigluBackward(dGate: self.dGate.pointer + o, dUp: self.dUp.pointer + o, dOut: self.dAct.pointer + o,
                               gate: a.gate.pointer + o, up: a.up.pointer + o, count: r.count * F)
            }
            dLn.pointer.update(repeating: 0, count: n * C)
            linearBackward(dInp: dLn.pointer, dWeight: gradient(w.wGate), dOut: dGate.pointer, inp: a.ln2.pointer,
                           weight: p.pointer(w.wGate), rows: n, inDim: C, outDim: F, precision: precision, threads: threads)
            linearBackward(dInp: dLn.pointer, dWeight: gradient(w.wUp), dOut: dUp.pointer, inp: a.ln2.pointer,
                           weight: p.pointer(w.wUp), rows: n, inDim: C, outDim: F, precision: precision, threads: threads)
            rmsNormBackward(dInp: dX.pointer, dWeight: gradient(w.ffnNorm), dOut: dLn.pointer, inp: a.resid2.pointer,
                            weight: p.pointer(w.ffnNorm), rstd: a.rstd2.pointer, rows: n, dim: C)
            // Attention: resid2 = input + o(attn(rope(q), rope(k), v))
            dAttOut.pointer.update(repeating: 0, count: n * c.qDim)
            linearBackward(dInp: dAttOut.pointer, dWeight: gradient(w.wo), dOut: dX.pointer, inp: a.attOut.pointer,
                           weight: p.pointer(w.wo), rows: n, inDim: c.qDim, outDim: C, precision: precision, threads: threads)
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
                           weight: p.pointer(w.wq), rows: n, inDim: C, outDim: c.qDim, precision: precision, threads: threads)
            linearBackward(dInp: dLnIn, dWeight: gradient(w.wk), dOut: dK.pointer, inp: a.ln1.pointer,
                           weight: p.pointer(w.wk), rows: n, inDim: C, outDim: c.kvDim, precision: precision, threads: threads)
            linearBackward(dInp: dLnIn, dWeight: gradient(w.wv), dOut: dV.pointer, inp: a.ln1.pointer,
                           weight: p.pointer(w.wv), rows: n, inDim: C, outDim: c.kvDim, precision: precision, threads: threads)
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
