import APOEngine

/// Tiny random LLaMA models for gradient and checkpoint tests: GQA (4 query heads over 2 KV heads),
/// two blocks, every tensor seeded.
enum TinyModels {
    static let config = LlamaConfig(
        vocabSize: 13, hiddenSize: 16, intermediateSize: 24, layerCount: 2, headCount: 4, kvHeadCount: 2,
        ropeTheta: 10000, rmsNormEps: 1e-5, tiedEmbeddings: true, contextLength: 64)

    static func parameters(seed: UInt64, config: LlamaConfig = config) -> ModelParameters {
        let p = ModelParameters(config: config)
        var rng = TrainingRandom(seed: seed)
        for t in p.layout.tensors {
            let isNorm = t.shape.count == 1
            for i in 0..<t.count {
                let noise = Float(rng.nextNormal())
                p.values[t.offset + i] = isNorm ? 1 + 0.2 * noise : 0.35 * noise
            }
        }
        return p
    }

    static func rewardModel(seed: UInt64, pooling: RewardPooling = .last) -> RewardModel {
        let p = parameters(seed: seed)
        return RewardModel(parameters: p, head: RewardModel.initialHead(hiddenSize: config.hiddenSize, seed: seed + 1),
                           pooling: pooling, format: RewardInputFormat(bos: 1, sep: 3, eos: 2, pad: 0))
    }
}
