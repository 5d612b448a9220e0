import Foundation
import Yams

/// Pipeline YAML → validated `ExpandedPipeline`.
///
/// ```yaml
/// name: apo                       # required
/// params: {seed: 42, base: m.gguf} # pipeline params with defaults; a preset (`--params FILE`),
///                                  # then `--param k=v` override them, as the default's type
/// matrix: {seed: [1, 2, 3]}        # optional: run the jobs that use ${matrix.seed} once per value;
///                                  # several keys: every combination (see "matrix" below)
/// jobs:                            # jobs that run once, before (or beside) the rounds
///   - id: data                     # [A-Za-z_][A-Za-z0-9_-]*
///     kind: prepare-data           # a key of JobKindRegistry.standard
///     needs: [other]               # optional; see "dependencies" below
///     params: {input: "${params.input}", seed: "${params.seed}"}
///     retries: {max_attempts: 3, backoff_seconds: 1, max_backoff_seconds: 60}
///     timeout: 3600                # seconds, optional
///     resources: {threads: 2, memory_mb: 4096}
///     priority: 0                  # higher runs first among ready jobs (then: older run, longer chain after it)
///     memoize: true                # reuse an identical earlier job's outputs
///     shards: 4                    # generate and score only: 4 jobs `ID.shard1of4` … `ID.shard4of4`,
///                                  # each a run of whole chunks of the input, any worker may claim
///                                  # them; a merge job `ID` joins their files (byte-identical to one job)
///     when: "${params.update} == dpo" # optional: keep the job only if true (true/false, A == B,
///                                  # A != B after ${params.…} substitution); alternatives may share an id
/// rounds: 3                        # or "${params.rounds}"
/// round_jobs:                      # templates expanded once per round as r1.ID, r2.ID, …
///   - id: train_llm
///     kind: …
///     params:
///       round: "${round}"                                   # the round number (int)
///       model: "${prev.train_llm.outputs.model|params.base}" # previous round's output; the part
///                                                           # after `|` is used in round 1
///       data: "${jobs.data.outputs.rm_train_pairs}"          # a job outside the rounds
/// after_rounds:                    # jobs after the rounds; may use ${rounds.last.ID.outputs.NAME}
///   - {id: eval, kind: …, params: {model: "${rounds.last.train_llm.outputs.model}"}}
/// ```
///
/// References: `${params.NAME}`, `${matrix.KEY}` and `${round}` are substituted at submit time (a
/// string that is exactly one reference keeps the value's type; inside a longer string the value
/// is spliced in as text). `${jobs.ID.outputs.NAME}` stays symbolic until run time (`ParamResolver`); ID may be a
/// round job such as `r2.train_rm`; inside `round_jobs`, `${jobs.T.outputs.NAME}` with T a round
/// template id means T of the same round (a template id shadows a top-level job of the same name).
/// `${prev.…}` and `${rounds.last.…}` are rewritten to such `jobs.` references. `${` always opens a
/// reference (no escape).
///
/// Dependencies: every job a reference names is ADDED to `needs` automatically, so `needs` is only
/// required for ordering without data flow. In `round_jobs`, a `needs` entry is a template id (same
/// round), `prev.ID` (previous round; dropped in round 1) or a top-level job id; elsewhere it is a
/// job id, a round job id (`r2.ID`) or `rounds.last.ID`.
///
/// Matrix: `matrix:` maps keys (`[A-Za-z_][A-Za-z0-9_]*`) to non-empty lists of ints, numbers, bools
/// or strings (letters, digits, `_ - . +`); a value may be `${params.NAME}`. `${matrix.KEY}` may be
/// used in a job's params, settings and `when:` (not in `rounds:` or param defaults). A job that
/// uses a key — itself, or through any job it needs or references, transitively — is copied once
/// per combination of the values of the keys it depends on, as `KEY=VALUE/ID` (`seed=2/r1.apo_rm`;
/// several keys in declaration order, `lr=0.1,seed=2/ID`; keys with one value are left out of the
/// name, so a one-value matrix keeps every id). Jobs that depend on no key run once and are shared.
/// A copy's references and needs name the copies of the same cell; `${jobs.seed=2/ID.outputs.X}`
/// names one copy from anywhere. A preset's `matrix:` or `--param matrix.KEY=[1, 2]` replaces a
/// key's list (values of the list's type); a key no job uses is an error.
public enum PipelineSpec {
    /// Reads and expands a pipeline file; errors name this path (and the preset's, for problems in
    /// it). With `inputs` (what `apoctl submit` passes), every input path is resolved, stored
    /// absolute and checked on disk.
    public static func load(path: String, preset: ParamsPreset? = nil, overrides: [String: String] = [:],
                            registry: [String: any JobKind.Type] = JobKindRegistry.standard,
                            inputs: InputFileCheck? = nil) throws -> ExpandedPipeline {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PipelineValidationError(diagnostics: [PipelineDiagnostic(
                file: path, line: 0, column: 0, message: "cannot read pipeline file: \(error.localizedDescription)")])
        }
        return try expand(yaml: text, file: path, preset: preset, overrides: overrides, registry: registry, inputs: inputs)
    }

    /// Validates and expands pipeline text; throws `PipelineValidationError` listing every problem,
    /// the preset's first.
    public static func expand(yaml: String, file: String, preset: ParamsPreset? = nil, overrides: [String: String] = [:],
                              registry: [String: any JobKind.Type] = JobKindRegistry.standard,
                              inputs: InputFileCheck? = nil) throws -> ExpandedPipeline {
        let diagnostics = DiagnosticList(file: file)
        let presetValues = preset.map(PresetValues.parse)
        let compiler = PipelineCompiler(yaml: yaml, registry: registry, inputs: inputs, diagnostics: diagnostics)
        let result = compiler.compile(preset: presetValues, overrides: overrides)
        let presetProblems = presetValues?.diagnostics.sorted ?? []
        guard diagnostics.isEmpty, presetProblems.isEmpty, let result else {
            throw PipelineValidationError(diagnostics: presetProblems + diagnostics.sorted)
        }
        return result
    }

    /// Parses `--param k=v` arguments into a map (the value may contain '=').
    public static func parseOverrides(_ arguments: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for arg in arguments {
            guard let eq = arg.firstIndex(of: "="), eq != arg.startIndex else {
                throw PipelineValidationError(diagnostics: [PipelineDiagnostic(
                    file: "--param", line: 0, column: 0, message: "expected NAME=VALUE, got '\(arg)'")])
            }
            result[String(arg[..<eq])] = String(arg[arg.index(after: eq)...])
        }
        return result
    }
}

/// Pipeline text → `ExpandedPipeline`, one stage after another:
/// - parse: `PipelineDocument` (sections, name), then `JobTemplateReader` (each job's mapping);
/// - substitute: `PipelineParams` (defaults, a preset, `--param`), `MatrixDeclaration` (the
///   matrix lists, the same three layers), `Substitution` (`${…}` in any value);
/// - expand: `MatrixExpansion` (one template per job and matrix cell it depends on),
///   `RoundExpansion` (concrete jobs; each one's needs and params in its round and cell);
/// - validate: `JobValidation`, `ParamPathChecks` (params against the kind, references, paths);
/// - order: `TopologicalOrder`;
/// - shard: `ShardExpansion` (a job with `shards: K` → K shard jobs and a merge job under its id).
/// Job templates are read once the params, the matrix and the round count are known: their
/// settings and `when:` may use params and matrix values, and a round job's longest id depends on
/// the count. Every stage reports into one `DiagnosticList` and goes on where it can. Problems at
/// one position print in the order found (a YAML alias puts one node in several places), so the
/// order of the calls here, down to one job at a time, is part of the output.
private struct PipelineCompiler {
    let yaml: String
    let registry: [String: any JobKind.Type]
    let inputs: InputFileCheck?
    let diagnostics: DiagnosticList

    func compile(preset: PresetValues?, overrides: [String: String]) -> ExpandedPipeline? {
        guard let document = PipelineDocument.parse(yaml, diagnostics: diagnostics) else { return nil }
        let sections = document.sections
        let params = PipelineParams.read(sections["params"]?.value, preset: preset, overrides: overrides, diagnostics: diagnostics)
        var settings = Substitution(params: params, diagnostics: diagnostics)
        let rounds = RoundExpansion.roundCount(sections["rounds"], settings: settings)
        let declaration = matrixDeclaration(sections["matrix"], preset: preset, overrides: overrides, settings: settings)

        let nodes = JobTemplateReader(settings: settings, registry: registry, rounds: rounds)
        let (plainNodes, roundNodes) = (nodes.jobNodes(sections["jobs"]), nodes.jobNodes(sections["round_jobs"]))
        let afterNodes = nodes.jobNodes(sections["after_rounds"])
        let matrix = MatrixExpansion(declaration: declaration, plainJobs: plainNodes + afterNodes, roundJobs: roundNodes,
                                     diagnostics: diagnostics)
        guard matrix.checkJobCount(plainJobs: plainNodes + afterNodes, roundJobs: roundNodes, rounds: rounds) else { return nil }
        settings.matrix = matrix
        let reader = JobTemplateReader(settings: settings, registry: registry, rounds: rounds)
        let plainTemplates = matrix.templates(plainNodes, section: .jobs, reader: reader)
        let roundTemplates = matrix.templates(roundNodes, section: .rounds, reader: reader)
        let templates = plainTemplates + matrix.templates(afterNodes, section: .afterRounds, reader: reader)

        var substitution = settings
        substitution.rounds = rounds
        substitution.roundTemplateIDs = Set(roundTemplates.map(\.id))
        let expansion = RoundExpansion(substitution: substitution)
        guard var jobs = expansion.jobs(of: document, templates: templates, roundTemplates: roundTemplates) else { return nil }
        let index = Dictionary(jobs.enumerated().map { ($0.element.id, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let expanded = expandedJobs(&jobs, index: index, expansion: expansion)

        guard let order = TopologicalOrder.of(jobs, index: index, diagnostics: diagnostics) else { return nil }
        // Sharded also when other problems were found, to report its own with them.
        let byID = Dictionary(expanded.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let sharded = ShardExpansion(registry: registry, diagnostics: diagnostics)
            .jobs(order.compactMap { i in byID[jobs[i].id].map { ($0, jobs[i].template) } })
        guard diagnostics.isEmpty, expanded.count == jobs.count else { return nil }
        return ExpandedPipeline(name: document.name, yamlText: yaml, yamlHash: sha256Hex(Data(yaml.utf8)),
                                params: params, jobs: sharded)
    }

    /// The file's matrix, then a preset's lists (problems reported in the preset), then
    /// `--param matrix.KEY=[…]`.
    private func matrixDeclaration(_ entry: (key: Node, value: Node)?, preset: PresetValues?, overrides: [String: String],
                                   settings: Substitution) -> MatrixDeclaration {
        var declaration = MatrixDeclaration.read(entry, settings: settings)
        if let preset {
            declaration.apply(preset: preset.matrix, settings: Substitution(params: settings.params, diagnostics: preset.diagnostics))
        }
        declaration.apply(overrides: overrides, settings: settings)
        return declaration
    }

    /// Each job's needs and params in its round, then checked against its kind; the jobs its
    /// references name join its needs. The jobs whose kind is known, in file order.
    private func expandedJobs(_ jobs: inout [ConcreteJob], index: [String: Int], expansion: RoundExpansion) -> [ExpandedJob] {
        let validation = JobValidation(registry: registry, paths: ParamPathChecks(inputs: inputs, diagnostics: diagnostics),
                                       diagnostics: diagnostics)
        var expanded: [ExpandedJob] = []
        for j in jobs.indices {
            expansion.resolveNeeds(&jobs[j], index: index)
            var references: [PositionedReference] = []
            let given = expansion.params(of: jobs[j], references: &references)
            let job = validation.expandedJob(jobs[j], given: given)
            for (id, mark) in validation.referencedJobs(references, in: jobs, index: index) where jobs[j].needs[id] == nil {
                jobs[j].needs[id] = mark
            }
            if var job { job.needs = jobs[j].needs.keys.sorted(); expanded.append(job) }
        }
        return expanded
    }
}
