import APOPipeline
import APOStore
import Foundation
import Logging

/// The body of `apod worker`: one `Worker` in this process until SIGTERM/SIGINT or until the
/// process that started it is gone (so workers never outlive a killed daemon).
public enum WorkerProcess {
    /// "w2@host:4242": what attempts record, and how the supervisor finds a dead worker's leases.
    public static func workerID(number: Int, pid: Int32, host: String = ProcessInfo.processInfo.hostName) -> String {
        "w\(number)@\(host):\(pid)"
    }

    /// Set by `apod` for the workers it starts: the pid they must stay children of.
    public static let supervisorPIDVariable = "APO_SUPERVISOR_PID"

    public static func run(databasePath: String, workerNumber: Int,
                           host: HostCapacity = .thisMachine(), leaseDuration: TimeInterval,
                           stopGrace: TimeInterval = WorkerConfiguration.defaultStopGrace, logger: Logger) -> Int32 {
        let store: JobStore
        do {
            store = try JobStore(path: databasePath)
        } catch {
            logger.error("worker \(workerNumber): cannot open \(StoreLocation.display(databasePath)): \(error)")
            return WorkerExitCode.storeUnavailable
        }
        let shutdown = ShutdownFlag()
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { shutdown.request() }
            source.resume()
            sources.append(source)
        }
        // A standalone `apod worker` watches whoever started it.
        let parent = ProcessInfo.processInfo.environment[supervisorPIDVariable].flatMap { Int32($0) } ?? getppid()
        var configuration = WorkerConfiguration(
            workerID: workerID(number: workerNumber, pid: getpid(), host: host.name), leaseDuration: leaseDuration)
        configuration.hardStopAfter = stopGrace
        configuration.host = host
        let worker = Worker(store: store, configuration: configuration, shutdown: shutdown,
                            parentAlive: { getppid() == parent }, logger: logger)
        let handled = worker.run()
        logger.debug("worker \(workerNumber) exiting after \(handled) attempt(s)")
        withExtendedLifetime(sources) {}
        return WorkerExitCode.clean
    }
}
