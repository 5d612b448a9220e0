import Foundation

/// One open transaction of a driver. The store's queries are written once, against this, in the
/// SQL both dialects share; where the dialects differ, the query asks `dialect`.
///
/// Arguments are positional: `?` takes the next argument, `?N` the N-th (both dialects).
public protocol SQLTransaction: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs a statement; returns the number of rows it changed.
    @discardableResult
    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int
    func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow]
    /// Runs a statement whose answer the caller does not need before its next statement (a lock).
    /// A server's driver sends it without waiting for the answer: the connection runs statements
    /// in order, so the next one sees its effects, and an error it raised is thrown by the next
    /// statement that is waited for (COMMIT at the latest). In-process drivers just run it.
    func executeWithoutWaiting(_ sql: String, _ arguments: [any SQLBindable]) throws
    /// Runs a statement whose rows the caller reads only once the transaction has ended. A
    /// server's driver sends it without waiting, and the transaction's COMMIT waits for its answer
    /// with its own (an error it raised fails the COMMIT): one wait instead of two. In-process
    /// drivers, and a lone statement (`writeOneStatement`), run it at once.
    func fetchAllLater(_ sql: String, _ arguments: [any SQLBindable]) throws -> LaterRows
    /// Runs a file of statements without arguments (a migration).
    func executeScript(_ sql: String) throws
}

/// The rows of a statement sent before they were needed (`SQLTransaction.fetchAllLater`).
public struct LaterRows {
    private let fetch: () throws -> [SQLRow]

    init(_ fetch: @escaping () throws -> [SQLRow]) { self.fetch = fetch }

    /// The rows; call once the transaction that sent the statement has ended.
    public func rows() throws -> [SQLRow] { try fetch() }
}

extension SQLTransaction {
    @discardableResult
    public func execute(_ sql: String) throws -> Int { try execute(sql, []) }

    public func fetchAll(_ sql: String) throws -> [SQLRow] { try fetchAll(sql, []) }

    public func fetchOne(_ sql: String, _ arguments: [any SQLBindable] = []) throws -> SQLRow? {
        try fetchAll(sql, arguments).first
    }

    /// The first column of the first row; nil when there is no row or the value is NULL.
    public func fetchValue<T: SQLDecodable>(_ type: T.Type, _ sql: String,
                                            _ arguments: [any SQLBindable] = []) throws -> T? {
        guard let row = try fetchOne(sql, arguments) else { return nil }
        if case .null = row.values[0] { return nil }
        return row[0] as T
    }

    /// The first column of every row.
    public func fetchColumn<T: SQLDecodable>(_ type: T.Type, _ sql: String,
                                             _ arguments: [any SQLBindable] = []) throws -> [T] {
        try fetchAll(sql, arguments).map { $0[0] as T }
    }
}

/// Where the two SQL dialects the store speaks differ.
public enum SQLDialect: String, Sendable {
    case sqlite
    case postgres

    /// The larger of two values: SQLite's two-argument `MAX`, PostgreSQL's `GREATEST`.
    public func greatest(_ expressions: String...) -> String {
        let list = expressions.joined(separator: ", ")
        return self == .sqlite ? "MAX(\(list))" : "GREATEST(\(list))"
    }

    /// What ends the claim's pick of a queued job. SQLite's write transactions are already
    /// serial; PostgreSQL lets any number of claims run at once, each skipping rows another claim
    /// has locked, so two hosts never pick the same job and never wait for each other.
    public var claimPickSuffix: String { self == .sqlite ? "" : "FOR UPDATE SKIP LOCKED" }

    /// The column type of a float, for casting a bound value that may be NULL.
    public var doubleType: String { self == .sqlite ? "REAL" : "DOUBLE PRECISION" }

    /// The id of the next attempt, chosen while the job is being leased so the lease can name it.
    public var nextAttemptIDSQL: String {
        self == .sqlite ? "(SELECT COALESCE(MAX(id), 0) + 1 FROM attempts)"
                        : "nextval('attempts_id_seq')"
    }
}
