import APOEngine
import Foundation

/// Trains a reward model (spec §3): a LLaMA backbone plus a linear head on human preference pairs
/// and, for the APO RM, golden-vs-sample pairs (`type: "apo"`). Resumes from the job's checkpoint
/// directory mid-epoch; writes the model directory and a metrics JSON.
public enum TrainRMKind: JobKind {
    public static let name = "train-rm"
    // 2: metrics.json no longer holds the wall time (now the metric wall_seconds).
    public static let version = 2
    public static let parameters = [
        ParameterSpec("train", .pathList, help: "pairs files (text-scores) to train on"),
        ParameterSpec("eval", .pathList, default: .array([]), help: "pairs files for periodic and final evaluation"),
        ParameterSpec("init", .path, help: "backbone: a .gguf file, a model directory, or a reward-model directory (head kept)"),
        ParameterSpec("epochs", .int, default: .int(1), help: "passes over the training pairs"),
        ParameterSpec("lr", .double, default: .double(2e-5), help: "peak learning rate (small models need more than the 7B reference's 1e-6)"),
        ParameterSpec("schedule", .string, default: .string("linear"), help: "decay after warm-up: constant, linear or cosine"),
        ParameterSpec("warmup", .int, default: .int(10), help: "warm-up steps"),
        ParameterSpec("batch", .int, default: .int(8), help: "items per optimiser step"),
        ParameterSpec("micro_batch", .int, default: .int(2), help: "items per forward/backward pass (gradient accumulation)"),
        ParameterSpec("max_length", .int, default: .int(256), help: "tokens per sequence, truncated from the left"),
        ParameterSpec("pooling", .string, default: .string("last"), help: "last, eos, average or max"),
        ParameterSpec("loss", .string, default: .string("ranking"), help: "ranking or diff"),
        ParameterSpec("apo_loss_coeff", .double, default: .double(0.1), help: "APO pair weight numerator"),
        ParameterSpec("apo_sample_num", .int, default: .int(4), help: "APO pair weight denominator"),
        ParameterSpec("rm_kl_coeff", .double, default: .double(1.0), help: "human pair weight"),
        ParameterSpec("center_coeff", .double, default: .double(0), help: "coefficient of mean(r²)"),
        ParameterSpec("weight_decay", .double, default: .double(0), help: "AdamW decoupled weight decay"),
        ParameterSpec("max_grad_norm", .double, default: .double(1.0), help: "global gradient-norm clip (0: off)"),
        ParameterSpec("trainable_layers", .int, default: .int(4), help: "top decoder blocks that train (the rest frozen)"),
        ParameterSpec("seed", .int, default: .int(42), help: "head init and shuffling"),
        ParameterSpec("threads", .int, default: .int(0), help: "CPU threads (0: the worker's share)"),
        .precision,
        .gradientCheckpointing,
        .trunkCache,
        ParameterSpec("checkpoint_every", .int, default: .int(50), help: "steps between checkpoints"),
        ParameterSpec("eval_every", .int, default: .int(0), help: "steps between evaluations (0: only at the end)"),
        ParameterSpec("max_pairs", .int, default: .int(-1), help: "use only the first N pairs of each file (-1: all)"),
    ]
    public static let outputs = ["model", "metrics"]

    public static func settings(from context: any JobContext) throws -> RewardTrainingSettings {
        var s = RewardTrainingSettings()
        s.loop = try TrainingJob.loopSettings(from: context)
        s.maxLength = try context.intParam("max_length")
        let loss = try context.stringParam("loss")
        guard let variant = RankingLoss(rawValue: loss) else {
            throw JobParameterError.invalid(name: "loss", message: "'\(loss)' is not one of ranking, diff")
        }
        s.objective = RewardObjective(variant: variant, rmKLCoeff: try context.doubleParam("rm_kl_coeff"),
                                      apoLossCoeff: try context.doubleParam("apo_loss_coeff"),
                                      apoSampleNum: try context.intParam("apo_sample_num"),
                                      centerCoeff: try context.doubleParam("center_coeff"))
        try TrainingJob.checkCounts(s.loop, ["max_length": s.maxLength, "apo_sample_num": s.objective.apoSampleNum])
        if s.maxLength < 4 { throw JobParameterError.invalid(name: "max_length", message: "must be at least 4") }
        return s
    }

    static func pooling(_ context: any JobContext) throws -> RewardPooling {
        let p = try context.stringParam("pooling")
        guard let pooling = RewardPooling(rawValue: p) else {
            throw JobParameterError.invalid(name: "pooling", message: "'\(p)' is not one of last, eos, average, max")
        }
        return pooling
    }

    static func pathList(_ context: any JobContext, _ name: String) throws -> [URL] {
        guard let v = context.params[name], v != .null else { return [] }
        guard case .array(let items) = v else {
            throw JobParameterError.wrongType(name: name, expected: "a list of paths", found: v.typeName)
        }
        return try items.map {
            guard let s = $0.stringValue else {
                throw JobParameterError.wrongType(name: name, expected: "a list of paths", found: $0.typeName)
            }
            return URL(fileURLWithPath: s)
        }
    }

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let settings = try settings(from: context)
        let precision = try context.computePath().precision
        let rm = try RewardModelFiles.load(path: try context.stringParam("init"), threads: settings.threads,
                                           pooling: try pooling(context), headSeed: settings.seed)
        context.log("train-rm: backbone \(try context.stringParam("init")) (\(rm.hadHead ? "reward head kept" : "fresh head, seed \(settings.seed)")), pooling \(rm.model.pooling.rawValue), SEP \(rm.model.format.sep), PAD \(rm.model.format.pad)")
        let (trainExamples, trainReport) = try examples(context, "train", rm: rm, settings: settings)
        guard !trainExamples.isEmpty else {
            throw JobParameterError.invalid(name: "train", message: "no usable training pairs")
        }
        let (evalExamples, evalReport) = try examples(context, "eval", rm: rm, settings: settings)

        let trainer = RewardTrainer(model: rm.model, settings: settings, examples: trainExamples,
                                    precision: precision)
        let checkpoints = context.checkpointDirectory.appendingPathComponent("train-rm")
        _ = try TrainingJob.resume(trainer, kind: name, context: context, checkpoints: checkpoints)
        let longestEval = evalExamples.flatMap { $0.sequences.map(\.count) }.max() ?? 1
        let scorer = evalExamples.isEmpty ? nil
            : RewardScorer(model: rm.model, batchSize: max(2, settings.microBatchSize * 2), maxSeqLen: longestEval,
                           threads: settings.threads, precision: precision)
        let trunk = try useFrozenTrunk(context, rm: rm, trainer: trainer, scorer: scorer,
                                       sequences: (trainExamples + evalExamples).flatMap(\.sequences))
        func evaluate(step: Int) -> RMMetrics? {
            scorer.map { recordEvaluation($0.evaluate(evalExamples), step: step, context) }
        }

        let started = Date()
        var lastLoss = Double.nan
        let evalEvery = try context.intParam("eval_every")
        try TrainingJob.run(trainer, context: context, checkpoints: checkpoints, record: { s in
            lastLoss = s.loss
            return recordStep(s, context)
        }, afterStep: { step in
            if evalEvery > 0, step % evalEvery == 0, !trainer.isFinished { _ = evaluate(step: step) }
        })
        let finalMetrics = evaluate(step: trainer.progress.step)
        if let trunk { context.log("train-rm: \(trunk.summary)") }

        // Through writeArtifact, so the model directory is a recorded artifact like metrics.json.
        let modelURL = try context.writeArtifact(named: "model") { url in
            try RewardModelFiles.save(rm.model, tokenizer: rm.tokenizer, chatTemplate: rm.chatTemplate,
                                      frozenBlocks: trainer.graph.backbone.trainable.firstTrainableLayer, to: url)
        }
        // Wall time is a metric row, not part of metrics.json: an artifact is a function of the
        // job's inputs (memoization and the chaos check compare them byte for byte).
        context.recordMetric(step: trainer.progress.step, name: "wall_seconds", value: Date().timeIntervalSince(started))
        let summary = TrainRMSummary(steps: trainer.progress.step, finalLoss: lastLoss, settings: settings,
                                     trainData: trainReport, evalData: evalExamples.isEmpty ? nil : evalReport,
                                     eval: finalMetrics)
        let metricsURL = try context.writeArtifact(named: "metrics.json") { url in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(summary).write(to: url)
        }
        try? FileManager.default.removeItem(at: checkpoints)
        return ["model": .string(modelURL.path), "metrics": .string(metricsURL.path)]
    }

    /// The pairs of every file the path-list parameter `name` names, tokenized, with what was
    /// skipped or truncated (logged per file, summed over the files).
    static func examples(_ context: any JobContext, _ name: String, rm: RewardModelFiles.Loaded,
                         settings: RewardTrainingSettings) throws -> ([RewardExample], RewardDataReport) {
        let limit = try context.intParam("max_pairs")
        var all: [RewardExample] = [], total = RewardDataReport()
        for url in try pathList(context, name) {
            let (examples, report) = try RewardScoring.examples(fromPairsFile: url, tokenizer: rm.tokenizer,
                                                                format: rm.model.format, maxLength: settings.maxLength,
                                                                limit: limit >= 0 ? limit : nil)
            context.log("train-rm: \(url.lastPathComponent): \(report.used) items used, \(report.identicalAfterTruncation) identical after truncation and \(report.equalScores) with equal scores skipped, \(report.truncatedSequences) sequences truncated")
            all += examples
            total.used += report.used
            total.identicalAfterTruncation += report.identicalAfterTruncation
            total.equalScores += report.equalScores
            total.truncatedSequences += report.truncatedSequences
        }
        return (all, total)
    }

    /// Points the trainer and the scorer at the host's frozen-trunk cache (`trunk_cache`) and, when
    /// every text's states fit, fills it before the first step. Nil when the cache is off.
    static func useFrozenTrunk(_ context: any JobContext, rm: RewardModelFiles.Loaded, trainer: RewardTrainer,
                               scorer: RewardScorer?, sequences: [[Int32]]) throws -> FrozenTrunkParameter.Binding? {
        guard let trunk = try FrozenTrunkParameter.store(context, parameters: rm.model.parameters,
                                                         frozenBlocks: trainer.graph.backbone.trainable.firstTrainableLayer)
        else { return nil }
        trainer.graph.backbone.useFrozenTrunk(trunk.store, depth: trunk.depth)
        scorer?.graph.backbone.useFrozenTrunk(trunk.store, depth: trunk.depth)
        if TrunkPrefill.fits(sequences, hiddenSize: rm.model.parameters.config.hiddenSize,
                             capacityBytes: context.trunkCache.capacityBytes) {
            // Training has not started: step 0 of the steps, the prefill's own count in the message.
            let outcome = try TrunkPrefill.run(sequences, graph: trainer.graph.backbone, store: trunk.store,
                                               checkStop: { try context.checkCancelled() }) { done, total in
                context.reportProgress(done: trainer.progress.step, total: trainer.totalSteps,
                                       message: "frozen-trunk prefill \(done)/\(total) texts")
            }
            context.log("train-rm: frozen-trunk prefill: \(outcome)")
        }
        return trunk
    }

    /// One optimiser step's metrics; returns the progress line's text.
    static func recordStep(_ s: RewardTrainingStep, _ context: any JobContext) -> String {
        for (name, value) in [("loss", s.loss), ("accuracy", s.accuracy), ("chosen_reward", s.meanChosenReward),
                              ("rejected_reward", s.meanRejectedReward), ("lr", s.learningRate),
                              ("grad_norm", s.gradientNorm), ("tokens_per_s", s.tokensPerSecond),
                              ("samples_per_s", s.samplesPerSecond)] {
            context.recordMetric(step: s.step, name: name, value: value)
        }
        return String(format: "loss %.4f acc %.2f", s.loss, s.accuracy)
    }

    /// An evaluation's metrics (`eval_*`) at `step`, logged; returns them.
    static func recordEvaluation(_ m: RMMetrics, step: Int, _ context: any JobContext) -> RMMetrics {
        for (name, value) in [("eval_accuracy", m.accuracy), ("eval_avg_score", m.averageScore), ("eval_ece", m.ece),
                              ("eval_ace", m.ace), ("eval_mce", m.mce)] {
            context.recordMetric(step: step, name: name, value: value)
        }
        context.log(String(format: "train-rm: step %d eval accuracy %.4f ECE %.4f", step, m.accuracy, m.ece))
        return m
    }
}

/// The `metrics` output of `train-rm`.
public struct TrainRMSummary: Codable, Sendable {
    public var steps: Int
    public var finalLoss: Double
    public var settings: RewardTrainingSettings
    public var trainData: RewardDataReport
    public var evalData: RewardDataReport?
    public var eval: RMMetrics?
}
