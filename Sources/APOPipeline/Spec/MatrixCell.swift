import APOJSON
/// The matrix values one job copy runs with: one value for each matrix key the job depends on
/// (`MatrixExpansion`), none for a job that is shared by every cell.
///
/// A copy's key is `NAME/ID`, NAME being `key=value` for each key the job depends on that has more
/// than one value, in the matrix's declaration order, joined by `,`: `seed=2/r1.apo_rm`,
/// `lr=0.1,seed=2/r1.apo_rm`. A key with a single value changes no key, so `matrix: {seed: [42]}`
/// gives the ids the pipeline had without a matrix. Matrix keys and values cannot hold `/`, `,` or
/// `=` and job ids cannot hold `/`, so the first `/` of a job key ends its cell's name.
public struct MatrixCell: Hashable, Sendable {
    /// Key → value for the keys the job depends on, single-valued ones included.
    var values: [String: JSONValue]
    /// `lr=0.1,seed=2`; empty for a job that is the same in every cell.
    public let name: String

    static let shared = MatrixCell(values: [:], name: "")

    /// What the cell puts before a job id: `seed=2/`, or nothing.
    var prefix: String { name.isEmpty ? "" : name + "/" }

    /// The cell's name in a stored job key (`seed=2` of `seed=2/r1.apo_rm`); nil for a shared job.
    public static func name(ofJobKey key: String) -> String? {
        guard let slash = key.firstIndex(of: "/") else { return nil }
        return String(key[..<slash])
    }

    /// The job's id without its cell (`r1.apo_rm` of `seed=2/r1.apo_rm`).
    public static func jobID(ofJobKey key: String) -> String {
        guard let slash = key.firstIndex(of: "/") else { return key }
        return String(key[key.index(after: slash)...])
    }
}

extension MatrixCell {
    /// `items` grouped by the cell of their job key: the shared jobs first (cell nil), then each
    /// cell in the order its first job appears; order within a group kept. Without any cell, one
    /// group of everything.
    public static func groups<Item>(_ items: [Item], key: (Item) -> String) -> [(cell: String?, items: [Item])] {
        var order: [String?] = [nil]
        var members: [String?: [Item]] = [nil: []]
        for item in items {
            let cell = name(ofJobKey: key(item))
            if members[cell] == nil { order.append(cell); members[cell] = [] }
            members[cell]!.append(item)
        }
        return order.compactMap { cell in
            let found = members[cell] ?? []
            return found.isEmpty ? nil : (cell, found)
        }
    }
}
