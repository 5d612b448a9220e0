import APOJSON
import Yams

/// One matrix list — in the pipeline file, a preset or a `--param` — read and checked the same
/// way wherever it comes from: a non-empty list of distinct scalar values that can be spelled in
/// a job key. A list that replaces another must hold values of the replaced list's type (ints
/// widen to numbers), as `--param` values follow their default's type.
struct MatrixListReader {
    /// Names the list in messages: "matrix key 'seed'" or "--param matrix.seed=[…]".
    let what: String
    /// Substitutes `${params.…}` in values, reporting into the list's file.
    let settings: Substitution
    /// The list being replaced, if any.
    var like: MatrixAxis?
    /// Where problems go (a `--param` has no position).
    let report: (Mark?, String) -> Void

    init(what: String, settings: Substitution, like: MatrixAxis? = nil, report: @escaping (Mark?, String) -> Void) {
        self.what = what
        self.settings = settings
        self.like = like
        self.report = report
    }

    /// nil after reporting what is wrong with the list.
    func values(of node: Node) -> [JSONValue]? {
        guard let items = node.sequence else {
            report(node.mark, "\(what) must be a list of values, e.g. [1, 2, 3]")
            return nil
        }
        guard !items.isEmpty else {
            report(node.mark, "\(what): the list is empty; give at least one value")
            return nil
        }
        var values: [JSONValue] = []
        var spelled = Set<String>()
        for item in items {
            guard item.scalar != nil else {
                report(item.mark, "\(what): values must be ints, numbers, bools or strings, not lists or mappings")
                continue
            }
            guard let raw = settings.value(of: item, scope: SubstitutionScope(section: nil)),
                  let value = checked(raw, mark: item.mark) else { continue }
            guard spelled.insert(MatrixAxis.spelling(value)).inserted else {
                report(item.mark, "\(what): the value \(MatrixAxis.spelling(value)) appears twice")
                continue
            }
            values.append(value)
        }
        return values.count == items.count ? values : nil
    }

    /// The value if it can be a matrix value of this list (an int widened where the list holds
    /// numbers); nil after reporting why not.
    private func checked(_ value: JSONValue, mark: Mark?) -> JSONValue? {
        switch value {
        case .int, .double, .bool, .string: break
        default:
            report(mark, "\(what): \(value.typeName) \(value.interpolatedText.prefix(40)) cannot be a matrix value (use ints, numbers, bools or strings)")
            return nil
        }
        if let problem = Self.spellingProblem(MatrixAxis.spelling(value)) {
            report(mark, "\(what): \(SubmitChecks.shown(MatrixAxis.spelling(value))) \(problem)")
            return nil
        }
        guard let expected = like.flatMap(Self.commonType) else { return value }
        if expected == "double", case .int(let i) = value { return .double(Double(i)) }
        guard value.typeName == expected else {
            report(mark, "\(what): expected \(expected) values, as in the pipeline's list, found \(value.typeName) \(value.interpolatedText)")
            return nil
        }
        return value
    }

    /// The type every value of `axis` has, if they share one.
    private static func commonType(_ axis: MatrixAxis) -> String? {
        let types = Set(axis.values.map(\.typeName))
        return types.count == 1 ? types.first : nil
    }

    /// A value names job copies (`seed=2/…`, a folder name too): none of `/`, `,`, `=` or spaces.
    static func spellingProblem(_ spelling: String) -> String? {
        if spelling.isEmpty { return "cannot name a job copy: it is empty" }
        let allowed = spelling.unicodeScalars.allSatisfy { c in
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || "_-.+".unicodeScalars.contains(c)
        }
        if !allowed { return "cannot name a job copy: use letters, digits, '_', '-', '.' and '+'" }
        if spelling.utf8.count > 40 { return "cannot name a job copy: it is longer than 40 characters" }
        return nil
    }
}
