import APOEngine
import Foundation
import Testing
@testable import APOPipeline

/// Sharded `generate` and `score` on the real SmolLM2 model and the real HH data: the merged file
/// is the unsharded job's byte for byte, and a shard killed mid-way is retried alone.
@Suite(.serialized) struct ShardedKindsTests {
    static let modelPath = repositoryRoot().appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    static func requireData() throws {
        try #require(FileManager.default.fileExists(atPath: modelPath), "model missing: run deploy/fetch-model.sh")
        try #require(FileManager.default.fileExists(atPath: sharedHHFile().path), "missing shared HH data at \(sharedHHFile().path)")
    }

    /// The real HH file's first queries (prepare-data's RM-training split of 12), sampled briefly.
    static func generatePipeline(shards: Int) -> String {
        """
        name: sharded-generate
        jobs:
          - id: prepare
            kind: prepare-data
            params: {input: "\(sharedHHFile().path)", max_queries: 12, seed: 3}
          - id: answers
            kind: generate
            shards: \(shards)
            params:
              model: "\(modelPath)"
              input: "${jobs.prepare.outputs.rm_train_queries}"
              samples: 2
              max_new_tokens: 4
              max_prompt_tokens: 48
              temperature: 0.8
              chunk_size: 1
              seed: 11
              threads: 2
        """
    }

    static func bytes(_ outputs: [String: JobOutputs], _ job: String, _ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: try #require(outputs[job]?[name]?.stringValue)))
    }

    // MARK: - Which items a shard takes

    @Test func shardsAreContiguousRunsOfWholeChunksCoveringTheInput() throws {
        for (items, chunk, count) in [(10, 1, 3), (10, 3, 4), (130, 64, 3), (7, 2, 4), (5, 5, 1)] {
            let ranges = try (1...count).map {
                try ShardSelection(index: $0, count: count).itemRange(itemCount: items, chunkSize: chunk, items: "queries", chunkSizeName: "c")
            }
            #expect(ranges.first?.lowerBound == 0 && ranges.last?.upperBound == items, "\(items)/\(chunk)/\(count)")
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(ranges.allSatisfy { !$0.isEmpty && $0.lowerBound % chunk == 0 })
        }
    }

    @Test func moreShardsThanChunksIsAJobErrorSayingHowManyFit() throws {
        let error = #expect(throws: ShardError.self) {
            try ShardSelection(index: 4, count: 4).itemRange(itemCount: 5, chunkSize: 2, items: "queries", chunkSizeName: "the chunk_size parameter")
        }
        #expect(error?.description == "4 shards are more than the 3 chunks of 2 (the chunk_size parameter) that 5 queries make, "
                + "and a shard takes whole chunks so that the merged file is the unsharded job's byte for byte; use shards: 3 or fewer")
        #expect(throws: ShardError.self) {
            try ShardSelection(index: 1, count: 2).itemRange(itemCount: 64, chunkSize: 64, items: "queries", chunkSizeName: "c")
        }
        #expect(throws: JobParameterError.self) { try ShardSelection.of(["shard_index": .int(3), "shard_count": .int(2)]) }
        #expect(try ShardSelection.of(["seed": .int(1)]) == nil)
    }

    // MARK: - Merge

    @Test func mergeJoinsTheListsAsBytesInShardOrder() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let parts = try [#"[{"a":1.1000000000000001},{"b":"x"}]"#, "[]", #"[{"c":[1,2]}]"#].enumerated().map {
            try dir.write("p\($0.offset).json", $0.element)
        }
        let context = try TestJobContext(params: ["parts": .array(parts.map { .string($0.path) }), "output": .string("scores"),
                                                  "file": .string("scores.json")], root: dir.file("merge"))
        let out = try MergeShardsKind.run(context)
        let merged = try String(contentsOf: URL(fileURLWithPath: try #require(out["scores"]?.stringValue)), encoding: .utf8)
        #expect(merged == #"[{"a":1.1000000000000001},{"b":"x"},{"c":[1,2]}]"#)
        #expect(context.artifacts.keys.sorted() == ["scores.json"])
    }

    @Test func mergeRefusesAPartThatIsNotACompactList() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        for (name, text) in [("cut.json", #"[{"a":1},"#), ("object.json", #"{"a":1}"#), ("spaced.json", "[1]\n")] {
            let part = try dir.write(name, text)
            let context = try TestJobContext(params: ["parts": .array([.string(part.path)]), "output": .string("samples"),
                                                      "file": .string("samples.json")], root: dir.file("m-\(name)"))
            #expect(throws: FormatError.self) { try MergeShardsKind.run(context) }
            #expect(context.artifacts.isEmpty)
        }
    }

    // MARK: - Real model, real data

    @Test func shardedGenerateWritesTheUnshardedSamplesOnTheRealModel() throws {
        try Self.requireData()
        let dir = try TempDirectory()
        defer { dir.remove() }
        let single = try runInProcess(try PipelineSpec.expand(yaml: Self.generatePipeline(shards: 1), file: "g.yaml"), root: dir.file("one"))
        let sharded = try PipelineSpec.expand(yaml: Self.generatePipeline(shards: 3), file: "g.yaml")
        #expect(sharded.jobs.map(\.id) == ["prepare", "answers.shard1of3", "answers.shard2of3", "answers.shard3of3", "answers"])
        let outputs = try runInProcess(sharded, root: dir.file("three"))
        let queries = try LLMSamplesFile.read(URL(fileURLWithPath: try #require(single["answers"]?["samples"]?.stringValue)))
        #expect(queries.count >= 3)
        #expect(try Self.bytes(outputs, "answers", "samples") == Self.bytes(single, "answers", "samples"))
        // Each shard did its own part: together every query once.
        let parts = try (1...3).map { try LLMSamplesFile.read(URL(fileURLWithPath: outputs["answers.shard\($0)of3"]!["samples"]!.stringValue!)) }
        #expect(parts.allSatisfy { !$0.isEmpty } && parts.flatMap { $0 }.map(\.queryID) == queries.map(\.queryID))
    }

    /// The real model as a reward model (SmolLM2 with a seeded head) scoring the real HH golden
    /// answers of 130 queries, cut to 16 tokens: three chunks of 64 queries (64, 64, 2), three shards.
    @Test func shardedScoreWritesTheUnshardedScoresOnTheRealModel() throws {
        try Self.requireData()
        let dir = try TempDirectory()
        defer { dir.remove() }
        let rm = try RewardModelFiles.load(path: Self.modelPath, threads: 2, headSeed: 5)
        try RewardModelFiles.save(rm.model, tokenizer: rm.tokenizer, chatTemplate: rm.chatTemplate, to: dir.file("rm"))
        let prepared = try PrepareDataKind.run(try TestJobContext(params: ["input": .string(sharedHHFile().path), "seed": .int(1),
            "rm_train_fraction": .double(0.4), "llm_train_fraction": .double(0.4), "max_queries": .int(0), "sha256": .null,
            "golden": .null], root: dir.file("prepare")))
        let golden = try GoldenAnswersFile.read(URL(fileURLWithPath: try #require(prepared["rm_train_golden"]?.stringValue)))
        let queries = try LLMSamplesFile.read(URL(fileURLWithPath: try #require(prepared["rm_train_queries"]?.stringValue)))
        let answers = Dictionary(golden.map { ($0.queryID, $0.golden) }, uniquingKeysWith: { a, _ in a })
        let items = queries.prefix(130).map { LLMSample(queryID: $0.queryID, query: $0.query, samples: [answers[$0.queryID] ?? " Yes."]) }
        let samples = dir.file("samples.json")
        try LLMSamplesFile.write(Array(items), to: samples)

        func pipeline(_ shards: Int) throws -> ExpandedPipeline {
            try PipelineSpec.expand(yaml: """
                name: sharded-score
                jobs:
                  - id: scores
                    kind: score
                    shards: \(shards)
                    params: {model: "\(dir.file("rm").path)", samples: "\(samples.path)", max_length: 16, threads: 2}
                """, file: "s.yaml")
        }
        let single = try runInProcess(try pipeline(1), root: dir.file("one"))
        let sharded = try runInProcess(try pipeline(3), root: dir.file("three"))
        #expect(try RMScoresFile.read(URL(fileURLWithPath: try #require(single["scores"]?["scores"]?.stringValue))).count == 130)
        #expect(try Self.bytes(sharded, "scores", "scores") == Self.bytes(single, "scores", "scores"))
        #expect(throws: ShardError.self) { try runInProcess(try pipeline(4), root: dir.file("four")) }
    }

    /// A shard killed after its first chunk is retried alone: it resumes from that chunk, no other
    /// job runs again, and the merge writes the unsharded file.
    @Test func aKilledShardIsRetriedAloneAndTheMergeIsUnchanged() throws {
        try Self.requireData()
        let dir = try TempDirectory()
        defer { dir.remove() }
        let single = try runInProcess(try PipelineSpec.expand(yaml: Self.generatePipeline(shards: 1), file: "g.yaml"), root: dir.file("one"))
        let sharded = try PipelineSpec.expand(yaml: Self.generatePipeline(shards: 2), file: "g.yaml")
        var outputs: [String: JobOutputs] = [:]
        var runs: [String: Int] = [:]
        func run(_ id: String, attempt: Int, cancelAfterProgress: Int = .max) throws -> InterruptedJobContext {
            let job = try #require(sharded.job(id))
            let root = dir.file("two").appendingPathComponent(id)
            let context = try InterruptedJobContext(params: try ParamResolver.resolve(job.params) { outputs[$0] },
                                                    output: root.appendingPathComponent("attempt-\(attempt)"),
                                                    checkpoint: root.appendingPathComponent("checkpoint"),
                                                    cancelAfterProgress: cancelAfterProgress)
            runs[id, default: 0] += 1
            outputs[id] = try JobKindRegistry.standard[job.kind]!.run(context)
            return context
        }
        _ = try run("prepare", attempt: 1)
        _ = try run("answers.shard1of2", attempt: 1)
        #expect(throws: JobCancelled.self) { try run("answers.shard2of2", attempt: 1, cancelAfterProgress: 1) }
        let retried = try run("answers.shard2of2", attempt: 2)
        #expect(retried.messages.first?.hasSuffix("(resumed)") == true)
        _ = try run("answers", attempt: 1)
        #expect(runs == ["prepare": 1, "answers.shard1of2": 1, "answers.shard2of2": 2, "answers": 1])
        #expect(try Self.bytes(outputs, "answers", "samples") == Self.bytes(single, "answers", "samples"))
    }
}
