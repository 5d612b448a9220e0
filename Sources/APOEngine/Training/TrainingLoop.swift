import Foundation

/// The knobs every trainer's loop reads the same way: schedule, batching, shuffling, clipping,
/// AdamW, and which top blocks train. Each trainer's settings nest one and read its fields as their own.
public struct TrainingLoopSettings: Codable, Sendable, Equatable {
    public var epochs = 1
    public var learningRate = 1e-5
    public var schedule: LearningRateSchedule.Decay = .linear
    public var warmupSteps = 0
    /// Examples per optimiser step (the global batch; a reward item, an SFT sequence or a DPO pair each count one).
    public var batchSize = 8
    /// Examples per forward/backward pass; gradients accumulate over the step's micro-batches.
    public var microBatchSize = 2
    /// Top decoder blocks that train (with the final norm, and a reward model's head); the rest stay frozen.
    public var trainableLayers = 2
    /// Train the token embedding too (a policy's tied LM head); only when every block trains.
    public var trainEmbedding = false
    /// Keep only each trained block's input and re-compute its activations in the backward pass:
    /// the same gradients bit for bit, far less memory, one more forward pass of the trained blocks.
    /// How the work is done, not what it computes: metrics and checkpoints do not record it.
    public var gradientCheckpointing = false
    public var seed: UInt64 = 0
    public var threads = 2
    /// Global gradient-norm clip; nil or ≤ 0 disables clipping.
    public var maxGradNorm: Float? = 1
    public var adam = AdamWSettings()

    public init() {}

    // `gradientCheckpointing` is left out: a run trained with it is the same run.
    enum CodingKeys: String, CodingKey {
        case epochs, learningRate, schedule, warmupSteps, batchSize, microBatchSize, trainableLayers
        case trainEmbedding, seed, threads, maxGradNorm, adam
    }
}

/// Where a run stands: exactly what must be restored for a resumed run to match an uninterrupted one.
public struct TrainingProgress: Codable, Sendable, Equatable {
    /// Optimiser steps taken.
    public var step = 0
    public var epoch = 0
    /// Example order of the current epoch and the next position in it.
    public var order: [Int] = []
    public var position = 0
    /// The shuffling generator, after drawing `order`.
    public var random: TrainingRandom
}

/// The part of a training run that does not depend on what is trained: seeded shuffling into
/// epochs, batches and micro-batches, then clipping, the learning-rate schedule and the AdamW update.
/// Invariant: `progress` plus the weights and Adam moments determine every later step.
struct TrainingLoop {
    let settings: TrainingLoopSettings
    let exampleCount: Int
    let schedule: LearningRateSchedule
    var progress: TrainingProgress

    init(settings: TrainingLoopSettings, exampleCount: Int) {
        precondition(exampleCount > 0 && settings.batchSize > 0 && settings.microBatchSize > 0)
        self.settings = settings
        self.exampleCount = exampleCount
        var random = TrainingRandom(seed: settings.seed)
        let order = random.permutation(exampleCount)
        progress = TrainingProgress(step: 0, epoch: 0, order: order, position: 0, random: random)
        schedule = LearningRateSchedule(peak: settings.learningRate, warmupSteps: settings.warmupSteps,
                                        totalSteps: Self.stepsPerEpoch(exampleCount, settings) * settings.epochs,
                                        decay: settings.schedule)
    }

    /// A short last batch still counts as a step.
    static func stepsPerEpoch(_ exampleCount: Int, _ settings: TrainingLoopSettings) -> Int {
        (exampleCount + settings.batchSize - 1) / settings.batchSize
    }

    var stepsPerEpoch: Int { Self.stepsPerEpoch(exampleCount, settings) }
    var totalSteps: Int { schedule.totalSteps }
    var isFinished: Bool { progress.step >= totalSteps }
    /// The most examples one forward/backward pass holds.
    var largestMicroBatch: Int { min(settings.microBatchSize, settings.batchSize) }

    /// The example indices of the next optimiser step (fewer at the end of an epoch); starts a
    /// freshly shuffled epoch when the current one is used up.
    mutating func nextBatch() -> ArraySlice<Int> {
        precondition(!isFinished, "training already finished")
        if progress.position >= exampleCount {
            progress.epoch += 1
            progress.order = progress.random.permutation(exampleCount)
            progress.position = 0
        }
        let end = min(progress.position + settings.batchSize, exampleCount)
        defer { progress.position = end }
        return progress.order[progress.position..<end]
    }

    /// The micro-batches of a batch of `count` examples, as ranges into it.
    func microBatches(of count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: settings.microBatchSize).map { $0..<min($0 + settings.microBatchSize, count) }
    }

    /// Ends a step whose gradients are accumulated in `groups`: clips them, updates the weights at
    /// this step's learning rate and counts the step. Returns the pre-clip norm and the rate.
    mutating func update(_ groups: [ParameterGroup], with optimizer: AdamW) -> (gradientNorm: Double, learningRate: Double) {
        let norm = clipGradientNorm(groups, maxNorm: settings.maxGradNorm)
        let lr = schedule.rate(atStep: progress.step)
        optimizer.update(groups, lr: Float(lr), threads: settings.threads)
        progress.step += 1
        return (norm, lr)
    }
}

/// A trainer's settings: the shared loop knobs, nested in `loop` and read as the settings' own
/// fields (`settings.batchSize`), plus what only that trainer has.
@dynamicMemberLookup
public protocol TrainerSettings {
    var loop: TrainingLoopSettings { get set }
}

extension TrainerSettings {
    public subscript<T>(dynamicMember field: WritableKeyPath<TrainingLoopSettings, T>) -> T {
        get { loop[keyPath: field] }
        set { loop[keyPath: field] = newValue }
    }
}
