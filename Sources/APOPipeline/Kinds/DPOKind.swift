import APOEngine
import Foundation

/// Direct preference optimisation of the policy (the paper's best LLM update): per query, the
/// RM's best-scored sample is "chosen" and its worst "rejected"; the loss is
/// `−log σ(β·[(log π(c) − log π_ref(c)) − (log π(r) − log π_ref(r))])` with log-probs summed over
/// response tokens (+ end-of-answer). The reference is the starting policy: its log-probs are
/// computed once, before the first step, and kept in the job's checkpoint directory, so a resumed
/// attempt reuses them instead of recomputing from half-trained weights.
public enum DPOKind: JobKind {
    public static let name = "dpo"
    // 2: metrics.json no longer holds the wall time (now the metric wall_seconds).
    public static let version = 2
    public static let parameters = PolicyTrainingJob.commonParameters + [
        ParameterSpec("samples", .path, help: "LLM samples file (sample_0 … per query)"),
        ParameterSpec("scores", .path, help: "RM scores of those samples ({\"<query_id>:<answer_key>\": score} items)"),
        ParameterSpec("beta", .double, default: .double(0.1), help: "DPO temperature β"),
        ParameterSpec("lr", .double, default: .double(5e-6), help: "peak learning rate"),
    ]
    public static let outputs = ["model", "metrics"]

    /// One query's preference pair.
    public struct Pair: Equatable, Sendable {
        public var queryID: String
        public var query: String
        public var chosenKey: String, chosen: String
        public var rejectedKey: String, rejected: String
    }

    public struct Selection {
        public var pairs: [Pair]
        /// Queries with fewer than two usable answers, or whose best and worst scores are equal.
        public var skippedQueryIDs: [String]
    }

    /// Pairs in samples-file order. Usable answers are those of `rejection-sample`: non-blank, and
    /// `hh_best` only when it is the sole one; ties for best (worst) go to the earlier score.
    /// Throws when a score names a query or answer key that the samples file does not have.
    public static func select(samples: [LLMSample], scores: [RMScore], scoresFile: String) throws -> Selection {
        var result = Selection(pairs: [], skippedQueryIDs: [])
        for entry in try RejectionSampleKind.scoredItems(samples: samples, scores: scores, scoresFile: scoresFile) {
            let item = entry.item, usable = entry.usable
            var best: (key: String, score: Double)?, worst: (key: String, score: Double)?
            for c in usable {
                if best == nil || c.score > best!.score { best = c }
                if worst == nil || c.score < worst!.score { worst = c }
            }
            guard let best, let worst, best.score > worst.score,
                  let chosen = item.answer(forKey: best.key), let rejected = item.answer(forKey: worst.key) else {
                result.skippedQueryIDs.append(item.queryID)
                continue
            }
            result.pairs.append(Pair(queryID: item.queryID, query: item.query, chosenKey: best.key, chosen: chosen,
                                     rejectedKey: worst.key, rejected: rejected))
        }
        return result
    }

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let beta = try context.doubleParam("beta")
        guard beta > 0 else { throw JobParameterError.invalid(name: "beta", message: "must be positive, found \(beta)") }
        let settings = try PolicyTrainingJob.settings(from: context, objective: .dpo(beta: beta))
        let policy = try PolicyTrainingJob.loadPolicy(context, threads: settings.threads)
        let samplesURL = try context.pathParam("samples"), scoresURL = try context.pathParam("scores")
        let selection = try select(samples: try LLMSamplesFile.read(samplesURL), scores: try RMScoresFile.read(scoresURL),
                                   scoresFile: scoresURL.path)
        for id in selection.skippedQueryIDs {
            context.log("dpo: query '\(id)' has no pair of usable answers with different scores; skipped")
        }
        let (examples, tooLong, truncated) = examples(selection, policy: policy, context: context)
        let skipped = selection.skippedQueryIDs.count + tooLong
        guard !examples.isEmpty else {
            throw FormatError(file: scoresURL.path, message: "no usable preference pairs (\(selection.skippedQueryIDs.count) queries skipped)")
        }
        context.log("dpo: \(examples.count) pairs, \(skipped) queries skipped, \(truncated) answers cut at max_length, β \(beta), template \(policy.format.template.rawValue)")

        let trainer = PolicyTrainer(parameters: policy.loaded.parameters, settings: settings, examples: examples,
                                    precision: try context.computePath().precision)
        let checkpoints = context.checkpointDirectory.appendingPathComponent("dpo")
        let (last, seconds) = try PolicyTrainingJob.train(trainer, kind: name, context: context, checkpoints: checkpoints) { resumed in
            try prepareReference(trainer, checkpoints: checkpoints, resumed: resumed, context: context)
        }
        return try PolicyTrainingJob.finish(policy, trainer: trainer, last: last, seconds: seconds, examples: examples.count,
                                            skipped: skipped, truncated: truncated, checkpoints: checkpoints, context: context)
    }

    /// Each selected pair as chosen and rejected sequences; pairs with no room for their answers
    /// within max_length are skipped (`tooLong`), answers cut at max_length counted (`truncated`).
    static func examples(_ selection: Selection, policy: PolicyTrainingJob.Policy, context: any JobContext)
        -> (examples: [PolicyExample], tooLong: Int, truncated: Int) {
        var examples: [PolicyExample] = []
        var tooLong = 0, truncated = 0
        let tokenizer = policy.loaded.tokenizer
        for p in selection.pairs {
            guard let c = policy.sequence(query: p.query, response: p.chosen),
                  let r = policy.sequence(query: p.query, response: p.rejected) else {
                tooLong += 1
                context.log("dpo: query '\(p.queryID)' leaves no room for its answers within max_length; skipped")
                continue
            }
            for (s, text) in [(c, p.chosen), (r, p.rejected)]
            where s.responseCount < policy.format.responseTokens(response: text, tokenizer: tokenizer).count {
                truncated += 1
            }
            examples.append(PolicyExample(sequences: [c, r]))
        }
        return (examples, tooLong, truncated)
    }

    /// The starting policy's log-probs of every sequence, which DPO's loss compares against: from
    /// the checkpoint directory when stored, else computed before the first step and stored.
    static func prepareReference(_ trainer: PolicyTrainer, checkpoints: URL, resumed: Bool, context: any JobContext) throws {
        let restored: Bool
        do {
            restored = try PolicyCheckpoint.restoreReference(trainer, from: checkpoints)
        } catch let error as CheckpointError where !resumed {
            context.log("dpo: stored reference log-probs unusable, computing them again: \(error)")
            restored = false
        }
        if restored {
            context.log("dpo: reference log-probs loaded from the checkpoint directory")
            return
        }
        // Weights already moved away from the starting policy cannot give its log-probs: the
        // checkpoints go, so the next attempt starts over instead of failing the same way.
        guard !resumed else {
            try? FileManager.default.removeItem(at: checkpoints)
            throw CheckpointError.corrupt(path: checkpoints.path, reason: "a training checkpoint without usable reference log-probs (removed; the next attempt starts over)")
        }
        // Cancelled half-way, nothing is kept: the next attempt starts the pass again.
        let values = try trainer.computeReferenceLogProbs { done, total in
            try context.checkCancelled()
            context.reportProgress(done: 0, total: trainer.totalSteps, message: "reference log-probs \(done)/\(total)")
        }
        trainer.setReferenceLogProbs(values)
        try PolicyCheckpoint.saveReference(trainer, to: checkpoints)
    }
}
