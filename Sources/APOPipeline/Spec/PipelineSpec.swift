import Foundation
import Yams

/// Pipeline YAML → validated `ExpandedPipeline`.
///
/// ```yaml
/// name: apo                       # required
/// params: {seed: 42, base: m.gguf} # pipeline params with defaults; `--param k=v` overrides,
///                                  # parsed as the default's type
/// jobs:                            # jobs that run once, before (or beside) the rounds
///   - id: data                     # [A-Za-z_][A-Za-z0-9_-]*
///     kind: prepare-data           # a key of JobKindRegistry.standard
///     needs: [other]               # optional; see "dependencies" below
///     params: {input: "${params.input}", seed: "${params.seed}"}
///     retries: {max_attempts: 3, backoff_seconds: 1, max_backoff_seconds: 60}
///     timeout: 3600                # seconds, optional
///     resources: {threads: 2, memory_mb: 4096}
///     priority: 0                  # higher runs first among ready jobs
///     memoize: true                # reuse an identical earlier job's outputs
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
/// References: `${params.NAME}` and `${round}` are substituted at submit time (a string that is
/// exactly one reference keeps the value's type; inside a longer string the value is spliced in as
/// text). `${jobs.ID.outputs.NAME}` stays symbolic until run time (`ParamResolver`); ID may be a
/// round job such as `r2.train_rm`; inside `round_jobs`, `${jobs.T.outputs.NAME}` with T a round
/// template id means T of the same round (a template id shadows a top-level job of the same name).
/// `${prev.…}` and `${rounds.last.…}` are rewritten to such `jobs.` references. `${` always opens a
/// reference (no escape).
///
/// Dependencies: every job a reference names is ADDED to `needs` automatically, so `needs` is only
/// required for ordering without data flow. In `round_jobs`, a `needs` entry is a template id (same
/// round), `prev.ID` (previous round; dropped in round 1) or a top-level job id; elsewhere it is a
/// job id, a round job id (`r2.ID`) or `rounds.last.ID`.
public enum PipelineSpec {
    /// Reads and expands a pipeline file; errors name this path. With `inputs` (what
    /// `apoctl submit` passes), every input path is resolved, stored absolute and checked on disk.
    public static func load(path: String, overrides: [String: String] = [:],
                            registry: [String: any JobKind.Type] = JobKindRegistry.standard,
                            inputs: InputFileCheck? = nil) throws -> ExpandedPipeline {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PipelineValidationError(diagnostics: [PipelineDiagnostic(
                file: path, line: 0, column: 0, message: "cannot read pipeline file: \(error.localizedDescription)")])
        }
        return try expand(yaml: text, file: path, overrides: overrides, registry: registry, inputs: inputs)
    }

    /// Validates and expands pipeline text; throws `PipelineValidationError` listing every problem.
    public static func expand(yaml: String, file: String, overrides: [String: String] = [:],
                              registry: [String: any JobKind.Type] = JobKindRegistry.standard,
                              inputs: InputFileCheck? = nil) throws -> ExpandedPipeline {
        let diagnostics = DiagnosticList(file: file)
        let compiler = PipelineCompiler(yaml: yaml, registry: registry, inputs: inputs, diagnostics: diagnostics)
        let result = compiler.compile(overrides: overrides)
        guard diagnostics.isEmpty, let result else {
            throw PipelineValidationError(diagnostics: diagnostics.sorted)
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

struct ConcreteJob {
    var id: String
    var template: JobTemplate
    var round: Int?
    var needs: [String: Mark?] = [:]
}

private final class PipelineCompiler {
    let yaml: String
    let registry: [String: any JobKind.Type]
    let inputs: InputFileCheck?
    let diagnostics: DiagnosticList
    /// sha256 of input files already hashed (absolute path → hex), so rounds hash a file once.
    private var digests: [String: String] = [:]

    private var params: [String: ParamValue] = [:]
    private var rounds = 0
    private var roundTemplateIDs = Set<String>()
    private var refs: [PositionedReference] = []

    /// Bounds on what one file may expand to: `rounds: 100000000` would otherwise make `submit` build
    /// a hundred million jobs (found by fuzzing; real pipelines have a handful of rounds and jobs).
    static let maxRounds = 1000
    static let maxJobs = 10_000

    init(yaml: String, registry: [String: any JobKind.Type], inputs: InputFileCheck?, diagnostics: DiagnosticList) {
        self.yaml = yaml
        self.registry = registry
        self.inputs = inputs
        self.diagnostics = diagnostics
    }

    func error(_ mark: Mark?, _ message: String) {
        diagnostics.report(mark, message)
    }

    func error(at mark: SourcePosition?, _ message: String) {
        diagnostics.report(at: mark, message)
    }

    // MARK: - Top level

    func compile(overrides: [String: String]) -> ExpandedPipeline? {
        guard let document = PipelineDocument.parse(yaml, diagnostics: diagnostics) else { return nil }
        let sections = document.sections
        params = PipelineParams.read(sections["params"]?.value, overrides: overrides, diagnostics: diagnostics)

        if let (key, value) = sections["rounds"] {
            let v = nodeValue(value, scope: SubstitutionScope(section: nil))
            if let n = v?.intValue, n > Self.maxRounds {
                error(value.mark ?? key.mark, "'rounds' must be at most \(Self.maxRounds), found \(n)")
                rounds = 1  // still check the round jobs, as one round
            } else if let n = v?.intValue, n >= 0 { rounds = n }
            else if v != nil { error(value.mark ?? key.mark, "'rounds' must be a non-negative integer, found \(v!.interpolatedText)") }
        }

        let reader = JobTemplateReader(settings: substitution, registry: registry, rounds: rounds)
        var templates: [JobTemplate] = []
        templates += reader.readList(sections["jobs"], section: .jobs)
        let roundTemplates = reader.readList(sections["round_jobs"], section: .rounds)
        templates += reader.readList(sections["after_rounds"], section: .afterRounds)
        roundTemplateIDs = Set(roundTemplates.map(\.id))
        if sections["round_jobs"] != nil, sections["rounds"] == nil {
            error(sections["round_jobs"]!.key.mark, "'round_jobs' needs 'rounds: N'")
        }
        if let (key, _) = sections["rounds"], sections["round_jobs"] == nil, rounds > 0 {
            error(key.mark, "'rounds' given without 'round_jobs'")
        }
        checkDuplicateIDs(templates)
        checkDuplicateIDs(roundTemplates)

        // Expand: plain jobs, then each round in order, then after_rounds, which keeps file order
        // meaningful as the topological tie-break.
        let jobCount = templates.count + rounds * roundTemplates.count
        if jobCount > Self.maxJobs {
            error(sections["round_jobs"]?.key.mark ?? sections["jobs"]?.key.mark ?? document.rootMark,
                  "the pipeline expands to \(jobCount) jobs; at most \(Self.maxJobs) are allowed")
            return nil
        }
        var jobs: [ConcreteJob] = templates.filter { $0.section == .jobs }.map { ConcreteJob(id: $0.id, template: $0) }
        if rounds > 0 {
            for r in 1...rounds {
                jobs += roundTemplates.map { ConcreteJob(id: "r\(r).\($0.id)", template: $0, round: r) }
            }
        }
        jobs += templates.filter { $0.section == .afterRounds }.map { ConcreteJob(id: $0.id, template: $0) }
        if jobs.isEmpty { error(sections["jobs"]?.key.mark ?? document.rootMark, "the pipeline has no jobs") }

        let index = Dictionary(jobs.enumerated().map { ($0.element.id, $0.offset) }, uniquingKeysWith: { a, _ in a })
        var expanded: [ExpandedJob] = []
        for j in jobs.indices {
            resolveNeeds(&jobs[j], index: index)
            refs = []
            let job = expandJob(jobs[j])
            for (ref, mark) in refs.map({ ($0.reference, $0.mark) }) {
                guard let depIndex = index[ref.jobID] else {
                    error(mark, "reference to unknown job '\(ref.jobID)' in ${\(ref.expression)}")
                    continue
                }
                if jobs[j].needs[ref.jobID] == nil { jobs[j].needs[ref.jobID] = mark }
                let depKind = jobs[depIndex].template.kind
                if let kind = registry[depKind], !kind.outputs.contains(ref.output) {
                    error(mark, "job '\(ref.jobID)' (kind '\(depKind)') has no output '\(ref.output)' (outputs: \(kind.outputs.joined(separator: ", ")))")
                }
            }
            if var job { job.needs = jobs[j].needs.keys.sorted(); expanded.append(job) }
        }

        guard let order = TopologicalOrder.of(jobs, index: index, diagnostics: diagnostics), diagnostics.isEmpty,
              expanded.count == jobs.count else { return nil }
        let byID = Dictionary(uniqueKeysWithValues: expanded.map { ($0.id, $0) })
        return ExpandedPipeline(name: document.name, yamlText: yaml, yamlHash: sha256Hex(Data(yaml.utf8)),
                                params: params, jobs: order.map { byID[jobs[$0].id]! })
    }

    func checkDuplicateIDs(_ templates: [JobTemplate]) {
        var first: [String: Mark?] = [:]
        for t in templates {
            if let m = first[t.id] {
                let at = m.map { " (first defined at line \($0.line))" } ?? ""
                error(t.idMark, "duplicate job id '\(t.id)'\(at)")
            } else {
                first[t.id] = t.idMark
            }
        }
    }

    func resolveNeeds(_ job: inout ConcreteJob, index: [String: Int]) {
        for (entry, mark) in job.template.needs {
            var target: String?
            if let r = job.round {
                if roundTemplateIDs.contains(entry) { target = "r\(r).\(entry)" }
                else if entry.hasPrefix("prev.") {
                    let id = String(entry.dropFirst(5))
                    guard roundTemplateIDs.contains(id) else { error(mark, "unknown dependency '\(entry)': '\(id)' is not a round job"); continue }
                    if r == 1 { continue }
                    target = "r\(r - 1).\(id)"
                } else if index[entry] != nil { target = entry }
            } else if entry.hasPrefix("rounds.last.") {
                let id = String(entry.dropFirst("rounds.last.".count))
                guard roundTemplateIDs.contains(id), rounds > 0 else {
                    error(mark, "unknown dependency '\(entry)': \(rounds == 0 ? "there are no rounds" : "'\(id)' is not a round job")"); continue
                }
                target = "r\(rounds).\(id)"
            } else if index[entry] != nil { target = entry }
            guard let target else { error(mark, "unknown dependency '\(entry)'"); continue }
            if job.needs[target] == nil { job.needs[target] = mark }
        }
    }

    /// Params with defaults applied, substituted and type-checked against the kind.
    func expandJob(_ job: ConcreteJob) -> ExpandedJob? {
        let t = job.template
        let scope = SubstitutionScope(section: t.section, round: job.round)
        var given: [String: (ParamValue, Mark?)] = [:]
        for (name, keyMark, node) in t.params {
            if let v = nodeValue(node, scope: scope) { given[name] = (v, node.mark ?? keyMark) }
        }
        guard let kind = registry[t.kind] else { return nil }
        let specs = Dictionary(kind.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, keyMark, _) in t.params where specs[name] == nil {
            error(keyMark, "unknown parameter '\(name)' for kind '\(t.kind)' (known: \(kind.parameters.map(\.name).sorted().joined(separator: ", ")))")
        }
        var params: [String: ParamValue] = [:]
        for spec in kind.parameters {
            guard let (value, mark) = given[spec.name] else {
                if let d = spec.defaultValue { params[spec.name] = d }
                else { error(t.paramsMark ?? t.mark, "missing required parameter '\(spec.name)' for kind '\(t.kind)'") }
                continue
            }
            if typeChecks(value, spec) {
                params[spec.name] = spec.type == .double ? (value.doubleValue.map(ParamValue.double) ?? value) : value
            } else {
                error(mark, "parameter '\(spec.name)' of kind '\(t.kind)' must be \(describe(spec)), found \(value.typeName) \(value.interpolatedText.prefix(60))")
            }
        }
        checkPathParams(&params, kind: kind, given: given, template: t)
        return ExpandedJob(id: job.id, kind: t.kind, kindVersion: kind.version, params: params, needs: [],
                           maxAttempts: t.maxAttempts, backoffBaseSeconds: t.backoffBase,
                           backoffMaxSeconds: t.backoffMax, timeoutSeconds: t.timeout, threads: t.threads,
                           memoryMB: t.memoryMB, priority: t.priority, memoize: t.memoize)
    }

    /// Artifact names must stay inside the job's folder; path values must be paths (no control
    /// characters). With `inputs`, input paths are resolved, made absolute and checked on disk
    /// (exists, readable, pinned sha256), and output paths made absolute. Values holding a
    /// `${jobs.…}` reference are upstream outputs and are left for run time.
    func checkPathParams(_ params: inout [String: ParamValue], kind: any JobKind.Type,
                         given: [String: (ParamValue, Mark?)], template t: JobTemplate) {
        for spec in kind.parameters {
            guard let value = params[spec.name], value != .null else { continue }
            let mark = given[spec.name]?.1 ?? t.paramsMark ?? t.mark
            let what = "parameter '\(spec.name)' of job '\(t.id)'"
            switch spec.type {
            case .artifactName:
                if let s = value.stringValue, !ParamTemplate.containsReference(s),
                   let problem = SubmitChecks.artifactNameProblem(s) {
                    error(mark, "\(what): artifact name \(SubmitChecks.shown(s)) \(problem)")
                }
            case .path, .pathList, .pathOrURL, .outputPath:
                let pinned = spec.sha256Parameter.flatMap { params[$0]?.stringValue }
                    .flatMap { $0.isEmpty || ParamTemplate.containsReference($0) ? nil : $0.lowercased() }
                params[spec.name] = mapStrings(value) { checkPath($0, spec: spec, what: what, mark: mark, pinned: pinned) }
            default:
                if let allowed = spec.allowedValues, let s = value.stringValue, !ParamTemplate.containsReference(s),
                   !allowed.contains(s) {
                    error(mark, "\(what): \(SubmitChecks.shown(s)) is not one of \(allowed.joined(separator: ", "))")
                }
            }
        }
    }

    private func mapStrings(_ value: ParamValue, _ transform: (String) -> String) -> ParamValue {
        switch value {
        case .string(let s): return .string(transform(s))
        case .array(let items): return .array(items.map { mapStrings($0, transform) })
        default: return value
        }
    }

    private func checkPath(_ s: String, spec: ParameterSpec, what: String, mark: Mark?, pinned: String?) -> String {
        if ParamTemplate.containsReference(s) { return s }
        if s.isEmpty {
            if spec.isRequired { error(mark, "\(what) is an empty path") }
            return s
        }
        if let c = s.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            error(mark, "\(what): path \(SubmitChecks.shown(s)) contains the control character U+\(String(format: "%04X", c.value))")
            return s
        }
        if spec.type == .pathOrURL, SubmitChecks.isURL(s) { return s }
        guard let inputs else { return s }
        let absolute = SubmitChecks.absolute(s, base: inputs.baseDirectory)
        if spec.type == .outputPath { return absolute }
        if let problem = SubmitChecks.inputProblem(absolute: absolute, written: s) {
            error(mark, "\(what): input \(problem)")
            return absolute
        }
        if let pinned, let shaName = spec.sha256Parameter {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory)
            if isDirectory.boolValue {
                error(mark, "\(what): \(absolute) is a directory, but parameter '\(shaName)' pins a file's sha256")
                return absolute
            }
            if digests[absolute] == nil { digests[absolute] = try? fileSHA256(URL(fileURLWithPath: absolute)) }
            guard let found = digests[absolute] else {
                error(mark, "\(what): cannot read \(absolute) to check its sha256")
                return absolute
            }
            if found != pinned {
                error(mark, "\(what): \(absolute) has sha256 \(found), but parameter '\(shaName)' pins \(pinned)")
            }
        }
        return absolute
    }

    func describe(_ spec: ParameterSpec) -> String {
        let base: String
        switch spec.type {
        case .int: base = "an int"
        case .double: base = "a number"
        case .bool: base = "a bool"
        case .string: base = "a string"
        case .path, .outputPath: base = "a path (string)"
        case .pathOrURL: base = "a path or URL (string)"
        case .artifactName: base = "an artifact name (string)"
        case .stringList, .pathList, .any: base = "a \(spec.type.rawValue)"
        }
        return spec.defaultValue == .null ? base + " or null" : base
    }

    /// A value still holding `${jobs.…}` is checked by shape only: a whole-string reference can be
    /// anything; a reference spliced into text yields a string.
    func typeChecks(_ value: ParamValue, _ spec: ParameterSpec) -> Bool {
        if value == .null { return spec.defaultValue == .null || spec.type == .any }
        if case .string(let s) = value, ParamTemplate.containsReference(s) {
            if let segs = ParamTemplate.parse(s), segs.count == 1 { return true }
            return [.string, .path, .pathOrURL, .outputPath, .artifactName, .any].contains(spec.type)
        }
        if case .array(let items) = value, spec.type == .stringList || spec.type == .pathList {
            return items.allSatisfy { $0.stringValue != nil }
        }
        return spec.type.accepts(value)
    }

    private var substitution: Substitution {
        Substitution(params: params, rounds: rounds, roundTemplateIDs: roundTemplateIDs, diagnostics: diagnostics)
    }

    func nodeValue(_ node: Node, scope: SubstitutionScope?) -> ParamValue? {
        substitution.value(of: node, scope: scope, references: &refs)
    }
}
