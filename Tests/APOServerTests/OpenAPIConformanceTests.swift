@testable import APOServer
import APOStore
import Foundation
import Logging
import Testing
import Yams

/// deploy/openapi.yaml against the server: the same routes on both sides, and every documented
/// operation answering on a real run with its documented success status and, for JSON, the
/// required top-level fields of its schema.
@Suite(.serialized)
struct OpenAPIConformanceTests {
    struct Operation: Hashable, CustomStringConvertible {
        let method: String
        let path: String
        var description: String { "\(method) \(path)" }
    }

    static func document() throws -> [String: Any] {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        let text = try String(contentsOf: dir.appendingPathComponent("deploy/openapi.yaml"), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any])
    }

    static func operations(_ document: [String: Any]) -> [Operation: [String: Any]] {
        var result: [Operation: [String: Any]] = [:]
        for (path, item) in document["paths"] as? [String: Any] ?? [:] {
            for (method, operation) in item as? [String: Any] ?? [:] {
                if let operation = operation as? [String: Any] { result[Operation(method: method.uppercased(), path: path)] = operation }
            }
        }
        return result
    }

    @Test func everyRegisteredRouteIsDocumentedAndEveryDocumentedOneRegistered() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apo-openapi-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try JobStore(path: dir.appendingPathComponent("apo.db").path)
        let server = APIServer(configuration: .init(address: ListenAddress(host: "127.0.0.1", port: 0), writeAccess: .loopbackOpen),
                               store: store, logger: Logger(label: "test"))
        let registered = Set(server.routes.map { Operation(method: $0.method, path: $0.path) })
        let documented = Set(Self.operations(try Self.document()).keys)
        #expect(registered.subtracting(documented).isEmpty, "undocumented: \(registered.subtracting(documented))")
        #expect(documented.subtracting(registered).isEmpty, "not served: \(documented.subtracting(registered))")
    }

    @Test func everyDocumentedOperationAnswersAsDocumentedOnARealRun() throws {
        let document = try Self.document()
        let sandbox = try DaemonSandbox()
        defer { sandbox.cleanup() }
        let (daemon, http) = try sandbox.startDaemon()
        let fixture = try Fixture(http)

        // Reads first, then the writes in an order where each one applies (the job is running,
        // the job has failed, ...); the submit runs once more at the end.
        let writes = ["POST /api/jobs/{id}/cancel", "POST /api/jobs/{id}/retry", "POST /api/runs/{id}/resume",
                      "POST /api/runs/{id}/cancel", "POST /api/runs"]
        let operations = Self.operations(document)
        let ordered = operations.keys.sorted { a, b in
            let (ia, ib) = (writes.firstIndex(of: a.description) ?? -1, writes.firstIndex(of: b.description) ?? -1)
            return ia != ib ? ia < ib : a.description < b.description
        }
        for operation in ordered {
            let spec = operations[operation]!
            let answer = try http.request(operation.method, fixture.concretePath(operation),
                                          body: operation.description == "POST /api/runs" ? Pipelines.small : nil)
            let responses = spec["responses"] as? [String: Any] ?? [:]
            let success = try #require(responses.keys.compactMap(Int.init).filter { (200..<300).contains($0) }.min(),
                                       "\(operation) documents no 2xx")
            #expect(answer.status == success, "\(operation): \(answer.status) \(answer.text.prefix(300))")
            let response = Self.resolve(responses[String(success)], in: document)
            try Self.checkShape(answer, against: response, in: document, operation: operation)
        }
        _ = sandbox.stop(daemon)
    }

    /// The content type matches a documented one; JSON carries the schema's required fields.
    static func checkShape(_ answer: HTTPClient.Answer, against response: [String: Any], in document: [String: Any],
                           operation: Operation) throws {
        let content = response["content"] as? [String: Any] ?? [:]
        let type = (answer.headers["content-type"] ?? "").split(separator: ";").first.map(String.init) ?? ""
        #expect(content.keys.contains(type) || content.keys.contains("application/octet-stream"),
                "\(operation): content type \(type), documented \(content.keys.sorted())")
        guard type == "application/json", let media = content[type] as? [String: Any] else { return }
        let schema = resolve(media["schema"], in: document)
        if schema["type"] as? String == "array" {
            let items = resolve(schema["items"], in: document)
            let elements = try #require(answer.json as? [[String: Any]], "\(operation): not a JSON array")
            for element in elements { expectRequired(items, in: element, operation) }
        } else {
            expectRequired(schema, in: try #require(answer.json as? [String: Any], "\(operation): not a JSON object"), operation)
        }
    }

    static func expectRequired(_ schema: [String: Any], in object: [String: Any], _ operation: Operation) {
        for field in schema["required"] as? [String] ?? [] {
            #expect(object[field] != nil, "\(operation): no required field '\(field)' in \(object.keys.sorted())")
        }
    }

    /// Follows `$ref: "#/components/..."`.
    static func resolve(_ node: Any?, in document: [String: Any]) -> [String: Any] {
        guard var node = node as? [String: Any] else { return [:] }
        while let ref = node["$ref"] as? String {
            var target: Any? = document
            for part in ref.dropFirst(2).split(separator: "/") { target = (target as? [String: Any])?[String(part)] }
            node = target as? [String: Any] ?? [:]
        }
        return node
    }

    /// A finished run with an artifact, and a run with a running job and a failed one.
    struct Fixture {
        let finishedRun: Int
        let finishedJob: Int
        let artifactPath: String
        let controlRun: Int
        let slowJob: Int
        let badJob: Int

        init(_ http: HTTPClient) throws {
            finishedRun = try #require(try http.post("/api/runs", body: Pipelines.small).object["run"] as? Int)
            #expect(try http.waitForRunEnd(finishedRun) == "succeeded")
            finishedJob = try http.jobID(run: finishedRun, key: "a")
            artifactPath = try #require(try http.get("/api/runs/\(finishedRun)/artifacts").array.first?["path"] as? String)
            controlRun = try #require(try http.post("/api/runs", body: Pipelines.controllable).object["run"] as? Int)
            slowJob = try http.jobID(run: controlRun, key: "slow")
            badJob = try http.jobID(run: controlRun, key: "bad")
            try http.waitForJob(slowJob) { $0 == "running" }
            try http.waitForJob(badJob) { $0 == "failed" }
        }

        func concretePath(_ operation: Operation) -> String {
            let isControl = operation.method == "POST"
            let id: Int
            switch operation.path {
            case "/api/jobs/{id}/cancel": id = slowJob
            case "/api/jobs/{id}/retry": id = badJob
            case let path where path.hasPrefix("/api/jobs/"): id = finishedJob
            default: id = isControl ? controlRun : finishedRun
            }
            return operation.path.replacingOccurrences(of: "{id}", with: String(id))
                .replacingOccurrences(of: "{path}", with: artifactPath)
                .replacingOccurrences(of: "{name}", with: "app.js")
        }
    }
}
