import Foundation

/// Scratch for the LM head over selected rows, processed `chunkRows` at a time so the
/// `[rows, vocab]` logits never exist at once (49,152 floats per row for SmolLM2).
/// Invariant: buffers hold `chunkRows` rows; contents are meaningless between calls.
public final class LMHeadScratch {
    public let chunkRows: Int
    let gathered: FloatBuffer   // [chunkRows, dim]: the selected hidden rows
    let dGathered: FloatBuffer  // [chunkRows, dim]
    let logits: FloatBuffer     // [chunkRows, vocab]; reused for dLogits in backward

    public init(chunkRows: Int = 64, vocab: Int, dim: Int) {
        self.chunkRows = max(1, chunkRows)
        gathered = FloatBuffer(count: self.chunkRows * dim)
        dGathered = FloatBuffer(count: self.chunkRows * dim)
        logits = FloatBuffer(count: self.chunkRows * vocab)
    }
}

/// Log-probability of one target token per selected row under the LM head:
/// `logProbs[i] = logSoftmax(hidden[rows[i]] · headᵀ)[targets[i]]`.
///
/// Only the `count` selected rows go through the `[vocab, dim]` head (a response's positions, not
/// the prompt's), which is where the head's cost goes.
/// - hidden: `[N, dim]` (final hidden states, after the final norm); rows: `[count]` indices into N;
///   targets: `[count]` token ids; head: `[vocab, dim]` (the tied embedding for SmolLM2);
/// - logProbs, logSumExp: `[count]` outputs; `logSumExp` is what backward needs to rebuild softmax.
public func lmHeadLogProbForward(
    logProbs: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
    hidden: UnsafePointer<Float>, rows: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, count: Int,
    head: UnsafePointer<Float>, vocab V: Int, dim C: Int, scratch: LMHeadScratch, threads: Int,
    precision: ComputePrecision = .fp32
) {
    var start = 0
    while start < count {
        let m = min(scratch.chunkRows, count - start)
        lmHeadChunkLogits(scratch: scratch, hidden: hidden, rows: rows + start, count: m, head: head, vocab: V, dim: C,
                          precision: precision, threads: threads)
        let logits = scratch.logits.pointer
        parallelFor(m, threads: m >= 4 ? threads : 1) { range in
            for i in range {
                let row = logits + i * V
                let lse = logSumExpRow(row, count: V)
                logSumExp[start + i] = lse
                logProbs[start + i] = row[Int(targets[start + i])] - lse
            }
        }
        start += m
    }
}

/// Backward of `lmHeadLogProbForward` for `dLogProbs[i]` = ∂loss/∂logProbs[i]; ADDS into the
/// gradients (zeroing is the caller's step). With `p = softmax(logits)`,
/// `∂loss/∂logits = dLogProbs[i] · (onehot(target) − p)`; then
/// - dHidden: `[N, dim]`, rows `rows[i]` receive `+= dLogits · head` (nil: not needed);
/// - dHead: `[vocab, dim]`, receives `+= dLogitsᵀ · hidden[rows]` (nil: a frozen head).
/// The logits are recomputed chunk by chunk (one extra head matmul instead of `count·vocab` floats kept).
public func lmHeadLogProbBackward(
    dHidden: UnsafeMutablePointer<Float>?, dHead: UnsafeMutablePointer<Float>?,
    dLogProbs: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
    hidden: UnsafePointer<Float>, rows: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, count: Int,
    head: UnsafePointer<Float>, vocab V: Int, dim C: Int, scratch: LMHeadScratch, threads: Int,
    precision: ComputePrecision = .fp32
) {
    guard dHidden != nil || dHead != nil else { return }
    var start = 0
    while start < count {
        let m = min(scratch.chunkRows, count - start)
        lmHeadChunkLogits(scratch: scratch, hidden: hidden, rows: rows + start, count: m, head: head, vocab: V, dim: C,
                          precision: precision, threads: threads)
        let logits = scratch.logits.pointer
        parallelFor(m, threads: m >= 4 ? threads : 1) { range in
            for i in range {
                let row = logits + i * V
                let g = dLogProbs[start + i], lse = logSumExp[start + i]
                for j in 0..<V { row[j] = -g * Foundation.exp(row[j] - lse) }
                row[Int(targets[start + i])] += g
            }
        }
        if let dHidden {
            let dg = scratch.dGathered.pointer
            dg.update(repeating: 0, count: m * C)
            linearBackward(dInp: dg, dWeight: nil, dOut: logits, inp: scratch.gathered.pointer, weight: head,
                           rows: m, inDim: C, outDim: V, precision: precision, threads: threads)
            for i in 0..<m {
                let dst = dHidden + Int(rows[start + i]) * C, src = dg + i * C
                for k in 0..<C { dst[k] += src[k] }
            }
        }
        if let dHead {
            linearBackward(dInp: nil, dWeight: dHead, dOut: logits, inp: scratch.gathered.pointer, weight: head,
                           rows: m, inDim: C, outDim: V, precision: precision, threads: threads)
        }
        start += m
    }
}

/// Gathers `count` hidden rows into the scratch and fills its logits `[count, vocab]`.
private func lmHeadChunkLogits(scratch: LMHeadScratch, hidden: UnsafePointer<Float>, rows: UnsafePointer<Int32>,
                               count m: Int, head: UnsafePointer<Float>, vocab V: Int, dim C: Int,
                               precision: ComputePrecision, threads: Int) {
    let g = scratch.gathered.pointer
    for i in 0..<m { (g + i * C).update(from: hidden + Int(rows[i]) * C, count: C) }
    linearForward(out: scratch.logits.pointer, inp: g, weight: head, rows: m, inDim: C, outDim: V, precision: precision,
                  threads: threads)
}

/// `log Σ exp(x)` of one row, stable (max subtracted) and summed in Double.
@inline(__always)
func logSumExpRow(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var mx = -Float.infinity
    for j in 0..<count where x[j] > mx { mx = x[j] }
    var sum = 0.0
    var partial: Float = 0
    for j in 0..<count {
        partial += Foundation.exp(x[j] - mx)
        if j & 1023 == 1023 { sum += Double(partial); partial = 0 }
    }
    sum += Double(partial)
    return mx + Float(Foundation.log(sum))
}

/// Token-level cross-entropy: `loss = −mean(logProbs)` over `count` tokens, and its gradient
/// w.r.t. each log-prob (`−1/count`), to pass on to `lmHeadLogProbBackward`.
public func crossEntropyLoss(logProbs: UnsafePointer<Float>, count: Int,
                             dLogProbs: UnsafeMutablePointer<Float>?) -> Double {
    guard count > 0 else { return 0 }
    var sum = 0.0
    for i in 0..<count { sum += Double(logProbs[i]) }
    if let dLogProbs { for i in 0..<count { dLogProbs[i] = -1 / Float(count) } }
    return -sum / Double(count)
}
