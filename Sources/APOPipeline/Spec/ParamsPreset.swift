import APOJSON
import Foundation
import Yams

/// A params preset (`apoctl submit PIPELINE --params PRESET`): values for a pipeline's params and
/// lists for its matrix keys, applied over the pipeline's own, before `--param` (which wins):
///
/// ```yaml
/// params: {rounds: 1, max_queries: 40}   # each must be a param of the pipeline, of its default's type
/// matrix: {seed: [1, 2, 3]}              # each must be a matrix key of the pipeline
/// ```
///
/// A preset names values, not jobs: one pipeline file keeps the DAG and a preset only resizes it
/// (the demo is `apo-vs-baseline.yaml` with `presets/demo.yaml`). Problems in it are reported at
/// its own file, line and column.
public struct ParamsPreset: Sendable {
    public let yaml: String
    /// The name problems are reported under.
    public let file: String

    static let topKeys = ["params", "matrix"]

    public init(yaml: String, file: String) {
        self.yaml = yaml
        self.file = file
    }

    /// Reads a preset file; throws `PipelineValidationError` naming it when it cannot be read.
    public static func load(path: String) throws -> ParamsPreset {
        do { return ParamsPreset(yaml: try String(contentsOfFile: path, encoding: .utf8), file: path) } catch {
            throw PipelineValidationError(diagnostics: [PipelineDiagnostic(
                file: path, line: 0, column: 0, message: "cannot read params preset: \(error.localizedDescription)")])
        }
    }
}

/// A preset's sections, still YAML nodes (which carry their positions in the preset's file).
struct PresetValues {
    var params: [(name: String, mark: Mark?, value: Node)] = []
    var matrix: (key: Node, value: Node)?
    /// The preset's own problems, under its file name.
    let diagnostics: DiagnosticList

    static func parse(_ preset: ParamsPreset) -> PresetValues {
        var values = PresetValues(diagnostics: DiagnosticList(file: preset.file))
        let root: Node?
        do { root = try Yams.compose(yaml: preset.yaml) } catch {
            YAMLErrorPosition.report(error, in: preset.yaml, diagnostics: values.diagnostics)
            return values
        }
        guard let root, let top = root.mapping else {
            values.diagnostics.report(at: SourcePosition(root?.mark) ?? .start, "a params preset must be a mapping with 'params' and/or 'matrix'")
            return values
        }
        for (key, value) in top {
            switch key.scalar?.string {
            case "params": values.readParams(value)
            case "matrix": values.matrix = (key, value)
            default:
                values.diagnostics.report(key.mark, "unknown key \(SubmitChecks.shown(key.scalar?.string ?? "")) in a params preset (expected one of: \(ParamsPreset.topKeys.joined(separator: ", ")))")
            }
        }
        return values
    }

    private mutating func readParams(_ node: Node) {
        guard let mapping = node.mapping else {
            diagnostics.report(node.mark, "'params' must be a mapping of param names to values")
            return
        }
        for (key, value) in mapping {
            guard let name = key.scalar?.string else { diagnostics.report(key.mark, "parameter names must be strings"); continue }
            params.append((name, key.mark, value))
        }
    }

    /// The preset's values over `defaults`: each a known param, of its default's type (an int
    /// widens to a number; a null default takes anything).
    func apply(to defaults: [String: JSONValue]) -> [String: JSONValue] {
        var params = defaults
        let literals = Substitution(params: [:], diagnostics: diagnostics)
        for (name, mark, node) in self.params {
            guard let current = defaults[name] else {
                diagnostics.report(mark, "unknown pipeline parameter \(SubmitChecks.shown(name)) (known: \(defaults.keys.sorted().joined(separator: ", ")))")
                continue
            }
            guard let value = literals.value(of: node, scope: nil) else { continue }
            if current == .null || value.typeName == current.typeName {
                params[name] = value
            } else if current.typeName == "double", let d = value.doubleValue {
                params[name] = .double(d)
            } else {
                diagnostics.report(node.mark ?? mark, "parameter '\(name)': expected \(current.typeName), the type of the pipeline's default, found \(value.typeName) \(value.interpolatedText.prefix(60))")
            }
        }
        return params
    }
}
