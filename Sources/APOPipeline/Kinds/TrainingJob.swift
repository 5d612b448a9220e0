import APOEngine
import Foundation

/// A trainer that a training kind drives to the end, resuming from and saving into its checkpoints.
protocol ResumableTrainer: AnyObject {
    associatedtype Step
    var isFinished: Bool { get }
    var totalSteps: Int { get }
    var progress: TrainingProgress { get }
    func step() -> Step
    /// Checkpoints to try, best first.
    static func checkpointCandidates(in root: URL) -> [URL]
    func saveCheckpoint(to root: URL) throws
    func restoreCheckpoint(from dir: URL) throws
}

extension RewardTrainer: ResumableTrainer {
    static func checkpointCandidates(in root: URL) -> [URL] { RewardCheckpoint.candidates(in: root) }
    func saveCheckpoint(to root: URL) throws { try RewardCheckpoint.save(self, to: root) }
    func restoreCheckpoint(from dir: URL) throws { try RewardCheckpoint.restore(self, from: dir) }
}

extension PolicyTrainer: ResumableTrainer {
    static func checkpointCandidates(in root: URL) -> [URL] { PolicyCheckpoint.candidates(in: root) }
    func saveCheckpoint(to root: URL) throws { try PolicyCheckpoint.save(self, to: root) }
    func restoreCheckpoint(from dir: URL) throws { try PolicyCheckpoint.restore(self, from: dir) }
}

/// What `train-rm`, `train-llm` and `dpo` share: the training-loop parameters (same names, same
/// meaning) and the resumable, cancellable step loop with its checkpoint cadence.
enum TrainingJob {
    /// The `schedule` parameter: constant, linear or cosine decay.
    static func scheduleParam(_ context: any JobContext) throws -> LearningRateSchedule.Decay {
        let schedule = try context.stringParam("schedule")
        guard let decay = LearningRateSchedule.Decay(rawValue: schedule) else {
            throw JobParameterError.invalid(name: "schedule", message: "'\(schedule)' is not one of constant, linear, cosine")
        }
        return decay
    }

    /// The loop knobs every training kind takes, read but not yet checked (`checkCounts`): each kind
    /// reads its own parameters after these, then checks them all. `train_embedding` is not among
    /// them (`train-rm` has no such parameter).
    static func loopSettings(from context: any JobContext) throws -> TrainingLoopSettings {
        var s = TrainingLoopSettings()
        s.epochs = try context.intParam("epochs")
        s.learningRate = try context.doubleParam("lr")
        s.schedule = try scheduleParam(context)
        s.warmupSteps = try context.intParam("warmup")
        s.batchSize = try context.intParam("batch")
        s.microBatchSize = try context.intParam("micro_batch")
        s.adam.weightDecay = Float(try context.doubleParam("weight_decay"))
        let clip = try context.doubleParam("max_grad_norm")
        s.maxGradNorm = clip > 0 ? Float(clip) : nil
        s.trainableLayers = try context.intParam("trainable_layers")
        s.seed = UInt64(truncatingIfNeeded: try context.intParam("seed"))
        s.threads = try context.threadsParam()
        s.gradientCheckpointing = try context.boolParam(ParameterSpec.gradientCheckpointing.name)
        return s
    }

    /// Refuses counts below 1, in this order: `epochs`, `batch`, `micro_batch`, then the kind's own.
    static func checkCounts(_ s: TrainingLoopSettings, _ more: KeyValuePairs<String, Int> = [:]) throws {
        let counts = [("epochs", s.epochs), ("batch", s.batchSize), ("micro_batch", s.microBatchSize)] + more.map { ($0.key, $0.value) }
        for (name, value) in counts where value < 1 {
            throw JobParameterError.invalid(name: name, message: "must be at least 1, found \(value)")
        }
    }

    /// Restores the newest usable checkpoint under `checkpoints` into `trainer`; false when there is
    /// none. A checkpoint that cannot be restored (truncated files, another run's) is logged and
    /// passed over for the next older one, and with none left the job starts over: retrying the same
    /// broken checkpoint would fail the same way every attempt.
    static func resume<Trainer: ResumableTrainer>(_ trainer: Trainer, kind: String, context: any JobContext,
                                                  checkpoints: URL) throws -> Bool {
        let candidates = Trainer.checkpointCandidates(in: checkpoints)
        for candidate in candidates {
            do {
                try trainer.restoreCheckpoint(from: candidate)
            } catch let error as CheckpointError {
                context.log("\(kind): checkpoint \(candidate.lastPathComponent) unusable, passed over: \(error)")
                continue
            }
            context.log("\(kind): resumed from \(candidate.lastPathComponent) (step \(trainer.progress.step) of \(trainer.totalSteps))")
            return true
        }
        if !candidates.isEmpty { context.log("\(kind): no usable checkpoint; starting over") }
        return false
    }

    /// Steps `trainer` to the end, saving a checkpoint every `checkpoint_every` steps (not after the
    /// last: the kind writes its outputs then) and before letting a cancellation through. After each
    /// step `record` records its metrics and returns the progress message; `afterStep` runs last.
    static func run<Trainer: ResumableTrainer>(_ trainer: Trainer, context: any JobContext, checkpoints: URL,
                                               record: (Trainer.Step) -> String,
                                               afterStep: (_ step: Int) throws -> Void = { _ in }) throws {
        let every = try context.intParam("checkpoint_every")
        while !trainer.isFinished {
            do {
                try context.checkCancelled()
            } catch {
                try trainer.saveCheckpoint(to: checkpoints)
                throw error
            }
            let s = trainer.step()
            let message = record(s)
            let step = trainer.progress.step
            context.reportProgress(done: step, total: trainer.totalSteps, message: message)
            if every > 0, step % every == 0, !trainer.isFinished {
                try trainer.saveCheckpoint(to: checkpoints)
            }
            try afterStep(step)
        }
    }
}
