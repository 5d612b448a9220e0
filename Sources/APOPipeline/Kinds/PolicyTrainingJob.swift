import APOEngine
import Foundation

/// What `train-llm` and `dpo` share: their common parameters, the resumable training loop over a
/// `PolicyTrainer`, and writing the trained policy as a model directory.
enum PolicyTrainingJob {
    /// Parameters common to both policy kinds (names as `train-rm`'s where they mean the same).
    static let commonParameters = [
        ParameterSpec("model", .path, help: "starting policy: a .gguf file or a model directory"),
        ParameterSpec("template", .string, default: .string("auto"),
                      help: "prompt template: auto (the model's own: ChatML for SmolLM2), chatml or raw; must match generate's"),
        ParameterSpec("epochs", .int, default: .int(1), help: "passes over the training data"),
        ParameterSpec("schedule", .string, default: .string("linear"), help: "decay after warm-up: constant, linear or cosine"),
        ParameterSpec("warmup", .int, default: .int(0), help: "warm-up steps"),
        ParameterSpec("batch", .int, default: .int(8), help: "examples per optimiser step"),
        ParameterSpec("micro_batch", .int, default: .int(2), help: "examples per forward/backward pass (gradient accumulation)"),
        ParameterSpec("max_prompt_tokens", .int, default: .int(512), help: "prompt tokens kept, truncated from the left (as generate does)"),
        ParameterSpec("max_length", .int, default: .int(768), help: "prompt + response tokens; longer responses are cut at the end"),
        ParameterSpec("weight_decay", .double, default: .double(0), help: "AdamW decoupled weight decay"),
        ParameterSpec("max_grad_norm", .double, default: .double(1.0), help: "global gradient-norm clip (0: off)"),
        ParameterSpec("trainable_layers", .int, default: .int(4), help: "top decoder blocks that train (the rest frozen)"),
        ParameterSpec("train_embedding", .bool, default: .bool(false),
                      help: "also train the token embedding (= tied LM head); only when every block trains"),
        ParameterSpec("seed", .int, default: .int(42), help: "data shuffling"),
        ParameterSpec("threads", .int, default: .int(0), help: "CPU threads (0: the worker's share)"),
        .precision,
        .gradientCheckpointing,
        ParameterSpec("checkpoint_every", .int, default: .int(20), help: "steps between checkpoints"),
    ]

    static func settings(from context: any JobContext, objective: PolicyObjective) throws -> PolicyTrainingSettings {
        var s = PolicyTrainingSettings()
        s.objective = objective
        s.loop = try TrainingJob.loopSettings(from: context)
        s.trainEmbedding = try context.boolParam("train_embedding")
        try TrainingJob.checkCounts(s.loop)
        if s.learningRate < 0 { throw JobParameterError.invalid(name: "lr", message: "must not be negative") }
        if s.warmupSteps < 0 { throw JobParameterError.invalid(name: "warmup", message: "must not be negative") }
        return s
    }

    /// The loaded starting policy and how its prompts are formed.
    struct Policy {
        var loaded: LoadedModel
        var format: PromptFormat
        var maxPromptTokens: Int
        var maxLength: Int

        /// One training sequence, truncated as `generate` truncates prompts; nil when no response
        /// token fits.
        func sequence(query: String, response: String) -> PolicySequence? {
            PolicySequence.truncated(prompt: format.promptTokens(query: query, tokenizer: loaded.tokenizer),
                                     response: format.responseTokens(response: response, tokenizer: loaded.tokenizer),
                                     maxPromptTokens: maxPromptTokens, maxLength: maxLength)
        }
    }

    static func loadPolicy(_ context: any JobContext, threads: Int) throws -> Policy {
        let path = try context.stringParam("model")
        let loaded = try ModelLoader.load(path: path, threads: threads)
        // The template and system prompt exactly as `generate` picks them, so prompts match.
        let template = try GenerateKind.resolveTemplate(try context.stringParam("template"), chatTemplate: loaded.chatTemplate)
        let format = PromptFormat(chatTemplateString: loaded.chatTemplate, override: template)
        let maxPrompt = try context.intParam("max_prompt_tokens")
        let maxLength = try context.intParam("max_length")
        if maxPrompt < 1 { throw JobParameterError.invalid(name: "max_prompt_tokens", message: "must be at least 1") }
        if maxLength < 2 { throw JobParameterError.invalid(name: "max_length", message: "must be at least 2") }
        return Policy(loaded: loaded, format: format, maxPromptTokens: maxPrompt, maxLength: maxLength)
    }

    /// Runs `trainer` to the end, resuming from and checkpointing into `checkpoints`, recording
    /// per-step metrics; saves a checkpoint before letting a cancellation through. `prepare` runs
    /// after a checkpoint was (or was not) restored and before the first step (DPO's reference pass).
    /// Returns the last step this attempt took (nil when resumed at the end) and its wall time.
    @discardableResult
    static func train(_ trainer: PolicyTrainer, kind: String, context: any JobContext, checkpoints: URL,
                      prepare: (_ resumed: Bool) throws -> Void = { _ in }) throws -> (last: PolicyTrainingStep?, seconds: Double) {
        let started = Date()
        var last: PolicyTrainingStep?
        try prepare(try TrainingJob.resume(trainer, kind: kind, context: context, checkpoints: checkpoints))
        try TrainingJob.run(trainer, context: context, checkpoints: checkpoints) { s in
            last = s
            context.recordMetric(step: s.step, name: "loss", value: s.loss)
            context.recordMetric(step: s.step, name: "lr", value: s.learningRate)
            context.recordMetric(step: s.step, name: "grad_norm", value: s.gradientNorm)
            context.recordMetric(step: s.step, name: "tokens_per_s", value: s.tokensPerSecond)
            context.recordMetric(step: s.step, name: "samples_per_s", value: s.samplesPerSecond)
            var message = String(format: "loss %.4f", s.loss)
            if let margin = s.rewardMargin, let accuracy = s.accuracy {
                context.recordMetric(step: s.step, name: "reward_margin", value: margin)
                context.recordMetric(step: s.step, name: "accuracy", value: accuracy)
                message += String(format: " margin %.3f acc %.2f", margin, accuracy)
            }
            return message
        }
        return (last, Date().timeIntervalSince(started))
    }

    /// Writes the `metrics` output: what was trained on, how, and where it ended.
    static func writeSummary(_ summary: PolicyTrainingSummary, context: any JobContext) throws -> URL {
        try context.writeArtifact(named: "metrics.json") { url in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(summary).write(to: url)
        }
    }

    /// Writes the trained weights as a model directory (`model/`: model.safetensors, config.json
    /// and the starting model's tokenizer and chat template) that `generate`, `train-rm` and `score`
    /// load; written as an artifact, so it is recorded like `metrics.json`.
    /// The end both policy kinds share: the model directory, metrics.json, and the checkpoints
    /// removed once both are committed.
    static func finish(_ policy: Policy, trainer: PolicyTrainer, last: PolicyTrainingStep?, seconds: Double,
                       examples: Int, skipped: Int, truncated: Int, checkpoints: URL,
                       context: any JobContext) throws -> JobOutputs {
        // Wall time is a metric row, not part of metrics.json: an artifact is a function of the inputs.
        context.recordMetric(step: trainer.progress.step, name: "wall_seconds", value: seconds)
        let model = try saveModel(policy, context: context)
        let metrics = try writeSummary(PolicyTrainingSummary(
            steps: trainer.progress.step, finalLoss: last?.loss, finalRewardMargin: last?.rewardMargin,
            finalAccuracy: last?.accuracy, examples: examples, skippedQueries: skipped,
            truncatedResponses: truncated, template: policy.format.template.rawValue, settings: trainer.settings),
            context: context)
        try? FileManager.default.removeItem(at: checkpoints)
        return ["model": .string(model.path), "metrics": .string(metrics.path)]
    }

    static func saveModel(_ policy: Policy, context: any JobContext) throws -> URL {
        try context.writeArtifact(named: "model") { url in
            try ModelLoader.saveDirectory(policy.loaded.parameters, tokenizer: policy.loaded.tokenizer,
                                          chatTemplate: policy.loaded.chatTemplate, to: url)
        }
    }
}

/// The `metrics` output of `train-llm` and `dpo`.
public struct PolicyTrainingSummary: Codable, Sendable {
    public var steps: Int
    /// Loss of the last step (nil when this attempt resumed at the very end).
    public var finalLoss: Double?
    /// DPO only: the last step's mean reward margin and accuracy.
    public var finalRewardMargin: Double?
    public var finalAccuracy: Double?
    public var examples: Int
    public var skippedQueries: Int
    public var truncatedResponses: Int
    public var template: String
    public var settings: PolicyTrainingSettings
}
