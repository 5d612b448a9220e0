import APOAPIBodies
import APORuntime
import APOStore
import Foundation
import HTTPTypes
import Hummingbird

/// A run's or a job's log: pages of lines after a line id, or the same followed live as
/// Server-Sent Events (`/logs/stream`, or `/logs` with `Accept: text/event-stream`).
struct LogRoutes {
    let store: StoreAccess
    /// Set when apod stops: open streams end instead of holding the shutdown up.
    let stopping: ShutdownFlag

    /// Which log: a whole run's, or one job's (of its run).
    struct Scope: Sendable {
        let runID: Int64
        let jobID: Int64?
    }

    func register(on table: RouteTable) {
        table.get("/api/runs/{id}/logs") { request, context in
            try await answer(request, scope: Scope(runID: try await runID(request, context), jobID: nil), stream: false)
        }
        table.get("/api/runs/{id}/logs/stream") { request, context in
            try await answer(request, scope: Scope(runID: try await runID(request, context), jobID: nil), stream: true)
        }
        table.get("/api/jobs/{id}/logs") { request, context in
            try await answer(request, scope: try await jobScope(request, context), stream: false)
        }
        table.get("/api/jobs/{id}/logs/stream") { request, context in
            try await answer(request, scope: try await jobScope(request, context), stream: true)
        }
    }

    private func runID(_ request: Request, _ context: BasicRequestContext) async throws -> Int64 {
        try await store.requireRun(try request.pathID(context)).id
    }

    private func jobScope(_ request: Request, _ context: BasicRequestContext) async throws -> Scope {
        let job = try await store.requireJob(try request.pathID(context))
        return Scope(runID: job.runID, jobID: job.id)
    }

    private func answer(_ request: Request, scope: Scope, stream: Bool) async throws -> Response {
        let after = try request.queryInt("after", in: 0...Int64.max, default: 0)
        if stream || request.acceptsEventStream {
            // A reconnecting EventSource says where it was in Last-Event-ID.
            let resume = request.headers[.lastEventID].flatMap { Int64($0) } ?? after
            return LogEventStream(store: store, scope: scope, after: resume, stopping: stopping).response()
        }
        let limit = Int(try request.queryInt("limit", in: 1...10_000, default: 1000))
        let (lines, run) = try await store.call { store in
            (try store.logs(runID: scope.runID, jobID: scope.jobID, afterID: after, limit: limit), try store.run(scope.runID))
        }
        return try JSONBody.response(LogPageBody(lines: lines.map(LogLineBody.init), next: lines.last?.id ?? after,
                                                 runState: run?.state.rawValue ?? "unknown"))
    }
}

extension HTTPField.Name {
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}
