import APOJSON
import Yams

/// One job of the expanded pipeline, before validation: its template and, for a round job, its
/// round (the id is then `rN.<template id>`, after its matrix cell's name if it has one).
struct ConcreteJob {
    var id: String
    var template: JobTemplate
    var round: Int?
    /// Direct dependencies by concrete id, each with where it was asked for.
    var needs: [String: Mark?] = [:]
}

/// The expand stage: templates → concrete jobs. Plain jobs, then each round's copy of the round
/// templates, then `after_rounds`, which keeps file order meaningful as the topological tie-break.
/// Each job's `needs` and params are then read in its round.
struct RoundExpansion {
    /// Bounds on what one file may expand to: `rounds: 100000000` would otherwise make `submit` build
    /// a hundred million jobs (found by fuzzing; real pipelines have a handful of rounds and jobs).
    static let maxRounds = 1000
    static let maxJobs = 10_000

    /// Knows the round count and the round template ids.
    let substitution: Substitution
    var rounds: Int { substitution.rounds }
    var roundTemplateIDs: Set<String> { substitution.roundTemplateIDs }
    var diagnostics: DiagnosticList { substitution.diagnostics }

    /// `rounds:` (0 when absent or bad). Over the bound it counts as one round, so the round jobs
    /// are still checked.
    static func roundCount(_ entry: (key: Node, value: Node)?, settings: Substitution) -> Int {
        guard let (key, value) = entry else { return 0 }
        let v = settings.value(of: value, scope: SubstitutionScope(section: nil))
        if let n = v?.intValue, n > maxRounds {
            settings.diagnostics.report(value.mark ?? key.mark, "'rounds' must be at most \(maxRounds), found \(n)")
            return 1
        }
        if let n = v?.intValue, n >= 0 { return n }
        if let v { settings.diagnostics.report(value.mark ?? key.mark, "'rounds' must be a non-negative integer, found \(v.interpolatedText)") }
        return 0
    }

    /// The concrete jobs in file order; nil when there would be too many to build.
    /// `templates` are those of `jobs` and `after_rounds`, which share one id space.
    func jobs(of document: PipelineDocument, templates: [JobTemplate], roundTemplates: [JobTemplate]) -> [ConcreteJob]? {
        let sections = document.sections
        if sections["round_jobs"] != nil, sections["rounds"] == nil {
            diagnostics.report(sections["round_jobs"]!.key.mark, "'round_jobs' needs 'rounds: N'")
        }
        if let (key, _) = sections["rounds"], sections["round_jobs"] == nil, rounds > 0 {
            diagnostics.report(key.mark, "'rounds' given without 'round_jobs'")
        }
        checkDuplicateIDs(templates)
        checkDuplicateIDs(roundTemplates)
        let jobCount = templates.count + rounds * roundTemplates.count
        if jobCount > Self.maxJobs {
            diagnostics.report(sections["round_jobs"]?.key.mark ?? sections["jobs"]?.key.mark ?? document.rootMark,
                               "the pipeline expands to \(jobCount) jobs; at most \(Self.maxJobs) are allowed")
            return nil
        }
        var jobs: [ConcreteJob] = templates.filter { $0.section == .jobs }.map { ConcreteJob(id: $0.concreteID(round: nil), template: $0) }
        if rounds > 0 {
            for r in 1...rounds {
                jobs += roundTemplates.map { ConcreteJob(id: $0.concreteID(round: r), template: $0, round: r) }
            }
        }
        jobs += templates.filter { $0.section == .afterRounds }.map { ConcreteJob(id: $0.concreteID(round: nil), template: $0) }
        if jobs.isEmpty { diagnostics.report(sections["jobs"]?.key.mark ?? document.rootMark, "the pipeline has no jobs") }
        return jobs
    }

    /// Within each matrix cell: a job's copies in other cells share its id.
    private func checkDuplicateIDs(_ templates: [JobTemplate]) {
        var first: [String: Mark?] = [:]
        for t in templates {
            if let m = first[t.concreteID(round: nil)] {
                let at = m.map { " (first defined at line \($0.line))" } ?? ""
                diagnostics.report(t.idMark, "duplicate job id '\(t.id)'\(at)")
            } else {
                first[t.concreteID(round: nil)] = t.idMark
            }
        }
    }

    /// `needs` entries as concrete ids: in a round job a template id (same round), `prev.ID`
    /// (previous round; none in round 1) or a job id; elsewhere a job id or `rounds.last.ID`.
    /// Each names the copy in the job's matrix cell.
    func resolveNeeds(_ job: inout ConcreteJob, index: [String: Int]) {
        let cell = job.template.cell
        func inCell(_ id: String) -> String { substitution.matrix?.concreteID(id, from: cell) ?? id }
        for (entry, mark) in job.template.needs {
            var target: String?
            if let r = job.round {
                if roundTemplateIDs.contains(entry) { target = inCell("r\(r).\(entry)") }
                else if entry.hasPrefix("prev.") {
                    let id = String(entry.dropFirst(5))
                    guard roundTemplateIDs.contains(id) else { diagnostics.report(mark, "unknown dependency '\(entry)': '\(id)' is not a round job"); continue }
                    if r == 1 { continue }
                    target = inCell("r\(r - 1).\(id)")
                } else if index[inCell(entry)] != nil { target = inCell(entry) }
            } else if entry.hasPrefix("rounds.last.") {
                let id = String(entry.dropFirst("rounds.last.".count))
                guard roundTemplateIDs.contains(id), rounds > 0 else {
                    diagnostics.report(mark, "unknown dependency '\(entry)': \(rounds == 0 ? "there are no rounds" : "'\(id)' is not a round job")"); continue
                }
                target = inCell("r\(rounds).\(id)")
            } else if index[inCell(entry)] != nil { target = inCell(entry) }
            guard let target else { diagnostics.report(mark, "unknown dependency '\(entry)'"); continue }
            if job.needs[target] == nil { job.needs[target] = mark }
        }
    }

    /// The job's params as written, substituted in its round, each with the position to blame
    /// for its value. A param whose substitution failed (already reported) is left out.
    func params(of job: ConcreteJob, references: inout [PositionedReference]) -> [String: (JSONValue, Mark?)] {
        let scope = SubstitutionScope(section: job.template.section, round: job.round, cell: job.template.cell)
        var given: [String: (JSONValue, Mark?)] = [:]
        for (name, keyMark, node) in job.template.params {
            if let v = substitution.value(of: node, scope: scope, references: &references) { given[name] = (v, node.mark ?? keyMark) }
        }
        return given
    }
}
