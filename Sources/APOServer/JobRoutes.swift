import APOAPIBodies
import APOPipeline
import APOStore
import Foundation
import Hummingbird

/// `/api/jobs/{id}…`: one job in full, retry and cancel.
struct JobRoutes {
    let store: StoreAccess
    let writeAccess: WriteAccess

    func register(on table: RouteTable) {
        table.get("/api/jobs/{id}") { request, context in
            try await detail(try request.pathID(context))
        }
        table.post("/api/jobs/{id}/retry") { request, context in
            try await control(request, context) { try $0.retryJob($1, now: Date()) }
        }
        table.post("/api/jobs/{id}/cancel") { request, context in
            try await control(request, context) { try $0.cancelJob($1, now: Date()) }
        }
    }

    private func detail(_ id: Int64) async throws -> Response {
        let job = try await store.requireJob(id)
        let run = try await store.requireRun(job.runID)
        let (attempts, metrics, artifacts) = try await store.call { store in
            (try store.attempts(jobID: id), try store.metrics(jobID: id),
             try store.artifacts(runID: job.runID).filter { $0.jobID == id })
        }
        return try JSONBody.response(JobDetailBody(
            job: job, cell: MatrixCell.name(ofJobKey: job.key), attempts: attempts, metrics: metrics,
            artifacts: artifacts.map { ArtifactBody.served($0, run: run) }, now: Date()))
    }

    private func control(_ request: Request, _ context: BasicRequestContext,
                         _ change: @escaping @Sendable (JobStore, Int64) throws -> Void) async throws -> Response {
        try writeAccess.check(request)
        let id = try request.pathID(context)
        _ = try await store.requireJob(id)
        try await store.call { try change($0, id) }
        return try await detail(id)
    }
}
