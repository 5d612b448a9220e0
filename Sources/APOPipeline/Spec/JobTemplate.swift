import Yams

/// A job as written in the file, before round expansion: its settings read, its params still
/// YAML nodes (substituted per round by the expansion), every part with its position. A job that
/// depends on the matrix has one template per cell (`MatrixExpansion`).
struct JobTemplate {
    enum Section { case jobs, rounds, afterRounds }
    var section: Section
    var id: String
    var idMark: Mark?
    var mark: Mark?
    var kind: String
    var kindMark: Mark?
    var needs: [(String, Mark?)] = []
    var params: [(name: String, keyMark: Mark?, value: Node)] = []
    var paramsMark: Mark?
    var maxAttempts = 3
    var backoffBase = 1.0
    var backoffMax = 60.0
    var timeout: Double?
    var threads = 1
    var memoryMB: Int?
    var labels: [String: String]?
    var priority = 0
    var memoize = true
    /// `shards: K`: K jobs of one chunk-aligned part each and a merge job (`ShardExpansion`); 1 = one job.
    var shards = 1
    var shardsMark: Mark?
    /// false when a `when:` condition was false: the job is left out of the pipeline.
    var enabled = true
    /// The matrix values this copy was read with; `.shared` when the job depends on none.
    var cell = MatrixCell.shared

    /// The key of this copy's job: `seed=2/r1.ID` in round 1 of cell `seed=2`, `ID` when shared.
    func concreteID(round: Int?) -> String {
        cell.prefix + (round.map { "r\($0).\(id)" } ?? id)
    }
}

/// The parse stage for `jobs`, `round_jobs` and `after_rounds`. Runs after the params and the
/// matrix are known: settings such as `timeout` and `when:` may use `${params.…}` and
/// `${matrix.…}` (and nothing else).
struct JobTemplateReader {
    static let jobKeys = ["id", "kind", "needs", "params", "retries", "timeout", "resources", "priority", "memoize", "when"]

    /// Substitutes params only: settings are the same in every round.
    let settings: Substitution
    let registry: [String: any JobKind.Type]
    /// The round count, for the longest id a round job will have.
    let rounds: Int
    /// The matrix values of the copy being read (`MatrixExpansion` sets one per copy).
    var cell = MatrixCell.shared
    var diagnostics: DiagnosticList { settings.diagnostics }

    /// The list's job mappings as written (each read by `read`, once per matrix cell).
    func jobNodes(_ entry: (key: Node, value: Node)?) -> [Node] {
        guard let (key, value) = entry else { return [] }
        guard let seq = value.sequence else {
            diagnostics.report(value.mark ?? key.mark, "'\(key.scalar?.string ?? "")' must be a list of jobs")
            return []
        }
        return Array(seq)
    }

    /// Keys are read in file order (problems at one position print in the order found).
    func read(_ node: Node, section: JobTemplate.Section) -> JobTemplate? {
        guard let m = node.mapping else { diagnostics.report(node.mark, "a job must be a mapping with 'id' and 'kind'"); return nil }
        var t = JobTemplate(section: section, id: "", mark: node.mark, kind: "")
        t.cell = cell
        var ok = true
        for (key, value) in m {
            guard let k = key.scalar?.string else { diagnostics.report(key.mark, "job keys must be strings"); continue }
            switch k {
            case "id": ok = readID(value, into: &t) && ok
            case "kind": ok = readKind(value, into: &t) && ok
            case "needs": readNeeds(value, into: &t)
            case "params": readParams(key: key, value, into: &t)
            case "retries": readRetries(value, into: &t)
            case "timeout": readTimeout(value, into: &t)
            case "resources": readResources(value, into: &t)
            case "priority": readPriority(value, into: &t)
            case "memoize": readMemoize(value, into: &t)
            // Not in `jobKeys`, whose list every kind takes: only generate and score take it.
            case "shards": readShards(value, into: &t)
            case "when": if let b = settings.condition(value, cell: cell) { t.enabled = b }
            default:
                diagnostics.report(key.mark, "unknown job key '\(k)' (expected one of: \(Self.jobKeys.joined(separator: ", ")))")
            }
        }
        if t.id.isEmpty && ok { diagnostics.report(node.mark, "job has no 'id'"); ok = false }
        if t.kind.isEmpty && ok { diagnostics.report(node.mark, "job '\(t.id)' has no 'kind'"); ok = false }
        if !t.kind.isEmpty, registry[t.kind] == nil || JobKindRegistry.expansionKinds.contains(t.kind) {
            let known = registry.keys.filter { !JobKindRegistry.expansionKinds.contains($0) }.sorted()
            diagnostics.report(t.kindMark, "unknown job kind '\(t.kind)' (known: \(known.joined(separator: ", ")))")
        } else if t.shardsMark != nil {
            checkShardable(t)
        }
        return ok ? t : nil
    }

    /// `[A-Za-z_][A-Za-z0-9_-]*`, checked by scalar (a regex `$` would also match before a
    /// trailing newline).
    static func isValidID(_ s: String) -> Bool {
        func letter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" }
        let scalars = Array(s.unicodeScalars)
        guard let first = scalars.first, letter(first) else { return false }
        return scalars.dropFirst().allSatisfy { letter($0) || ("0"..."9").contains($0) || $0 == "-" }
    }

    /// false when the id is not a string at all (the job cannot be expanded).
    private func readID(_ value: Node, into t: inout JobTemplate) -> Bool {
        guard let s = value.scalar?.string, value.tagName == .str || value.tagName == .int else {
            diagnostics.report(value.mark, "'id' must be a string"); return false
        }
        t.id = s
        t.idMark = value.mark
        if !Self.isValidID(s) {
            diagnostics.report(value.mark, "bad job id \(SubmitChecks.shown(s)): use letters, digits, '_' and '-', starting with a letter or '_'")
        } else {
            // Ids name folders (`<run>/<id>/`); a round job's is `rN.<id>`, a matrix copy's `<cell>/…`.
            let concrete = t.concreteID(round: t.section == .rounds ? max(rounds, 1) : nil)
            if let problem = SubmitChecks.nameProblem(concrete) { diagnostics.report(value.mark, "job id '\(concrete.prefix(40))…' \(problem)") }
        }
        return true
    }

    private func readKind(_ value: Node, into t: inout JobTemplate) -> Bool {
        guard let s = value.scalar?.string, !s.isEmpty else { diagnostics.report(value.mark, "'kind' must be a string"); return false }
        t.kind = s
        t.kindMark = value.mark
        return true
    }

    /// A list of ids, or one id. What each names is resolved per round by the expansion.
    private func readNeeds(_ value: Node, into t: inout JobTemplate) {
        let items = value.sequence.map(Array.init) ?? (value.scalar != nil ? [value] : nil)
        guard let items else { diagnostics.report(value.mark, "'needs' must be a list of job ids"); return }
        for item in items {
            if let s = item.scalar?.string, !s.isEmpty { t.needs.append((s, item.mark)) }
            else { diagnostics.report(item.mark, "'needs' entries must be job ids") }
        }
    }

    private func readParams(key: Node, _ value: Node, into t: inout JobTemplate) {
        guard let pm = value.mapping else { diagnostics.report(value.mark, "'params' must be a mapping"); return }
        t.paramsMark = key.mark
        for (pk, pv) in pm {
            guard let name = pk.scalar?.string else { diagnostics.report(pk.mark, "parameter names must be strings"); continue }
            t.params.append((name, pk.mark, pv))
        }
    }
}
