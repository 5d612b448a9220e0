import Foundation

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

/// What the backward pass needs of the trained blocks' forward pass, kept one of two ways:
/// - `.all`: every trained block's activations (≈ 44 MB per block for SmolLM2 at 4 × 256 tokens);
/// - `.checkpointed`: each trained block's input only (≈ 2.4 MB), the rest re-computed block by block
///   in the backward pass into one shared set (gradient checkpointing). The re-computation runs the
///   same kernels on the same inputs, so gradients are bit-identical; it costs one more forward pass
///   of the trained blocks.
enum SavedActivations {
    case all([BlockActivations])
    case checkpointed(inputs: [FloatBuffer])
    case none

    init(trainedBlocks: Int, checkpointed: Bool, rows n: Int, batch: Int, seqLen: Int, config c: LlamaConfig) {
        if trainedBlocks == 0 {
            self = .none
        } else if checkpointed {
            self = .checkpointed(inputs: (0..<trainedBlocks).map { _ in FloatBuffer(count: n * c.hiddenSize) })
        } else {
            self = .all((0..<trainedBlocks).map { _ in
                BlockActivations(rows: n, batch: batch, seqLen: seqLen, config: c)
            })
        }
    }

    /// Whether frozen blocks or re-computation need one shared set of activations.
    func needsSharedScratch(trainedBlocks: Int, layerCount: Int) -> Bool {
        if case .checkpointed = self { return true }
        return trainedBlocks < layerCount
    }
}
