import APOEngine
import APOJSON
import Foundation

/// Scores with a reward model: a samples file → the spec's scores file
/// (`[{"<query_id>:<answer_key>": score}]`), or a pairs file → a metrics JSON (preference accuracy,
/// average score, ECE/ACE/MCE). Exactly one of `samples` and `pairs` is given. A shard job
/// (`ShardSelection`, samples only) scores a run of whole chunks of `chunkItems` queries.
public enum ScoreKind: JobKind {
    public static let name = "score"
    public static let version = 1
    public static let parameters = [
        ParameterSpec("model", .path, help: "reward-model directory (train-rm's `model` output)"),
        ParameterSpec("samples", .path, default: .null, help: "LLM samples file to score"),
        ParameterSpec("pairs", .path, default: .null, help: "pairs file to evaluate"),
        ParameterSpec("max_length", .int, default: .int(512), help: "tokens per sequence, truncated from the left"),
        ParameterSpec("batch", .int, default: .int(8), help: "sequences per forward pass"),
        ParameterSpec("threads", .int, default: .int(0), help: "CPU threads (0: the worker's share)"),
        .precision,
        .trunkCache,
    ]
    public static let outputs = ["scores", "metrics"]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let samples = try context.optionalPathParam("samples")
        let pairs = try context.optionalPathParam("pairs")
        guard (samples == nil) != (pairs == nil) else {
            throw JobParameterError.invalid(name: samples == nil ? "samples" : "pairs",
                                            message: "give exactly one of 'samples' (to score) and 'pairs' (to evaluate)")
        }
        let threads = try context.threadsParam()
        let precision = try context.computePath().precision
        let maxLength = try context.intParam("max_length")
        let batch = max(1, try context.intParam("batch"))
        let rm = try RewardModelFiles.load(path: try context.stringParam("model"), threads: threads)
        guard rm.hadHead else {
            throw JobParameterError.invalid(name: "model", message: "\(try context.stringParam("model")) has no reward head '\(RewardModel.headTensorName)'; train one with train-rm")
        }
        let shard = try ShardSelection.of(context.params)
        let trunk = try FrozenTrunkParameter.store(context, parameters: rm.model.parameters,
                                                   frozenBlocks: rm.frozenBlocks ?? 0)
        defer { if let trunk { context.log("score: \(trunk.summary)") } }
        if let samples {
            let items = try shardItems(try LLMSamplesFile.read(samples), shard: shard)
            let scores = try scoreResumably(items, rm: rm, context: context, maxLength: maxLength, batch: batch,
                                            threads: threads, precision: precision, trunk: trunk)
            let url = try context.writeArtifact(named: "scores.json") { try RMScoresFile.write(scores, to: $0) }
            context.log("score: \(scores.count) answers of \(items.count) queries\(shard.map { " (\($0))" } ?? "")")
            try? FileManager.default.removeItem(at: context.checkpointDirectory.appendingPathComponent(partialName))
            return ["scores": .string(url.path)]
        }
        if shard != nil {
            throw JobParameterError.invalid(name: "pairs", message: "a pairs evaluation cannot be sharded: its metrics are over all pairs")
        }
        let (examples, report) = try RewardScoring.examples(fromPairsFile: pairs!, tokenizer: rm.tokenizer,
                                                            format: rm.model.format, maxLength: maxLength)
        let scorer = RewardScorer(model: rm.model, batchSize: batch,
                                  maxSeqLen: examples.flatMap { $0.sequences.map(\.count) }.max() ?? 1, threads: threads,
                                  precision: precision)
        if let trunk { scorer.graph.backbone.useFrozenTrunk(trunk.store, depth: trunk.depth) }
        let metrics = scorer.evaluate(examples)
        context.recordMetric(step: 0, name: "accuracy", value: metrics.accuracy)
        context.recordMetric(step: 0, name: "avg_score", value: metrics.averageScore)
        context.recordMetric(step: 0, name: "ece", value: metrics.ece)
        let url = try context.writeArtifact(named: "metrics.json") { url in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(RewardEvaluation(metrics: metrics, data: report)).write(to: url)
        }
        return ["metrics": .string(url.path)]
    }

    static let partialName = "score-partial.json"
    /// Queries scored per chunk. A chunk's answers are batched by length, so a score can depend on
    /// its chunk's neighbours (padding, product shapes): shards take whole chunks for that reason.
    static let chunkItems = 64

    /// A shard's queries: whole chunks of `chunkItems` (`ShardSelection`).
    static func shardItems(_ items: [LLMSample], shard: ShardSelection?) throws -> [LLMSample] {
        guard let shard else { return items }
        return Array(items[try shard.itemRange(itemCount: items.count, chunkSize: chunkItems, items: "queries",
                                               chunkSizeName: "score's checkpointed chunk")])
    }

    /// Scores `chunkItems` queries at a time, saving the scores so far into the checkpoint
    /// directory (temp + rename), so a retried job continues after the last finished chunk.
    static func scoreResumably(_ items: [LLMSample], rm: RewardModelFiles.Loaded, context: any JobContext,
                               maxLength: Int, batch: Int, threads: Int, precision: ComputePrecision,
                               trunk: FrozenTrunkParameter.Binding?) throws -> [RMScore] {
        let partialURL = context.checkpointDirectory.appendingPathComponent(partialName)
        var done = 0
        var scores: [RMScore] = []
        if let data = try? Data(contentsOf: partialURL),
           case .object(let o)? = try? JSONValue.parseJSON(data),
           let n = o["items_done"]?.intValue, n <= items.count, case .array(let list)? = o["scores"],
           var decoded = try? RMScoresFile.decode(list, file: partialURL.path) {
            // The exact values: a score read back from its decimal text can come back one ulp off
            // (Foundation's JSON parser), and a resumed job must write the same bytes as a straight
            // one (seen in `apoctl bench chaos`). Partials from before `score_bits` use the text.
            if case .array(let bits)? = o["score_bits"], bits.count == decoded.count {
                for (i, b) in bits.enumerated() {
                    guard let text = b.stringValue, let pattern = UInt64(text, radix: 16) else { break }
                    decoded[i].score = Double(bitPattern: pattern)
                }
            }
            done = n
            scores = decoded
            context.log("score: resuming after \(n) of \(items.count) queries")
        }
        while done < items.count {
            try context.checkCancelled()
            let chunk = Array(items[done..<min(done + chunkItems, items.count)])
            // A stop between batches (seconds apart) rather than chunks (a minute or more apart):
            // the chunk's work is lost, but the job stops within apod's grace instead of being settled.
            scores += try RewardScoring.scoreSamples(chunk, model: rm.model, tokenizer: rm.tokenizer, maxLength: maxLength,
                                                     batch: batch, threads: threads, precision: precision, trunk: trunk) { _, _ in
                try context.checkCancelled()
            }
            done += chunk.count
            context.reportProgress(done: done, total: items.count, message: nil)
            let encoded = try JSONValue.parseJSON(try RMScoresFile.encode(scores))
            let tmp = partialURL.appendingPathExtension("tmp")
            let bits = JSONValue.array(scores.map { .string(String($0.score.bitPattern, radix: 16)) })
            try Durability.write(Data(try JSONValue.object(["items_done": .int(done), "scores": encoded, "score_bits": bits])
                .jsonString().utf8), to: tmp)
            guard rename(tmp.path, partialURL.path) == 0 else {
                throw DurabilityError(path: partialURL.path, operation: "rename", code: errno)
            }
            try Durability.flush(path: context.checkpointDirectory.path)
        }
        return scores
    }
}
