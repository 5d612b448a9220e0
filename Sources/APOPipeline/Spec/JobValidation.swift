import APOJSON
import Yams

/// The validate stage: a concrete job's params against its kind (known names, required ones,
/// types, then paths and allowed values in `ParamPathChecks`) and its `${jobs.…}` references
/// against the jobs they name.
struct JobValidation {
    let registry: [String: any JobKind.Type]
    let paths: ParamPathChecks
    let diagnostics: DiagnosticList

    /// The job with defaults applied and params type-checked (an int widened where the kind
    /// wants a number); its `needs` are filled in by the caller. nil for an unknown kind.
    func expandedJob(_ job: ConcreteJob, given: [String: (JSONValue, Mark?)]) -> ExpandedJob? {
        let t = job.template
        guard let kind = registry[t.kind] else { return nil }
        let specs = Dictionary(kind.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, keyMark, _) in t.params where specs[name] == nil {
            diagnostics.report(keyMark, "unknown parameter '\(name)' for kind '\(t.kind)' (known: \(kind.parameters.map(\.name).sorted().joined(separator: ", ")))")
        }
        var params: [String: JSONValue] = [:]
        for spec in kind.parameters {
            guard let (value, mark) = given[spec.name] else {
                if let d = spec.defaultValue { params[spec.name] = d }
                else { diagnostics.report(t.paramsMark ?? t.mark, "missing required parameter '\(spec.name)' for kind '\(t.kind)'") }
                continue
            }
            if Self.typeChecks(value, spec) {
                params[spec.name] = spec.type == .double ? (value.doubleValue.map(JSONValue.double) ?? value) : value
            } else {
                diagnostics.report(mark, "parameter '\(spec.name)' of kind '\(t.kind)' must be \(Self.describe(spec)), found \(value.typeName) \(value.interpolatedText.prefix(60))")
            }
        }
        paths.check(&params, kind: kind, given: given, template: t)
        return ExpandedJob(id: job.id, kind: t.kind, kindVersion: kind.version, params: params, needs: [],
                           maxAttempts: t.maxAttempts, backoffBaseSeconds: t.backoffBase,
                           backoffMaxSeconds: t.backoffMax, timeoutSeconds: t.timeout, threads: t.threads,
                           memoryMB: t.memoryMB, labels: t.labels, priority: t.priority, memoize: t.memoize)
    }

    /// The jobs `references` name, which the referring job needs; each must exist and have the
    /// output named (when its kind is known).
    func referencedJobs(_ references: [PositionedReference], in jobs: [ConcreteJob],
                        index: [String: Int]) -> [(id: String, mark: Mark?)] {
        var needed: [(id: String, mark: Mark?)] = []
        for use in references {
            let (ref, mark) = (use.reference, use.mark)
            guard let depIndex = index[ref.jobID] else {
                diagnostics.report(mark, "reference to unknown job '\(ref.jobID)' in ${\(ref.expression)}")
                continue
            }
            needed.append((ref.jobID, mark))
            let depKind = jobs[depIndex].template.kind
            if let kind = registry[depKind], !kind.outputs.contains(ref.output) {
                diagnostics.report(mark, "job '\(ref.jobID)' (kind '\(depKind)') has no output '\(ref.output)' (outputs: \(kind.outputs.joined(separator: ", ")))")
            }
        }
        return needed
    }

    static func describe(_ spec: ParameterSpec) -> String {
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
    static func typeChecks(_ value: JSONValue, _ spec: ParameterSpec) -> Bool {
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
}
