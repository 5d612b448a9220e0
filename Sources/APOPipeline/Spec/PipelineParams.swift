import APOJSON
import Yams

/// The pipeline's params: the defaults under `params:`, then a preset's values, then the `--param`
/// overrides, each read as its default's type. Everything later substitutes `${params.…}` from
/// this map. `--param matrix.KEY=…` is the matrix's (`MatrixDeclaration`), not a param.
enum PipelineParams {
    static func read(_ node: Node?, preset: PresetValues?, overrides: [String: String],
                     diagnostics: DiagnosticList) -> [String: JSONValue] {
        var params = node.map { defaults($0, diagnostics: diagnostics) } ?? [:]
        if let preset { params = preset.apply(to: params) }
        for (k, text) in overrides.sorted(by: { $0.key < $1.key }) where !k.hasPrefix(MatrixDeclaration.overridePrefix) {
            guard let current = params[k] else {
                diagnostics.report(at: nil, "--param \(k): unknown pipeline parameter (known: \(params.keys.sorted().joined(separator: ", ")))")
                continue
            }
            if let value = overridden(current, name: k, with: text, diagnostics: diagnostics) { params[k] = value }
        }
        return params
    }

    /// Pipeline params are literals: a default cannot refer to other params or jobs.
    private static func defaults(_ node: Node, diagnostics: DiagnosticList) -> [String: JSONValue] {
        guard let m = node.mapping else {
            diagnostics.report(node.mark, "'params' must be a mapping of name: default value")
            return [:]
        }
        let literals = Substitution(params: [:], diagnostics: diagnostics)
        var params: [String: JSONValue] = [:]
        for (key, value) in m {
            guard let k = key.scalar?.string else { diagnostics.report(key.mark, "parameter names must be strings"); continue }
            if let v = literals.value(of: value, scope: nil) { params[k] = v }
        }
        return params
    }

    /// `text` read as the type of `current`; nil after reporting that it is not one.
    private static func overridden(_ current: JSONValue, name k: String, with text: String,
                                   diagnostics: DiagnosticList) -> JSONValue? {
        switch current {
        case .string: return .string(text)
        case .int:
            if let i = Int(text) { return .int(i) }
            diagnostics.report(at: nil, "--param \(k)=\(text): expected an int")
        case .double:
            if let d = Double(text) { return .double(d) }
            diagnostics.report(at: nil, "--param \(k)=\(text): expected a number")
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "1": return .bool(true)
            case "false", "no", "0": return .bool(false)
            default: diagnostics.report(at: nil, "--param \(k)=\(text): expected true or false")
            }
        case .null:
            // No default type to follow: read it as a YAML scalar would be.
            if let i = Int(text) { return .int(i) }
            if let d = Double(text) { return .double(d) }
            if text == "true" || text == "false" { return .bool(text == "true") }
            return .string(text)
        case .array, .object:
            if let v = try? JSONValue.fromJSON(text), v.typeName == current.typeName { return v }
            diagnostics.report(at: nil, "--param \(k)=\(text): expected a JSON \(current.typeName)")
        }
        return nil
    }
}
