import Foundation

/// Forward (rewards) and backward (gradients) of a `RewardModel` over one micro-batch.
///
/// Backbone gradients live in `backbone.gradients` (trainable range only), the head's in
/// `headGradient`; both are ADDED to by `backward` and cleared by `zeroGradients`.
public final class RewardModelGraph {
    public let model: RewardModel
    public let backbone: LlamaTrainingGraph
    public let headGradient: FloatBuffer
    public let trainsHead: Bool
    let pooled: FloatBuffer        // [maxBatch, C]
    var argmaxBuffer: UnsafeMutablePointer<Int32>
    let dPooled: FloatBuffer       // [maxBatch, C]
    let dHidden: FloatBuffer       // [maxBatch·maxSeqLen, C]
    private var current: RewardBatch?

    /// - trainableLayers: top blocks that train (`needsGradients` false: scoring only).
    public init(model: RewardModel, trainableLayers: Int, trainEmbedding: Bool = true, maxBatch: Int,
                maxSeqLen: Int, threads: Int, needsGradients: Bool = true, precision: ComputePrecision = .fp32,
                gradientCheckpointing: Bool = false) {
        self.model = model
        let C = model.parameters.config.hiddenSize
        backbone = LlamaTrainingGraph(parameters: model.parameters, trainableLayers: trainableLayers,
                                      trainEmbedding: trainEmbedding, maxBatch: maxBatch, maxSeqLen: maxSeqLen,
                                      threads: threads, needsGradients: needsGradients, precision: precision,
                                      gradientCheckpointing: gradientCheckpointing)
        trainsHead = needsGradients
        headGradient = FloatBuffer(count: C)
        pooled = FloatBuffer(count: maxBatch * C)
        argmaxBuffer = .allocate(capacity: maxBatch * C)
        argmaxBuffer.initialize(repeating: 0, count: maxBatch * C)
        dPooled = FloatBuffer(count: needsGradients ? maxBatch * C : 0)
        dHidden = FloatBuffer(count: needsGradients ? maxBatch * maxSeqLen * C : 0)
    }

    deinit { argmaxBuffer.deallocate() }

    public func zeroGradients() {
        backbone.zeroGradients()
        headGradient.zero()
    }

    /// One reward per sequence of `batch`.
    public func forward(_ batch: RewardBatch) -> [Float] {
        current = batch
        let C = model.parameters.config.hiddenSize
        let hidden = backbone.forward(tokens: batch.tokens, lengths: batch.lengths, batch: batch.batch,
                                      seqLen: batch.seqLen)
        rewardPoolForward(pooled: pooled.pointer, argmax: argmaxBuffer, hidden: hidden, lengths: batch.lengths,
                          seqLen: batch.seqLen, dim: C, pooling: model.pooling)
        var rewards = [Float](repeating: 0, count: batch.batch)
        for b in 0..<batch.batch {
            var sum: Float = 0
            for i in 0..<C { sum += pooled[b * C + i] * model.head[i] }
            rewards[b] = sum
        }
        return rewards
    }

    /// dRewards: `[B]` gradient of the loss w.r.t. the last `forward`'s rewards. ADDS into gradients.
    public func backward(dRewards: [Float]) {
        guard let batch = current else { preconditionFailure("backward before forward") }
        let C = model.parameters.config.hiddenSize
        for b in 0..<batch.batch {
            let g = dRewards[b]
            for i in 0..<C {
                headGradient[i] += g * pooled[b * C + i]
                dPooled[b * C + i] = g * model.head[i]
            }
        }
        let rows = batch.batch * batch.seqLen
        dHidden.pointer.update(repeating: 0, count: rows * C)
        rewardPoolBackward(dHidden: dHidden.pointer, dPooled: dPooled.pointer, argmax: argmaxBuffer,
                           lengths: batch.lengths, seqLen: batch.seqLen, dim: C, pooling: model.pooling)
        backbone.backward(dHidden: dHidden.pointer)
    }
}
