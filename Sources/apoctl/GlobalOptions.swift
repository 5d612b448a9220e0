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
    @Option(name: .long, help: ArgumentHelp("SQLite database file.", discussion: "Defaults to $APO_DB, then ./apo.db."))
    var db: String?

    @Flag(name: .long, help: "Print machine-readable JSON instead of a table.")
    var json = false

    var databasePath: String {
        let path = db ?? ProcessInfo.processInfo.environment["APO_DB"] ?? "apo.db"
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }

    func openStore() throws -> JobStore {
        do {
            return try JobStore(path: databasePath)
        } catch {
            throw CommandFailure(code: .databaseUnavailable, message: "error: cannot open \(databasePath): \(error)")
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

    func resolve(in store: JobStore) throws -> JobRecord {
        switch form {
        case .id(let id):
            guard let job = try store.job(id) else { throw CommandFailure.notFound("job \(id)") }
            return job
        case .key(let run, let key):
            guard try store.run(run) != nil else { throw CommandFailure.notFound("run \(run)") }
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
