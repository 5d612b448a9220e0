import Foundation
import Testing
@testable import APOPipeline

/// Sharded pipelines pinned byte for byte beside the other snapshots, in their own file
/// (`Fixtures/pipeline-snapshots/sharded-pipelines.txt`): the edge cases also seed the mutation
/// corpus, whose pinned seeds a new case among them would shift.
extension PipelineSnapshotTests {
    static let shardedCases: [PipelineEdgeCase] = [
        PipelineEdgeCase(name: "generate and score sharded, read downstream", yaml: """
            name: sharded
            params: {shards: 3}
            jobs:
              - {id: answers, kind: generate, shards: "${params.shards}", resources: {threads: 2}, timeout: 600,
                 params: {model: m.gguf, input: q.json, chunk_size: 4}}
              - {id: scores, kind: score, shards: 2, params: {model: rm, samples: "${jobs.answers.outputs.samples}"}}
              - {id: best, kind: rejection-sample, params: {samples: "${jobs.answers.outputs.samples}", scores: "${jobs.scores.outputs.scores}"}}
            """),
        PipelineEdgeCase(name: "shards 1 is the single job", yaml: """
            name: one
            params: {shards: 3}
            jobs:
              - {id: answers, kind: generate, shards: "${params.shards}", params: {model: m.gguf, input: q.json}}
              - {id: scores, kind: score, shards: 1, params: {model: rm, samples: "${jobs.answers.outputs.samples}"}}
            """, overrides: ["shards": "1"]),
        PipelineEdgeCase(name: "sharded round jobs", yaml: """
            name: rounds
            params: {model: m.gguf}
            rounds: 2
            round_jobs:
              - {id: gen, kind: generate, shards: 2, params: {model: "${prev.gen.outputs.samples|params.model}", input: q.json}}
              - {id: score, kind: score, shards: 2, needs: [prev.score], params: {model: rm, samples: "${jobs.gen.outputs.samples}"}}
            after_rounds:
              - {id: last, kind: noop, params: {value: "${rounds.last.score.outputs.scores}"}}
            """),
        PipelineEdgeCase(name: "bad shards", yaml: """
            name: bad
            params: {n: 0}
            jobs:
              - {id: a, kind: generate, shards: 0, params: {model: m, input: q}}
              - {id: b, kind: generate, shards: -2, params: {model: m, input: q}}
              - {id: c, kind: generate, shards: x, params: {model: m, input: q}}
              - {id: d, kind: generate, shards: "${params.n}", params: {model: m, input: q}}
              - {id: e, kind: generate, shards: 1001, params: {model: m, input: q}}
              - {id: f, kind: evaluate, shards: 2}
              - {id: g, kind: score, shards: 2, params: {model: rm, pairs: p.json}}
              - {id: h, kind: merge-shards, shards: 2, params: {parts: [], output: samples, file: s.json}}
              - {id: i, kind: generate, params: {model: m, input: q, shard_index: 1, shard_count: 2}}
            """),
        PipelineEdgeCase(name: "shards from a bad --param", yaml: """
            name: p
            params: {shards: 1}
            jobs:
              - {id: a, kind: generate, shards: "${params.shards}", params: {model: m, input: q}}
            """, overrides: ["shards": "x"]),
    ]

    @Test func shardedPipelines() throws {
        let cases = Self.shardedCases.map { c in
            (c.name, Self.render { try PipelineSpec.expand(yaml: c.yaml, file: "s.yaml", overrides: c.overrides) })
        }
        try Self.check(cases, against: "sharded-pipelines.txt")
    }
}
