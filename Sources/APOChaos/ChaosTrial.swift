import APOPipeline
import APORuntime
import APOStore
import Foundation

/// How one chaos trial runs apod and what it does to it.
public struct ChaosSettings {
    public var apod: URL
    public var pipeline: String
    public var overrides: [String: String]
    public var workers = 2
    public var leaseSeconds = 3.0
    public var stopGrace = 5.0
    /// Disturbances per trial at most; the run then finishes undisturbed.
    public var maxDisturbances = 8
    /// Seconds between disturbances, drawn uniformly.
    public var pause: ClosedRange<Double> = 0.5...3
    /// A run not finished after this long counts its unfinished jobs as lost.
    public var runTimeout: TimeInterval = 900

    public init(apod: URL, pipeline: String, overrides: [String: String]) {
        self.apod = apod
        self.pipeline = pipeline
        self.overrides = overrides
    }
}

/// What one trial did and left behind.
public struct ChaosTrialResult {
    public var runID: Int64
    public var databasePath: String
    public var kills = 0
    public var stops = 0
    public var orphans = 0
    public var timedOut = false
    public var events: [String] = []
}

/// One trial: a fresh database and artifact folder, apod started, the pipeline submitted, and —
/// until the run ends — SIGKILLs of apod, of a worker or of both (apod restarted at once), and
/// SIGSTOPs of a worker that holds a job, continued only once the job was handed to another
/// worker (or after 20 s). Then apod is stopped with SIGTERM and every worker must be gone.
public final class ChaosTrial {
    let settings: ChaosSettings
    public let directory: URL
    var random: SeededGenerator
    private var daemon: Process?
    private var everSeenWorkers = Set<Int32>()
    private var result: ChaosTrialResult!
    private var log: FileHandle?

    public init(settings: ChaosSettings, directory: URL, seed: UInt64) {
        self.settings = settings
        self.directory = directory
        self.random = SeededGenerator(seed: seed)
    }

    var databasePath: String { directory.appendingPathComponent("apo.db").path }

    /// `disturb: false` runs the oracle: the same pipeline, undisturbed.
    public func run(disturb: Bool) throws -> ChaosTrialResult {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("apod.log").path, contents: nil)
        log = try FileHandle(forWritingTo: directory.appendingPathComponent("apod.log"))
        let store = try JobStore(path: databasePath)
        let submitted = try RunSubmission.submit(
            file: settings.pipeline, overrides: settings.overrides, store: store,
            artifactBase: directory.appendingPathComponent("artifacts"), now: Date())
        result = ChaosTrialResult(runID: submitted.runID, databasePath: databasePath)
        try startDaemon()
        let deadline = Date().addingTimeInterval(settings.runTimeout)
        var nextDisturbance = Date().addingTimeInterval(draw(settings.pause))
        var disturbances = 0
        while try store.run(submitted.runID)?.state == .running {
            if Date() > deadline { result.timedOut = true; break }
            if disturb, disturbances < settings.maxDisturbances, Date() >= nextDisturbance {
                try disturbOnce(store: store, runID: submitted.runID)
                disturbances += 1
                nextDisturbance = Date().addingTimeInterval(draw(settings.pause))
            }
            noteWorkers()
            Thread.sleep(forTimeInterval: 0.05)
        }
        stopDaemon()
        result.orphans = reapOrphans()
        return result
    }

    private func draw(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * Double(random.next() % 1_000_000) / 1_000_000
    }

    private func note(_ event: String) { result.events.append(event) }

    // MARK: - Disturbances

    private func disturbOnce(store: JobStore, runID: Int64) throws {
        let busy = try store.jobs(runID: runID).filter { $0.state == .running }
            .compactMap { job in job.leaseWorkerID.map { (job: job, worker: $0) } }
            .filter { ChaosProcesses.pid(ofWorker: $0.worker).map(ChaosProcesses.isAlive) ?? false }
        let roll = random.next() % 100
        if roll < 30, let target = busy.isEmpty ? nil : busy[Int(random.next() % UInt64(busy.count))] {
            try freeze(target.worker, holding: target.job, store: store)
        } else if roll < 65 {
            killWorker(preferring: busy.map(\.worker))
        } else if roll < 85 {
            killDaemon(alsoAWorker: false)
        } else {
            killDaemon(alsoAWorker: true)
        }
    }

    private func killWorker(preferring busy: [String]) {
        let candidates = busy.compactMap(ChaosProcesses.pid(ofWorker:))
        let pool = candidates.isEmpty ? (daemon.map { ChaosProcesses.children(of: $0.processIdentifier) } ?? []) : candidates
        guard !pool.isEmpty else { return }
        let pid = pool[Int(random.next() % UInt64(pool.count))]
        kill(pid, SIGKILL)
        result.kills += 1
        note("SIGKILL worker \(pid)")
    }

    private func killDaemon(alsoAWorker: Bool) {
        guard let daemon else { return }
        noteWorkers()
        if alsoAWorker, let worker = ChaosProcesses.children(of: daemon.processIdentifier).first {
            kill(worker, SIGKILL)
            result.kills += 1
            note("SIGKILL worker \(worker)")
        }
        kill(daemon.processIdentifier, SIGKILL)
        daemon.waitUntilExit()
        result.kills += 1
        note("SIGKILL apod \(daemon.processIdentifier); restarted")
        try? startDaemon()
    }

    /// A worker frozen past its lease (a long GC pause, a VM freeze), continued after its job went
    /// to another worker: the case SIGKILL cannot test, since a killed process writes nothing.
    private func freeze(_ workerID: String, holding job: JobRecord, store: JobStore) throws {
        guard let pid = ChaosProcesses.pid(ofWorker: workerID) else { return }
        kill(pid, SIGSTOP)
        result.stops += 1
        let deadline = Date().addingTimeInterval(max(20, settings.leaseSeconds * 4))
        var handedOver = false
        while Date() < deadline {
            if let now = try store.job(job.id), now.leaseWorkerID != workerID, now.state != .queued {
                handedOver = true
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        // A little longer, so the new owner is busy writing when the frozen one wakes up.
        Thread.sleep(forTimeInterval: handedOver ? draw(0...1) : 0)
        kill(pid, SIGCONT)
        note("SIGSTOP worker \(pid) holding \(job.key); SIGCONT \(handedOver ? "after the job was handed over" : "after 20 s")")
    }

    // MARK: - apod

    private func startDaemon() throws {
        let process = Process()
        process.executableURL = settings.apod
        process.arguments = ["--db", databasePath, "--workers", String(settings.workers),
                             "--lease-seconds", String(settings.leaseSeconds), "--stop-grace", String(settings.stopGrace),
                             "--log-level", "warning"]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        daemon = process
    }

    private func noteWorkers() {
        guard let daemon else { return }
        everSeenWorkers.formUnion(ChaosProcesses.children(of: daemon.processIdentifier))
    }

    private func stopDaemon() {
        guard let daemon, daemon.isRunning else { return }
        noteWorkers()
        kill(daemon.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(settings.stopGrace + 30)
        while daemon.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if daemon.isRunning {
            note("apod did not stop within \(Int(settings.stopGrace + 30)) s of SIGTERM; killed")
            kill(daemon.processIdentifier, SIGKILL)
        }
        daemon.waitUntilExit()
    }

    /// Workers of any apod of this trial that outlive it by more than a hard stop's grace are
    /// orphans; they are counted and killed.
    private func reapOrphans() -> Int {
        let deadline = Date().addingTimeInterval(settings.stopGrace + 5)
        var alive: Set<Int32> = []
        repeat {
            alive = Set(everSeenWorkers.filter(ChaosProcesses.isAlive)).union(ChaosProcesses.using(databasePath))
            if alive.isEmpty { return 0 }
            Thread.sleep(forTimeInterval: 0.1)
        } while Date() < deadline
        for pid in alive { kill(pid, SIGKILL) }
        note("orphans: \(alive.sorted())")
        return alive.count
    }
}
