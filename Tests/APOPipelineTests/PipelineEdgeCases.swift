import Foundation
@testable import APOPipeline

/// Hand-written pipelines for `PipelineSnapshotTests`: each reaches corners of the spec the shipped
/// files do not (aliases reused in other roles, several problems at one position, every reference
/// form in and out of rounds, field values through params, `when:`, bounds). What they expand to is
/// pinned in `Fixtures/pipeline-snapshots/edge-cases.txt`.
struct PipelineEdgeCase {
    var name: String
    var yaml: String
    var overrides: [String: String] = [:]
}

extension PipelineSnapshotTests {
    static let edgeCases: [PipelineEdgeCase] = [
        PipelineEdgeCase(name: "every reference form", yaml: """
            name: refs
            params: {n: 3, base: b.gguf, seed: 5, label: x}
            rounds: "${params.n}"
            jobs:
              - {id: data, kind: noop, params: {value: "${params.seed}", artifact: "d-${params.label}.json"}}
            round_jobs:
              - id: gen
                kind: noop
                needs: [prev.gen, data]
                params:
                  value: "${prev.train.outputs.value|params.base}"
                  fail_times: "${round}"
                  artifact: "g-${round}-${params.label}.json"
              - id: train
                kind: noop
                needs: [gen]
                params:
                  value: ["${jobs.gen.outputs.value}", "${jobs.data.outputs.value}", {r: "${round}"}]
                  touch: "/tmp/t-${round}"
            after_rounds:
              - id: eval
                kind: noop
                needs: [rounds.last.gen, r1.train]
                params: {value: "${rounds.last.train.outputs.value} and ${jobs.r2.gen.outputs.artifact}"}
            """),
        PipelineEdgeCase(name: "every reference form, one round", yaml: """
            name: refs
            params: {n: 1}
            rounds: "${params.n}"
            round_jobs:
              - {id: a, kind: noop, params: {value: "${prev.a.outputs.value|round}"}}
              - {id: b, kind: noop, params: {value: "${prev.a.outputs.value|prev.b.outputs.value}"}}
              - {id: c, kind: noop, params: {value: "${prev.a.outputs.value|}"}}
              - {id: d, kind: noop, params: {value: "${prev.a.outputs.value|params.missing}"}}
            """),
        PipelineEdgeCase(name: "several problems at one position", yaml: """
            name: same
            params: {n: 2}
            rounds: 2
            jobs:
              - {id: a, kind: noop, params: {value: "${round} ${prev.g.outputs.value} ${params.nope} ${jobs.ghost.outputs.x} ${jobs.g.outputs.value}"}}
              - colour: red
                id: s
                kind: sleep
              - params: {seconds: 1, bogus: 2}
                kind: sleep
            round_jobs:
              - {id: g, kind: noop, params: {value: "${rounds.last.g.outputs.value} ${jobs.a.outputs.nothing} ${prev.g.outputs.zz}", fail: "${prev.g.outputs.value|params.n}"}}
            """),
        PipelineEdgeCase(name: "aliases reused in other roles", yaml: """
            name: alias
            params: {n: 2, base: &b b.gguf}
            rounds: "${params.n}"
            jobs:
              - &early {id: early, kind: noop, params: {value: "${rounds.last.gen.outputs.nothing}"}}
              - {id: &i twice, kind: noop, timeout: *i, priority: *b}
              - {id: *i, kind: noop}
            round_jobs:
              - {id: gen, kind: noop, params: {value: "${prev.gen.outputs.value|params.base}"}}
              - *early
            after_rounds:
              - {id: last, kind: noop, params: {value: *b}, memoize: *b}
              - *early
            """),
        PipelineEdgeCase(name: "alias of a whole job across sections", yaml: """
            name: shared
            rounds: 2
            jobs:
              - &j
                id: j
                kind: sleep
                needs: [prev.j, rounds.last.j]
                params: {seconds: "${round}"}
                when: "${params.x} == y"
            round_jobs:
              - *j
            after_rounds:
              - *j
            """),
        PipelineEdgeCase(name: "fields through params", yaml: """
            name: fields
            params: {tries: 4, wait: 0.5, cap: 8, t: 120, threads: 3, mb: 256, prio: -2, memo: false, off: false}
            jobs:
              - id: a
                kind: noop
                retries: {max_attempts: "${params.tries}", backoff_seconds: "${params.wait}", max_backoff_seconds: "${params.cap}"}
                timeout: "${params.t}"
                resources: {threads: "${params.threads}", memory_mb: "${params.mb}"}
                priority: "${params.prio}"
                memoize: "${params.memo}"
              - {id: b, kind: noop, timeout: null, needs: a}
              - {id: c, kind: noop, when: "${params.off}"}
            """),
        PipelineEdgeCase(name: "bad fields", yaml: """
            name: fields
            params: {word: soon}
            rounds: 2
            jobs:
              - id: a
                kind: noop
                retries: {max_attempts: 0, backoff_seconds: -1, max_backoff_seconds: "${params.word}", tries: 3}
                timeout: "${round}"
                resources: {threads: 1.5, memory_mb: 0, disk: 1}
                priority: "${jobs.b.outputs.value}"
                memoize: "maybe"
                when: "${prev.a.outputs.value}"
              - {id: b, kind: noop, retries: [1], resources: 2, needs: [[a], ""], params: [x]}
              - {id: c, kind: noop, timeout: {a: 1}, priority: [1, "${params.nope}"], when: [true]}
              - {id: [d], kind: noop}
              - {id: e, kind: ""}
              - {id: f}
              - just a string
            round_jobs:
              - {id: r, kind: noop, timeout: "${params.word}", when: "${round} == 1"}
            """),
        PipelineEdgeCase(name: "when chooses between alternatives", yaml: """
            name: when
            params: {mode: a, on: true, rounds: 2}
            rounds: "${params.rounds}"
            jobs:
              - {id: x, kind: noop, when: "${params.mode} == a", params: {value: from-a}}
              - {id: x, kind: noop, when: "${params.mode}!=a", params: {value: not-a}}
              - {id: x, kind: noop, when: " ${params.mode}  !=  a ", params: {value: spaced}}
              - {id: y, kind: noop, when: "${params.on}", params: {value: "${jobs.x.outputs.value}"}}
              - {id: z, kind: noop, when: yes, params: {value: z}}
              - {id: w, kind: noop, when: 1, params: {value: w}}
            round_jobs:
              - {id: p, kind: noop, when: "${params.mode} == a", params: {value: "${prev.p.outputs.value|params.mode}"}}
              - {id: q, kind: noop, when: "${params.mode} == b", params: {value: "${prev.q.outputs.value|params.mode}"}}
            after_rounds:
              - {id: last, kind: noop, params: {value: "${rounds.last.q.outputs.value}"}}
            """, overrides: ["mode": "a"]),
        PipelineEdgeCase(name: "dependencies in and around rounds", yaml: """
            name: deps
            rounds: 3
            jobs:
              - {id: top, kind: noop, needs: [rounds.last.b, rounds.last.zz, r2.a, prev.a, a]}
            round_jobs:
              - {id: a, kind: noop, needs: [prev.a, prev.top, top, b, nowhere]}
              - {id: b, kind: noop, needs: [prev.b]}
            after_rounds:
              - {id: end, kind: noop, needs: [rounds.last.a, r3.b, r4.b, top]}
            """),
        PipelineEdgeCase(name: "cycles across rounds", yaml: """
            name: cyc
            rounds: 2
            round_jobs:
              - {id: a, kind: noop, needs: [b]}
              - {id: b, kind: noop, params: {value: "${jobs.a.outputs.value}"}}
              - {id: c, kind: noop, needs: [c]}
            after_rounds:
              - {id: z, kind: noop, needs: [rounds.last.a]}
            """),
        PipelineEdgeCase(name: "no rounds", yaml: """
            name: zero
            params: {n: 0}
            rounds: "${params.n}"
            round_jobs:
              - {id: a, kind: noop}
            after_rounds:
              - {id: z, kind: noop, needs: [rounds.last.a], params: {value: "${rounds.last.a.outputs.value}"}}
            """),
        PipelineEdgeCase(name: "rounds without round jobs and the reverse", yaml: """
            name: mismatch
            rounds: 2
            jobs: []
            """),
        PipelineEdgeCase(name: "round jobs without rounds", yaml: """
            rounds_typo: 1
            round_jobs:
              - {id: a, kind: noop, params: {value: "${round}"}}
            """),
        PipelineEdgeCase(name: "bad rounds values", yaml: """
            name: r
            params: {neg: -1, f: 1.5}
            rounds: "${params.neg}"
            jobs: [{id: a, kind: noop}]
            """),
        PipelineEdgeCase(name: "bad rounds, float", yaml: "name: r\nrounds: 1.5\nround_jobs: [{id: a, kind: noop}]\n"),
        PipelineEdgeCase(name: "bad rounds, job reference", yaml: """
            name: r
            rounds: "${jobs.a.outputs.value}"
            round_jobs: [{id: a, kind: noop}]
            """),
        PipelineEdgeCase(name: "top level", yaml: """
            name: 5
            description: fine
            params: [a, b]
            jobs: {a: 1}
            [x]: 1
            extra: 2
            """),
        PipelineEdgeCase(name: "empty file", yaml: ""),
        PipelineEdgeCase(name: "a scalar file", yaml: "just words\n"),
        PipelineEdgeCase(name: "name with a control character", yaml: "name: \"a\\u0007b\"\njobs: [{id: a, kind: noop}]\n"),
        PipelineEdgeCase(name: "name too long", yaml: "name: \(String(repeating: "n", count: 201))\njobs: [{id: a, kind: noop}]\n"),
        PipelineEdgeCase(name: "ids too long for a round", yaml: """
            name: ids
            rounds: 12
            jobs:
              - {id: \(String(repeating: "j", count: 200)), kind: noop}
            round_jobs:
              - {id: \(String(repeating: "k", count: 196)), kind: noop}
              - {id: \(String(repeating: "m", count: 197)), kind: noop}
            """),
        PipelineEdgeCase(name: "bad ids", yaml: """
            name: ids
            jobs:
              - {id: 9a, kind: noop}
              - {id: a.b, kind: noop}
              - {id: "a\\nb", kind: noop}
              - {id: 12, kind: noop}
              - {id: true, kind: noop}
              - {id: _ok-1, kind: noop}
            """),
        PipelineEdgeCase(name: "param defaults", yaml: """
            name: defaults
            params:
              ref: "${params.other}"
              other: 1
              nested: {a: [1, "${round}"], b: null}
              list: [1, 2.5, "x", true, null]
              [k]: 1
            jobs: [{id: a, kind: noop, params: {value: "${params.nested}"}}]
            """),
        PipelineEdgeCase(name: "typed overrides", yaml: """
            name: overrides
            params: {i: 1, d: 0.5, b: false, s: x, n: null, l: [1], o: {k: v}}
            jobs:
              - id: a
                kind: noop
                params: {value: ["${params.i}", "${params.d}", "${params.b}", "${params.s}", "${params.n}", "${params.l}", "${params.o}"]}
              - {id: b, kind: noop, params: {value: "${params.i}-${params.d}-${params.b}-${params.n}-${params.l}-${params.o}"}}
            """, overrides: ["i": "-3", "d": "1e2", "b": "YES", "s": "", "n": "2.0", "l": "[\"a\", {\"b\": null}]", "o": "{\"x\": [1]}"]),
        PipelineEdgeCase(name: "typed overrides, null as int and bool", yaml: """
            name: overrides
            params: {n: null, m: null, b: true}
            jobs: [{id: a, kind: noop, params: {value: ["${params.n}", "${params.m}", "${params.b}"]}}]
            """, overrides: ["n": "7", "m": "false", "b": "0"]),
        PipelineEdgeCase(name: "bad overrides", yaml: """
            name: overrides
            params: {i: 1, d: 0.5, b: false, l: [1], o: {k: v}}
            jobs: [{id: a, kind: noop}]
            """, overrides: ["i": "1.5", "d": "x", "b": "maybe", "l": "{}", "o": "[", "zz": "1"]),
        PipelineEdgeCase(name: "param types", yaml: """
            name: types
            params: {s: "5", f: 2}
            jobs:
              - {id: a, kind: sleep, params: {seconds: "${params.f}", log_every: "${params.s}", ignore_stop: null}}
              - {id: b, kind: sleep, params: {seconds: "${jobs.a.outputs.value}", log_every: "x${jobs.a.outputs.value}"}}
              - id: ev
                kind: evaluate
                params:
                  rm_models: ["${jobs.a.outputs.value}", 3]
                  rm_labels: "${jobs.a.outputs.value}"
                  other_labels: [a, 1]
              - {id: n, kind: noop, params: {value: null, fail: 1, fail_times: 1.0, touch: 5, artifact: [a]}}
            """),
        PipelineEdgeCase(name: "paths and artifact names", yaml: """
            name: paths
            jobs:
              - {id: a, kind: noop, params: {artifact: ../escape.json}}
              - {id: b, kind: noop, params: {artifact: /abs.json}}
              - {id: c, kind: noop, params: {artifact: .hidden}}
              - {id: d, kind: noop, params: {artifact: "a//b"}}
              - {id: e, kind: noop, params: {artifact: "", touch: ""}}
              - {id: f, kind: noop, params: {touch: "x\\ty"}}
              - {id: g, kind: generate, params: {model: "", input: "https://example.com/q.json", decode_weights: "${jobs.a.outputs.value}"}}
              - {id: h, kind: prepare-data, params: {input: "HTTP://EXAMPLE.COM/hh.jsonl", sha256: "${jobs.a.outputs.value}"}}
              - id: i
                kind: evaluate
                params: {rm_models: ["m\\u0001", "${jobs.a.outputs.artifact}/x", ok], rm_labels: [a, b, c]}
            """),
        PipelineEdgeCase(name: "allowed values", yaml: """
            name: allowed
            params: {p: bf16}
            jobs:
              - {id: a, kind: score, params: {model: m, precision: "${params.p}"}}
              - {id: b, kind: score, params: {model: m, precision: "x${params.p}"}}
              - {id: c, kind: score, params: {model: m, precision: "\\u0001"}}
            """),
        PipelineEdgeCase(name: "unknown kinds and outputs", yaml: """
            name: kinds
            jobs:
              - {id: a, kind: nope, params: {whatever: "${params.x}"}}
              - {id: b, kind: noop, params: {value: "${jobs.a.outputs.anything}"}}
              - {id: c, kind: noop, params: {value: "${jobs.b.outputs.nothing}", fail: "${jobs.b.outputs.value}"}}
            """),
        PipelineEdgeCase(name: "bad reference syntax", yaml: """
            name: syntax
            rounds: 1
            jobs:
              - {id: a, kind: noop, params: {value: "${jobs.a}"}}
              - {id: b, kind: noop, params: {value: "${nope}"}}
              - {id: c, kind: noop, params: {value: "open ${params.x"}}
              - {id: d, kind: noop, params: {value: "${}"}}
              - {id: e, kind: noop, params: {value: "${rounds.last.a}"}}
              - {id: f, kind: noop, params: {value: "${rounds.last.x.outputs.y}"}}
            round_jobs:
              - {id: x, kind: noop, params: {value: "${prev.x}", fail: "${prev.y.outputs.v|params.z}"}}
            """),
        PipelineEdgeCase(name: "job outputs outside params", yaml: """
            name: fieldrefs
            params: {x: 1}
            jobs:
              - {id: a, kind: noop, timeout: "${jobs.b.outputs.value}", priority: "${prev.a.outputs.v}", memoize: "${rounds.last.a.outputs.v}"}
              - {id: b, kind: noop}
            """),
        PipelineEdgeCase(name: "yaml syntax: unclosed flow", yaml: "name: x\njobs:\n  - id: a\n    kind: noop\n    needs: [a, b\n"),
        PipelineEdgeCase(name: "yaml syntax: tab", yaml: "name: x\njobs:\n\t- id: a\n"),
        PipelineEdgeCase(name: "yaml syntax: control character", yaml: "name: a\u{1}b\njobs: []\n"),
        PipelineEdgeCase(name: "yaml syntax: undefined alias", yaml: "name: x\njobs: [*nope]\n"),
        PipelineEdgeCase(name: "yaml syntax: two documents", yaml: "name: x\njobs: []\n---\nname: y\n"),
        PipelineEdgeCase(name: "duplicate keys", yaml: """
            name: x
            jobs:
              - id: a
                kind: noop
                params: {value: 1, value: 2}
                id: b
            name: y
            """),
        PipelineEdgeCase(name: "duplicate keys, several", yaml: "name: x\njobs: []\nname: y\njobs: [1]\n"),
        PipelineEdgeCase(name: "duplicate key in a flow mapping", yaml: "name: x\njobs: [{id: a, kind: noop, id: b}]\n"),
        PipelineEdgeCase(name: "job count bound", yaml: """
            name: wide
            rounds: 1000
            jobs:
            \((0..<3).map { "  - {id: j\($0), kind: noop}" }.joined(separator: "\n"))
            round_jobs:
            \((0..<10).map { "  - {id: r\($0), kind: noop}" }.joined(separator: "\n"))
            """),
        PipelineEdgeCase(name: "job count bound without round jobs", yaml: """
            rounds: 1001
            jobs: []
            """),
        PipelineEdgeCase(name: "block and flow positions", yaml: """
            name: pos
            jobs:
              -
                id: a
                kind: sleep
              - {kind: sleep,
                 id: b,
                 params: {seconds: x}}
              - id: c
                kind: sleep
                params:
                  seconds: >
                    folded
                    text
              - id: d
                kind: sleep
                params:
                  seconds:
                    - 1
              - id: e
                kind: sleep
                params: {}
            """),
    ]
}
