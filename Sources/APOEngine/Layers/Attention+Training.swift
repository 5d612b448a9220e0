import COpenBLAS
import Foundation

// Causal self-attention over a batch of right-padded sequences, training version: the forward pass
// keeps the softmax probabilities, the backward pass turns them into gradients for q, k and v.
//
// Masking: query i of sequence b attends to keys j ≤ i. Because padding is on the right, a real
// position (i < len) never sees a pad; pad rows (i ≥ len) are not computed at all — their output
// and probabilities are zero — so nothing downstream can depend on them.
// Grouped-query attention: query head h reads key/value head h / (heads / kvHeads).

/// Shapes of one attention call.
public struct AttentionShape: Sendable {
    public let batch: Int, seqLen: Int, heads: Int, kvHeads: Int, headDim: Int
    public init(batch: Int, seqLen: Int, heads: Int, kvHeads: Int, headDim: Int) {
        self.batch = batch; self.seqLen = seqLen; self.heads = heads; self.kvHeads = kvHeads
        self.headDim = headDim
    }
    var qDim: Int { heads * headDim }
    var kvDim: Int { kvHeads * headDim }
    var group: Int { heads / kvHeads }
}

/// Forward. q: `[B, T, heads·D]` (after RoPE); k, v: `[B, T, kvHeads·D]`; lengths: `[B]` (≤ T);
/// out: `[B, T, heads·D]`; probs: `[B, heads, T, T]` softmax rows kept for the backward pass.
public func attentionForwardTraining(
    out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    lengths: [Int], shape s: AttentionShape, threads: Int = 1
) {
    let T = s.seqLen, D = s.headDim
    let scale = 1 / Float(D).squareRoot()
    out.update(repeating: 0, count: s.batch * T * s.qDim)
    onePerHead(tasks: s.batch * s.heads, threads: threads) { task, _ in
        let b = task / s.heads, h = task % s.heads
        let L = lengths[b]
        let p = probs + (b * s.heads + h) * T * T
        p.update(repeating: 0, count: T * T)
        guard L > 0 else { return }
        let qh = q + b * T * s.qDim + h * D
        let kh = k + b * T * s.kvDim + (h / s.group) * D
        let vh = v + b * T * s.kvDim + (h / s.group) * D
        // scores = scale · Q Kᵀ, [L, L] with row stride T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(L), Int32(L), Int32(D),
                    scale, qh, Int32(s.qDim), kh, Int32(s.kvDim), 0, p, Int32(T))
        for i in 0..<L {
            let row = p + i * T
            var maxScore = -Float.infinity
            for j in 0...i { maxScore = max(maxScore, row[j]) }
            var sum: Float = 0
            for j in 0...i {
                let e = expf(row[j] - maxScore)
                row[j] = e
                sum += e
            }
            let inv = 1 / sum
            for j in 0...i { row[j] *= inv }
            for j in (i + 1)..<max(i + 1, L) { row[j] = 0 }
        }
        // out = P V, [L, D]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(L), Int32(D), Int32(L),
                    1, p, Int32(T), vh, Int32(s.kvDim), 0, out + b * T * s.qDim + h * D, Int32(s.qDim))
    }
}

/// Runs `body(task)` for every task, spread over `threads`, each task's products single-threaded:
/// one head's products are too small to split (the threads spent their time handing work over and
/// spinning), and each task writes only its own rows, so the result is the same for any thread
/// count (OpenBLAS itself always runs single-threaded: `OpenBLASThreads`).
/// `scratchFloats`: per-thread scratch handed to every task of that thread.
private func onePerHead(tasks: Int, threads: Int, scratchFloats: Int = 0,
                        _ body: (_ task: Int, _ scratch: UnsafeMutablePointer<Float>) -> Void) {
    OpenBLASThreads.pinToOne()
    parallelFor(tasks, threads: threads) { range in
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratchFloats))
        defer { scratch.deallocate() }
        for task in range { body(task, scratch) }
    }
}

/// Backward; ADDS into dq, dk, dv (same shapes as q, k, v). dOut: `[B, T, heads·D]` (pad rows ignored);
/// probs: what the forward pass kept. Tasks are (sequence, key/value head) pairs: the query heads
/// of one group add into the same dk, dv rows, so they run in one task.
public func attentionBackwardTraining(
    dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
    dOut: UnsafePointer<Float>, probs: UnsafePointer<Float>,
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    lengths: [Int], shape s: AttentionShape, threads: Int = 1
) {
    let T = s.seqLen, D = s.headDim
    let scale = 1 / Float(D).squareRoot()
    onePerHead(tasks: s.batch * s.kvHeads, threads: threads, scratchFloats: T * T) { task, dP in
        let b = task / s.kvHeads, kvHead = task % s.kvHeads
        let L = lengths[b]
        guard L > 0 else { return }
        for h in (kvHead * s.group)..<((kvHead + 1) * s.group) {
            let p = probs + (b * s.heads + h) * T * T
            let qOff = b * T * s.qDim + h * D
            let kvOff = b * T * s.kvDim + (h / s.group) * D
            let dO = dOut + qOff
            // dP = dO Vᵀ  [L, L]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(L), Int32(L), Int32(D),
                        1, dO, Int32(s.qDim), v + kvOff, Int32(s.kvDim), 0, dP, Int32(T))
            // dV += Pᵀ dO  [L, D]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(L), Int32(D), Int32(L),
                        1, p, Int32(T), dO, Int32(s.qDim), 1, dv + kvOff, Int32(s.kvDim))
            // dS = P ⊙ (dP − Σ_j dP·P) · scale  (softmax backward; masked entries have P = 0)
            for i in 0..<L {
                let pr = p + i * T, dr = dP + i * T
                var dot: Float = 0
                for j in 0...i { dot += pr[j] * dr[j] }
                for j in 0...i { dr[j] = pr[j] * (dr[j] - dot) * scale }
                for j in (i + 1)..<max(i + 1, L) { dr[j] = 0 }
            }
            // dQ += dS K  [L, D];  dK += dSᵀ Q  [L, D]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(L), Int32(D), Int32(L),
                        1, dP, Int32(T), k + kvOff, Int32(s.kvDim), 1, dq + qOff, Int32(s.qDim))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(L), Int32(D), Int32(L),
                        1, dP, Int32(T), q + qOff, Int32(s.qDim), 1, dk + kvOff, Int32(s.kvDim))
        }
    }
}
