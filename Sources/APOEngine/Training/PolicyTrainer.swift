import Foundation

/// What a policy update minimises.
public enum PolicyObjective: Codable, Sendable, Equatable {
    /// Supervised fine-tuning: mean negative log-likelihood over every response token of the
    /// optimiser step's batch (so the result does not depend on how it is split into micro-batches).
    case sft
    /// DPO on (chosen, rejected) pairs: mean over pairs of
    /// `−log σ(β·[(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))])`, log-probs summed over
    /// response tokens.
    case dpo(beta: Double)
}

/// Every knob of a policy training run: the shared loop's and the objective.
/// Encoded as one flat object (metrics.json), as before the loop knobs were shared.
public struct PolicyTrainingSettings: TrainerSettings, Codable, Sendable, Equatable {
    public var objective: PolicyObjective = .sft
    public var loop = TrainingLoopSettings()

    public init() {}

    enum CodingKeys: String, CodingKey { case objective }

    public init(from decoder: any Decoder) throws {
        loop = try TrainingLoopSettings(from: decoder)
        objective = try decoder.container(keyedBy: CodingKeys.self).decode(PolicyObjective.self, forKey: .objective)
    }

    public func encode(to encoder: any Encoder) throws {
        try loop.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(objective, forKey: .objective)
    }
}

/// One training example: one sequence (SFT) or a (chosen, rejected) pair (DPO).
/// Invariant: for DPO, `sequences.count == 2` and `referenceLogProbs` holds one value per sequence
/// once the reference pass has run.
public struct PolicyExample: Codable, Sendable, Equatable {
    public var sequences: [PolicySequence]
    public var referenceLogProbs: [Double]

    public init(sequences: [PolicySequence], referenceLogProbs: [Double] = []) {
        self.sequences = sequences
        self.referenceLogProbs = referenceLogProbs
    }
}

/// What one optimiser step measured (per-step metrics of `train-llm` / `dpo`).
public struct PolicyTrainingStep: Sendable {
    public var step: Int
    public var loss: Double
    public var learningRate: Double
    public var gradientNorm: Double
    /// Tokens through the model (prompt and response, no padding).
    public var tokens: Int
    public var seconds: Double
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
    /// Examples in the step's batch (a sequence for SFT, a pair for DPO).
    public var samples: Int = 0
    public var samplesPerSecond: Double { seconds > 0 ? Double(samples) / seconds : 0 }
    /// DPO only: mean implicit reward margin `β·[(π(c) − ref(c)) − (π(r) − ref(r))]` and the fraction
    /// of pairs where it is > 0.
    public var rewardMargin: Double?
    public var accuracy: Double?
}

/// Trains a causal LM in place (SFT or DPO) through the shared `TrainingLoop`, as `RewardTrainer`
/// does: seeded shuffling, micro-batches with gradient accumulation, global-norm clipping, AdamW
/// under a warm-up schedule.
/// Invariant: `progress` plus the trainable weights, Adam moments and (DPO) reference log-probs
/// determine every later step.
public final class PolicyTrainer {
    public let parameters: ModelParameters
    public let settings: PolicyTrainingSettings
    public internal(set) var examples: [PolicyExample]
    public let graph: PolicyGraph
    public let optimizer: AdamW
    var loop: TrainingLoop

    /// - precision: the matrix products' arithmetic (`ComputePath.resolve` picks it for a job).
    public init(parameters: ModelParameters, settings: PolicyTrainingSettings, examples: [PolicyExample],
                precision: ComputePrecision = .fp32) {
        loop = TrainingLoop(settings: settings.loop, exampleCount: examples.count)
        if case .dpo = settings.objective {
            precondition(examples.allSatisfy { $0.sequences.count == 2 }, "DPO examples are (chosen, rejected) pairs")
        }
        self.parameters = parameters
        self.settings = settings
        self.examples = examples
        let perExample = examples.map(\.sequences.count).max()!
        let longest = examples.flatMap { $0.sequences.map(\.tokens.count) }.max()!
        graph = PolicyGraph(parameters: parameters, trainableLayers: settings.trainableLayers,
                            trainEmbedding: settings.trainEmbedding,
                            maxBatch: loop.largestMicroBatch * perExample,
                            maxSeqLen: longest, threads: settings.threads, precision: precision,
                            gradientCheckpointing: settings.gradientCheckpointing)
        optimizer = AdamW(groupSizes: [graph.backbone.trainable.count], settings: settings.adam)
    }

    public internal(set) var progress: TrainingProgress {
        get { loop.progress }
        set { loop.progress = newValue }
    }
    public var schedule: LearningRateSchedule { loop.schedule }
    public var totalSteps: Int { loop.totalSteps }
    public var isFinished: Bool { loop.isFinished }
    public var needsReference: Bool {
        if case .dpo = settings.objective { return examples.contains { $0.referenceLogProbs.count != $0.sequences.count } }
        return false
    }

    var parameterGroups: [ParameterGroup] {
        let range = graph.backbone.trainable
        return [ParameterGroup(values: parameters.values.pointer + range.start,
                               gradients: graph.backbone.gradients.pointer, count: range.count)]
    }

    /// Sequence log-probs of every example under the CURRENT weights (forward only), in micro-batches:
    /// DPO's reference pass, run before the first step. `progress(done, total)` after each batch
    /// (it may throw, e.g. on cancellation, which abandons the pass).
    public func computeReferenceLogProbs() -> [[Double]] { computeReferenceLogProbs { _, _ in } }

    public func computeReferenceLogProbs(progress: (Int, Int) throws -> Void) rethrows -> [[Double]] {
        var result: [[Double]] = []
        result.reserveCapacity(examples.count)
        let micro = loop.largestMicroBatch
        for start in stride(from: 0, to: examples.count, by: micro) {
            let chunk = examples[start..<min(start + micro, examples.count)]
            let sums = graph.forward(chunk.flatMap(\.sequences))
            var k = 0
            for e in chunk {
                result.append(Array(sums[k..<(k + e.sequences.count)]))
                k += e.sequences.count
            }
            try progress(min(start + micro, examples.count), examples.count)
        }
        return result
    }

    /// Installs reference log-probs (one list per example, one value per sequence).
    public func setReferenceLogProbs(_ values: [[Double]]) {
        precondition(values.count == examples.count)
        for i in examples.indices {
            precondition(values[i].count == examples[i].sequences.count)
            examples[i].referenceLogProbs = values[i]
        }
    }

    /// One optimiser step over the next `batchSize` examples (fewer at the end of an epoch).
    public func step() -> PolicyTrainingStep {
        precondition(!isFinished, "training already finished")
        precondition(!needsReference, "DPO needs reference log-probs before training")
        let started = Date()
        let batch = loop.nextBatch().map { examples[$0] }

        graph.zeroGradients()
        let batchTokens = batch.reduce(0) { $0 + $1.sequences.reduce(0) { $0 + $1.responseCount } }
        var loss = 0.0, tokens = 0, marginSum = 0.0, wins = 0
        for range in loop.microBatches(of: batch.count) {
            let micro = Array(batch[range])
            let sequences = micro.flatMap(\.sequences)
            tokens += sequences.reduce(0) { $0 + $1.tokens.count }
            let sums = graph.forward(sequences)
            switch settings.objective {
            case .sft:
                // −mean over the step's response tokens: each token's gradient is −1/batchTokens.
                loss -= sums.reduce(0, +) / Double(batchTokens)
                graph.backward(dTokenLogProbs: [Float](repeating: -1 / Float(batchTokens),
                                                       count: graph.tokenLogProbs.count))
            case .dpo(let beta):
                var d = [Float](repeating: 0, count: sequences.count)
                for (i, e) in micro.enumerated() {
                    let pair = DPOLoss(beta: beta, policyChosen: sums[2 * i], policyRejected: sums[2 * i + 1],
                                       referenceChosen: e.referenceLogProbs[0], referenceRejected: e.referenceLogProbs[1])
                    loss += pair.loss / Double(batch.count)
                    d[2 * i] = Float(pair.dPolicyChosen / Double(batch.count))
                    d[2 * i + 1] = Float(pair.dPolicyRejected / Double(batch.count))
                    marginSum += pair.margin
                    if pair.margin > 0 { wins += 1 }
                }
                graph.backward(dSequenceLogProbs: d)
            }
        }
        let (norm, lr) = loop.update(parameterGroups, with: optimizer)
        var result = PolicyTrainingStep(step: progress.step, loss: loss, learningRate: lr, gradientNorm: norm,
                                        tokens: tokens, seconds: Date().timeIntervalSince(started),
                                        samples: batch.count)
        if case .dpo = settings.objective {
            result.rewardMargin = marginSum / Double(batch.count)
            result.accuracy = Double(wins) / Double(batch.count)
        }
        return result
    }
}

/// The DPO loss of one pair and its gradient w.r.t. the policy's two sequence log-probs.
/// With `z = β·[(πc − rc) − (πr − rr)]`: loss = `−log σ(z)` = softplus(−z), ∂/∂πc = `−β·σ(−z)`,
/// ∂/∂πr = `+β·σ(−z)`.
public struct DPOLoss: Sendable, Equatable {
    public let margin: Double
    public let loss: Double
    public let dPolicyChosen: Double
    public let dPolicyRejected: Double

    public init(beta: Double, policyChosen: Double, policyRejected: Double, referenceChosen: Double,
                referenceRejected: Double) {
        let z = beta * ((policyChosen - referenceChosen) - (policyRejected - referenceRejected))
        margin = z
        // softplus(−z), stable for large |z|
        loss = z > 0 ? Foundation.log1p(Foundation.exp(-z)) : -z + Foundation.log1p(Foundation.exp(z))
        let sigmoidMinusZ = 1 / (1 + Foundation.exp(z))
        dPolicyChosen = -beta * sigmoidMinusZ
        dPolicyRejected = beta * sigmoidMinusZ
    }
}
