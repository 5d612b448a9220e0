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
    public var filePath: String? { nil }
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
    private let prepared = PostgresPreparedStatements()
    private var closed = false

    public init(url: String, clock: Clock = .databaseServer, reconnectWindow: TimeInterval? = nil) throws {
        target = try PostgresLocation(url: url)
        self.clock = clock
        let queryTimeout = ProcessInfo.processInfo.environment["APO_PG_QUERY_TIMEOUT"].flatMap(Double.init) ?? 10
        self.queryTimeout = queryTimeout
        self.reconnectWindow = reconnectWindow ?? queryTimeout
        let tls: PostgresConnection.Configuration.TLS
        do {
            tls = try target.tls.connectionTLS()
        } catch let error as PostgresTLS.TLSSetupError {
            throw StoreError.cannotOpen(path: target.displayURL, reason: error.reason)
        }
        var configuration = PostgresConnection.Configuration(
            host: target.host, port: target.port, username: target.user, password: target.password,
            database: target.database, tls: tls)
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

    /// No BEGIN, no COMMIT: the server runs the statement as its own transaction. A second
    /// statement in `body` traps (it would not be in the same transaction).
    public func writeOneStatement<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try transaction(begin: nil, awaitCommit: true, body)
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
    /// Without `begin`, the body's one statement is the transaction (`writeOneStatement`).
    private func transaction<T>(begin: String?, awaitCommit: Bool,
                                _ body: (any SQLTransaction) throws -> T) throws -> T {
        while true {
            let (connection, isNew) = try checkOutNoting()
            let transaction = PostgresTransaction(connection: connection, logger: logger, location: location,
                                                  queryTimeout: queryTimeout, loneStatement: begin == nil,
                                                  prepared: prepared)
            if let begin { transaction.send(begin) }
            do {
                let result = try body(transaction)
                if begin == nil {
                    // Committed by the server with the statement.
                } else if awaitCommit {
                    try transaction.execute("COMMIT")
                } else {
                    transaction.send("COMMIT")
                }
                checkIn(connection)
                return result
            } catch StoreError.cannotOpen(_, _) where transaction.answered == 0 && !isNew && !transaction.timedOut {
                // A dropped pooled connection; a silent server (timed out) is not retried, or a
                // cut-off host would wait once per pooled connection.
                drop(connection)
            } catch {
                if begin == nil, !connection.isClosed, !transaction.timedOut {
                    checkIn(connection)  // A failed lone statement leaves no transaction open.
                } else if begin != nil, !connection.isClosed, (try? transaction.execute("ROLLBACK")) != nil {
                    checkIn(connection)
                } else {
                    drop(connection)
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
            prepared.forget(connection)
        }
        state.unlock()
        return (try connect(window: reconnectWindow), true)
    }

    /// Closes a connection this driver will not use again, and forgets what was prepared on it.
    private func drop(_ connection: PostgresConnection) {
        prepared.forget(connection)
        connection.discard()
    }

    private func checkIn(_ connection: PostgresConnection) {
        state.lock()
        defer { state.unlock() }
        if closed || connection.isClosed || idle.count >= 8 {
            drop(connection)
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
                if let reason = target.tls.failureReason(error) { throw StoreError.cannotOpen(path: location, reason: reason) }
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

    /// Also starts listening, so the signals that count from the mark on are received.
    public func queueSignalMark() -> QueueSignalMark {
        ensureListening()
        state.lock()
        defer { state.unlock() }
        return QueueSignalMark(seen: queueSignals)
    }

    public func waitForQueuedJobs(since mark: QueueSignalMark, timeout: TimeInterval) {
        ensureListening()
        let deadline = Date().addingTimeInterval(timeout)
        state.lock()
        defer { state.unlock() }
        while queueSignals == mark.seen, !closed, Date() < deadline {
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
