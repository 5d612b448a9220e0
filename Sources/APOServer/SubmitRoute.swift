import APOAPIBodies
import APOPipeline
import APORuntime
import APOStore
import Foundation
import Hummingbird

/// `POST /api/runs`: a pipeline YAML body, validated as `apoctl submit` validates a file.
struct SubmitRoute {
    let store: StoreAccess
    let writeAccess: WriteAccess
    /// `$APO_ARTIFACTS` of the daemon, used when the request has no `?artifacts=`.
    let defaultArtifacts: String?

    /// A pipeline is a page of YAML; anything far larger is a mistake, refused before reading it all.
    static let maxBodyBytes = 1 << 20


    func register(on table: RouteTable) {
        table.post("/api/runs") { request, _ in try await submit(request) }
    }

    private func submit(_ request: Request) async throws -> Response {
        try writeAccess.check(request)
        let overrides = try Self.overrides(request.uri.queryParameters.getAll("param"))
        let yaml = try await body(request)
        let base: URL
        do {
            base = try RunSubmission.artifactBase(option: request.queryText("artifacts") ?? defaultArtifacts,
                                                  databasePath: store.databasePath)
        } catch let missing as ArtifactBaseMissing {
            throw APIError.badInput("artifacts", missing.description)
        }
        let preset = request.queryText("preset").map { ParamsPreset(yaml: $0, file: "preset") }
        let pipeline = try Self.validate(yaml, preset: preset, overrides: overrides)
        let submitted = try await store.call { store in
            try RunSubmission.submit(pipeline, store: store, artifactBase: base, now: Date())
        }
        return try JSONBody.response(
            CreatedRunBody(run: submitted.runID, jobs: submitted.jobCount, url: "/api/runs/\(submitted.runID)"), status: .created)
    }

    private func body(_ request: Request) async throws -> String {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maxBodyBytes)
        } catch {
            throw APIError(.contentTooLarge, "the pipeline is larger than \(Self.maxBodyBytes) bytes", field: "body")
        }
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw APIError.badInput("body", "the body is not UTF-8 text")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.badInput("body", "the body is empty: send the pipeline YAML")
        }
        return text
    }

    /// `?param=name=value`, repeatable, as `apoctl submit --param`.
    static func overrides(_ assignments: [String]) throws -> [String: String] {
        var overrides: [String: String] = [:]
        for assignment in assignments {
            guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                throw APIError.badInput("param", "'\(assignment)' is not name=value")
            }
            overrides[String(assignment[..<eq])] = String(assignment[assignment.index(after: eq)...])
        }
        return overrides
    }

    /// Every problem at once, with positions in the body: 422. Relative input paths are taken
    /// from apod's working directory (the body has no directory of its own).
    static func validate(_ yaml: String, preset: ParamsPreset? = nil, overrides: [String: String]) throws -> ExpandedPipeline {
        do {
            return try PipelineSpec.expand(yaml: yaml, file: "body", preset: preset, overrides: overrides,
                                           inputs: .currentDirectory)
        } catch let error as PipelineValidationError {
            throw rejection(error.diagnostics)
        } catch let diagnostic as PipelineDiagnostic {
            throw rejection([diagnostic])
        }
    }

    private static func rejection(_ diagnostics: [PipelineDiagnostic]) -> APIError {
        var error = APIError(.unprocessableContent,
                             diagnostics.map(\.description).joined(separator: "\n"), field: "body")
        error.diagnostics = diagnostics.map { ErrorBody.Diagnostic(line: $0.line, column: $0.column, message: $0.message) }
        return error
    }
}
