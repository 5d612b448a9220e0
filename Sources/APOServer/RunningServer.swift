import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The server running beside apod's supervisor. The supervisor owns SIGTERM/SIGINT (it has to
/// stop its workers first); it calls `stop()` once they are stopped, which ends open log streams
/// and shuts the server down gracefully.
public final class RunningServer: @unchecked Sendable {
    public struct StartFailure: Error, CustomStringConvertible {
        public let description: String
    }

    private let group: ServiceGroup
    private let server: APIServer
    private let finished = DispatchSemaphore(value: 0)

    private init(group: ServiceGroup, server: APIServer) {
        self.group = group
        self.server = server
    }

    /// Starts `server` and returns once it listens (its address logged as
    /// `http: listening on http://HOST:PORT`), or throws why it cannot (the port is taken, the
    /// host is not an address of this machine).
    public static func start(_ server: APIServer, timeout: TimeInterval = 30) throws -> RunningServer {
        let listening = StartSignal()
        let scheme = server.configuration.scheme
        // Unusable TLS files throw here, before anything listens.
        let app = try server.application { address in
            server.logger.info("http: listening on \(scheme)://\(address) (writes: \(server.configuration.writeAccess.summary))")
            listening.finish(nil)
        }
        // No signals here: the supervisor handles them and calls stop().
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: server.logger))
        let running = RunningServer(group: group, server: server)
        Task {
            do {
                try await group.run()
            } catch {
                listening.finish("http: cannot serve on \(server.configuration.address): \(error)")
            }
            listening.finish("http: the server stopped before it listened")
            running.finished.signal()
        }
        if let failure = listening.wait(timeout: timeout) { throw StartFailure(description: failure) }
        return running
    }

    /// Ends the log streams, stops accepting connections and waits (at most `timeout`) for the
    /// requests in flight.
    public func stop(timeout: TimeInterval = 5) {
        server.stopping.request()
        let group = self.group
        Task { await group.triggerGracefulShutdown() }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            server.logger.warning("http: requests still open after \(timeout) s; stopping anyway")
        }
    }
}

/// The first of "listening" (nil) or a failure message, handed from the server task to `start`.
private final class StartSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var result: String??
    private let semaphore = DispatchSemaphore(value: 0)

    func finish(_ failure: String?) {
        lock.lock()
        defer { lock.unlock() }
        guard result == nil else { return }
        result = .some(failure)
        semaphore.signal()
    }

    /// Nil once listening; the failure, or a timeout message.
    func wait(timeout: TimeInterval) -> String? {
        if semaphore.wait(timeout: .now() + timeout) == .timedOut { return "http: the server did not start within \(timeout) s" }
        lock.lock()
        defer { lock.unlock() }
        return result ?? nil
    }
}

extension WriteAccess {
    /// For the startup log line; never the token itself.
    var summary: String {
        switch self {
        case .bearerToken: return "bearer token required"
        case .loopbackOpen: return "open to this machine (loopback, no --token-file)"
        case .refused: return "refused (non-loopback address without --token-file)"
        }
    }
}
