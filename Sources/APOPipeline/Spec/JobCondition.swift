import Foundation
import Yams

extension Substitution {
    /// A job's `when:` after `${params.…}` and `${matrix.…}` substitution: true/false, or `A == B` / `A != B` comparing
    /// the trimmed texts (e.g. `when: "${params.policy_update} == dpo"`). Lets a param choose between
    /// alternative jobs, which may then share an id since at most one of them is kept.
    func condition(_ node: Node, cell: MatrixCell) -> Bool? {
        guard let v = value(of: node, scope: SubstitutionScope(section: nil, cell: cell)) else { return nil }
        if let b = v.boolValue { return b }
        if let s = v.stringValue {
            for (op, equal) in [(" == ", true), (" != ", false)] {
                if let r = s.range(of: op) {
                    let lhs = s[..<r.lowerBound].trimmingCharacters(in: .whitespaces)
                    let rhs = s[r.upperBound...].trimmingCharacters(in: .whitespaces)
                    return (lhs == rhs) == equal
                }
            }
        }
        diagnostics.report(node.mark, "'when' must be true, false, \"A == B\" or \"A != B\", found \(v.interpolatedText)")
        return nil
    }
}
