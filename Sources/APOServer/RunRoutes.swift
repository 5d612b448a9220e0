import APOAPIBodies
import APOPipeline
import APOStore
import Foundation
import Hummingbird

/// `/api/runs…`: the list, one run with its DAG, cancel and resume. Submitting is in
/// `SubmitRoute`, logs in `LogRoutes`, artifacts in `ArtifactRoutes`.
struct RunRoutes {
    let store: StoreAccess
    let writeAccess: WriteAccess

    func register(on table: RouteTable) {
        table.get("/api/runs") { request, _ in try await list(request) }
        table.get("/api/runs/{id}") { request, context in
            let id = try request.pathID(context)
            return try JSONBody.response(try await detail(id))
        }
        table.post("/api/runs/{id}/cancel") { request, context in
            try await control(request, context) { try $0.cancelRun($1, now: Date()) }
        }
        table.post("/api/runs/{id}/resume") { request, context in
            try await control(request, context) { try $0.resumeRun($1, now: Date()) }
        }
    }

    /// Newest first.
    private func list(_ request: Request) async throws -> Response {
        let state = try request.runStateFilter()
        let pipeline = request.queryText("pipeline")
        let limit = Int(try request.queryInt("limit", in: 1...1000, default: 100))
        let runs = try await store.call { try $0.runs(limit: limit, state: state, pipelineName: pipeline) }
        let now = Date()
        return try JSONBody.response(runs.map { RunBody($0, now: now) })
    }

    /// The run, its jobs and the daemon sessions that served it.
    private func detail(_ id: Int64) async throws -> RunDetailBody {
        let run = try await store.requireRun(id)
        let now = Date()
        let (jobs, sessions) = try await store.call { (try $0.jobs(runID: id), try $0.daemonSessions(of: run, now: now)) }
        return RunDetailBody(run: run, jobs: jobs, daemonSessions: sessions, now: now, cell: MatrixCell.name(ofJobKey:))
    }

    /// Checks the caller may write, applies `change` to the run, answers with the run as it is now.
    private func control(_ request: Request, _ context: BasicRequestContext,
                         _ change: @escaping @Sendable (JobStore, Int64) throws -> Void) async throws -> Response {
        try writeAccess.check(request)
        let id = try request.pathID(context)
        _ = try await store.requireRun(id)
        try await store.call { try change($0, id) }
        return try JSONBody.response(try await detail(id))
    }
}
