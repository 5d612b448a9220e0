import APOJSON
import Foundation

/// The labels a host offers (`apod --label gpu=a100`) and a job asks for (`resources: {labels:
/// {gpu: a100}}`): both sides spell names the same way, and values are compared as text.
public enum HostLabel {
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// `k=v` from the command line; nil when it is not one.
    public static func parse(_ assignment: String) -> (name: String, value: String)? {
        guard let eq = assignment.firstIndex(of: "=") else { return nil }
        let name = String(assignment[..<eq])
        guard isValidName(name) else { return nil }
        return (name, String(assignment[assignment.index(after: eq)...]))
    }
}

extension JSONValue {
    /// A label's value as text: YAML's `a100`, `2` and `true` are the labels "a100", "2", "true".
    var labelText: String? {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .double(let d): return String(d)
        default: return nil
        }
    }
}
