import APOEngine
import APOJSON
import Crypto
import Foundation

/// Samples `samples` responses per query with the engine's batched generator and writes the spec's
/// samples file (`query_id`, `query`, `sample_0…`). Queries come from a queries file (items with
/// `query_id` and `query`) or a preference-pairs file (the text before `<sep>`; each distinct
/// query once, id from `query_id` or else `pair-<index>`).
///
/// Resumable: queries are processed in chunks of `chunk_size`; each finished chunk is saved in the
/// checkpoint directory, so a killed job resumes after its last finished chunk. Every sample draws
/// from its own random stream seeded by (seed, query id, sample index), so a resumed run writes
/// exactly what an uninterrupted one would. A shard job (`ShardSelection`) does a run of whole
/// chunks, so the merged shards are the unsharded file byte for byte.
public enum GenerateKind: JobKind {
    public static let name = "generate"
    // 2: decode steps read int8 weights by default (`decode_weights`), so samples differ from version 1's.
    // 3: the default reads a GGUF's own blocks (`file`), so samples differ from version 2's.
    public static let version = 3
    public static let parameters = [
        ParameterSpec("model", .path, help: "model file (.gguf) or model directory"),
        ParameterSpec("input", .path, help: "queries file (query_id, query) or preference-pairs file"),
        ParameterSpec("samples", .int, default: .int(4), help: "responses per query"),
        ParameterSpec("max_queries", .int, default: .int(0),
                      help: "answer only the input's first N queries, in file order (0: all); a run's budget knob"),
        ParameterSpec("temperature", .double, default: .double(0.6), help: "0 = greedy"),
        ParameterSpec("top_k", .int, default: .int(0), help: "0 = off"),
        ParameterSpec("top_p", .double, default: .double(0.9), help: "1 = off"),
        ParameterSpec("repetition_penalty", .double, default: .double(1.0), help: "1 = off"),
        ParameterSpec("max_new_tokens", .int, default: .int(256), help: "tokens generated per response at most"),
        ParameterSpec("max_prompt_tokens", .int, default: .int(512), help: "longer prompts are truncated from the left"),
        ParameterSpec("seed", .int, default: .int(0), help: "base of the per-(query, sample) random streams"),
        ParameterSpec("template", .string, default: .string("auto"),
                      help: "prompt rendering: chatml, raw (HH text as is), or auto (the model's own template)"),
        ParameterSpec("threads", .int, default: .int(0), help: "0 = the worker's thread count"),
        ParameterSpec("slots", .int, default: .int(16), help: "sequences decoded together"),
        ParameterSpec("chunk_size", .int, default: .int(32), help: "queries per checkpointed chunk"),
        ParameterSpec("decode_weights", .string, default: .string("file"),
                      allowedValues: DecodeWeights.allCases.map(\.rawValue),
                      help: "weights decode steps read: file (a GGUF's own Q4_1/Q8_0 blocks; int8 copies otherwise), "
                          + "int8 (int8 copies of every matrix) or f32 (exact fp32)"),
    ]
    public static let outputs = ["samples"]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let samplesPerQuery = try context.intParam("samples")
        let chunkSize = try context.intParam("chunk_size")
        guard samplesPerQuery > 0 else { throw JobParameterError.invalid(name: "samples", message: "must be > 0") }
        guard chunkSize > 0 else { throw JobParameterError.invalid(name: "chunk_size", message: "must be > 0") }
        let threads = try context.threadsParam()
        let options = try generationOptions(context)
        let seed = UInt64(bitPattern: Int64(try context.intParam("seed")))
        let templateName = try context.stringParam("template")
        if templateName != "auto" { _ = try resolveTemplate(templateName, chatTemplate: nil) }
        let shard = try ShardSelection.of(context.params)
        let queries = try selectedQueries(context, shard: shard, chunkSize: chunkSize)

        let loaded = try ModelLoader.load(path: try context.pathParam("model").path, threads: threads)
        let template = try resolveTemplate(templateName, chatTemplate: loaded.chatTemplate)
        // The same prompt tokens train-llm and dpo train on (PromptFormat is the one source).
        let promptFormat = PromptFormat(chatTemplateString: loaded.chatTemplate, override: template)
        let model = try LlamaModel(loaded: loaded)
        let generator = try BatchedGenerator(model: model, tokenizer: loaded.tokenizer, options: options, threads: threads)
        // What decode reads, made now (under a second) so the log says it: e.g. "file (Q4_1 ×210, Q8_0 ×1)".
        let readAs = model.decodeWeights(options.decodeWeights, threads: threads).map { " (\($0.summary))" } ?? " (read as fp32: this CPU lacks AVX2/FMA/F16C)"
        context.log("generate: \(queries.count) queries\(shard.map { " (\($0))" } ?? "") × \(samplesPerQuery) samples, template \(template.rawValue), "
                    + "\(threads) threads, \(options.decodeWeights.rawValue) decode weights" + (options.decodeWeights == .float32 ? "" : readAs))

        let checkpoint = ChunkCheckpoint(directory: context.checkpointDirectory,
                                         fingerprint: fingerprint(context.params, queries: queries))
        var results: [LLMSample] = []
        let chunkCount = (queries.count + chunkSize - 1) / chunkSize
        for chunk in 0..<chunkCount {
            try context.checkCancelled()
            let range = (chunk * chunkSize)..<min(queries.count, (chunk + 1) * chunkSize)
            if let saved = try checkpoint.load(chunk: chunk), saved.count == range.count {
                results += saved
                context.reportProgress(done: range.upperBound, total: queries.count, message: "chunk \(chunk + 1)/\(chunkCount) (resumed)")
                continue
            }
            let prompts = queries[range].map { promptFormat.promptTokens(query: $0.query, tokenizer: loaded.tokenizer) }
            let items = try sample(Array(queries[range]), prompts: prompts, samplesPerQuery: samplesPerQuery, seed: seed,
                                   generator: generator, context: context)
            try checkpoint.save(items, chunk: chunk)
            results += items
            context.reportProgress(done: range.upperBound, total: queries.count, message: "chunk \(chunk + 1)/\(chunkCount)")
        }
        let url = try context.writeArtifact(named: "samples.json") { try LLMSamplesFile.write(results, to: $0) }
        context.recordMetric(step: 0, name: "queries", value: Double(results.count))
        return ["samples": .string(url.path)]
    }

    /// Sampling, lengths, slots and decode weights from the job's parameters, validated.
    static func generationOptions(_ context: any JobContext) throws -> GenerationOptions {
        var options = GenerationOptions(
            sampling: SamplingParameters(
                temperature: Float(try context.doubleParam("temperature")), topK: try context.intParam("top_k"),
                topP: Float(try context.doubleParam("top_p")),
                repetitionPenalty: Float(try context.doubleParam("repetition_penalty"))),
            maxNewTokens: try context.intParam("max_new_tokens"),
            maxPromptTokens: try context.intParam("max_prompt_tokens"),
            slots: try context.intParam("slots"))
        try options.sampling.validate()
        let decodeWeightsName = try context.stringParam("decode_weights")
        guard let decodeWeights = DecodeWeights(rawValue: decodeWeightsName) else {
            let allowed = DecodeWeights.allCases.map(\.rawValue).joined(separator: ", ")
            throw JobParameterError.invalid(name: "decode_weights", message: "\"\(decodeWeightsName)\" is not one of \(allowed)")
        }
        options.decodeWeights = decodeWeights
        return options
    }

    /// The input's queries, cut to `max_queries` before sharding, so that the shards split the cut
    /// list and merge to the unsharded file.
    static func selectedQueries(_ context: any JobContext, shard: ShardSelection?, chunkSize: Int) throws
        -> [(queryID: String, query: String)] {
        let maxQueries = try context.intParam("max_queries")
        guard maxQueries >= 0 else { throw JobParameterError.invalid(name: "max_queries", message: "must be ≥ 0 (0: all)") }
        let allQueries = try readQueries(try context.pathParam("input"))
        return try shardQueries(maxQueries > 0 ? Array(allQueries.prefix(maxQueries)) : allQueries,
                                shard: shard, chunkSize: chunkSize)
    }

    /// `samplesPerQuery` samples of each query, each drawn from its own stream of `seed` (so a
    /// sample does not depend on the chunk or the slots it ran in).
    static func sample(_ queries: [(queryID: String, query: String)], prompts: [[Int32]], samplesPerQuery: Int, seed: UInt64,
                       generator: BatchedGenerator, context: any JobContext) throws -> [LLMSample] {
        var requests: [GenerationRequest] = []
        for (q, prompt) in zip(queries, prompts) {
            for k in 0..<samplesPerQuery {
                requests.append(GenerationRequest(prompt: prompt, seed: SplitMix64.streamSeed(base: seed, query: q.queryID, sample: k)))
            }
        }
        var texts = [String](repeating: "", count: requests.count)
        try generator.generate(requests) { result in
            texts[result.requestIndex] = result.text
            try context.checkCancelled()
        }
        return queries.enumerated().map { i, q in
            LLMSample(queryID: q.queryID, query: q.query,
                      samples: Array(texts[(i * samplesPerQuery)..<((i + 1) * samplesPerQuery)]))
        }
    }

    /// The queries of a queries file or a preference-pairs file (distinct queries, first id wins).
    public static func readQueries(_ url: URL) throws -> [(queryID: String, query: String)] {
        let items = try JSONListFile.read(url)
        guard let first = items.first else {
            throw FormatError(file: url.path, message: "no queries (the file is an empty list)")
        }
        if case .object(let o) = first, o["text"] != nil {
            var seen = Set<String>()
            var out: [(String, String)] = []
            for (i, pair) in try PreferencePairsFile.decode(items, file: url.path).enumerated() {
                guard let text = pair.text.first, let split = PreferencePair.split(text) else {
                    throw FormatError(file: url.path, item: i, field: "text", message: "no query<sep>response entry")
                }
                if seen.insert(split.query).inserted { out.append((pair.queryID ?? "pair-\(i)", split.query)) }
            }
            return out
        }
        let queries = try LLMSamplesFile.decode(items, file: url.path)
        var ids = [String: Int]()
        for (i, q) in queries.enumerated() {
            if let earlier = ids.updateValue(i, forKey: q.queryID) {
                throw FormatError(file: url.path, item: i, field: "query_id",
                                  message: "duplicate query id '\(q.queryID)' (first at item \(earlier))")
            }
        }
        return queries.map { ($0.queryID, $0.query) }
    }

    /// A shard's queries: whole chunks of `chunkSize`, so its chunks are the unsharded job's (`ShardSelection`).
    static func shardQueries(_ queries: [(queryID: String, query: String)], shard: ShardSelection?,
                             chunkSize: Int) throws -> [(queryID: String, query: String)] {
        guard let shard else { return queries }
        return Array(queries[try shard.itemRange(itemCount: queries.count, chunkSize: chunkSize, items: "queries",
                                                 chunkSizeName: "the chunk_size parameter")])
    }

    static func resolveTemplate(_ name: String, chatTemplate: String?) throws -> ChatTemplate {
        if name == "auto" { return ChatTemplate.detect(chatTemplateString: chatTemplate) }
        do { return try ChatTemplate(name: name) } catch {
            throw JobParameterError.invalid(name: "template", message: "'\(name)' is not chatml, raw or auto")
        }
    }

    /// Identifies what a checkpointed chunk was computed from; chunks of another configuration
    /// (changed parameters or input) are recomputed, never mixed in.
    static func fingerprint(_ params: [String: JSONValue], queries: [(queryID: String, query: String)]) -> String {
        var hasher = SHA256()
        let keys = params.keys.filter { $0 != "threads" && $0 != "slots" }.sorted()
        for k in keys { hasher.update(data: Data("\(k)=\(params[k]!)\n".utf8)) }
        for q in queries { hasher.update(data: Data("\(q.queryID)\u{0}\(q.query)\u{0}".utf8)) }
        hasher.update(data: Data("version=\(version)".utf8))
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

/// Finished chunks of a job, one samples file each, written durably and atomically (temp file,
/// fsync, rename, fsync of the folder) so neither a kill nor a crash leaves a half-written chunk.
struct ChunkCheckpoint {
    let directory: URL
    let fingerprint: String

    func url(_ chunk: Int) -> URL {
        directory.appendingPathComponent("generate-\(fingerprint.prefix(16))-chunk-\(String(format: "%05d", chunk)).json")
    }

    func load(chunk: Int) throws -> [LLMSample]? {
        let u = url(chunk)
        guard FileManager.default.fileExists(atPath: u.path) else { return nil }
        return try LLMSamplesFile.read(u)
    }

    func save(_ items: [LLMSample], chunk: Int) throws {
        let final = url(chunk)
        let tmp = directory.appendingPathComponent("." + final.lastPathComponent + ".tmp")
        try LLMSamplesFile.write(items, to: tmp)
        try Durability.flush(path: tmp.path)
        guard rename(tmp.path, final.path) == 0 else {
            throw DurabilityError(path: final.path, operation: "rename", code: errno)
        }
        try Durability.flush(path: directory.path)
    }
}
