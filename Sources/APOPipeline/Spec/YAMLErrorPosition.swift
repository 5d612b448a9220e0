import Yams

/// Yams' errors as diagnostics at the position the user should look at.
enum YAMLErrorPosition {
    static func report(_ e: Error, in yaml: String, diagnostics: DiagnosticList) {
        guard let y = e as? YamlError else { diagnostics.report(at: .start, "YAML: \(e)"); return }
        switch y {
        case .scanner(let ctx, let problem, let mark, _), .parser(let ctx, let problem, let mark, _),
             .composer(let ctx, let problem, let mark, _):
            let context = ctx.map { " (\($0.text) at \($0.mark.line):\($0.mark.column))" } ?? ""
            diagnostics.report(mark, "YAML syntax: \(problem)\(context)")
        case .reader(let problem, let offset, _, _):
            diagnostics.report(at: offset.map { position(ofOffset: $0, in: yaml) } ?? .start, "YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let ctx):
            // Yams gives the FIRST occurrence; point at the repeat, which is the one to fix.
            let first = ctx.mark
            let key = duplicates.first ?? ""
            let more = duplicates.count > 1 ? " (also: \(duplicates.dropFirst().map { "'\($0)'" }.joined(separator: ", ")))" : ""
            if let line = repeatLine(of: key, after: first, in: yaml) {
                diagnostics.report(at: SourcePosition(line: line, column: first.column), "duplicate key '\(key)' (first at line \(first.line))\(more)")
            } else {
                diagnostics.report(first, "duplicate key '\(key)' in a mapping\(more)")
            }
        default:
            diagnostics.report(at: .start, "YAML: \(y)")
        }
    }

    /// The line and column of a character offset (the reader reports offsets only).
    private static func position(ofOffset offset: Int, in yaml: String) -> SourcePosition {
        let prefix = yaml.prefix(offset)
        let line = prefix.filter { $0 == "\n" }.count + 1
        let column = prefix.count - (prefix.lastIndex(of: "\n").map { prefix.distance(from: prefix.startIndex, to: $0) + 1 } ?? 0) + 1
        return SourcePosition(line: line, column: column)
    }

    /// The 1-based line after `first` where `key:` starts at the same column (a block mapping's
    /// repeat); nil when there is none, e.g. in a flow mapping.
    private static func repeatLine(of key: String, after first: Mark, in yaml: String) -> Int? {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let i = lines.indices.dropFirst(first.line).first { i in
            let l = lines[i]
            guard l.count >= first.column else { return false }
            let indent = l.prefix(first.column - 1)
            return indent.allSatisfy { $0 == " " || $0 == "-" } && l.dropFirst(first.column - 1).hasPrefix(key + ":")
        }
        return i.map { $0 + 1 }
    }
}
