import APOEngine
import Foundation

/// Supervised fine-tuning of the policy on rejection-sampled targets (spec §1 step 5): each
/// query's prompt (rendered exactly as `generate` renders it) followed by its `target`, with the
/// loss on the target's tokens and the end-of-answer token only. Resumes from the job's
/// checkpoint directory; writes the fine-tuned model directory.
public enum TrainLLMKind: JobKind {
    public static let name = "train-llm"
    // 2: metrics.json no longer holds the wall time (now the metric wall_seconds).
    public static let version = 2
    public static let parameters = PolicyTrainingJob.commonParameters + [
        ParameterSpec("data", .path, help: "rejection-sampling output (samples items with a \"target\")"),
        ParameterSpec("lr", .double, default: .double(1e-5), help: "peak learning rate (the 7B reference used 5e-6, 2e-6, 9e-7 for rounds 1-3)"),
    ]
    public static let outputs = ["model", "metrics"]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let settings = try PolicyTrainingJob.settings(from: context, objective: .sft)
        let policy = try PolicyTrainingJob.loadPolicy(context, threads: settings.threads)
        let dataURL = try context.pathParam("data")
        let items = try RejectionSamplesFile.read(dataURL)
        var examples: [PolicyExample] = []
        var skipped = 0, truncated = 0
        for item in items {
            guard let s = policy.sequence(query: item.item.query, response: item.target) else {
                skipped += 1
                context.log("train-llm: query '\(item.item.queryID)' leaves no room for its target within max_length; skipped")
                continue
            }
            let full = policy.format.responseTokens(response: item.target, tokenizer: policy.loaded.tokenizer).count
            if s.responseCount < full { truncated += 1 }
            examples.append(PolicyExample(sequences: [s]))
        }
        guard !examples.isEmpty else {
            throw FormatError(file: dataURL.path, message: "no usable training targets (\(items.count) items, \(skipped) skipped)")
        }
        context.log("train-llm: \(examples.count) targets from \(dataURL.lastPathComponent) (\(skipped) skipped, \(truncated) responses cut at max_length), template \(policy.format.template.rawValue)")

        let trainer = PolicyTrainer(parameters: policy.loaded.parameters, settings: settings, examples: examples,
                                    precision: try context.computePath().precision)
        let checkpoints = context.checkpointDirectory.appendingPathComponent("train-llm")
        let (last, seconds) = try PolicyTrainingJob.train(trainer, kind: name, context: context, checkpoints: checkpoints)
        return try PolicyTrainingJob.finish(policy, trainer: trainer, last: last, seconds: seconds, examples: examples.count,
                                            skipped: skipped, truncated: truncated, checkpoints: checkpoints, context: context)
    }
}
