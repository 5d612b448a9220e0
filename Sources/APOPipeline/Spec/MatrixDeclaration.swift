import APOJSON
import Yams

/// One key of `matrix:` with its values in the order written.
struct MatrixAxis {
    var key: String
    /// Where the key is written: problems with the key as a whole point here.
    var mark: Mark?
    var values: [JSONValue]

    /// How a value is spelled in a job copy's key (`seed=2`) and in `${matrix.KEY}` spliced into text.
    static func spelling(_ value: JSONValue) -> String { value.interpolatedText }
}

/// The matrix a pipeline runs over: `matrix: {seed: [1, 2, 3], lr: [0.1, 0.2]}` declares every
/// combination of one value per key (the product of the lists), in declaration order. The file's
/// lists can be replaced by a params preset's `matrix:` and then by `--param matrix.KEY=[…]`.
///
/// Values are ints, numbers, bools or strings of letters, digits, `_`, `-`, `.` and `+` (they
/// name job copies: `seed=2/r1.apo_rm`), and may be `${params.NAME}`, so a list can follow a
/// param (`seed: ["${params.seed}"]`).
struct MatrixDeclaration {
    var axes: [MatrixAxis] = []
    /// Keys whose list in the file was refused (already reported): `${matrix.KEY}` of one is not
    /// reported again as unknown.
    var refusedKeys: [String] = []
    /// The `matrix:` key of the pipeline file, where whole-matrix problems point.
    var mark: Mark?

    /// `--param matrix.seed=[1,2]` replaces the list of `seed`.
    static let overridePrefix = "matrix."

    func axis(_ key: String) -> MatrixAxis? { axes.first { $0.key == key } }

    var declaredKeys: String {
        let keys = axes.map(\.key) + refusedKeys
        return keys.isEmpty ? "the pipeline declares no 'matrix:'" : "declared: \(keys.joined(separator: ", "))"
    }

    /// How many combinations there are; saturates instead of overflowing.
    func cellCount(over keys: Set<String>) -> Int {
        axes.filter { keys.contains($0.key) }.reduce(1) { count, axis in
            let (product, overflow) = count.multipliedReportingOverflow(by: axis.values.count)
            return overflow ? Int.max : product
        }
    }

    /// Every combination of the values of `keys`, the last declared key varying fastest.
    func cells(over keys: Set<String>) -> [MatrixCell] {
        var combinations: [[String: JSONValue]] = [[:]]
        for axis in axes where keys.contains(axis.key) {
            combinations = combinations.flatMap { partial in
                axis.values.map { value in partial.merging([axis.key: value]) { _, new in new } }
            }
        }
        return combinations.map(cell)
    }

    /// The cell of `values`, named after its keys that have more than one value.
    func cell(_ values: [String: JSONValue]) -> MatrixCell {
        let named = axes.filter { $0.values.count > 1 }.compactMap { axis in
            values[axis.key].map { "\(axis.key)=\(MatrixAxis.spelling($0))" }
        }
        return MatrixCell(values: values, name: named.joined(separator: ","))
    }
}

extension MatrixDeclaration {
    /// The pipeline file's `matrix:`; its values may use `${params.…}`.
    static func read(_ entry: (key: Node, value: Node)?, settings: Substitution) -> MatrixDeclaration {
        guard let (key, value) = entry else { return MatrixDeclaration() }
        var declaration = MatrixDeclaration(mark: key.mark)
        guard let mapping = value.mapping else {
            settings.diagnostics.report(value.mark ?? key.mark, "'matrix' must be a mapping of keys to lists of values, e.g. {seed: [1, 2, 3]}")
            return declaration
        }
        for (k, v) in mapping {
            guard let name = k.scalar?.string, JobTemplateReader.isValidID(name), !name.contains("-") else {
                settings.diagnostics.report(k.mark, "bad matrix key \(SubmitChecks.shown(k.scalar?.string ?? "")): use letters, digits and '_', starting with a letter or '_'")
                continue
            }
            let list = MatrixListReader(what: "matrix key '\(name)'", settings: settings) { settings.diagnostics.report($0, $1) }
            if let values = list.values(of: v) { declaration.axes.append(MatrixAxis(key: name, mark: k.mark, values: values)) }
            else { declaration.refusedKeys.append(name) }
        }
        return declaration
    }

    /// A preset's `matrix:` replaces the lists of keys the pipeline declares; problems are reported
    /// in the preset's file.
    mutating func apply(preset entry: (key: Node, value: Node)?, settings: Substitution) {
        guard let (key, value) = entry else { return }
        guard let mapping = value.mapping else {
            settings.diagnostics.report(value.mark ?? key.mark, "'matrix' must be a mapping of keys to lists of values, e.g. {seed: [1, 2, 3]}")
            return
        }
        for (k, v) in mapping {
            let name = k.scalar?.string ?? ""
            guard let index = axes.firstIndex(where: { $0.key == name }) else {
                settings.diagnostics.report(k.mark, "unknown matrix key \(SubmitChecks.shown(name)) (\(declaredKeys))")
                continue
            }
            let list = MatrixListReader(what: "matrix key '\(name)'", settings: settings, like: axes[index]) {
                settings.diagnostics.report($0, $1)
            }
            if let values = list.values(of: v) { axes[index].values = values }
        }
    }

    /// `--param matrix.KEY=[v1, v2]` (a YAML or JSON list): replaces KEY's list. No position
    /// applies; each problem names the argument as typed.
    mutating func apply(overrides: [String: String], settings: Substitution) {
        for (name, text) in overrides.sorted(by: { $0.key < $1.key }) where name.hasPrefix(Self.overridePrefix) {
            let key = String(name.dropFirst(Self.overridePrefix.count))
            let argument = "--param \(name)=\(text)"
            guard let index = axes.firstIndex(where: { $0.key == key }) else {
                settings.diagnostics.report(at: nil, "--param \(name): unknown matrix key '\(key)' (\(declaredKeys))")
                continue
            }
            guard !text.contains("${") else {
                settings.diagnostics.report(at: nil, "\(argument): references cannot be used on the command line")
                continue
            }
            guard let node = try? Yams.compose(yaml: text), node.sequence != nil else {
                settings.diagnostics.report(at: nil, "\(argument): expected a list such as [1, 2, 3]")
                continue
            }
            let list = MatrixListReader(what: argument, settings: settings, like: axes[index]) { _, message in
                settings.diagnostics.report(at: nil, message)
            }
            if let values = list.values(of: node) { axes[index].values = values }
        }
    }
}
