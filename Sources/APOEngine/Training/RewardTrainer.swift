import Foundation

/// Every knob of a reward-model training run: the shared loop's and the reward model's own.
/// Encoded as one flat object (metrics.json), as before the loop knobs were shared.
public struct RewardTrainingSettings: TrainerSettings, Codable, Sendable, Equatable {
    public var loop = TrainingLoopSettings()
    /// Tokens per sequence (truncated from the left).
    public var maxLength = 256
    public var objective = RewardObjective()

    public init() {}

    enum CodingKeys: String, CodingKey { case maxLength, objective }

    public init(from decoder: any Decoder) throws {
        loop = try TrainingLoopSettings(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxLength = try c.decode(Int.self, forKey: .maxLength)
        objective = try c.decode(RewardObjective.self, forKey: .objective)
    }

    public func encode(to encoder: any Encoder) throws {
        try loop.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(maxLength, forKey: .maxLength)
        try c.encode(objective, forKey: .objective)
    }
}

/// What one optimiser step measured (per-step metrics of the `train-rm` job).
public struct RewardTrainingStep: Sendable {
    public var step: Int
    public var loss: Double
    public var accuracy: Double
    public var meanChosenReward: Double
    public var meanRejectedReward: Double
    public var learningRate: Double
    public var gradientNorm: Double
    public var tokens: Int
    public var seconds: Double
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
    /// Examples (scored groups of responses) in the step's batch.
    public var samples: Int = 0
    public var samplesPerSecond: Double { seconds > 0 ? Double(samples) / seconds : 0 }
}

/// Trains a `RewardModel` in place through the shared `TrainingLoop`: seeded shuffling,
/// micro-batches with gradient accumulation, global-norm clipping, AdamW under a warm-up schedule.
/// Invariant: `progress` plus the trainable weights and Adam moments determine every later step.
public final class RewardTrainer {
    public let model: RewardModel
    public let settings: RewardTrainingSettings
    public let examples: [RewardExample]
    public let graph: RewardModelGraph
    public let optimizer: AdamW
    var loop: TrainingLoop

    /// - precision: the matrix products' arithmetic (`ComputePath.resolve` picks it for a job).
    public init(model: RewardModel, settings: RewardTrainingSettings, examples: [RewardExample],
                precision: ComputePrecision = .fp32) {
        loop = TrainingLoop(settings: settings.loop, exampleCount: examples.count)
        self.model = model
        self.settings = settings
        self.examples = examples
        let maxResponses = examples.map(\.sequences.count).max()!
        let longest = examples.flatMap { $0.sequences.map(\.count) }.max()!
        graph = RewardModelGraph(model: model, trainableLayers: settings.trainableLayers,
                                 trainEmbedding: settings.trainEmbedding,
                                 maxBatch: loop.largestMicroBatch * maxResponses,
                                 maxSeqLen: min(longest, settings.maxLength), threads: settings.threads,
                                 precision: precision, gradientCheckpointing: settings.gradientCheckpointing)
        optimizer = AdamW(groupSizes: [graph.backbone.trainable.count, model.head.count], settings: settings.adam)
    }

    public internal(set) var progress: TrainingProgress {
        get { loop.progress }
        set { loop.progress = newValue }
    }
    public var schedule: LearningRateSchedule { loop.schedule }
    public var stepsPerEpoch: Int { loop.stepsPerEpoch }
    public var totalSteps: Int { loop.totalSteps }
    public var isFinished: Bool { loop.isFinished }

    var parameterGroups: [ParameterGroup] {
        let range = graph.backbone.trainable
        return [
            ParameterGroup(values: model.parameters.values.pointer + range.start,
                           gradients: graph.backbone.gradients.pointer, count: range.count),
            ParameterGroup(values: model.head.pointer, gradients: graph.headGradient.pointer, count: model.head.count),
        ]
    }

    /// One optimiser step over the next `batchSize` items (fewer at the end of an epoch).
    public func step() -> RewardTrainingStep {
        precondition(!isFinished, "training already finished")
        let started = Date()
        let batch = loop.nextBatch().map { examples[$0] }

        let batchRewards = batch.reduce(0) { $0 + $1.sequences.count }
        graph.zeroGradients()
        var loss = 0.0, tokens = 0
        var scored: [(rewards: [Double], scores: [Double])] = []
        for range in loop.microBatches(of: batch.count) {
            let micro = batch[range]
            let input = RewardBatch(sequences: micro.flatMap(\.sequences), pad: model.format.pad)
            tokens += input.realTokenCount
            let rewards = graph.forward(input).map(Double.init)
            var dRewards = [Float](repeating: 0, count: rewards.count)
            var k = 0
            for item in micro {
                let r = Array(rewards[k..<(k + item.sequences.count)])
                if let c = settings.objective.contribution(rewards: r, scores: item.scores, isAPO: item.isAPO,
                                                           batchItems: batch.count, batchRewards: batchRewards) {
                    loss += c.loss
                    for (i, g) in c.dRewards.enumerated() { dRewards[k + i] = Float(g) }
                }
                scored.append((r, item.scores))
                k += item.sequences.count
            }
            graph.backward(dRewards: dRewards)
        }
        let (norm, lr) = loop.update(parameterGroups, with: optimizer)

        let metrics = RMMetrics(items: scored)
        var chosen = 0.0, rejected = 0.0
        for s in scored {
            chosen += s.rewards[s.scores.indices.max { s.scores[$0] < s.scores[$1] }!]
            rejected += s.rewards[s.scores.indices.min { s.scores[$0] < s.scores[$1] }!]
        }
        return RewardTrainingStep(
            step: progress.step, loss: loss, accuracy: metrics.accuracy,
            meanChosenReward: chosen / Double(scored.count), meanRejectedReward: rejected / Double(scored.count),
            learningRate: lr, gradientNorm: norm, tokens: tokens, seconds: Date().timeIntervalSince(started),
            samples: batch.count)
    }
}

/// Scores sequences with a reward model, forward only, in batches of `batchSize` sequences.
public final class RewardScorer {
    public let model: RewardModel
    public let graph: RewardModelGraph
    public let batchSize: Int

    public init(model: RewardModel, batchSize: Int, maxSeqLen: Int, threads: Int, precision: ComputePrecision = .fp32) {
        self.model = model
        self.batchSize = max(1, batchSize)
        graph = RewardModelGraph(model: model, trainableLayers: 0, maxBatch: self.batchSize, maxSeqLen: maxSeqLen,
                                 threads: threads, needsGradients: false, precision: precision)
    }

    /// One reward per sequence.
    public func score(_ sequences: [[Int32]]) -> [Float] { score(sequences, progress: { _, _ in }) }

    /// One reward per sequence; `progress(done, total)` after each batch. Throwing from `progress`
    /// stops the scoring there (a job asked to stop), with that error.
    public func score(_ sequences: [[Int32]], progress: (Int, Int) throws -> Void) rethrows -> [Float] {
        var rewards: [Float] = []
        rewards.reserveCapacity(sequences.count)
        // Sorting by length keeps batches tight (less padding); results go back in input order.
        let order = sequences.indices.sorted { sequences[$0].count < sequences[$1].count }
        var byIndex = [Float](repeating: 0, count: sequences.count)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let idx = Array(order[start..<min(start + batchSize, order.count)])
            let r = graph.forward(RewardBatch(sequences: idx.map { sequences[$0] }, pad: model.format.pad))
            for (k, i) in idx.enumerated() { byIndex[i] = r[k] }
            try progress(min(start + batchSize, order.count), order.count)
        }
        rewards = byIndex
        return rewards
    }

    /// Metrics of a pairs set (spec §3).
    public func evaluate(_ examples: [RewardExample]) -> RMMetrics {
        let rewards = score(examples.flatMap(\.sequences)).map(Double.init)
        var items: [(rewards: [Double], scores: [Double])] = []
        var k = 0
        for e in examples {
            items.append((Array(rewards[k..<(k + e.sequences.count)]), e.scores))
            k += e.sequences.count
        }
        return RMMetrics(items: items)
    }
}
