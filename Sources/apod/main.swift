import APOEngine
import APOPipeline
import APORuntime
import APOServer
import APOStore
import ArgumentParser
import Foundation
import Logging

/// `apod`: the daemon. Runs in the foreground; stop it with Ctrl-C or SIGTERM.
struct Apod: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apod",
        abstract: "Run apo's job daemon: worker processes that claim and run the jobs in the database.",
        discussion: "Runs in the foreground and logs to stderr. SIGTERM or Ctrl-C stops it cleanly: each worker asks its running job to stop and gives the job back to the queue (no attempt is spent), so nothing is left marked running; start apod again to continue. A second Ctrl-C kills the workers. Several daemons may share one database: a job is only ever claimed by one worker at a time. An SQLite database serves one machine and must be on a local disk: one on a network file system (NFS, SMB/CIFS, 9P, Ceph, AFS, …) is refused, because SQLite's WAL mode is unsafe there (two hosts could claim one job or corrupt the file). To spread a run over several machines, give every apod the same --db postgres://user@host/database and a distinct --host. Exits with status 6 when the database cannot be used (read-only, locked, not an apo database, on a network file system, or written by a newer apo).",
        subcommands: [WorkerCommand.self]
    )

    @OptionGroup var options: DaemonOptions

    @Option(name: .long, help: ArgumentHelp("Number of worker processes.", discussion: "0 runs no worker and only serves --http: to watch a run, or a database other daemons work on, without claiming any of its jobs. Such an apod registers no host and sweeps nothing."))
    var workers: Int = 2

    @Option(name: .long, help: ArgumentHelp("Serve the HTTP API on this address.", discussion: "HOST:PORT, [IPv6]:PORT, or a bare PORT (then 127.0.0.1). Port 0 picks a free port; the address is logged as 'http: listening on http://HOST:PORT'. Off unless given.", valueName: "address"))
    var http: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("PEM certificate chain: serve --http over HTTPS (with --tls-key).", valueName: "file"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("File whose first line is the bearer token the HTTP API's mutating endpoints require.", discussion: "Without it, submit/cancel/retry/resume over HTTP are open on a loopback address and refused (403) on any other; reads are always open.", valueName: "file"))
    var tokenFile: String?

    func validate() throws {
        guard workers >= 0 else { throw ValidationError("--workers must be 0 or more") }
        if workers == 0, http == nil {
            throw ValidationError("--workers 0 runs no worker, so it needs --http (serve the API only); without it apod would do nothing")
        }
        if let http, ListenAddress(parsing: http) == nil {
            throw ValidationError("--http '\(http)' is not HOST:PORT, [IPv6]:PORT or PORT (0...65535)")
        }
        if tokenFile != nil, http == nil { throw ValidationError("--token-file needs --http") }
        if (tlsCertificate == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsCertificate != nil, http == nil { throw ValidationError("--tls-cert needs --http") }
    }

    func run() throws {
        let logger = options.bootstrapLogging(label: "apod")
        let path = options.databasePath
        // Migrations run here once, before any worker opens the file.
        let store: JobStore
        do {
            store = try JobStore(path: path)
        } catch let error as StoreError where error.isDatabaseUnavailable {
            logger.error("\(error)")
            throw ExitCode(6)
        } catch {
            logger.error("cannot open \(StoreLocation.display(path)): \(error)")
            throw ExitCode(6)
        }
        if workers == 0, let server = try startServer(store: store, logger: logger) {
            logger.info("apod started: no workers, serving the API only, db \(StoreLocation.display(path))")
            StopRequest.waitForSIGTERMOrSIGINT()
            server.stop()
            return
        }
        var configuration = WorkerSupervisor.Configuration(
            databasePath: path, workerCount: workers, leaseDuration: options.leaseSeconds,
            workerExecutable: WorkerSupervisor.currentExecutable())
        configuration.host = try options.hostCapacity()
        configuration.logLevel = Logger.Level(rawValue: options.logLevel) ?? .info
        configuration.workerStopGrace = options.stopGrace
        let server = try startServer(store: store, logger: logger)
        let supervisor = WorkerSupervisor(configuration: configuration, store: store, logger: logger)
        let status = supervisor.run()
        // The workers are stopped; the API goes last, so it answers while they stop.
        server?.stop()
        if status != 0 { throw ExitCode(status) }
    }

    /// The HTTP API when --http is given; exit status 2 when it cannot listen or the token file
    /// is unusable (before any worker starts).
    private func startServer(store: JobStore, logger: Logger) throws -> RunningServer? {
        guard let http, let address = ListenAddress(parsing: http) else { return nil }
        do {
            let token = try tokenFile.map { try TokenFile.read(path: $0) }
            let tls = tlsCertificate.flatMap { cert in tlsKey.map { ServerTLS(certificatePath: cert, keyPath: $0) } }
            let configuration = APIServer.Configuration(
                address: address, writeAccess: .rule(token: token, address: address),
                defaultArtifacts: ProcessInfo.processInfo.environment["APO_ARTIFACTS"], tls: tls)
            return try RunningServer.start(APIServer(configuration: configuration, store: store, logger: logger))
        } catch {
            logger.error("\(error)")
            throw ExitCode(2)
        }
    }
}

/// SIGTERM or SIGINT for an apod without workers, whose only job is to serve until told to stop.
enum StopRequest {
    static func waitForSIGTERMOrSIGINT() {
        let received = DispatchSemaphore(value: 0)
        let sources = [SIGTERM, SIGINT].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { received.signal() }
            source.resume()
            return source
        }
        received.wait()
        sources.forEach { $0.cancel() }
    }
}

struct DaemonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("SQLite database file, or a postgres://user@host/database URL that several hosts share.", discussion: "Defaults to $APO_DB, then ./apo.db."))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("This host's name in the database (attempts, apoctl hosts).", discussion: "Defaults to the machine's name. Two daemons with one name are one host."))
    var host: String?

    @Option(name: .customLong("label"), help: ArgumentHelp("A label this host offers; jobs whose resources ask for labels run only on hosts that have them all.", valueName: "name=value"))
    var labels: [String] = []

    @Option(name: .customLong("memory-mb"), help: ArgumentHelp("Memory this host offers jobs, in MiB.", discussion: "Defaults to the machine's physical memory. Jobs asking for more (resources: memory_mb) are left to other hosts."))
    var memoryMB: Int?

    @Option(name: .customLong("lease-seconds"), help: "Lease length; a worker that stops heartbeating loses its job after this long.")
    var leaseSeconds: Double = 30

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("stop-grace"),
            help: ArgumentHelp("Seconds a job may ignore a cancel, timeout or shutdown before its worker settles it and exits.",
                               discussion: "The worker then records the attempt as the request said (cancelled, timed out or released) and exits with status 75; apod starts a fresh worker."))
    var stopGrace: Double = WorkerConfiguration.defaultStopGrace

    var databasePath: String {
        StoreLocation.resolve(db ?? ProcessInfo.processInfo.environment["APO_DB"] ?? "apo.db")
    }

    func validate() throws {
        guard leaseSeconds >= 0.5 else { throw ValidationError("--lease-seconds must be at least 0.5") }
        guard stopGrace > 0, stopGrace.isFinite else {
            throw ValidationError("--stop-grace must be a positive number of seconds, got \(stopGrace)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        if let host, host.isEmpty || host.contains(where: { $0 == ":" || $0 == "@" || $0.isWhitespace }) {
            throw ValidationError("--host '\(host)' must be a name without ':', '@' or spaces")
        }
        if let memoryMB, memoryMB < 1 { throw ValidationError("--memory-mb must be at least 1") }
        _ = try hostCapacity()
    }

    /// What this host offers, from --host, --label and --memory-mb over the machine's own figures.
    func hostCapacity() throws -> HostCapacity {
        var labelValues: [String: String] = [:]
        for assignment in labels {
            guard let (name, value) = HostLabel.parse(assignment) else {
                throw ValidationError("--label '\(assignment)' must be name=value (name: letters, digits, '.', '_', '-')")
            }
            labelValues[name] = value
        }
        var capacity = HostCapacity.thisMachine(name: host, labels: labelValues)
        if let memoryMB { capacity.memoryMB = memoryMB }
        return capacity
    }

    func bootstrapLogging(label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Apod {
    /// One worker process. Started by `apod`; also usable alone, on the machine that holds the
    /// database (never on another host through a network file system: see `FileSystemInfo`).
    struct WorkerCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "worker", abstract: "Run one worker in this process.", shouldDisplay: false)

        @OptionGroup var options: DaemonOptions

        @Option(name: .long, help: "This worker's number, recorded with each attempt.")
        var id: Int = 1

        func run() throws {
            let logger = options.bootstrapLogging(label: "apod.worker.\(id)")
            let status = WorkerProcess.run(
                databasePath: options.databasePath, workerNumber: id, host: try options.hostCapacity(),
                leaseDuration: options.leaseSeconds, stopGrace: options.stopGrace, logger: logger)
            if status != 0 { throw ExitCode(status) }
        }
    }
}

// Before anything loads work onto OpenMP's threads; workers inherit it (see OpenMPWaitPolicy).
OpenMPWaitPolicy.ensurePassive()
Apod.main()
