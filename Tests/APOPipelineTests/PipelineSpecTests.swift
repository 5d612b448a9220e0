import Foundation
import Testing
@testable import APOPipeline

/// Expands `yaml`, expecting failure; returns the printed diagnostics.
private func diagnostics(_ yaml: String, overrides: [String: String] = [:]) -> [String] {
    do {
        _ = try PipelineSpec.expand(yaml: yaml, file: "p.yaml", overrides: overrides)
        Issue.record("expected validation errors")
        return []
    } catch let e as PipelineValidationError {
        return e.diagnostics.map(\.description)
    } catch {
        Issue.record("unexpected error \(error)")
        return []
    }
}

@Suite struct PipelineSpecTests {
    @Test func dependenciesComeFirstAndReferencesBecomeNeeds() throws {
        let p = try PipelineSpec.expand(yaml: """
            name: order
            jobs:
              - id: c
                kind: noop
                needs: [b]
              - id: a
                kind: noop
                retries: {max_attempts: 5, backoff_seconds: 2, max_backoff_seconds: 30}
                timeout: 90
                resources: {threads: 2, memory_mb: 512}
                priority: 7
                memoize: false
              - id: b
                kind: noop
                params:
                  value: "${jobs.a.outputs.value}"
            """, file: "order.yaml")
        #expect(p.name == "order")
        #expect(p.jobs.map(\.id) == ["a", "b", "c"])
        #expect(p.job("b")?.needs == ["a"])   // added from the reference
        #expect(p.job("c")?.needs == ["b"])
        let a = try #require(p.job("a"))
        #expect(a.maxAttempts == 5 && a.backoffBaseSeconds == 2 && a.backoffMaxSeconds == 30)
        #expect(a.timeoutSeconds == 90 && a.threads == 2 && a.memoryMB == 512 && a.priority == 7 && !a.memoize)
        #expect(a.resourcesJSON == #"{"memory_mb":512,"threads":2}"#)
        let b = try #require(p.job("b"))
        // Defaults applied, the reference kept symbolic.
        #expect(b.params["value"] == .string("${jobs.a.outputs.value}"))
        #expect(b.params["fail_times"] == .int(0) && b.params["touch"] == .null)
        #expect(b.maxAttempts == 3 && b.threads == 1 && b.memoize && b.kindVersion == NoopKind.version)
        #expect(p.yamlHash.count == 64 && p.yamlHash == sha256Hex(Data(p.yamlText.utf8)))
    }

    @Test func everyErrorIsReportedWithItsPosition() {
        let yaml = """
            name: broken
            colour: red
            jobs:
              - id: a
                kind: nope
              - id: b
                kind: noop
                params:
                  fail_times: "three"
                  bogus: 1
              - id: b
                kind: sleep
              - id: c
                kind: noop
                needs: [missing]
                params:
                  value: "${jobs.b.outputs.nothing}"
              - id: d
                kind: noop
                params:
                  value: "${params.nope}"
                  touch: "${jobs.a.outputs}"
            """
        let lines = diagnostics(yaml)
        let syntax = "expected ${params.NAME}, ${matrix.KEY}, ${jobs.ID.outputs.NAME}, ${prev.ID.outputs.NAME|FALLBACK}, ${rounds.last.ID.outputs.NAME} or ${round}"
        #expect(lines == [
            "p.yaml:2:1: error: unknown top-level key 'colour' (expected one of: name, description, params, matrix, jobs, rounds, round_jobs, after_rounds)",
            "p.yaml:5:11: error: unknown job kind 'nope' (known: \(JobKindRegistry.standard.keys.filter { !JobKindRegistry.expansionKinds.contains($0) }.sorted().joined(separator: ", ")))",
            "p.yaml:9:19: error: parameter 'fail_times' of kind 'noop' must be an int, found string three",
            "p.yaml:10:7: error: unknown parameter 'bogus' for kind 'noop' (known: artifact, crash_times, fail, fail_times, touch, value)",
            "p.yaml:11:5: error: missing required parameter 'seconds' for kind 'sleep'",
            "p.yaml:11:9: error: duplicate job id 'b' (first defined at line 6)",
            "p.yaml:15:13: error: unknown dependency 'missing'",
            "p.yaml:17:14: error: job 'b' (kind 'noop') has no output 'nothing' (outputs: value, artifact, attempt)",
            "p.yaml:21:14: error: unknown pipeline parameter 'nope' in ${params.nope} (known: )",
            "p.yaml:22:14: error: bad reference syntax '${jobs.a.outputs}': \(syntax)",
        ])
    }

    @Test func yamlSyntaxErrorsCarryPositions() {
        #expect(diagnostics("""
            name: x
            jobs:
              - id: a
                kind: noop
                needs: [a, b
            """) == ["p.yaml:6:1: error: YAML syntax: did not find expected ',' or ']' (while parsing a flow sequence at 5:12)"])
        #expect(diagnostics("name: x\njobs: []\nname: y\n") == ["p.yaml:3:1: error: duplicate key 'name' (first at line 1)"])
        #expect(diagnostics("name: x\njobs:\n  - id: a\n    kind: noop\n    kind: sleep\n")
                == ["p.yaml:5:5: error: duplicate key 'kind' (first at line 4)"])
        #expect(diagnostics("name: x\njobs:\n\t- id: a\n")
                == ["p.yaml:3:1: error: YAML syntax: found character that cannot start any token (while scanning for the next token at 3:1)"])
        #expect(diagnostics("name: x\n  jobs: 1\n") == ["p.yaml:2:7: error: YAML syntax: mapping values are not allowed in this context"])
        #expect(diagnostics("name: \"x\njobs: []\n")
                == ["p.yaml:3:1: error: YAML syntax: found unexpected end of stream (while scanning a quoted scalar at 1:7)"])
    }

    @Test func precisionTakesOnlyItsNamedValues() throws {
        #expect(diagnostics("""
            name: p
            jobs:
              - id: s
                kind: score
                params: {model: /nonexistent, precision: bf61}
            """) == ["p.yaml:5:46: error: parameter 'precision' of job 's': 'bf61' is not one of auto, fp32, bf16"])
        for value in ["auto", "fp32", "bf16"] {
            _ = try PipelineSpec.expand(yaml: """
                name: p
                jobs:
                  - id: s
                    kind: score
                    params: {model: /nonexistent, precision: \(value)}
                """, file: "p.yaml", overrides: [:])
        }
    }

    @Test func decodeWeightsTakeOnlyTheirNamedValues() throws {
        #expect(diagnostics("""
            name: p
            jobs:
              - id: g
                kind: generate
                params: {model: /nonexistent, input: /nonexistent, decode_weights: q4}
            """) == ["p.yaml:5:72: error: parameter 'decode_weights' of job 'g': 'q4' is not one of f32, int8, file"])
    }

    @Test func referencesToUnknownJobsAndLongChains() throws {
        #expect(diagnostics("""
            name: refs
            jobs:
              - id: a
                kind: noop
                params: {value: "x ${jobs.ghost.outputs.value} y"}
            """) == ["p.yaml:5:21: error: reference to unknown job 'ghost' in ${jobs.ghost.outputs.value}"])
        // A 3,000-job chain (benchmarks submit such pipelines): ordered without deep recursion.
        var yaml = "name: chain\njobs:\n"
        for i in (0..<3000).reversed() {
            yaml += "  - {id: j\(i), kind: noop\(i > 0 ? ", needs: [j\(i - 1)]" : "")}\n"
        }
        let p = try PipelineSpec.expand(yaml: yaml, file: "chain.yaml")
        #expect(p.jobs.map(\.id) == (0..<3000).map { "j\($0)" })
    }

    @Test func cyclesAreNamed() {
        let lines = diagnostics("""
            name: cyc
            jobs:
              - id: a
                kind: noop
                needs: [c]
              - id: b
                kind: noop
                needs: [a]
              - id: c
                kind: noop
                params: {value: "${jobs.b.outputs.value}"}
              - id: self
                kind: noop
                needs: [self]
            """)
        #expect(lines == [
            "p.yaml:3:9: error: dependency cycle: a -> c -> b -> a",
            "p.yaml:12:9: error: dependency cycle: self -> self",
        ])
    }

    @Test func roundsExpandWithPreviousRoundReferences() throws {
        let yaml = """
            name: rounds
            params:
              n: 3
              base: base.gguf
            rounds: "${params.n}"
            jobs:
              - id: data
                kind: noop
            round_jobs:
              - id: gen
                kind: noop
                needs: [prev.gen]
                params:
                  value: "${prev.train.outputs.value|params.base}"
              - id: train
                kind: noop
                needs: [gen]
                params:
                  value: "r${round}: ${jobs.data.outputs.value}"
                  fail_times: "${round}"
                  artifact: "${jobs.gen.outputs.artifact}"
            after_rounds:
              - id: eval
                kind: noop
                params: {value: "${rounds.last.train.outputs.value}"}
            """
        let p = try PipelineSpec.expand(yaml: yaml, file: "rounds.yaml")
        #expect(p.jobs.map(\.id) == ["data", "r1.gen", "r1.train", "r2.gen", "r2.train", "r3.gen", "r3.train", "eval"])
        #expect(p.job("r1.gen")?.params["value"] == .string("base.gguf"))
        #expect(p.job("r1.gen")?.needs == [])
        #expect(p.job("r2.gen")?.params["value"] == .string("${jobs.r1.train.outputs.value}"))
        #expect(p.job("r2.gen")?.needs == ["r1.gen", "r1.train"])
        #expect(p.job("r1.train")?.params["value"] == .string("r1: ${jobs.data.outputs.value}"))
        #expect(p.job("r3.train")?.params["fail_times"] == .int(3))
        #expect(p.job("r3.train")?.needs == ["data", "r3.gen"])
        // A template id inside round_jobs means the same round's job.
        #expect(p.job("r2.train")?.params["artifact"] == .string("${jobs.r2.gen.outputs.artifact}"))
        #expect(p.job("eval")?.needs == ["r3.train"])
        #expect(p.job("eval")?.params["value"] == .string("${jobs.r3.train.outputs.value}"))

        let two = try PipelineSpec.expand(yaml: yaml, file: "rounds.yaml", overrides: ["n": "2"])
        #expect(two.jobs.count == 6 && two.job("eval")?.needs == ["r2.train"] && two.params["n"] == .int(2))
    }

    @Test func roundReferenceMistakes() {
        let lines = diagnostics("""
            name: r
            rounds: 2
            jobs:
              - id: early
                kind: noop
                params: {value: "${round} ${prev.gen.outputs.value}"}
            round_jobs:
              - id: gen
                kind: noop
                params:
                  value: "${prev.gen.outputs.value}"
                  artifact: "${rounds.last.gen.outputs.value}"
                  touch: "${prev.other.outputs.value|params.x}"
            """)
        #expect(lines == [
            "p.yaml:6:21: error: ${round} is only defined inside round_jobs",
            "p.yaml:6:21: error: ${prev.…} is only defined inside round_jobs: ${prev.gen.outputs.value}",
            "p.yaml:11:14: error: ${prev.gen.outputs.value} has no previous round in round 1: add a fallback, e.g. ${prev.gen.outputs.value|params.NAME}",
            "p.yaml:12:17: error: ${rounds.last.…} cannot be used inside round_jobs (use ${prev.…}): ${rounds.last.gen.outputs.value}",
            "p.yaml:13:14: error: 'other' in ${prev.other.outputs.value|params.x} is not a round job",
        ])
    }

    @Test func paramOverridesAreTypedByTheirDefault() throws {
        let yaml = """
            name: typed
            params:
              seed: 1
              seconds: 0.5
              flag: false
              label: "x"
              tags: [a]
            jobs:
              - id: s
                kind: sleep
                params: {seconds: "${params.seconds}"}
              - id: n
                kind: noop
                params:
                  value: "${params.seed}"
                  fail_times: "${params.seed}"
                  fail: "${params.flag}"
                  artifact: "out-${params.seed}-${params.label}.json"
              - id: whole
                kind: sleep
                params: {seconds: 2}
            """
        let p = try PipelineSpec.expand(yaml: yaml, file: "t.yaml",
                                        overrides: ["seed": "7", "seconds": "1e-3", "flag": "true", "label": "42", "tags": #"["b","c"]"#])
        #expect(p.params == ["seed": .int(7), "seconds": .double(0.001), "flag": .bool(true), "label": .string("42"),
                             "tags": .array([.string("b"), .string("c")])])
        #expect(p.job("n")?.params["value"] == .int(7))       // a whole-string reference keeps its type
        #expect(p.job("n")?.params["fail"] == .bool(true))
        #expect(p.job("n")?.params["artifact"] == .string("out-7-42.json"))
        #expect(p.job("s")?.params["seconds"] == .double(0.001))
        #expect(p.job("whole")?.params["seconds"] == .double(2))  // an int widened for a double param

        #expect(diagnostics(yaml, overrides: ["seed": "abc", "nope": "1", "flag": "maybe"]) == [
            "p.yaml: error: --param flag=maybe: expected true or false",
            "p.yaml: error: --param nope: unknown pipeline parameter (known: flag, label, seconds, seed, tags)",
            "p.yaml: error: --param seed=abc: expected an int",
        ])
        // A string where the kind wants a number, through a param.
        #expect(diagnostics("name: t\nparams: {label: soon}\njobs:\n  - {id: s, kind: sleep, params: {seconds: \"${params.label}\"}}\n")
                == ["p.yaml:4:44: error: parameter 'seconds' of kind 'sleep' must be a number, found string soon"])
        #expect(try PipelineSpec.parseOverrides(["a=1", "b=x=y"]) == ["a": "1", "b": "x=y"])
        #expect(throws: PipelineValidationError.self) { try PipelineSpec.parseOverrides(["novalue"]) }
    }

    @Test func structuralMistakes() {
        #expect(diagnostics("- just\n- a list\n") == ["p.yaml:1:1: error: a pipeline file must be a mapping with 'name' and 'jobs'"])
        #expect(diagnostics("""
            jobs:
              - id: 9lives
                kind: noop
                colour: blue
              - kind: noop
              - id: x
                kind: sleep
                params: {seconds: "soon"}
                timeout: -1
                resources: {threads: 0, gpus: 1}
            """) == [
            "p.yaml:1:1: error: missing 'name'",
            "p.yaml:2:9: error: bad job id '9lives': use letters, digits, '_' and '-', starting with a letter or '_'",
            "p.yaml:4:5: error: unknown job key 'colour' (expected one of: id, kind, needs, params, retries, timeout, resources, priority, memoize, when)",
            "p.yaml:5:5: error: job has no 'id'",
            "p.yaml:8:23: error: parameter 'seconds' of kind 'sleep' must be a number, found string soon",
            "p.yaml:9:14: error: 'timeout' must be a number of seconds > 0",
            "p.yaml:10:26: error: 'threads' must be an integer ≥ 1",
            "p.yaml:10:29: error: unknown key 'gpus' in 'resources' (expected threads, memory_mb, labels)",
        ])
    }

    @Test func paramResolverKeepsTypesOfWholeReferences() throws {
        let outputs: [String: JobOutputs] = ["r1.a": ["n": .int(3), "path": .string("/x/y.json"), "ok": .bool(true)]]
        let resolved = try ParamResolver.resolve([
            "whole": .string("${jobs.r1.a.outputs.n}"),
            "text": .string("n=${jobs.r1.a.outputs.n}, ok=${jobs.r1.a.outputs.ok} at ${jobs.r1.a.outputs.path}"),
            "list": .array([.string("${jobs.r1.a.outputs.path}"), .int(1)]),
            "plain": .string("no refs $ here"),
        ]) { outputs[$0] }
        #expect(resolved["whole"] == .int(3))
        #expect(resolved["text"] == .string("n=3, ok=true at /x/y.json"))
        #expect(resolved["list"] == .array([.string("/x/y.json"), .int(1)]))
        #expect(resolved["plain"] == .string("no refs $ here"))
        #expect(throws: ParamResolutionError.unknownOutput(param: "p", jobID: "r1.a", output: "zz", available: ["n", "ok", "path"])) {
            try ParamResolver.resolve(["p": .string("${jobs.r1.a.outputs.zz}")]) { outputs[$0] }
        }
        #expect(throws: ParamResolutionError.jobHasNoOutputs(param: "p", jobID: "b")) {
            try ParamResolver.resolve(["p": .string("${jobs.b.outputs.zz}")]) { outputs[$0] }
        }
        #expect(try ParamResolver.resolve(["p": .string("${jobs.d.outputs.path}")], outputsJSON: ["d": #"{"path":"/a b","n":1}"#])
                == ["p": .string("/a b")])
        for bad in ["jobs.outputs.x", "jobs..outputs.x", "jobs.a.outputs.", "jobs.a.outputs.x.y", "jobs.a"] {
            #expect(JobOutputReference(expression: bad) == nil, "\(bad)")
        }
        #expect(JobOutputReference(expression: "jobs.r1.a.outputs.x") == JobOutputReference(jobID: "r1.a", output: "x"))
        #expect(ParamResolver.references(in: ["a": .string("${jobs.r2.x.outputs.y}-${jobs.b.outputs.z}")])
                == [JobOutputReference(jobID: "r2.x", output: "y"), JobOutputReference(jobID: "b", output: "z")])
    }

    @Test func examplePipelinesValidate() throws {
        let dir = repositoryRoot().appendingPathComponent("pipelines")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.contains("data-only.yaml") && files.contains("noop-chain.yaml"))
        for f in files {
            let p = try PipelineSpec.load(path: dir.appendingPathComponent(f).path)
            #expect(!p.jobs.isEmpty, "\(f)")
        }
    }

    @Test func registryNamesMatchKinds() {
        for (name, kind) in JobKindRegistry.standard {
            #expect(kind.name == name)
            #expect(Set(kind.parameters.map(\.name)).count == kind.parameters.count, "\(name) declares a parameter twice")
        }
    }
}

@Suite struct PipelineSpecRobustnessTests {
    /// Bad input must give diagnostics, never a trap: expand 600 seeded mutations of a pipeline
    /// that uses every feature (a trap would kill the test process).
    /// A pipeline that uses every feature (also the base of `PipelineSnapshotTests.mutations`).
    static let base = """
            name: fuzz
            params: {n: 2, base: b.gguf, seed: 3}
            rounds: "${params.n}"
            jobs:
              - id: data
                kind: prepare-data
                params: {input: x.jsonl, seed: "${params.seed}"}
                retries: {max_attempts: 2}
            round_jobs:
              - id: gen
                kind: noop
                needs: [prev.gen]
                params: {value: "${prev.pairs.outputs.pairs|params.base}"}
              - id: pairs
                kind: apo-pairs
                params: {samples: "${jobs.gen.outputs.value}", golden: "${jobs.data.outputs.rm_train_golden}"}
            after_rounds:
              - {id: eval, kind: sleep, params: {seconds: 1}, needs: [rounds.last.pairs]}
            """

    @Test func mutatedPipelinesNeverTrap() throws {
        let base = Self.base
        _ = try PipelineSpec.expand(yaml: base, file: "fuzz.yaml")
        let alphabet = Array("${}[]:-|.,\"' \n\tjobsparamsprevroundsoutputs0123456789")
        var rng = SeededGenerator(seed: 2024)
        let chars = Array(base)
        var failures = 0
        for _ in 0..<600 {
            var m = chars
            for _ in 0..<(1 + rng.nextIndex(below: 3)) {
                let at = rng.nextIndex(below: m.count)
                switch rng.nextIndex(below: 3) {
                case 0: m.remove(at: at)
                case 1: m.insert(alphabet[rng.nextIndex(below: alphabet.count)], at: at)
                default: m[at] = alphabet[rng.nextIndex(below: alphabet.count)]
                }
            }
            do { _ = try PipelineSpec.expand(yaml: String(m), file: "fuzz.yaml") } catch let e as PipelineValidationError {
                failures += 1
                #expect(!e.diagnostics.isEmpty)
            }
        }
        #expect(failures > 200)  // most mutations break something, and each says so
    }

    /// Found by fuzzing (Fixtures/fuzz-regressions/pipeline/timeout-*): `rounds: 100000000` made
    /// submit expand a hundred million jobs; now a bound, with a position.
    @Test func roundsAndJobCountAreBounded() throws {
        #expect(diagnostics("""
            name: big
            rounds: 100000000
            round_jobs:
              - {id: a, kind: noop}
            """) == ["p.yaml:2:9: error: 'rounds' must be at most 1000, found 100000000"])
        #expect(diagnostics("""
            name: big
            params: {n: 5}
            rounds: "${params.n}"
            round_jobs:
              - {id: a, kind: noop}
            """, overrides: ["n": "2000"]) == ["p.yaml:3:9: error: 'rounds' must be at most 1000, found 2000"])
        let eleven = (0..<11).map { "  - {id: j\($0), kind: noop}" }.joined(separator: "\n")
        #expect(diagnostics("name: wide\nrounds: 1000\nround_jobs:\n" + eleven + "\n")
                == ["p.yaml:3:1: error: the pipeline expands to 11000 jobs; at most 10000 are allowed"])
        let p = try PipelineSpec.expand(yaml: "name: ok\nrounds: 1000\nround_jobs:\n  - {id: a, kind: noop}\n", file: "p.yaml")
        #expect(p.jobs.count == 1000 && p.jobs.last?.id == "r1000.a")
    }
}
