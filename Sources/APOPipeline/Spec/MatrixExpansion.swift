import Yams

/// The matrix step of the expand stage, before the rounds: every job of the file is read once per
/// combination of the values of the matrix keys it depends on (`MatrixDependencies`), as a copy
/// whose id starts with that cell's name (`seed=2/`, see `MatrixCell`) and whose `${matrix.KEY}`
/// are that cell's values. A job that depends on no key is read once and shared by every cell.
///
/// A copy's references and `needs` name the copy of their target in the same cell
/// (`concreteID`): the target depends on a subset of the copy's keys, so the copy's cell
/// determines which of the target's copies it is — or that the target is shared.
struct MatrixExpansion {
    let declaration: MatrixDeclaration
    let dependencies: MatrixDependencies
    let diagnostics: DiagnosticList

    private var declaredKeys: Set<String> { Set(declaration.axes.map(\.key)) }

    /// Reports declared keys that no job uses (a sweep that would change nothing is a mistake,
    /// e.g. `${params.seed}` written for `${matrix.seed}`).
    init(declaration: MatrixDeclaration, plainJobs: [Node], roundJobs: [Node], diagnostics: DiagnosticList) {
        self.declaration = declaration
        self.diagnostics = diagnostics
        dependencies = MatrixDependencies(plainJobs: plainJobs, roundJobs: roundJobs,
                                          declared: Set(declaration.axes.map(\.key)))
        for axis in declaration.axes where !dependencies.usedKeys.contains(axis.key) {
            diagnostics.report(axis.mark, "matrix key '\(axis.key)' is not used: no job has ${matrix.\(axis.key)}")
        }
    }

    /// The templates of `nodes`, one per job and cell, without those a `when:` left out; file
    /// order, each job's copies together.
    func templates(_ nodes: [Node], section: JobTemplate.Section, reader: JobTemplateReader) -> [JobTemplate] {
        nodes.flatMap { node in
            declaration.cells(over: keys(of: node, section: section)).compactMap { cell in
                var copy = reader
                copy.cell = cell
                return copy.read(node, section: section)
            }
        }.filter(\.enabled)
    }

    /// `id` (a job id or a round job's `rN.ID`, as the file names it) as the key of its copy in
    /// `cell`; unchanged for a shared job, a job the file does not define (validation reports it)
    /// and a full key that already names one copy.
    func concreteID(_ id: String, from cell: MatrixCell) -> String {
        guard !id.contains("/"), let keys = dependencies.keys(of: dependencies.name(ofConcreteID: id)) else { return id }
        return declaration.cell(cell.values.filter { keys.contains($0.key) }).prefix + id
    }

    /// false, after reporting it at `matrix:`, when the copies would be more jobs than a pipeline
    /// may have (checked before any copy is made: a typo in a list must not build millions).
    func checkJobCount(plainJobs: [Node], roundJobs: [Node], rounds: Int) -> Bool {
        guard declaration.cellCount(over: declaredKeys) > 1 else { return true }
        let (perRound, overflow) = copies(roundJobs, section: .rounds).multipliedReportingOverflow(by: max(rounds, 1))
        let (count, overflow2) = copies(plainJobs, section: .jobs).addingReportingOverflow(perRound)
        let saturated = overflow || overflow2 || count == Int.max
        guard saturated || count > RoundExpansion.maxJobs else { return true }
        diagnostics.report(declaration.mark, "with its matrix the pipeline expands to \(saturated ? "far more than \(RoundExpansion.maxJobs)" : String(count)) jobs; at most \(RoundExpansion.maxJobs) are allowed")
        return false
    }

    /// How many copies the jobs of `nodes` make: alternatives sharing an id count once.
    private func copies(_ nodes: [Node], section: JobTemplate.Section) -> Int {
        var seen = Set<String>()
        var total = 0
        for node in nodes {
            if let id = MatrixDependencies.id(of: node), !seen.insert(id).inserted { continue }
            let (sum, overflow) = total.addingReportingOverflow(declaration.cellCount(over: keys(of: node, section: section)))
            total = overflow ? Int.max : sum
        }
        return total
    }

    private func keys(of node: Node, section: JobTemplate.Section) -> Set<String> {
        dependencies.keys(ofNode: node, inRounds: section == .rounds, declared: declaredKeys)
    }
}
