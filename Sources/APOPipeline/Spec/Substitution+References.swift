import Yams

/// What each reference form means, and where it may be used. Inside `round_jobs` a template id
/// names that template in the same round (shadowing a top-level job of the same name); `prev.`
/// and `rounds.last.` become references to concrete round jobs (`r2.train_rm`). Every job a
/// reference names is then the copy of the referring job's matrix cell (`MatrixExpansion`).
extension Substitution {
    func replacement(_ e: String, mark: Mark?, scope: SubstitutionScope,
                     references: inout [PositionedReference]) -> Replacement? {
        if e == "round" {
            guard let r = scope.round else { diagnostics.report(mark, "${round} is only defined inside round_jobs"); return nil }
            return .value(.int(r))
        }
        if e.hasPrefix("params.") {
            let name = String(e.dropFirst(7))
            guard let v = params[name] else {
                diagnostics.report(mark, "unknown pipeline parameter '\(name)' in ${\(e)} (known: \(params.keys.sorted().joined(separator: ", ")))")
                return nil
            }
            return .value(v)
        }
        if e.hasPrefix("matrix.") { return matrixValue(e, mark: mark, scope: scope) }
        if e.hasPrefix("jobs.") { return jobOutput(e, mark: mark, scope: scope, references: &references) }
        if e.hasPrefix("prev.") { return previousRound(e, mark: mark, scope: scope, references: &references) }
        if e.hasPrefix("rounds.last.") { return lastRound(e, mark: mark, scope: scope, references: &references) }
        diagnostics.report(mark, "bad reference syntax '${\(e)}': \(Self.syntax)")
        return nil
    }

    /// `${jobs.ID.outputs.NAME}`: only in a job's params, not in its settings.
    private func jobOutput(_ e: String, mark: Mark?, scope: SubstitutionScope,
                           references: inout [PositionedReference]) -> Replacement? {
        guard let ref = JobOutputReference(expression: e) else { diagnostics.report(mark, "bad reference syntax '${\(e)}': \(Self.syntax)"); return nil }
        guard scope.section != nil else { diagnostics.report(mark, "job outputs cannot be used here: ${\(e)}"); return nil }
        // Inside round_jobs a template id means that template in the same round.
        if scope.section == .rounds, let r = scope.round, roundTemplateIDs.contains(ref.jobID) {
            return job(ref.output, of: "r\(r).\(ref.jobID)", mark: mark, scope: scope, references: &references)
        }
        return job(ref.output, of: ref.jobID, mark: mark, scope: scope, references: &references)
    }

    /// `output` of the job `id` names, in the referring job's cell; recorded for validation.
    private func job(_ output: String, of id: String, mark: Mark?, scope: SubstitutionScope,
                     references: inout [PositionedReference]) -> Replacement {
        let jobID = scope.cell.flatMap { matrix?.concreteID(id, from: $0) } ?? id
        let concrete = JobOutputReference(jobID: jobID, output: output)
        references.append(PositionedReference(reference: concrete, mark: mark))
        return .job(concrete)
    }

    /// `${matrix.KEY}`: the value of KEY in the cell of the job being read.
    private func matrixValue(_ e: String, mark: Mark?, scope: SubstitutionScope) -> Replacement? {
        let key = String(e.dropFirst("matrix.".count))
        guard let cell = scope.cell else {
            diagnostics.report(mark, "${\(e)} cannot be used here: matrix values exist only in a job's params and settings")
            return nil
        }
        guard let declaration = matrix?.declaration, declaration.axis(key) != nil else {
            if matrix?.declaration.refusedKeys.contains(key) == true { return nil }  // its list is reported
            let declared = matrix?.declaration.declaredKeys ?? MatrixDeclaration().declaredKeys
            diagnostics.report(mark, "unknown matrix key '\(key)' in ${\(e)} (\(declared))")
            return nil
        }
        guard let value = cell.values[key] else {
            diagnostics.report(mark, "${\(e)}: the job's matrix cell has no value for '\(key)' (a bug in apo's matrix expansion)")
            return nil
        }
        return .value(value)
    }

    /// `${prev.ID.outputs.NAME|FALLBACK}`: the previous round's output; in round 1 the fallback,
    /// itself any reference but `prev.`.
    private func previousRound(_ e: String, mark: Mark?, scope: SubstitutionScope,
                               references: inout [PositionedReference]) -> Replacement? {
        guard scope.section == .rounds, let r = scope.round else {
            diagnostics.report(mark, "${prev.…} is only defined inside round_jobs: ${\(e)}"); return nil
        }
        let parts = e.split(separator: "|", maxSplits: 1).map(String.init)
        guard let ref = JobOutputReference(expression: "jobs." + parts[0].dropFirst(5)) else {
            diagnostics.report(mark, "bad reference syntax '${\(e)}': \(Self.syntax)"); return nil
        }
        guard roundTemplateIDs.contains(ref.jobID) else {
            diagnostics.report(mark, "'\(ref.jobID)' in ${\(e)} is not a round job"); return nil
        }
        if r > 1 { return job(ref.output, of: "r\(r - 1).\(ref.jobID)", mark: mark, scope: scope, references: &references) }
        guard parts.count == 2, !parts[1].isEmpty else {
            diagnostics.report(mark, "${\(e)} has no previous round in round 1: add a fallback, e.g. ${\(parts[0])|params.NAME}")
            return nil
        }
        if parts[1].hasPrefix("prev.") { diagnostics.report(mark, "a ${prev.…} fallback cannot itself be prev.: ${\(e)}"); return nil }
        return replacement(parts[1], mark: mark, scope: scope, references: &references)
    }

    /// `${rounds.last.ID.outputs.NAME}`: the last round's output, outside the rounds.
    private func lastRound(_ e: String, mark: Mark?, scope: SubstitutionScope,
                           references: inout [PositionedReference]) -> Replacement? {
        guard scope.section == .jobs || scope.section == .afterRounds else {
            diagnostics.report(mark, "${rounds.last.…} cannot be used inside round_jobs (use ${prev.…}): ${\(e)}"); return nil
        }
        guard let ref = JobOutputReference(expression: "jobs." + e.dropFirst("rounds.last.".count)) else {
            diagnostics.report(mark, "bad reference syntax '${\(e)}': \(Self.syntax)"); return nil
        }
        guard rounds > 0, roundTemplateIDs.contains(ref.jobID) else {
            diagnostics.report(mark, rounds == 0 ? "${\(e)}: there are no rounds" : "'\(ref.jobID)' in ${\(e)} is not a round job"); return nil
        }
        return job(ref.output, of: "r\(rounds).\(ref.jobID)", mark: mark, scope: scope, references: &references)
    }
}
