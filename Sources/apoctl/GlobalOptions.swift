import APOReport
import APORuntime
import APOStore
import ArgumentParser
import Foundation

/// apoctl's documented exit statuses (see `apoctl --help`).
enum ApoctlExit: Int32 {
    case ok = 0
    case runFailed = 1
    case usage = 2
    case invalidPipeline = 3
    case notFound = 4
    case cancelled = 5
    case databaseUnavailable = 6
}

/// An error that ends apoctl with a message on stderr and a documented exit status.
struct CommandFailure: Error {
    let code: ApoctlExit
    let message: String

    static func notFound(_ what: String) -> CommandFailure {
        CommandFailure(code: .notFound, message: "error: \(what) not found")
    }
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("SQLite database file, or a postgres://user@host/database URL.", discussion: "Defaults to $APO_DB, then `db:` in $XDG_CONFIG_HOME/apo/config.yaml, then ./apo.db."))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("A remote apod's HTTP API (apod --http), instead of a database.", discussion: "Defaults to `server:` in $XDG_CONFIG_HOME/apo/config.yaml; --db or $APO_DB win over the config's server.", valueName: "url"))
    var server: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("With --server: a file whose first line is apod's bearer token (for submit, cancel, retry, resume).", discussion: "Defaults to `token_file:` in the config.", valueName: "file"))
    var tokenFile: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("With an https --server: a PEM file of the CAs to trust instead of the system's.", discussion: "Defaults to `ca_file:` in the config.", valueName: "file"))
    var caFile: String?

    @Flag(name: .long, help: "Print machine-readable JSON instead of a table.")
    var json = false

    var databasePath: String {
        StoreLocation.resolve(db ?? ProcessInfo.processInfo.environment["APO_DB"] ?? GlobalOptions.configured.db ?? "apo.db")
    }

    /// The remote apod, when commands go through its API: `--server`, else the config's
    /// `server:` unless a database was named (`--db`, `$APO_DB`).
    var serverURL: String? {
        if let server { return server }
        if db != nil || ProcessInfo.processInfo.environment["APO_DB"] != nil { return nil }
        return GlobalOptions.configured.server
    }

    /// The user's config file, read once (`main` loads it before any command runs).
    nonisolated(unsafe) static var configured = ApoctlConfig()

    /// Where the run commands read and steer runs: the database, or a remote apod.
    func runService(creatingDatabase: Bool = false) throws -> any RunService {
        if server != nil && db != nil {
            throw CommandFailure(code: .usage, message: "error: give either --db or --server, not both")
        }
        if let serverURL { return try RemoteRunService(client: apiClient(serverURL)) }
        return DatabaseRunService(databasePath: databasePath) {
            try creatingDatabase ? openOrCreateStore() : openStore()
        }
    }

    private func apiClient(_ text: String) throws -> APIClient {
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw CommandFailure(code: .usage, message: "error: --server '\(text)' is not an http:// or https:// URL")
        }
        let tokenPath = tokenFile ?? GlobalOptions.configured.tokenFile
        let authority = caFile ?? GlobalOptions.configured.caFile
        if let authority, !FileManager.default.isReadableFile(atPath: authority) {
            throw CommandFailure(code: .usage, message: "error: cannot read --ca-file \(authority)")
        }
        return APIClient(base: url, token: try tokenPath.map(Self.readToken), caFile: authority)
    }

    /// The token file's first line, as apod reads its own `--token-file`.
    static func readToken(path: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CommandFailure(code: .usage, message: "error: cannot read --token-file \(path)")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard !token.isEmpty else { throw CommandFailure(code: .usage, message: "error: --token-file \(path) is empty") }
        return token
    }

    /// Opens the database for a command that reads: a missing file is refused (exit 6), never
    /// created, so `--db typo.db` cannot leave an empty database behind. A command that works
    /// only on the database itself says so when apoctl is pointed at a server.
    func openStore() throws -> JobStore {
        if let serverURL {
            throw CommandFailure(code: .usage, message: "error: this command works on the database itself and has no remote mode: "
                                 + "run it where apod's database is, with --db PATH instead of the server (\(serverURL))")
        }
        return try open { try JobStore.openExisting(path: databasePath) }
    }

    /// Opens the database, creating it when missing (`submit`).
    func openOrCreateStore() throws -> JobStore {
        try open { try JobStore(path: databasePath) }
    }

    private func open(_ body: () throws -> JobStore) throws -> JobStore {
        do {
            return try body()
        } catch let error as StoreError where error.isDatabaseUnavailable {
            if case .databaseTooNew = error {
                throw CommandFailure(code: .databaseUnavailable, message: "error: cannot open \(StoreLocation.display(databasePath)): \(error)")
            }
            throw CommandFailure(code: .databaseUnavailable, message: "error: \(error)")
        } catch {
            throw CommandFailure(code: .databaseUnavailable, message: "error: cannot open \(StoreLocation.display(databasePath)): \(error)")
        }
    }

    /// Runs a store call, mapping "not found" to exit status 4.
    func storeCall<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            if case .notFound(let what, let id) = error {
                throw CommandFailure.notFound("\(what) \(id)")
            }
            throw CommandFailure(code: .runFailed, message: "error: \(error)")
        }
    }

    func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// A job named on the command line: `17` (job id) or `3/r1.train_rm` (run 3, key r1.train_rm).
struct JobReference: ExpressibleByArgument, CustomStringConvertible {
    enum Form { case id(Int64), key(run: Int64, key: String) }
    let form: Form
    let description: String

    init?(argument: String) {
        description = argument
        if let id = Int64(argument), id > 0 {
            form = .id(id)
        } else if let slash = argument.firstIndex(of: "/"), let run = Int64(argument[..<slash]), run > 0,
                  argument.index(after: slash) < argument.endIndex {
            form = .key(run: run, key: String(argument[argument.index(after: slash)...]))
        } else {
            return nil
        }
    }

    func resolve(in store: any RunService) throws -> JobRecord {
        switch form {
        case .id(let id):
            guard let job = try store.job(id) else { throw CommandFailure.notFound("job \(id)") }
            return job
        case .key(let run, let key):
            _ = try store.requireRun(run)
            guard let job = try store.jobs(runID: run).first(where: { $0.key == key }) else {
                throw CommandFailure.notFound("job '\(key)' in run \(run)")
            }
            return job
        }
    }
}

func requireRun(_ id: Int64, in store: JobStore) throws -> RunRecord {
    guard let run = try store.run(id) else { throw CommandFailure.notFound("run \(id)") }
    return run
}

/// For `watch` and `logs -f`: warns once, on stderr, when no daemon has shown a sign of life on the
/// database for `staleAfter` seconds, so that a run nobody serves (apod not started, started on
/// another file, or dead) does not look like a slow one.
struct DaemonLivenessWarning {
    let store: any RunService
    /// Daemons heartbeat every 2 s and workers every ≤ 1 s while they run a job.
    var staleAfter: TimeInterval = 10
    /// The first check waits this long, so an apod started together with `watch` can heartbeat.
    var firstCheckAfter: TimeInterval = 3
    private(set) var warned = false
    private let started = Date()
    private var lastCheck = Date.distantPast

    init(store: any RunService) { self.store = store }

    /// Checks at most once a second; call while the run is still running.
    mutating func check(now: Date) {
        guard !warned, now.timeIntervalSince(started) >= firstCheckAfter,
              now.timeIntervalSince(lastCheck) >= 1 else { return }
        lastCheck = now
        guard let message = Self.message(lastActivity: try? store.lastDaemonActivity(), now: now,
                                         staleAfter: staleAfter, databasePath: store.location) else { return }
        warned = true
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// The warning, or nil while some daemon was alive within `staleAfter`.
    static func message(lastActivity: Date?, now: Date, staleAfter: TimeInterval, databasePath: String) -> String? {
        let what: String
        if let lastActivity {
            let age = now.timeIntervalSince(lastActivity)
            guard age > staleAfter else { return nil }
            what = "no apod has heartbeated on \(databasePath) for \(Formatting.duration(age))"
        } else {
            what = "no apod has ever run on \(databasePath)"
        }
        // With --server the location is apod's URL: the daemon to start is one on its database.
        let start = databasePath.hasPrefix("http://") || databasePath.hasPrefix("https://")
            ? "a daemon on the database behind it" : "apod --db \(databasePath)"
        return "warning: \(what); the run will not progress until one does (\(start))"
    }
}
