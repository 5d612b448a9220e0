import Foundation
import Testing
@testable import APOPipeline

/// `shards: K` in a pipeline file: the DAG it expands to (keys, needs, params of the shard and merge
/// jobs), that `shards: 1` changes nothing, and the diagnostics of bad values.
@Suite struct ShardExpansionTests {
    /// generate → score → rejection-sample, the first two sharded through a param.
    static func yaml(shards: String = "\"${params.shards}\"", scoreShards: String = "\"${params.shards}\"") -> String {
        """
        name: sharded
        params: {shards: 3}
        jobs:
          - id: answers
            kind: generate
            resources: {threads: 2}
            shards: \(shards)
            retries: {max_attempts: 5}
            params: {model: m.gguf, input: q.json, samples: 2, seed: 7}
          - id: scores
            kind: score
            shards: \(scoreShards)
            params: {model: rm, samples: "${jobs.answers.outputs.samples}"}
          - id: best
            kind: rejection-sample
            params: {samples: "${jobs.answers.outputs.samples}", scores: "${jobs.scores.outputs.scores}"}
        """
    }

    static func expand(_ yaml: String, _ overrides: [String: String] = [:]) throws -> ExpandedPipeline {
        try PipelineSpec.expand(yaml: yaml, file: "s.yaml", overrides: overrides)
    }

    /// The diagnostics of a file that must not expand, one line each.
    static func problems(_ yaml: String, _ overrides: [String: String] = [:]) -> [String] {
        do {
            _ = try expand(yaml, overrides)
            return ["(expanded)"]
        } catch let e as PipelineValidationError {
            return e.diagnostics.map(\.description)
        } catch {
            return ["unexpected \(error)"]
        }
    }

    @Test func aShardedJobBecomesItsShardsAndAMergeJobUnderItsKey() throws {
        let p = try Self.expand(Self.yaml())
        #expect(p.jobs.map(\.id) == ["answers.shard1of3", "answers.shard2of3", "answers.shard3of3", "answers",
                                     "scores.shard1of3", "scores.shard2of3", "scores.shard3of3", "scores", "best"])
        let plain = try Self.expand(Self.yaml(), ["shards": "1"])
        #expect(plain.jobs.map(\.id) == ["answers", "scores", "best"])

        // A shard is the job itself plus its place among the shards.
        for i in 1...3 {
            let shard = try #require(p.job("answers.shard\(i)of3"))
            var expected = try #require(plain.job("answers"))
            expected.id = shard.id
            expected.params[ShardSelection.indexParameter] = .int(i)
            expected.params[ShardSelection.countParameter] = .int(3)
            #expect(shard == expected)
            #expect(p.job("scores.shard\(i)of3")?.needs == ["answers"])
        }
        // The merge job keeps the key, joins the shards' files in shard order, and needs only them.
        let merge = try #require(p.job("answers"))
        #expect(merge.kind == MergeShardsKind.name && merge.kindVersion == MergeShardsKind.version)
        #expect(merge.needs == ["answers.shard1of3", "answers.shard2of3", "answers.shard3of3"])
        #expect(merge.params == [
            "parts": .array((1...3).map { .string("${jobs.answers.shard\($0)of3.outputs.samples}") }),
            "output": .string("samples"), "file": .string("samples.json"),
        ])
        #expect(merge.threads == 1 && merge.maxAttempts == 5 && merge.memoize)
        #expect(p.job("scores")?.params["output"] == .string("scores"))
        // Jobs downstream read the same key and output as before.
        #expect(p.job("best") == plain.job("best"))
    }

    @Test func oneShardOrNoneIsTodaysSingleJob() throws {
        let absent = try Self.expand(Self.yaml().replacingOccurrences(of: "    shards: \"${params.shards}\"\n", with: ""))
        #expect(absent.jobs.count == 3)
        for written in ["1", "\"${params.shards}\""] {
            let one = try Self.expand(Self.yaml(shards: written, scoreShards: written), ["shards": "1"])
            #expect(one.jobs == absent.jobs)
        }
    }

    @Test func roundJobsAreShardedInEveryRoundAndLaterRoundsReadTheMerge() throws {
        let p = try Self.expand("""
            name: rounds
            rounds: 2
            round_jobs:
              - id: gen
                kind: generate
                shards: 2
                params: {model: "${prev.gen.outputs.samples|params.model}", input: q.json}
            params: {model: m.gguf}
            after_rounds:
              - {id: last, kind: noop, params: {value: "${rounds.last.gen.outputs.samples}"}}
            """)
        #expect(p.jobs.map(\.id) == ["r1.gen.shard1of2", "r1.gen.shard2of2", "r1.gen",
                                     "r2.gen.shard1of2", "r2.gen.shard2of2", "r2.gen", "last"])
        #expect(p.job("r2.gen.shard1of2")?.needs == ["r1.gen"])
        #expect(p.job("r2.gen.shard2of2")?.params["model"] == .string("${jobs.r1.gen.outputs.samples}"))
        #expect(p.job("last")?.needs == ["r2.gen"])
    }

    @Test func badShardCountsNameFileLineAndField() {
        for (value, shown) in [("0", "0"), ("-2", "-2"), ("x", "x"), ("1001", "1001"), ("2.5", "2.5"), ("[2]", "[2]")] {
            #expect(Self.problems(Self.yaml(shards: value)) == [
                "s.yaml:7:13: error: 'shards' must be an integer from 1 to 1000, found \(shown)",
            ], "shards: \(value)")
        }
        #expect(Self.problems(Self.yaml(), ["shards": "0"]) == [
            "s.yaml:7:13: error: 'shards' must be an integer from 1 to 1000, found 0",
            "s.yaml:12:13: error: 'shards' must be an integer from 1 to 1000, found 0",
        ])
        #expect(Self.problems(Self.yaml(), ["shards": "x"]).count == 1)
    }

    @Test func onlyKindsThatSplitTheirInputTakeShards() {
        let evaluate = """
            name: e
            jobs:
              - {id: e, kind: evaluate, shards: 2, params: {scores: s.json}}
              - {id: n, kind: noop, shards: 1}
            """
        #expect(Self.problems(evaluate) == [
            "s.yaml:3:37: error: kind 'evaluate' cannot be sharded (kinds that take 'shards': generate, score): "
                + "its answers come from a generate job and their scores from a score job; shard those",
            "s.yaml:4:33: error: kind 'noop' cannot be sharded (kinds that take 'shards': generate, score)",
        ])
        let pairs = """
            name: p
            jobs:
              - {id: s, kind: score, shards: 2, params: {model: rm, pairs: p.json}}
            """
        #expect(Self.problems(pairs) == ["s.yaml:3:34: error: a sharded 'score' job splits its 'samples' file, and this one has none"])
    }

    @Test func theShardParamsAndTheMergeKindAreTheExpansionsOwn() {
        let byHand = """
            name: h
            jobs:
              - {id: g, kind: generate, params: {model: m, input: q, shard_index: 1, shard_count: 2}}
              - {id: m, kind: merge-shards, params: {parts: [a], output: samples, file: s.json}}
            """
        let problems = Self.problems(byHand)
        #expect(problems.count == 3)
        #expect(problems[0].hasPrefix("s.yaml:3:58: error: unknown parameter 'shard_index' for kind 'generate'"))
        #expect(problems[2].hasPrefix("s.yaml:4:19: error: unknown job kind 'merge-shards' (known: apo-pairs, dpo, evaluate, generate, noop,"))
        #expect(!problems[2].contains("merge-shards,"))
    }

    @Test func shippedPipelineTakesAShardsParameter() throws {
        let path = repositoryRoot().appendingPathComponent("pipelines/apo-vs-baseline.yaml").path
        let single = try PipelineSpec.load(path: path)
        let sharded = try PipelineSpec.load(path: path, overrides: ["shards": "2"])
        let shardedKinds = Set(["generate", "score"])
        let expected = single.jobs.flatMap { job -> [String] in
            shardedKinds.contains(job.kind) ? [job.id + ".shard1of2", job.id + ".shard2of2", job.id] : [job.id]
        }
        #expect(sharded.jobs.map(\.id) == expected)
        #expect(single.jobs.filter { shardedKinds.contains($0.kind) }.count == 20)  // the start's answers and scores, 9 a round
        for job in sharded.jobs where !shardedKinds.contains(job.kind) && job.kind != MergeShardsKind.name {
            #expect(job == single.job(job.id), "\(job.id)")
        }
    }
}
