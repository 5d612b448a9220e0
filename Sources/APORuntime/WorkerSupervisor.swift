import APOStore
import Foundation
import Logging

/// What `apod` runs: N worker processes kept alive by a `StateMachine`, plus the lease reaper,
/// until SIGTERM/SIGINT, after which the workers release their jobs and everyone exits.
public final class WorkerSupervisor {
    public struct Configuration: Sendable {
        public var databasePath: String
        public var workerCount: Int
        public var leaseDuration: TimeInterval
        /// The executable to run as `<executable> worker --db … --id N …`.
        public var workerExecutable: URL
        public var restartPolicy = RestartPolicy()
        /// How often expired leases are reaped.
        public var reapInterval: TimeInterval
        /// How often the daemon records its heartbeat (`daemons` table) for `apoctl watch`/`logs -f`.
        public var heartbeatInterval: TimeInterval = 2
        public var logLevel: Logger.Level = .info
        /// Passed to each worker as `--stop-grace`: how long a job may ignore a stop request.
        public var workerStopGrace: TimeInterval = WorkerConfiguration.defaultStopGrace
        /// What this host offers: recorded with the daemon's heartbeat, handed to every worker.
        public var host: HostCapacity = .thisMachine()

        /// `apod worker` arguments that give a worker this host.
        var hostArguments: [String] {
            ["--host", host.name, "--memory-mb", String(host.memoryMB)]
                + host.labels.sorted { $0.key < $1.key }.flatMap { ["--label", "\($0.key)=\($0.value)"] }
        }

        public init(databasePath: String, workerCount: Int, leaseDuration: TimeInterval, workerExecutable: URL) {
            self.databasePath = databasePath
            self.workerCount = workerCount
            self.leaseDuration = leaseDuration
            self.workerExecutable = workerExecutable
            self.reapInterval = min(1.0, leaseDuration / 4)
        }
    }

    private enum Event {
        case exited(worker: Int, status: Int32)
        case stop
    }

    private let configuration: Configuration
    private let store: JobStore
    private let logger: Logger
    private let lock = NSLock()
    private var events: [Event] = []
    private var processes: [Int: Process] = [:]
    private var signalSources: [DispatchSourceSignal] = []

    public init(configuration: Configuration, store: JobStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
    }

    /// Asks the supervisor to stop (what SIGTERM/SIGINT do).
    public func requestStop() { post(.stop) }

    /// Blocks until stopped; returns the daemon's exit status.
    public func run() -> Int32 {
        installSignalHandlers()
        var policy = configuration.restartPolicy
        // On shutdown, SIGKILL only workers whose own hard stop had time to settle their job.
        policy.stopGrace = max(policy.stopGrace, configuration.workerStopGrace + 5)
        var machine = StateMachine(workerCount: configuration.workerCount, policy: policy)
        var lastReap = Date.distantPast
        var lastHeartbeat = Date.distantPast
        let startedAt = Date()
        let daemonID = "\(configuration.host.name):\(getpid())"
        do {
            try LeftoverSweep.run(store: store, logger: logger)
        } catch {
            logger.warning("leftover sweep: \(error)")
        }
        perform(machine.start(), on: &machine)
        logger.info("apod started: \(configuration.workerCount) workers, lease \(configuration.leaseDuration) s, stop grace \(configuration.workerStopGrace) s, db \(StoreLocation.display(configuration.databasePath))")
        while true {
            let now = Date()
            var actions = handle(drainEvents(), on: &machine, now: now)
            actions += machine.tick(now: now)
            if perform(actions, on: &machine) { break }
            if !machine.isStopping, now.timeIntervalSince(lastReap) >= configuration.reapInterval {
                lastReap = now
                reap(now: now)
            }
            if !machine.isStopping, now.timeIntervalSince(lastHeartbeat) >= configuration.heartbeatInterval {
                lastHeartbeat = now
                recordHeartbeat(id: daemonID, startedAt: startedAt, now: now)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        // Jobs whose worker had to be killed still hold a lease; reap what has expired already.
        reap(now: Date())
        do {
            try store.removeDaemon(id: daemonID, now: Date())
        } catch {
            logger.warning("cannot remove the daemon heartbeat: \(error)")
        }
        logger.info("apod stopped")
        return 0
    }

    /// The state machine's answer to what happened since the last turn: workers that exited
    /// (their leases reaped at once when they died mid-job) and stop requests.
    private func handle(_ events: [Event], on machine: inout StateMachine, now: Date) -> [StateMachine.Action] {
        var actions: [StateMachine.Action] = []
        for event in events {
            switch event {
            case .exited(let worker, let status):
                lock.lock(); let pid = processes.removeValue(forKey: worker)?.processIdentifier; lock.unlock()
                if !machine.isStopping || status != 0 {
                    logger.warning("worker \(worker) exited with status \(status)\(machine.isStopping ? "" : "; restarting")")
                } else {
                    logger.info("worker \(worker) stopped")
                }
                // A worker that died mid-job cannot release its lease: requeue its jobs now
                // instead of waiting for the lease to run out.
                if status != 0, let pid {
                    reapLeases(of: WorkerProcess.workerID(number: worker, pid: pid, host: configuration.host.name), now: now)
                }
                actions += machine.processExited(worker: worker, status: status, now: now)
            case .stop:
                logger.info(machine.isStopping ? "second stop request: killing workers" : "stopping: asking workers to release their jobs")
                actions += machine.stopRequested(now: now)
            }
        }
        return actions
    }

    /// Returns true when the daemon should exit.
    @discardableResult
    private func perform(_ actions: [StateMachine.Action], on machine: inout StateMachine) -> Bool {
        var pending = actions
        var shouldExit = false
        while !pending.isEmpty {
            let action = pending.removeFirst()
            switch action {
            case .spawn(let worker):
                if let pid = spawn(worker: worker) {
                    pending += machine.spawned(worker: worker, pid: pid, now: Date())
                } else {
                    pending += machine.spawnFailed(worker: worker, now: Date())
                }
            case .terminate(_, let pid):
                kill(pid, SIGTERM)
            case .kill(let worker, let pid):
                logger.warning("worker \(worker) (pid \(pid)) did not stop in time; killing it")
                kill(pid, SIGKILL)
            case .exit:
                shouldExit = true
            }
        }
        return shouldExit
    }

    private func spawn(worker: Int) -> Int32? {
        let process = Process()
        process.executableURL = configuration.workerExecutable
        // A PostgreSQL password goes to the worker in its environment: arguments are public (`ps`).
        let (database, password) = PostgresLocation.separatingPassword(configuration.databasePath)
        process.arguments = [
            "worker", "--db", database, "--id", String(worker),
            "--lease-seconds", String(configuration.leaseDuration),
            "--log-level", configuration.logLevel.rawValue,
            "--stop-grace", String(configuration.workerStopGrace),
        ] + configuration.hostArguments
        // The worker watches this pid: if the daemon dies before the worker has even started, its
        // getppid() is already the reaper's and could not tell it was orphaned.
        var environment = ProcessInfo.processInfo.environment
        environment[WorkerProcess.supervisorPIDVariable] = String(getpid())
        if let password { environment["PGPASSWORD"] = password }
        process.environment = environment
        process.terminationHandler = { [weak self] p in
            self?.post(.exited(worker: worker, status: p.terminationStatus))
        }
        do {
            try process.run()
        } catch {
            logger.error("cannot start worker \(worker): \(error)")
            return nil
        }
        lock.lock(); processes[worker] = process; lock.unlock()
        logger.debug("worker \(worker) started as pid \(process.processIdentifier)")
        return process.processIdentifier
    }

    private func reap(now: Date) {
        do {
            let reaped = try store.reapExpiredLeases(now: now)
            if !reaped.isEmpty { logger.warning("requeued or failed \(reaped.count) job(s) with expired leases: \(reaped)") }
        } catch {
            logger.warning("lease reaper: \(error)")
        }
    }

    private func recordHeartbeat(id: String, startedAt: Date, now: Date) {
        do {
            try store.recordDaemonHeartbeat(id: id, host: configuration.host.name, pid: getpid(),
                                            workers: configuration.workerCount, capacity: configuration.host,
                                            startedAt: startedAt, now: now)
        } catch {
            logger.warning("daemon heartbeat: \(error)")
        }
    }

    private func reapLeases(of workerID: String, now: Date) {
        do {
            let jobs = try store.reapLeases(heldBy: workerID, now: now)
            if !jobs.isEmpty { logger.warning("requeued job(s) \(jobs) of dead worker \(workerID)") }
        } catch {
            logger.warning("cannot reap the leases of \(workerID): \(error)")
        }
    }

    private func post(_ event: Event) {
        lock.lock(); events.append(event); lock.unlock()
    }

    private func drainEvents() -> [Event] {
        lock.lock(); defer { lock.unlock() }
        let drained = events
        events.removeAll()
        return drained
    }

    private func installSignalHandlers() {
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.post(.stop) }
            source.resume()
            signalSources.append(source)
        }
    }
}

extension WorkerSupervisor {
    /// This process's own executable, to re-run as `… worker`.
    public static func currentExecutable() -> URL {
        let procSelf = URL(fileURLWithPath: "/proc/self/exe")
        if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: procSelf.path) {
            return URL(fileURLWithPath: resolved)
        }
        return Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    }
}
