import Yams

/// The parse stage: the YAML text as its known top-level sections, each still a YAML node (which
/// carries its position for every later stage), and the pipeline's name.
struct PipelineDocument {
    static let topKeys = ["name", "description", "params", "matrix", "jobs", "rounds", "round_jobs", "after_rounds"]

    /// Where the file's mapping starts: problems with the file as a whole point here.
    var rootMark: Mark?
    var sections: [String: (key: Node, value: Node)]
    var name: String

    /// nil when the text is not YAML or not a mapping: nothing else can be checked then.
    static func parse(_ yaml: String, diagnostics: DiagnosticList) -> PipelineDocument? {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            YAMLErrorPosition.report(error, in: yaml, diagnostics: diagnostics)
            return nil
        }
        guard let root, let top = root.mapping else {
            diagnostics.report(at: SourcePosition(root?.mark) ?? .start, "a pipeline file must be a mapping with 'name' and 'jobs'")
            return nil
        }
        var sections: [String: (key: Node, value: Node)] = [:]
        for (key, value) in top {
            guard let k = key.scalar?.string else { diagnostics.report(key.mark, "top-level keys must be strings"); continue }
            if topKeys.contains(k) { sections[k] = (key, value) }
            else { diagnostics.report(key.mark, "unknown top-level key '\(k)' (expected one of: \(topKeys.joined(separator: ", ")))") }
        }
        let name = readName(sections["name"], rootMark: root.mark, diagnostics: diagnostics)
        return PipelineDocument(rootMark: root.mark, sections: sections, name: name)
    }

    private static func readName(_ entry: (key: Node, value: Node)?, rootMark: Mark?, diagnostics: DiagnosticList) -> String {
        guard let (key, value) = entry else {
            diagnostics.report(rootMark, "missing 'name'")
            return ""
        }
        guard let s = value.scalar?.string, value.tagName == .str, !s.isEmpty else {
            diagnostics.report(value.mark ?? key.mark, "'name' must be a non-empty string")
            return ""
        }
        // The name starts the run's artifact folder name.
        if let problem = SubmitChecks.nameProblem(s) { diagnostics.report(value.mark, "'name' \(problem)") }
        return s
    }
}

extension Node {
    /// The resolved tag's name (`Tag.name` is internal to Yams; its raw value is not).
    var tagName: Tag.Name { Tag.Name(rawValue: tag.rawValue) }
}
