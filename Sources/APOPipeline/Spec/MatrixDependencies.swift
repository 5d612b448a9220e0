import Yams

/// A job of the file as the matrix sees it: a top-level job (`jobs`, `after_rounds`, one id space)
/// or a round template (`round_jobs`).
struct MatrixJobName: Hashable {
    var inRounds: Bool
    var id: String
}

/// Which matrix keys each job depends on, read from the file's job mappings as written (before
/// any substitution): the keys its own `${matrix.KEY}` name anywhere in it (params, settings,
/// `when:`), and every key of each job it needs or references, through any reference form
/// (`${jobs.…}`, `${prev.…}` and its fallback, `${rounds.last.…}`, `needs`). Alternatives that
/// share an id (`when:`) share their keys. A reference to one copy by its full key
/// (`${jobs.seed=2/ID.outputs.X}`) adds no key: it names that copy only.
///
/// Read per template, not per round: a round job that uses the previous round's matrixed job
/// is copied in round 1 too, where it would not need to be (the copies are then equal, and
/// memoization runs them once).
struct MatrixDependencies {
    private(set) var keys: [MatrixJobName: Set<String>] = [:]
    /// Every key some job names directly, to report declared keys that nothing uses.
    private(set) var usedKeys = Set<String>()
    let roundTemplateIDs: Set<String>

    init(plainJobs: [Node], roundJobs: [Node], declared: Set<String>) {
        roundTemplateIDs = Set(roundJobs.compactMap(Self.id))
        var edges: [MatrixJobName: Set<MatrixJobName>] = [:]
        for (nodes, inRounds) in [(plainJobs, false), (roundJobs, true)] {
            for node in nodes {
                let scan = scan(node, inRounds: inRounds)
                usedKeys.formUnion(scan.keys)
                guard let id = Self.id(of: node) else { continue }
                let name = MatrixJobName(inRounds: inRounds, id: id)
                keys[name, default: []].formUnion(scan.keys.intersection(declared))
                edges[name, default: []].formUnion(scan.jobs)
            }
        }
        close(over: edges)
    }

    /// The keys of `name`'s jobs; nil for a job the file does not define.
    func keys(of name: MatrixJobName) -> Set<String>? { keys[name] }

    /// The keys of the job `node` defines; a job without an id (reported when it is read) has
    /// only the keys it names.
    func keys(ofNode node: Node, inRounds: Bool, declared: Set<String>) -> Set<String> {
        if let id = Self.id(of: node), let found = keys[MatrixJobName(inRounds: inRounds, id: id)] { return found }
        return scan(node, inRounds: inRounds).keys.intersection(declared)
    }

    /// The job a concrete id without a cell names: `r2.apo_rm` is round template `apo_rm`,
    /// anything else a top-level job.
    func name(ofConcreteID id: String) -> MatrixJobName {
        if id.hasPrefix("r"), let dot = id.firstIndex(of: "."),
           Int(id[id.index(after: id.startIndex)..<dot]) != nil,
           roundTemplateIDs.contains(String(id[id.index(after: dot)...])) {
            return MatrixJobName(inRounds: true, id: String(id[id.index(after: dot)...]))
        }
        return MatrixJobName(inRounds: false, id: id)
    }

    static func id(of node: Node) -> String? {
        node.mapping?.first { $0.key.scalar?.string == "id" }?.value.scalar?.string
    }

    /// Until nothing changes: a job has the keys of every job it depends on (rounds make cycles
    /// of templates: `policy` needs `prev.policy`).
    private mutating func close(over edges: [MatrixJobName: Set<MatrixJobName>]) {
        var changed = true
        while changed {
            changed = false
            for (name, targets) in edges {
                var union = keys[name] ?? []
                for target in targets { union.formUnion(keys[target] ?? []) }
                if union != keys[name] { keys[name] = union; changed = true }
            }
        }
    }

    /// The matrix keys a job names and the jobs it depends on.
    private func scan(_ node: Node, inRounds: Bool) -> (keys: Set<String>, jobs: Set<MatrixJobName>) {
        var keys = Set<String>()
        var jobs = Set<MatrixJobName>()
        for (key, value) in node.mapping ?? [:] where key.scalar?.string == "needs" {
            for entry in (value.sequence.map(Array.init) ?? [value]).compactMap({ $0.scalar?.string }) {
                if let target = target(ofNeed: entry, inRounds: inRounds) { jobs.insert(target) }
            }
        }
        for text in Self.strings(in: node) {
            for case .reference(let expression) in ParamTemplate.parse(text) ?? [] {
                scan(expression, inRounds: inRounds, keys: &keys, jobs: &jobs)
            }
        }
        return (keys, jobs)
    }

    private func scan(_ e: String, inRounds: Bool, keys: inout Set<String>, jobs: inout Set<MatrixJobName>) {
        if e.hasPrefix("matrix.") { keys.insert(String(e.dropFirst("matrix.".count))); return }
        if e.hasPrefix("prev.") {
            let parts = e.split(separator: "|", maxSplits: 1).map(String.init)
            if let ref = JobOutputReference(expression: "jobs." + parts[0].dropFirst("prev.".count)) {
                jobs.insert(MatrixJobName(inRounds: true, id: ref.jobID))
            }
            if parts.count == 2 { scan(parts[1], inRounds: inRounds, keys: &keys, jobs: &jobs) }
        } else if e.hasPrefix("rounds.last."),
                  let ref = JobOutputReference(expression: "jobs." + e.dropFirst("rounds.last.".count)) {
            jobs.insert(MatrixJobName(inRounds: true, id: ref.jobID))
        } else if let ref = JobOutputReference(expression: e), let target = target(ofNeed: ref.jobID, inRounds: inRounds) {
            jobs.insert(target)
        }
    }

    /// What a `needs` entry or a `${jobs.ID…}` id names, as `RoundExpansion` and `Substitution`
    /// resolve it; nil for a full key of one copy.
    private func target(ofNeed entry: String, inRounds: Bool) -> MatrixJobName? {
        if entry.contains("/") { return nil }
        if entry.hasPrefix("prev.") { return MatrixJobName(inRounds: true, id: String(entry.dropFirst("prev.".count))) }
        if entry.hasPrefix("rounds.last.") { return MatrixJobName(inRounds: true, id: String(entry.dropFirst("rounds.last.".count))) }
        if inRounds, roundTemplateIDs.contains(entry) { return MatrixJobName(inRounds: true, id: entry) }
        return name(ofConcreteID: entry)
    }

    /// Every string scalar in `node`, mapping keys left out.
    private static func strings(in node: Node) -> [String] {
        switch node {
        case .scalar(let s): return [s.string]
        case .sequence(let seq): return seq.flatMap(strings)
        case .mapping(let m): return m.flatMap { strings(in: $0.value) }
        case .alias: return []
        }
    }
}
