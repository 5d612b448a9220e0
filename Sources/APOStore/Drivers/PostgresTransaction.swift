import Foundation
import Logging
import PostgresNIO

/// One PostgreSQL transaction seen through `SQLTransaction`.
final class PostgresTransaction: SQLTransaction {
    let connection: PostgresConnection
    let logger: Logger
    let location: String
    let queryTimeout: TimeInterval
    var dialect: SQLDialect { .postgres }

    /// Sent without BEGIN (`StoreDriver.writeOneStatement`): one statement, its own transaction.
    let loneStatement: Bool
    private var statementsRun = 0

    /// Where statements whose rows are read are prepared; nil: every statement goes unnamed.
    let prepared: PostgresPreparedStatements?

    init(connection: PostgresConnection, logger: Logger, location: String, queryTimeout: TimeInterval,
         loneStatement: Bool = false, prepared: PostgresPreparedStatements? = nil) {
        self.connection = connection
        self.logger = logger
        self.location = location
        self.queryTimeout = queryTimeout
        self.loneStatement = loneStatement
        self.prepared = prepared
    }

    /// Statements the server has answered in this transaction.
    private(set) var answered = 0
    /// Whether a statement went unanswered for `queryTimeout` (the connection was then closed).
    private(set) var timedOut = false

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    /// Sends a statement without waiting for its answer (BEGIN, a read's COMMIT).
    func send(_ sql: String) {
        connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).whenComplete { _ in }
    }

    /// Answers not waited for yet (`executeWithoutWaiting`); the next statement waited for checks them.
    private var unanswered: [EventLoopFuture<Void>] = []

    func executeWithoutWaiting(_ sql: String, _ arguments: [any SQLBindable]) throws {
        precondition(!loneStatement, "executeWithoutWaiting in writeOneStatement: \(sql)")
        unanswered.append(try sendForRows(sql, arguments).map { _ in })
    }

    /// Statement by statement: the extended protocol takes one at a time.
    func executeScript(_ sql: String) throws {
        for statement in PostgresPlaceholders.statements(sql) { try execute(statement, []) }
    }

    func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        guard prepared != nil else { return try Self.rows(try run(sql, arguments).rows) }
        return try Self.rows(try waitedFor(try sendForRows(sql, arguments)))
    }

    func fetchAllLater(_ sql: String, _ arguments: [any SQLBindable]) throws -> LaterRows {
        if loneStatement {
            let rows = try fetchAll(sql, arguments)
            return LaterRows { rows }
        }
        let sent = try sendForRows(sql, arguments)
        unanswered.append(sent.map { _ in })
        // By the time the rows are read, COMMIT has waited for this answer (it was unanswered).
        return LaterRows { [self] in try Self.rows(try answer(sent)) }
    }

    /// Sends a statement whose rows are read: prepared when the transaction has a cache.
    private func sendForRows(_ sql: String, _ arguments: [any SQLBindable]) throws -> EventLoopFuture<[PostgresRow]> {
        guard let prepared else { return connection.query(query(sql, arguments), logger: logger).map(\.rows) }
        let text = PostgresQueryCache.shared.translated(sql, castingTo: PostgresPreparedStatements.casts(arguments))
        let statement = try prepared.statement(text, on: connection) { text in
            try answer(connection.prepare(query: text))
        }
        return statement.execute(PostgresPreparedStatements.binds(arguments))
    }

    private static func rows(_ rows: [PostgresRow]) throws -> [SQLRow] {
        guard let first = rows.first else { return [] }
        let columns = SQLColumns(first.map(\.columnName))
        return try rows.map { row in SQLRow(columns: columns, values: try row.map(Self.value)) }
    }

    private func run(_ sql: String, _ arguments: [any SQLBindable]) throws -> PostgresQueryResult {
        try waitedFor(connection.query(query(sql, arguments), logger: logger))
    }

    /// The answer of a statement just sent, after those of the statements sent before it.
    private func waitedFor<T>(_ sent: EventLoopFuture<T>) throws -> T {
        statementsRun += 1
        precondition(!loneStatement || statementsRun == 1, "a second statement in writeOneStatement")
        // Sent earlier, so answered earlier: a failure there explains this statement's (an
        // aborted transaction) and is the one to report.
        let earlier = unanswered
        unanswered = []
        for future in earlier {
            _ = try answer(future)
            answered += 1
        }
        let result = try answer(sent)
        answered += 1
        return result
    }

    private func query(_ sql: String, _ arguments: [any SQLBindable]) -> PostgresQuery {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument.sqlValue {
            case .null: binds.appendNull()
            case .integer(let v): binds.append(v)
            case .real(let v): binds.append(v)
            case .text(let v): binds.append(v)
            }
        }
        return PostgresQuery(unsafeSQL: PostgresQueryCache.shared.translated(sql), binds: binds)
    }

    /// Waits for the server's answer for at most `queryTimeout`. A host cut off from the server
    /// must not hang in a heartbeat (TCP would retransmit for minutes): its connection is closed,
    /// the call fails, and its lease keeper stops the job once the lease has run out locally.
    func answer<T>(_ future: EventLoopFuture<T>) throws -> T {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<T>()
        future.whenComplete { result in
            box.result = result
            done.signal()
        }
        guard done.wait(timeout: .now() + queryTimeout) == .success, let result = box.result else {
            timedOut = true
            connection.discard()
            throw StoreError.cannotOpen(path: location, reason: "PostgreSQL did not answer within \(Int(queryTimeout)) s")
        }
        switch result {
        case .success(let value): return value
        case .failure(let error): throw Self.storeError(error, location: location)
        }
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        // PostgresNIO always asks for rows in binary (its Bind message), but a prepared
        // statement's cells carry the text format of the statement's Describe (PostgresNIO 1.33).
        var cell = cell
        cell.format = .binary
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .numeric: return .real(NSDecimalNumber(decimal: try cell.decode(Decimal.self)).doubleValue)
        default: return .text(try cell.decode(String.self))
        }
    }

    /// An error the server sent, by its SQLSTATE: class 08 (connection), 28 (authorisation),
    /// 3D (no such database) and 57P (shutdown) mean the database is unavailable.
    private static func serverError(code: String, message: String, location: String) -> any Error {
        if ["08", "28", "3D"].contains(String(code.prefix(2))) || code.hasPrefix("57P") {
            return StoreError.cannotOpen(path: location, reason: "PostgreSQL \(code): \(message)")
        }
        return StoreError.databaseServer(location: location, sqlState: code, message: message)
    }

    /// PostgresNIO's errors as the store's: a server that cannot be reached or refuses the login
    /// is `cannotOpen` (apoctl's "database unavailable"); an SQL error keeps the server's words.
    static func storeError(_ error: any Error, location: String) -> any Error {
        if let error = error as? PostgresError {
            // The prepared-statement path reports PostgresNIO's older error type.
            switch error {
            case .server(let message):
                return serverError(code: message.fields[.sqlState] ?? "?",
                                   message: message.fields[.message] ?? "\(error)", location: location)
            case .connectionClosed, .protocol:
                return StoreError.cannotOpen(path: location, reason: "PostgreSQL: \(error)")
            }
        }
        guard let error = error as? PSQLError else { return error }
        if let info = error.serverInfo {
            return serverError(code: info[.sqlState] ?? "?", message: info[.message] ?? "\(error)", location: location)
        }
        return StoreError.cannotOpen(path: location, reason: "PostgreSQL: \(error.code)\(error.underlying.map { " (\($0))" } ?? "")")
    }
}

extension PostgresConnection {
    /// Closes the connection without waiting, keeping it alive until it has closed (PostgresNIO
    /// asserts that a connection is closed before it goes away).
    func discard() {
        close().whenComplete { _ in withExtendedLifetime(self) {} }
    }
}

/// The outcome of a future, handed from the event loop to the waiting thread.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}
