import Yams

/// A 1-based line and column (Yams' `Mark` cannot be created outside Yams).
struct SourcePosition {
    var line: Int
    var column: Int
    static let start = SourcePosition(line: 1, column: 1)

    init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    init?(_ mark: Mark?) {
        guard let mark else { return nil }
        self.init(line: mark.line, column: mark.column)
    }
}

/// The problems found in one pipeline file. Every stage reports here and goes on where it can, so
/// one submit lists every problem. A problem found twice at one position (a round template, once
/// per round) is kept once.
final class DiagnosticList {
    let file: String
    private var found: [PipelineDiagnostic] = []
    private var seen = Set<PipelineDiagnostic>()

    init(file: String) {
        self.file = file
    }

    var isEmpty: Bool { found.isEmpty }

    /// By position; problems at one position in the order they were found, which is why the
    /// stages keep the order in which they look at things.
    var sorted: [PipelineDiagnostic] {
        found.enumerated().sorted { a, b in
            (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
        }.map(\.element)
    }

    func report(_ mark: Mark?, _ message: String) {
        report(at: SourcePosition(mark), message)
    }

    /// nil: no position applies (a `--param` override).
    func report(at position: SourcePosition?, _ message: String) {
        let d = PipelineDiagnostic(file: file, line: position?.line ?? 0, column: position?.column ?? 0, message: message)
        if seen.insert(d).inserted { found.append(d) }
    }
}
