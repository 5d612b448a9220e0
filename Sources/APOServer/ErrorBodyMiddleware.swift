import Foundation
import Hummingbird
import Logging

/// Gives every error the API's JSON shape: Hummingbird's own (an unknown path: 404) keep their
/// status; anything unexpected becomes a 500 whose details go to the log, not to the client.
struct ErrorBodyMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let message = error.body ?? (error.status == .notFound ? "no such endpoint: \(request.method) \(request.uri.path)"
                                                                  : error.status.reasonPhrase)
            throw APIError(error.status, message)
        } catch {
            logger.error("http: \(request.method) \(request.uri.path) failed: \(error)")
            throw APIError(.internalServerError, "internal error (see apod's log)")
        }
    }
}
