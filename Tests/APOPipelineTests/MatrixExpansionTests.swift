import Foundation
import Testing
@testable import APOPipeline

/// `matrix:` in a pipeline file: which jobs are copied per cell and which stay shared, the copies'
/// ids, needs and references, `${matrix.KEY}` substitution, `--param matrix.KEY=[…]`, and the
/// diagnostics of bad input with their positions.
@Suite struct MatrixExpansionTests {
    static func expand(_ yaml: String, _ overrides: [String: String] = [:]) throws -> ExpandedPipeline {
        try PipelineSpec.expand(yaml: yaml, file: "m.yaml", overrides: overrides)
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

    /// data → fixed (shared); data → train (per seed) → eval; a round job following train, one
    /// following fixed; after the rounds, the last round per seed and one job naming two copies.
    static let seeds = """
        name: m
        params: {base: b}
        matrix: {seed: [1, 2]}
        jobs:
          - {id: data, kind: noop, params: {value: "${params.base}"}}
          - {id: fixed, kind: noop, params: {value: "${jobs.data.outputs.value}"}}
          - {id: train, kind: noop, params: {value: "${jobs.data.outputs.value} ${matrix.seed}", fail_times: "${matrix.seed}"}}
          - {id: eval, kind: noop, needs: [fixed], params: {value: "${jobs.train.outputs.value}"}}
        rounds: 2
        round_jobs:
          - {id: step, kind: noop, params: {value: "${prev.step.outputs.value|jobs.train.outputs.value}"}}
          - {id: plain_step, kind: noop, needs: [step], params: {value: "${prev.plain_step.outputs.value|jobs.fixed.outputs.value}"}}
          - {id: fixed_step, kind: noop, params: {value: "${prev.fixed_step.outputs.value|jobs.fixed.outputs.value}"}}
        after_rounds:
          - {id: last, kind: noop, params: {value: "${rounds.last.step.outputs.value}"}}
          - {id: summary, kind: noop, params: {value: "${jobs.seed=1/last.outputs.value} ${jobs.seed=2/last.outputs.value}"}}
        """

    @Test func jobsThatUseAKeyAreCopiedPerValueAndTheRestShared() throws {
        let p = try Self.expand(Self.seeds)
        #expect(p.jobs.map(\.id) == [
            "data", "fixed", "seed=1/train", "seed=2/train", "seed=1/eval", "seed=2/eval",
            "seed=1/r1.step", "seed=2/r1.step", "seed=1/r1.plain_step", "seed=2/r1.plain_step", "r1.fixed_step",
            "seed=1/r2.step", "seed=2/r2.step", "seed=1/r2.plain_step", "seed=2/r2.plain_step", "r2.fixed_step",
            "seed=1/last", "seed=2/last", "summary",
        ])
    }

    @Test func copiesReadTheirOwnCellAndTheSharedJobs() throws {
        let p = try Self.expand(Self.seeds)
        for seed in [1, 2] {
            let train = try #require(p.job("seed=\(seed)/train"))
            #expect(train.params["value"] == .string("${jobs.data.outputs.value} \(seed)"))  // spliced as text
            #expect(train.params["fail_times"] == .int(seed))                               // whole: keeps its type
            #expect(train.needs == ["data"])
            #expect(p.job("seed=\(seed)/eval")?.needs == ["fixed", "seed=\(seed)/train"])
            #expect(p.job("seed=\(seed)/eval")?.params["value"] == .string("${jobs.seed=\(seed)/train.outputs.value}"))
            #expect(p.job("seed=\(seed)/r1.step")?.params["value"] == .string("${jobs.seed=\(seed)/train.outputs.value}"))
            #expect(p.job("seed=\(seed)/r2.step")?.needs == ["seed=\(seed)/r1.step"])
            // An explicit `needs` of a template id names the same cell's copy in the same round.
            #expect(p.job("seed=\(seed)/r2.plain_step")?.needs == ["seed=\(seed)/r1.plain_step", "seed=\(seed)/r2.step"])
            #expect(p.job("seed=\(seed)/last")?.params["value"] == .string("${jobs.seed=\(seed)/r2.step.outputs.value}"))
        }
        #expect(p.job("r2.fixed_step")?.needs == ["r1.fixed_step"])
        #expect(p.job("r1.fixed_step")?.needs == ["fixed"])
        // A full key names one copy from a shared job.
        #expect(p.job("summary")?.needs == ["seed=1/last", "seed=2/last"])
    }

    @Test func severalKeysMakeTheProductNamedInDeclarationOrder() throws {
        let p = try Self.expand("""
            name: m
            matrix: {lr: [0.1, 0.2], seed: [1, 2, 3], arm: [apo]}
            jobs:
              - {id: data, kind: noop, params: {value: "${matrix.seed}"}}
              - {id: rm, kind: noop, params: {value: "${matrix.lr} ${jobs.data.outputs.value}"}}
              - {id: arm, kind: noop, params: {value: "${matrix.arm}"}}
            """)
        #expect(p.jobs.filter { $0.id.hasSuffix("/data") }.map(\.id) == ["seed=1/data", "seed=2/data", "seed=3/data"])
        #expect(p.jobs.filter { $0.id.hasSuffix("/rm") }.map(\.id) == [
            "lr=0.1,seed=1/rm", "lr=0.1,seed=2/rm", "lr=0.1,seed=3/rm", "lr=0.2,seed=1/rm", "lr=0.2,seed=2/rm", "lr=0.2,seed=3/rm",
        ])
        #expect(p.job("lr=0.2,seed=3/rm")?.params["value"] == .string("0.2 ${jobs.seed=3/data.outputs.value}"))
        // A key with one value names no cell: `arm` is substituted, its job keeps its id.
        #expect(p.job("arm")?.params["value"] == .string("apo"))
        #expect(p.jobs.count == 3 + 6 + 1)
    }

    @Test func settingsAndConditionsMayUseTheMatrix() throws {
        let p = try Self.expand("""
            name: m
            matrix: {update: [rjs, dpo], threads: [1, 2]}
            jobs:
              - {id: a, kind: noop, when: "${matrix.update} == rjs", resources: {threads: "${matrix.threads}"}}
              - {id: b, kind: noop, when: "${matrix.update} == dpo", params: {value: x}}
            """)
        #expect(p.jobs.map(\.id) == ["update=rjs,threads=1/a", "update=rjs,threads=2/a", "update=dpo/b"])
        #expect(p.job("update=rjs,threads=2/a")?.threads == 2)
    }

    @Test func aOneValueMatrixChangesNothing() throws {
        let withMatrix = """
            name: m
            params: {seed: 1}
            matrix: {seed: [5, 6]}
            jobs:
              - {id: data, kind: noop, params: {value: "${params.seed}"}}
              - {id: train, kind: noop, params: {value: "${jobs.data.outputs.value}", fail_times: "${matrix.seed}"}}
            rounds: 2
            round_jobs:
              - {id: step, kind: noop, params: {value: "${prev.step.outputs.value|jobs.train.outputs.value}"}}
            """
        let plain = withMatrix.replacingOccurrences(of: "matrix: {seed: [5, 6]}\n", with: "")
            .replacingOccurrences(of: "matrix.seed", with: "params.seed")
        #expect(try Self.expand(withMatrix, ["matrix.seed": "[1]"]).jobs == Self.expand(plain).jobs)
    }

    @Test func paramOverrideReplacesAMatrixList() throws {
        let withoutSummary = Self.seeds.split(separator: "\n").filter { !$0.contains("summary") }.joined(separator: "\n")
        let p = try Self.expand(withoutSummary, ["matrix.seed": "[3, 4, 5]"])
        #expect(p.jobs.filter { $0.id.hasSuffix("/train") }.map(\.id) == ["seed=3/train", "seed=4/train", "seed=5/train"])
        #expect(p.job("seed=5/train")?.params["fail_times"] == .int(5))
        // JSON works as well as YAML; a number list takes ints as numbers.
        let lr = try Self.expand("""
            name: m
            matrix: {lr: [0.5]}
            jobs: [{id: a, kind: noop, params: {value: "${matrix.lr}"}}]
            """, ["matrix.lr": "[1,0.25]"])
        #expect(lr.job("lr=1.0/a")?.params["value"] == .double(1))
        #expect(lr.job("lr=0.25/a")?.params["value"] == .double(0.25))
    }

    @Test func badParamOverridesAreNamed() {
        #expect(Self.problems(Self.seeds, ["matrix.sead": "[1]"]) == [
            "m.yaml: error: --param matrix.sead: unknown matrix key 'sead' (declared: seed)"])
        #expect(Self.problems(Self.seeds, ["matrix.seed": "3"]) == [
            "m.yaml: error: --param matrix.seed=3: expected a list such as [1, 2, 3]"])
        #expect(Self.problems(Self.seeds, ["matrix.seed": "[]"]) == [
            "m.yaml: error: --param matrix.seed=[]: the list is empty; give at least one value"])
        #expect(Self.problems(Self.seeds, ["matrix.seed": "[1, a, 1.5]"]) == [
            "m.yaml: error: --param matrix.seed=[1, a, 1.5]: expected int values, as in the pipeline's list, found string a",
            "m.yaml: error: --param matrix.seed=[1, a, 1.5]: expected int values, as in the pipeline's list, found double 1.5"])
        #expect(Self.problems(Self.seeds, ["matrix.seed": "[1, 1]"]) == [
            "m.yaml: error: --param matrix.seed=[1, 1]: the value 1 appears twice"])
        #expect(Self.problems(Self.seeds, ["matrix.seed": "[\"${params.base}\"]"]) == [
            "m.yaml: error: --param matrix.seed=[\"${params.base}\"]: references cannot be used on the command line"])
        let noMatrix = "name: m\njobs: [{id: a, kind: noop}]\n"
        #expect(Self.problems(noMatrix, ["matrix.seed": "[1]"]) == [
            "m.yaml: error: --param matrix.seed: unknown matrix key 'seed' (the pipeline declares no 'matrix:')"])
    }

    @Test func matrixValuesMayFollowAParam() throws {
        let yaml = """
            name: m
            params: {seed: 42}
            matrix: {seed: ["${params.seed}"]}
            jobs: [{id: a, kind: noop, params: {value: "${matrix.seed}"}}]
            """
        #expect(try Self.expand(yaml).job("a")?.params["value"] == .int(42))
        #expect(try Self.expand(yaml, ["seed": "7"]).job("a")?.params["value"] == .int(7))
        #expect(try Self.expand(yaml, ["matrix.seed": "[1, 2]"]).job("seed=2/a")?.params["value"] == .int(2))
    }

    @Test func badMatricesAreReportedAtTheirPositions() {
        #expect(Self.problems("""
            name: m
            matrix:
              seed: []
              lr: 0.1
              mix: [1, [2], {a: 3}, null, "a b", 1]
              ok: [1]
              bad-key: [1]
              "x/y": [1]
            jobs:
              - {id: a, kind: noop, params: {value: "${matrix.mix} ${matrix.nope} ${matrix.ok}"}}
            """) == [
            "m.yaml:3:9: error: matrix key 'seed': the list is empty; give at least one value",
            "m.yaml:4:7: error: matrix key 'lr' must be a list of values, e.g. [1, 2, 3]",
            "m.yaml:5:12: error: matrix key 'mix': values must be ints, numbers, bools or strings, not lists or mappings",
            "m.yaml:5:17: error: matrix key 'mix': values must be ints, numbers, bools or strings, not lists or mappings",
            "m.yaml:5:25: error: matrix key 'mix': null null cannot be a matrix value (use ints, numbers, bools or strings)",
            "m.yaml:5:31: error: matrix key 'mix': 'a b' cannot name a job copy: use letters, digits, '_', '-', '.' and '+'",
            "m.yaml:5:38: error: matrix key 'mix': the value 1 appears twice",
            "m.yaml:7:3: error: bad matrix key 'bad-key': use letters, digits and '_', starting with a letter or '_'",
            "m.yaml:8:3: error: bad matrix key 'x/y': use letters, digits and '_', starting with a letter or '_'",
            "m.yaml:10:41: error: unknown matrix key 'nope' in ${matrix.nope} (declared: ok, seed, lr, mix)",
        ])
        #expect(Self.problems("name: m\nmatrix: [seed]\njobs: [{id: a, kind: noop}]\n") == [
            "m.yaml:2:9: error: 'matrix' must be a mapping of keys to lists of values, e.g. {seed: [1, 2, 3]}"])
    }

    @Test func matrixReferencesOutsideJobsOrUnknownKeysAreErrors() {
        #expect(Self.problems("""
            name: m
            params: {n: 1}
            matrix: {seed: [1, 2], unused: [a, b], twice: ["${matrix.seed}"]}
            rounds: "${matrix.seed}"
            round_jobs: [{id: r, kind: noop, params: {value: "${matrix.seed} ${matrix.sead}"}}]
            jobs: [{id: a, kind: noop, params: {value: "${matrix.twice}"}}]
            """) == [
            "m.yaml:3:24: error: matrix key 'unused' is not used: no job has ${matrix.unused}",
            "m.yaml:3:48: error: ${matrix.seed} cannot be used here: matrix values exist only in a job's params and settings",
            "m.yaml:4:9: error: ${matrix.seed} cannot be used here: matrix values exist only in a job's params and settings",
            // (rounds: is refused, so there are no round jobs whose params could be read)
        ])
        #expect(Self.problems("name: m\njobs: [{id: a, kind: noop, params: {value: \"${matrix.seed}\"}}]\n") == [
            "m.yaml:2:44: error: unknown matrix key 'seed' in ${matrix.seed} (the pipeline declares no 'matrix:')"])
        // A key whose list was refused is not reported again where it is used; a misspelt one is.
        #expect(Self.problems("""
            name: m
            matrix: {seed: [], lr: [1]}
            jobs: [{id: a, kind: noop, params: {value: "${matrix.seed} ${matrix.sead} ${matrix.lr}"}}]
            """) == [
            "m.yaml:2:16: error: matrix key 'seed': the list is empty; give at least one value",
            "m.yaml:3:44: error: unknown matrix key 'sead' in ${matrix.sead} (declared: lr, seed)",
        ])
    }

    @Test func tooManyCopiesAreRefusedBeforeTheyAreMade() {
        let values = (1...200).map(String.init).joined(separator: ", ")
        let yaml = """
            name: m
            matrix: {a: [\(values)], b: [\(values)]}
            jobs: [{id: x, kind: noop, params: {value: "${matrix.a} ${matrix.b}"}}]
            """
        #expect(Self.problems(yaml) == ["m.yaml:2:1: error: with its matrix the pipeline expands to 40000 jobs; at most 10000 are allowed"])
        let rounds = """
            name: m
            matrix: {a: [\(values)]}
            rounds: 60
            round_jobs: [{id: x, kind: noop, params: {value: "${matrix.a}"}}]
            """
        #expect(Self.problems(rounds) == ["m.yaml:2:1: error: with its matrix the pipeline expands to 12000 jobs; at most 10000 are allowed"])
    }

    @Test func aCellPrefixThatMakesAnIdTooLongIsReported() {
        let long = String(repeating: "v", count: 40)
        let id = String(repeating: "j", count: 170)
        let problems = Self.problems("""
            name: m
            matrix: {k: [\(long), w]}
            jobs: [{id: \(id), kind: noop, params: {value: "${matrix.k}"}}]
            """)
        #expect(problems.count == 1 && problems[0].hasPrefix("m.yaml:3:13: error: job id 'k=vvvv") && problems[0].contains("bytes long"), "\(problems)")
    }

    @Test func cellsGroupJobKeysSharedFirst() {
        let keys = ["seed=1/a", "data", "seed=2/a", "seed=1/b", "lr=0.1,seed=1/c", "r1.x"]
        let groups = MatrixCell.groups(keys) { $0 }
        #expect(groups.map(\.cell) == [nil, "seed=1", "seed=2", "lr=0.1,seed=1"])
        #expect(groups.map(\.items) == [["data", "r1.x"], ["seed=1/a", "seed=1/b"], ["seed=2/a"], ["lr=0.1,seed=1/c"]])
        #expect(MatrixCell.groups(["a", "b"]) { $0 }.map(\.cell) == [nil])
        #expect(MatrixCell.groups([String]()) { $0 }.isEmpty)
        #expect(MatrixCell.jobID(ofJobKey: "seed=2/r1.apo_rm") == "r1.apo_rm" && MatrixCell.jobID(ofJobKey: "r1.x") == "r1.x")
    }

    /// The ids a copy gets survive the run-time resolution of references (split at the last
    /// `.outputs.`) and sharding (`ID.shardIofK`).
    @Test func copyIdsSurviveReferencesAndSharding() throws {
        let ref = try #require(JobOutputReference(expression: "jobs.lr=0.1,seed=2/r1.apo_rm.outputs.model"))
        #expect(ref.jobID == "lr=0.1,seed=2/r1.apo_rm" && ref.output == "model")
        let resolved = try ParamResolver.resolve(["m": .string(ref.placeholder)]) { $0 == ref.jobID ? ["model": .string("/x")] : nil }
        #expect(resolved["m"] == .string("/x"))
        let p = try Self.expand("""
            name: m
            matrix: {seed: [1, 2]}
            jobs:
              - {id: gen, kind: generate, shards: 2, params: {model: m.gguf, input: q.json, seed: "${matrix.seed}"}}
              - {id: best, kind: noop, params: {value: "${jobs.gen.outputs.samples}"}}
            """)
        #expect(p.jobs.map(\.id) == ["seed=1/gen.shard1of2", "seed=1/gen.shard2of2", "seed=1/gen",
                                     "seed=2/gen.shard1of2", "seed=2/gen.shard2of2", "seed=2/gen", "seed=1/best", "seed=2/best"])
        #expect(p.job("seed=2/gen")?.needs == ["seed=2/gen.shard1of2", "seed=2/gen.shard2of2"])
        #expect(p.job("seed=2/best")?.needs == ["seed=2/gen"])
    }
}
