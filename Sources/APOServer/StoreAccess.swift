import APOStore
import Dispatch
import Foundation

/// The job store as the server's handlers use it: each call runs on a queue of its own, since
/// the store's calls block (SQLite's busy wait, PostgreSQL's round trips) and must not hold up
/// the threads that serve other connections. Store errors a user can cause come back as the
/// matching 404/409.
struct StoreAccess: Sendable {
    let store: JobStore
    let databasePath: String

    private static let queue = DispatchQueue(label: "apo.http.store", attributes: .concurrent)

    func call<T: Sendable>(_ body: @escaping @Sendable (JobStore) throws -> T) async throws -> T {
        let store = self.store
        return try await withCheckedThrowingContinuation { continuation in
            Self.queue.async {
                do {
                    continuation.resume(returning: try body(store))
                } catch let error as StoreError {
                    continuation.resume(throwing: Self.apiError(for: error))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    /// The run, or 404.
    func requireRun(_ id: Int64) async throws -> RunRecord {
        guard let run = try await call({ try $0.run(id) }) else { throw APIError.notFound("no run \(id)") }
        return run
    }

    /// The job, or 404.
    func requireJob(_ id: Int64) async throws -> JobRecord {
        guard let job = try await call({ try $0.job(id) }) else { throw APIError.notFound("no job \(id)") }
        return job
    }

    static func apiError(for error: StoreError) -> Error {
        switch error {
        case .notFound(let what, let id):
            return APIError.notFound("no \(what) \(id)")
        case .invalidTransition, .dependencyNotRunnable:
            return APIError(.conflict, error.description)
        default:
            // The database itself failed (locked past the busy timeout, server gone): not the
            // request's fault, and said as such.
            return APIError(.serviceUnavailable, "the job store failed: \(error.description)")
        }
    }
}
