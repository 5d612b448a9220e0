import Foundation
import Logging
import PostgresNIO

/// A store in a PostgreSQL database that any number of hosts share. Its connections live on
/// PostgresNIO's event loops; the store's calls are synchronous (workers are threads), so each
/// query waits for its future. Idle workers are woken by LISTEN/NOTIFY on `apo_queue`.
public final class PostgresDriver: StoreDriver, @unchecked Sendable {
    /// Which clock the store acts at (see `StoreDriver.storeTime`).
    public enum Clock: Sendable {
        /// The database server's: every host's `now` is moved onto it (production).
        case databaseServer
        /// The caller's `now` as given: tests that move time by passing it.
        case caller
    }

    public var dialect: SQLDialect { .postgres }
    public let target: PostgresLocation
    public var location: String { target.displayURL }
    public let clock: Clock
    /// How long a lost server is retried (with backoff) before a call gives up. Short (the query
    /// timeout by default): a lease keeper must get its failure in time to stop the job when its
    /// lease runs out; the callers that can wait (claims, the daemon's loops) simply call again.
    public let reconnectWindow: TimeInterval
    /// How long one statement may wait for the server's answer (`$APO_PG_QUERY_TIMEOUT`, seconds).
    public let queryTimeout: TimeInterval

    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let state = NSCondition()
    private var idle: [PostgresConnection] = []
    private var nextConnectionID = 1
    private var clockOffset: Double = 0
    private var clockCheckedAt: Date = .distantPast
    private var queueSignals = 0
    private var listener: PostgresConnection?
    private var closed = false

    public init(url: String, clock: Clock = .databaseServer, reconnectWindow: TimeInterval? = nil) throws {
        target = try PostgresLocation(url: url)
        self.clock = clock
        let queryTimeout = ProcessInfo.processInfo.environment["APO_PG_QUERY_TIMEOUT"].flatMap(Double.init) ?? 10
        self.queryTimeout = queryTimeout
        self.reconnectWindow = reconnectWindow ?? queryTimeout
        var configuration = PostgresConnection.Configuration(
            host: target.host, port: target.port, username: target.user, password: target.password,
            database: target.database, tls: .disable)
        configuration.options.connectTimeout = .milliseconds(Int64(min(5, queryTimeout) * 1000))
        self.configuration = configuration
        var logger = Logger(label: "apo.store.postgres")
        logger.logLevel = .error
        self.logger = logger
        // Connect now: a wrong URL or a server that is down is reported by the command that named it.
        let connection = try connect(window: 0)
        checkIn(connection)
        if clock == .databaseServer { try measureClockOffset() }
    }

    // MARK: - Transactions

    public func write<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN", awaitCommit: true, body)
    }

    /// The COMMIT of a read is not waited for: nothing depends on it, and on a slow loopback (a
    /// round trip is ~0.4 ms on the development machine, even for libpq) each one counts.
    public func read<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try transaction(begin: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", awaitCommit: false, body)
    }

    /// BEGIN is sent without waiting for its answer: the connection runs statements in order, so
    /// the body's first statement waits for both. A pooled connection the server dropped (a
    /// restart, an idle timeout) fails that first statement before anything was done: it is
    /// thrown away and the body run again on the next one, until a new connection fails too.
    private func transaction<T>(begin: String, awaitCommit: Bool,
                                _ body: (any SQLTransaction) throws -> T) throws -> T {
        while true {
            let (connection, isNew) = try checkOutNoting()
            let transaction = PostgresTransaction(connection: connection, logger: logger, location: location,
                                                  queryTimeout: queryTimeout)
            transaction.send(begin)
            do {
                let result = try body(transaction)
                if awaitCommit { try transaction.execute("COMMIT") } else { transaction.send("COMMIT") }
                checkIn(connection)
                return result
            } catch StoreError.cannotOpen(_, _) where transaction.answered == 0 && !isNew {
                connection.discard()
            } catch {
                if !connection.isClosed, (try? transaction.execute("ROLLBACK")) != nil {
                    checkIn(connection)
                } else {
                    connection.discard()
                }
                throw error
            }
        }
    }

    /// Runs one statement outside any transaction (`CREATE DATABASE` and other administration).
    public func autocommit(_ sql: String) throws {
        let connection = try checkOut()
        let transaction = PostgresTransaction(connection: connection, logger: logger, location: location,
                                              queryTimeout: queryTimeout)
        defer { checkIn(connection) }
        try transaction.execute(sql)
    }

    // MARK: - Connections

    private func checkOut() throws -> PostgresConnection { try checkOutNoting().connection }

    /// A pooled connection, or a new one (`isNew`) when none is left.
    private func checkOutNoting() throws -> (connection: PostgresConnection, isNew: Bool) {
        state.lock()
        while let connection = idle.popLast() {
            if !connection.isClosed {
                state.unlock()
                return (connection, false)
            }
        }
        state.unlock()
        return (try connect(window: reconnectWindow), true)
    }

    private func checkIn(_ connection: PostgresConnection) {
        state.lock()
        defer { state.unlock() }
        if closed || connection.isClosed || idle.count >= 8 {
            connection.discard()
        } else {
            idle.append(connection)
        }
    }

    /// A new connection, retried with backoff for up to `window` seconds while the server is
    /// unreachable (restarting); errors the server gives (a wrong password, no such database) are
    /// reported at once.
    private func connect(window: TimeInterval) throws -> PostgresConnection {
        let deadline = Date().addingTimeInterval(window)
        var delay = 0.05
        while true {
            state.lock()
            let id = nextConnectionID
            nextConnectionID += 1
            state.unlock()
            do {
                return try PostgresConnection.connect(
                    on: PostgresConnection.defaultEventLoopGroup.any(), configuration: configuration,
                    id: id, logger: logger).wait()
            } catch {
                let mapped = PostgresTransaction.storeError(error, location: location)
                let serverAnswered = (error as? PSQLError)?.serverInfo != nil
                if serverAnswered || Date().addingTimeInterval(delay) > deadline { throw mapped }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 2)
            }
        }
    }

    public func close() {
        state.lock()
        closed = true
        let connections = idle + (listener.map { [$0] } ?? [])
        idle = []
        listener = nil
        state.broadcast()
        state.unlock()
        for connection in connections { _ = try? connection.close().wait() }
    }

    deinit { close() }

    // MARK: - Clock

    public func storeTime(_ now: Date) -> Double {
        guard clock == .databaseServer else { return now.timeIntervalSince1970 }
        state.lock()
        let stale = Date().timeIntervalSince(clockCheckedAt) > 10
        state.unlock()
        if stale { try? measureClockOffset() }
        state.lock()
        defer { state.unlock() }
        return now.timeIntervalSince1970 + clockOffset
    }

    /// The server's clock minus this host's, read halfway through a round trip.
    private func measureClockOffset() throws {
        let sent = Date()
        let server = try read { db in
            try db.fetchValue(Double.self, "SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")
        } ?? sent.timeIntervalSince1970
        let received = Date()
        let local = (sent.timeIntervalSince1970 + received.timeIntervalSince1970) / 2
        state.lock()
        clockOffset = server - local
        clockCheckedAt = received
        state.unlock()
    }

    // MARK: - Waking idle workers

    /// The channel every transaction that queues a job notifies (`JobStore.notifyQueued`).
    static let queueChannel = "apo_queue"

    public func waitForQueuedJobs(timeout: TimeInterval) {
        ensureListening()
        let deadline = Date().addingTimeInterval(timeout)
        state.lock()
        defer { state.unlock() }
        let seen = queueSignals
        while queueSignals == seen, !closed, Date() < deadline {
            _ = state.wait(until: deadline)
        }
    }

    /// One connection per driver LISTENs; a lost one is replaced at the next wait (until then
    /// idle workers fall back to their timeout, which is only slower).
    private func ensureListening() {
        state.lock()
        let alive = listener.map { !$0.isClosed } ?? false
        state.unlock()
        if alive { return }
        guard let connection = try? connect(window: 0) else { return }
        connection.addListener(channel: Self.queueChannel) { [weak self] _, _ in
            guard let self else { return }
            self.state.lock()
            self.queueSignals &+= 1
            self.state.broadcast()
            self.state.unlock()
        }
        do {
            let listen = PostgresTransaction(connection: connection, logger: logger, location: location,
                                             queryTimeout: queryTimeout)
            try listen.execute("LISTEN \(Self.queueChannel)")
        } catch {
            connection.discard()
            return
        }
        state.lock()
        if closed || (listener.map { !$0.isClosed } ?? false) {
            state.unlock()
            connection.discard()
            return
        }
        listener = connection
        state.unlock()
    }
}

/// One PostgreSQL transaction seen through `SQLTransaction`.
final class PostgresTransaction: SQLTransaction {
    let connection: PostgresConnection
    let logger: Logger
    let location: String
    let queryTimeout: TimeInterval
    var dialect: SQLDialect { .postgres }

    init(connection: PostgresConnection, logger: Logger, location: String, queryTimeout: TimeInterval) {
        self.connection = connection
        self.logger = logger
        self.location = location
        self.queryTimeout = queryTimeout
    }

    /// Statements the server has answered in this transaction.
    private(set) var answered = 0

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    /// Sends a statement without waiting for its answer (BEGIN, a read's COMMIT).
    func send(_ sql: String) {
        connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).whenComplete { _ in }
    }

    /// Statement by statement: the extended protocol takes one at a time.
    func executeScript(_ sql: String) throws {
        for statement in PostgresPlaceholders.statements(sql) { try execute(statement, []) }
    }

    func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        let rows = try run(sql, arguments).rows
        guard let first = rows.first else { return [] }
        let columns = SQLColumns(first.map(\.columnName))
        return try rows.map { row in SQLRow(columns: columns, values: try row.map(Self.value)) }
    }

    private func run(_ sql: String, _ arguments: [any SQLBindable]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument.sqlValue {
            case .null: binds.appendNull()
            case .integer(let v): binds.append(v)
            case .real(let v): binds.append(v)
            case .text(let v): binds.append(v)
            }
        }
        let query = PostgresQuery(unsafeSQL: PostgresQueryCache.shared.translated(sql), binds: binds)
        let result = try answer(connection.query(query, logger: logger))
        answered += 1
        return result
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
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .numeric: return .real(NSDecimalNumber(decimal: try cell.decode(Decimal.self)).doubleValue)
        default: return .text(try cell.decode(String.self))
        }
    }

    /// PostgresNIO's errors as the store's: a server that cannot be reached or refuses the login
    /// is `cannotOpen` (apoctl's "database unavailable"); an SQL error keeps the server's words.
    static func storeError(_ error: any Error, location: String) -> any Error {
        guard let error = error as? PSQLError else { return error }
        if let info = error.serverInfo {
            let code = info[.sqlState] ?? "?"
            let message = info[.message] ?? "\(error)"
            // Class 08 (connection), 28 (authorisation), 3D (no such database), 57P (shutdown).
            if ["08", "28", "3D"].contains(String(code.prefix(2))) || code.hasPrefix("57P") {
                return StoreError.cannotOpen(path: location, reason: "PostgreSQL \(code): \(message)")
            }
            return StoreError.databaseServer(location: location, sqlState: code, message: message)
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

/// Translated query texts, shared by every connection of the process.
final class PostgresQueryCache: @unchecked Sendable {
    static let shared = PostgresQueryCache()
    private let lock = NSLock()
    private var translations: [String: String] = [:]

    func translated(_ sql: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        if let done = translations[sql] { return done }
        let done = PostgresPlaceholders.translate(sql)
        translations[sql] = done
        return done
    }
}
