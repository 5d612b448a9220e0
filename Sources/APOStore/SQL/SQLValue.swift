import Foundation

/// One value crossing the boundary between the store's queries and a database driver. The store
/// keeps times as seconds (REAL / DOUBLE PRECISION) and flags as 0/1 integers in both dialects,
/// so these four cases are all either database ever returns to it.
public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
}

/// A Swift value that can be bound as a query argument.
public protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

/// A Swift value a column can be read as. Reading NULL into a non-optional type, or text into a
/// number, is a schema contract broken by a newer writer: it traps, as GRDB's row access does.
public protocol SQLDecodable {
    static func decode(_ value: SQLValue, column: String) -> Self
}

extension Int64: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .integer(self) }
    public static func decode(_ value: SQLValue, column: String) -> Int64 {
        switch value {
        case .integer(let v): return v
        case .real(let v) where v == v.rounded(): return Int64(v)
        default: preconditionFailure("column \(column): \(value) is not an integer")
        }
    }
}

extension Int: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
    public static func decode(_ value: SQLValue, column: String) -> Int {
        Int(Int64.decode(value, column: column))
    }
}

extension Int32: SQLBindable {
    public var sqlValue: SQLValue { .integer(Int64(self)) }
}

extension Double: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .real(self) }
    public static func decode(_ value: SQLValue, column: String) -> Double {
        switch value {
        case .real(let v): return v
        case .integer(let v): return Double(v)
        default: preconditionFailure("column \(column): \(value) is not a number")
        }
    }
}

extension String: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .text(self) }
    public static func decode(_ value: SQLValue, column: String) -> String {
        guard case .text(let v) = value else { preconditionFailure("column \(column): \(value) is not text") }
        return v
    }
}

/// Flags are stored as 0/1 integers in both dialects (PostgreSQL's own booleans, from `EXISTS`,
/// arrive here as integers too).
extension Bool: SQLBindable, SQLDecodable {
    public var sqlValue: SQLValue { .integer(self ? 1 : 0) }
    public static func decode(_ value: SQLValue, column: String) -> Bool {
        Int64.decode(value, column: column) != 0
    }
}

extension Optional: SQLBindable where Wrapped: SQLBindable {
    public var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    public static func decode(_ value: SQLValue, column: String) -> Wrapped? {
        if case .null = value { return nil }
        return Wrapped.decode(value, column: column)
    }
}

extension SQLValue: SQLBindable {
    public var sqlValue: SQLValue { self }
}

/// The column names of one result, shared by its rows.
public final class SQLColumns: @unchecked Sendable {
    public let names: [String]
    private let index: [String: Int]

    public init(_ names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        // The first of two equal names wins, as in GRDB (`SELECT a.*, j.key` where both have `id`).
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
    }

    func position(of name: String) -> Int? { index[name] }
}

/// One row of a result: values by column name or position.
public struct SQLRow: Sendable {
    public let columns: SQLColumns
    public let values: [SQLValue]

    public init(columns: SQLColumns, values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public subscript<T: SQLDecodable>(_ name: String) -> T {
        guard let i = columns.position(of: name) else {
            preconditionFailure("no column \(name) in \(columns.names)")
        }
        return T.decode(values[i], column: name)
    }

    public subscript<T: SQLDecodable>(_ position: Int) -> T {
        T.decode(values[position], column: columns.names[position])
    }
}
