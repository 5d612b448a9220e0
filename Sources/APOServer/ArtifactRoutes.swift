import APOAPIBodies
import APOStore
import Foundation
import HTTPTypes
import Hummingbird

/// A run's artifacts: the list (`/api/runs/{id}/artifacts`) and the files themselves
/// (`/runs/{id}/artifacts/{path}`, a path relative to the run's folder). Only recorded
/// artifacts are served, and files below a recorded directory artifact (a model's files);
/// never another file of the run folder (a job's scratch files), never one outside it.
struct ArtifactRoutes {
    let store: StoreAccess
    let files = FileIO()

    func register(on table: RouteTable) {
        table.get("/api/runs/{id}/artifacts") { request, context in
            let run = try await store.requireRun(try request.pathID(context))
            let artifacts = try await store.call { try $0.artifacts(runID: run.id) }
            return try JSONBody.response(artifacts.map { ArtifactBody.served($0, run: run) })
        }
        table.get("/runs/{id}/artifacts/{path}", routerPath: "/runs/{id}/artifacts/**") { request, context in
            try await download(request, context)
        }
    }

    private func download(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let run = try await store.requireRun(try request.pathID(context))
        let segments = context.parameters.getCatchAll().map { String($0).removingPercentEncoding ?? String($0) }
        let missing = APIError.notFound("run \(run.id) has no artifact '\(segments.joined(separator: "/"))'")
        guard let file = ArtifactPaths.resolve(segments: segments, under: run.artifactRoot) else { throw missing }
        let artifacts = try await store.call { try $0.artifacts(runID: run.id) }
        guard let served = Self.servedArtifact(file, among: artifacts) else { throw missing }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory), !isDirectory.boolValue
        else { throw missing }

        var headers: HTTPFields = [.contentType: Self.contentType(file.pathExtension)]
        // A run's HTML report must not run scripts with the API's origin (the web page keeps a
        // token there): downloads are sandboxed and never sniffed into another type.
        headers[.contentSecurityPolicy] = "sandbox"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        // The recorded sha256 is the file's content hash, so it is a strong validator; a file
        // inside a directory artifact has no hash of its own recorded and gets none.
        if served.type == .file {
            let etag = "\"\(served.sha256)\""
            headers[.eTag] = etag
            if Self.matches(request.headers[.ifNoneMatch], etag) {
                return Response(status: .notModified, headers: headers)
            }
        }
        let body = try await files.loadFile(path: file.path, context: context)
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The recorded artifact that covers `file`: itself, or a directory above it.
    static func servedArtifact(_ file: URL, among artifacts: [ArtifactRecord]) -> ArtifactRecord? {
        artifacts.first { artifact in
            let recorded = URL(fileURLWithPath: artifact.path).resolvingSymlinksInPath().standardizedFileURL.path
            switch artifact.type {
            case .file: return recorded == file.path
            case .directory: return ArtifactPaths.relative(file.path, to: recorded) != nil
            }
        }
    }

    /// `If-None-Match: "a", "b"` or `*`.
    static func matches(_ header: String?, _ etag: String) -> Bool {
        guard let header else { return false }
        return header.split(separator: ",").contains {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag
        }
    }

    static func contentType(_ pathExtension: String) -> String {
        switch pathExtension.lowercased() {
        case "json": return "application/json"
        case "jsonl": return "application/jsonl"
        case "txt", "log", "md", "csv", "tsv", "yaml", "yml": return "text/plain; charset=utf-8"
        case "html": return "text/html; charset=utf-8"
        case "svg": return "image/svg+xml"
        default: return "application/octet-stream"
        }
    }
}
