import APOAPIBodies
import APORuntime
import APOStore
import Foundation

/// apod's HTTP API as `apoctl --server URL` calls it: one blocking request at a time (apoctl's
/// commands are sequential), the bearer token on every request, and every failure as one line
/// and a documented exit status — the server down or refusing the token is exit 6, as an
/// unusable database is; a 404 is exit 4.
struct APIClient {
    let base: URL
    let token: String?
    /// `--ca-file`: PEM CAs to trust for an https server instead of the system's store.
    var caFile: String? = nil

    struct Answer {
        let status: Int
        let headers: [String: String]
        let body: Data
    }

    /// GET `path` (with `query`) and decode its JSON; nil on 404 when `missingIsNil`.
    func get<T: Decodable>(_ type: T.Type, _ path: String, query: [URLQueryItem] = []) throws -> T {
        try decode(type, path, try send("GET", path, query: query))
    }

    /// GET, but a 404 is nil (the caller says what was not found, as the database mode does).
    func getIfFound<T: Decodable>(_ type: T.Type, _ path: String) throws -> T? {
        let answer = try send("GET", path, allowing: [404])
        return answer.status == 404 ? nil : try decode(type, path, answer)
    }

    @discardableResult
    func post(_ path: String, query: [URLQueryItem] = [], body: Data? = nil, contentType: String? = nil) throws -> Answer {
        try send("POST", path, query: query, body: body, contentType: contentType)
    }

    /// The raw answer; a status outside 2xx (and `allowing`) becomes a `CommandFailure`.
    func send(_ method: String, _ path: String, query: [URLQueryItem] = [], body: Data? = nil,
              contentType: String? = nil, allowing: Set<Int> = []) throws -> Answer {
        var components = URLComponents(url: base.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty {
            components.queryItems = query
            // `+` is a space to most servers' query parsing; a param value may hold one.
            components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        }
        var request = CurlTransfer(url: components.url!.absoluteString, method: method, body: body, caFile: caFile)
        if let contentType { request.headers["Content-Type"] = contentType }
        if let token { request.headers["Authorization"] = "Bearer \(token)" }
        var data = Data()
        let answer: Answer
        do {
            let (status, headers) = try request.perform { data.append($0) }
            answer = Answer(status: status, headers: headers, body: data)
        } catch let failure as CurlTransfer.Failure {
            throw unreachable(failure)
        }
        if (200..<300).contains(answer.status) || allowing.contains(answer.status) { return answer }
        throw failure(answer, method: method, path: path)
    }

    private func unreachable(_ failure: CurlTransfer.Failure) -> CommandFailure {
        CommandFailure(code: .databaseUnavailable, message: "error: cannot reach apod at \(base.absoluteString): \(failure.reason)")
    }

    private func failure(_ answer: Answer, method: String, path: String) -> CommandFailure {
        let message = (try? JSONDecoder().decode(ErrorBody.self, from: answer.body))?.error
            ?? String(decoding: answer.body.prefix(200), as: UTF8.self)
        switch answer.status {
        case 401, 403:
            return CommandFailure(code: .databaseUnavailable,
                                  message: "error: apod at \(base.absoluteString) refused \(method) \(path) (\(answer.status)): \(message)"
                                      + (token == nil ? " (give --token-file FILE, or `token_file:` in the config)" : ""))
        case 404:
            return CommandFailure(code: .notFound, message: "error: \(message)")
        case 503:
            return CommandFailure(code: .databaseUnavailable, message: "error: apod at \(base.absoluteString): \(message)")
        default:
            return CommandFailure(code: .runFailed, message: "error: \(message)")
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ path: String, _ answer: Answer) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = PreciseTimestamp.decoding
        do { return try decoder.decode(type, from: answer.body) } catch {
            throw CommandFailure(code: .runFailed,
                                 message: "error: apod at \(base.absoluteString) answered GET \(path) with something apoctl cannot read: \(error)")
        }
    }

    /// GET `path` into `destination`, streamed to disk (a model can be large). The server's
    /// ETag is the file's recorded sha256: a download that does not match it is removed.
    func download(_ path: String, to destination: URL) throws {
        // `path` is already percent-encoded; appendingPathComponent would encode it again.
        let root = base.absoluteString.hasSuffix("/") ? String(base.absoluteString.dropLast()) : base.absoluteString
        guard let url = URL(string: root + "/" + path) else {
            throw CommandFailure(code: .usage, message: "error: '\(path)' does not make a URL")
        }
        var request = CurlTransfer(url: url.absoluteString, timeoutSeconds: 600, caFile: caFile)
        if let token { request.headers["Authorization"] = "Bearer \(token)" }
        let part = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).part-\(UUID().uuidString.prefix(6))")
        _ = FileManager.default.createFile(atPath: part.path, contents: nil)
        let file = try FileHandle(forWritingTo: part)
        let status: Int, headers: [String: String]
        do {
            defer { try? file.close() }
            (status, headers) = try request.perform { file.write($0) }
        } catch let failure as CurlTransfer.Failure {
            try? FileManager.default.removeItem(at: part)
            throw CommandFailure(code: .databaseUnavailable, message: "error: cannot download from apod at \(base.absoluteString): \(failure.reason)")
        }
        guard (200..<300).contains(status) else {
            let body = (try? Data(contentsOf: part)) ?? Data()
            try? FileManager.default.removeItem(at: part)
            throw failure(Answer(status: status, headers: headers, body: body), method: "GET", path: path)
        }
        if let etag = headers["etag"]?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
           let actual = try? FileDigest.sha256(ofFile: part), actual != etag {
            try? FileManager.default.removeItem(at: part)
            throw CommandFailure(code: .runFailed, message: "error: the download of \(path) has sha256 \(actual), apod recorded \(etag)")
        }
        try? FileManager.default.removeItem(at: destination)
        try FileManager.default.moveItem(at: part, to: destination)
    }
}
