import APOJSON
import Yams

/// Where a value is being substituted: which references are allowed and what they mean.
struct SubstitutionScope {
    var section: JobTemplate.Section?   // nil: a job field such as `timeout` (params and matrix only)
    var round: Int?
    /// The matrix values of the job copy being read; nil where `${matrix.…}` cannot be used
    /// (`rounds:`, matrix lists).
    var cell: MatrixCell?
}

/// A `${jobs.…}` reference as substituted (round references made concrete), with where it was
/// written: validation checks that it names a job and one of its outputs.
struct PositionedReference {
    var reference: JobOutputReference
    var mark: Mark?
}

/// The substitute stage: YAML values → `JSONValue`s with `${params.…}`, `${matrix.…}`, `${round}`,
/// `${prev.…}` and `${rounds.last.…}` replaced; `${jobs.…}` stays symbolic (resolved at run time by
/// `ParamResolver`), naming the same matrix cell's copy of its job.
/// A string that is exactly one reference keeps the value's type; inside a longer string the value
/// is spliced in as text.
struct Substitution {
    let params: [String: JSONValue]
    /// What round references can name; unknown (0, none) while job settings are read, which may
    /// only use params.
    var rounds = 0
    var roundTemplateIDs = Set<String>()
    /// The matrix keys and which copy of a job a reference names; none while the params and the
    /// matrix itself are read.
    var matrix: MatrixExpansion?
    let diagnostics: DiagnosticList

    init(params: [String: JSONValue], diagnostics: DiagnosticList) {
        self.params = params
        self.diagnostics = diagnostics
    }

    static let syntax = "expected ${params.NAME}, ${matrix.KEY}, ${jobs.ID.outputs.NAME}, ${prev.ID.outputs.NAME|FALLBACK}, ${rounds.last.ID.outputs.NAME} or ${round}"

    /// `node` as a value where no `${jobs.…}` can be left: a job setting, or a literal (nil scope).
    func value(of node: Node, scope: SubstitutionScope?) -> JSONValue? {
        var unused: [PositionedReference] = []
        return value(of: node, scope: scope, references: &unused)
    }

    /// `node` as a value with references substituted per `scope` (nil: a literal, no references
    /// allowed); each `${jobs.…}` left in it is added to `references`. nil after reporting an error.
    func value(of node: Node, scope: SubstitutionScope?, references: inout [PositionedReference]) -> JSONValue? {
        switch node {
        case .scalar(let s):
            switch node.tagName {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(s.string)
            case .int: return node.int.map(JSONValue.int) ?? .string(s.string)
            case .float: return node.float.map(JSONValue.double) ?? .string(s.string)
            default:
                guard ParamTemplate.containsReference(s.string) else { return .string(s.string) }
                guard let scope else {
                    diagnostics.report(node.mark, "references are not allowed in pipeline param defaults: \"\(s.string)\"")
                    return nil
                }
                return substitute(s.string, mark: node.mark, scope: scope, references: &references)
            }
        case .sequence(let seq):
            var items: [JSONValue] = []
            var ok = true
            for n in seq {
                if let v = value(of: n, scope: scope, references: &references) { items.append(v) } else { ok = false }
            }
            return ok ? .array(items) : nil
        case .mapping(let m):
            var o: [String: JSONValue] = [:]
            var ok = true
            for (k, v) in m {
                guard let key = k.scalar?.string else { diagnostics.report(k.mark, "map keys must be strings"); ok = false; continue }
                if let value = value(of: v, scope: scope, references: &references) { o[key] = value } else { ok = false }
            }
            return ok ? .object(o) : nil
        case .alias:
            diagnostics.report(node.mark, "YAML aliases are not supported in pipelines")
            return nil
        }
    }

    /// What one `${…}` stands for: a value now, or a job's output at run time.
    enum Replacement {
        case value(JSONValue)
        case job(JobOutputReference)
    }

    func substitute(_ s: String, mark: Mark?, scope: SubstitutionScope, references: inout [PositionedReference]) -> JSONValue? {
        guard let segments = ParamTemplate.parse(s) else {
            diagnostics.report(mark, "bad reference syntax: '${' is never closed in \"\(s)\"")
            return nil
        }
        var replaced: [(TemplateSegment, Replacement?)] = []
        var ok = true
        for seg in segments {
            if case .reference(let e) = seg {
                guard let r = replacement(e, mark: mark, scope: scope, references: &references) else { ok = false; continue }
                replaced.append((seg, r))
            } else {
                replaced.append((seg, nil))
            }
        }
        guard ok else { return nil }
        if replaced.count == 1, let r = replaced[0].1 {
            switch r {
            case .value(let v): return v
            case .job(let ref): return .string(ref.placeholder)
            }
        }
        var text = ""
        for (seg, r) in replaced {
            switch (seg, r) {
            case (.literal(let l), _): text += l
            case (_, .value(let v)?): text += v.interpolatedText
            case (_, .job(let ref)?): text += ref.placeholder
            default: break
            }
        }
        return .string(text)
    }
}
