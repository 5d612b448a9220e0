import Foundation
import GRDB

/// The embedded default: one SQLite file in WAL mode, shared by the processes of one machine.
public final class SQLiteDriver: StoreDriver {
    public var dialect: SQLDialect { .sqlite }
    public let path: String
    public var location: String { path }
    public var filePath: String? { path }
    let pool: DatabasePool
    private let columns = ColumnNames()

    /// Opens (creating unless `mustExist`) the file in WAL mode with a busy timeout and foreign keys.
    ///
    /// Before SQLite opens the file for writing, the file is checked (`DatabaseFile.preflight`:
    /// not on a network file system, writable) and probed with a plain connection: a file that is
    /// not an SQLite database (SQLITE_NOTADB), or one that has tables but no `apo_migrations`
    /// (another program's), is refused, so apo never migrates, converts to WAL or "repairs" a
    /// stranger's file.
    public init(path: String, busyTimeout: TimeInterval, mustExist: Bool = false,
                fileSystem: (String) -> FileSystemInfo? = FileSystemInfo.of(path:)) throws {
        self.path = path
        try DatabaseFile.preflight(path: path, mustExist: mustExist, fileSystem: fileSystem)
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "apo.store"
        do {
            try Self.checkIsApoDatabase(path: path, configuration: configuration)
            configuration.prepareDatabase { db in
                // WAL + NORMAL: a commit survives any process crash (only a power loss can drop the
                // last commits), and commits need no fsync, which is what makes claims cheap.
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError {
            throw Self.openError(error, path: path, busyTimeout: busyTimeout)
        }
    }

    public func write<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try pool.write { db in try body(SQLiteTransaction(db, columns: columns)) }
    }

    public func writeOneStatement<T>(_ body: (any SQLTransaction) throws -> T) throws -> T { try write(body) }

    public func read<T>(_ body: (any SQLTransaction) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteTransaction(db, columns: columns)) }
    }

    /// Runs `body` (opening work: migrations), turning SQLite's refusals of the file into the
    /// store's named errors.
    func mappingOpenErrors(busyTimeout: TimeInterval, _ body: () throws -> Void) throws {
        do { try body() } catch let error as DatabaseError {
            throw Self.openError(error, path: path, busyTimeout: busyTimeout)
        }
    }

    public func storeTime(_ now: Date) -> Double { now.timeIntervalSince1970 }

    public func queueSignalMark() -> QueueSignalMark { QueueSignalMark(seen: 0) }

    public func waitForQueuedJobs(since mark: QueueSignalMark, timeout: TimeInterval) {
        Thread.sleep(forTimeInterval: timeout)
    }

    public func close() { try? pool.close() }

    /// Raw GRDB access, for tests of SQLite's own behaviour (journal mode, integrity).
    public func withDatabase<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }

    /// Refuses an SQLite file that holds tables but no migration history: not an apo database.
    private static func checkIsApoDatabase(path: String, configuration: Configuration) throws {
        let probe = try DatabaseQueue(path: path, configuration: configuration)
        let tables = try probe.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        try probe.close()
        if !tables.isEmpty && !tables.contains("apo_migrations") {
            let shown = tables.sorted().prefix(3).joined(separator: ", ")
            throw StoreError.notAnApoDatabase(
                path: path, reason: "it is an SQLite database with tables (\(shown)\(tables.count > 3 ? ", …" : "")) but no apo_migrations")
        }
    }

    /// SQLite's refusals of the file itself while opening, as the store's named errors; any other
    /// error (a failing migration's SQL) is returned as it is.
    static func openError(_ error: DatabaseError, path: String, busyTimeout: TimeInterval) -> any Error {
        let message = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError.databaseLocked(path: path, waitedSeconds: busyTimeout)
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return StoreError.notAnApoDatabase(path: path, reason: "SQLite: \(message)")
        case .SQLITE_READONLY, .SQLITE_PERM:
            return StoreError.databaseReadOnly(path: path, reason: "SQLite: \(message)")
        case .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_FULL:
            return StoreError.cannotOpen(path: path, reason: "SQLite: \(message)")
        default:
            return error
        }
    }
}

/// A GRDB transaction seen through `SQLTransaction`; statements are prepared once per connection.
final class SQLiteTransaction: SQLTransaction {
    let db: Database
    let columns: ColumnNames
    var dialect: SQLDialect { .sqlite }

    init(_ db: Database, columns: ColumnNames) {
        self.db = db
        self.columns = columns
    }

    func execute(_ sql: String, _ arguments: [any SQLBindable]) throws -> Int {
        try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func executeWithoutWaiting(_ sql: String, _ arguments: [any SQLBindable]) throws {
        try execute(sql, arguments)
    }

    func fetchAllLater(_ sql: String, _ arguments: [any SQLBindable]) throws -> LaterRows {
        let rows = try fetchAll(sql, arguments)
        return LaterRows { rows }
    }

    func executeScript(_ sql: String) throws { try db.execute(sql: sql) }

    func fetchAll(_ sql: String, _ arguments: [any SQLBindable]) throws -> [SQLRow] {
        let statement = try db.cachedStatement(sql: sql)
        let columns = self.columns.of(sql, statement.columnNames)
        var rows: [SQLRow] = []
        let cursor = try Row.fetchCursor(statement, arguments: Self.arguments(arguments))
        while let row = try cursor.next() {
            rows.append(SQLRow(columns: columns, values: row.databaseValues.map(Self.value)))
        }
        return rows
    }

    /// Through GRDB's initializer for optional existentials: its generic one maps with a key path,
    /// which a claim-and-complete profile showed at 8 % of the process's time.
    static func arguments(_ values: [any SQLBindable]) -> StatementArguments {
        StatementArguments(values.map { value -> (any DatabaseValueConvertible)? in
            switch value.sqlValue {
            case .null: return nil
            case .integer(let v): return v
            case .real(let v): return v
            case .text(let v): return v
            }
        })
    }

    static func value(_ value: DatabaseValue) -> SQLValue {
        switch value.storage {
        case .null: return .null
        case .int64(let v): return .integer(v)
        case .double(let v): return .real(v)
        case .string(let v): return .text(v)
        case .blob(let data): return .text(String(decoding: data, as: UTF8.self))
        }
    }
}

/// Each query's column names, made once per query text: a claim's `RETURNING *` would otherwise
/// build its 35-name index on every call.
final class ColumnNames: @unchecked Sendable {
    private let lock = NSLock()
    private var byQuery: [String: SQLColumns] = [:]

    func of(_ sql: String, _ names: @autoclosure () -> [String]) -> SQLColumns {
        lock.lock()
        defer { lock.unlock() }
        if let known = byQuery[sql] { return known }
        let made = SQLColumns(names())
        byQuery[sql] = made
        return made
    }
}
