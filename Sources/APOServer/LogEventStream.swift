import APOAPIBodies
import APORuntime
import APOStore
import Foundation
import HTTPTypes
import Hummingbird

/// A log followed live as Server-Sent Events: an event `log` per line (`id:` the line id, `data:`
/// the line as JSON), then one `end` event with the run's final state once the run has ended and
/// every line is sent. Polls the store, as `apoctl logs -f` does: lines reach it from workers on
/// other hosts too, which no in-process notification would see.
struct LogEventStream: Sendable {
    let store: StoreAccess
    let scope: LogRoutes.Scope
    let after: Int64
    let stopping: ShutdownFlag

    static let pollInterval: Duration = .milliseconds(300)
    /// A comment line this often keeps proxies from closing a quiet stream.
    static let keepAliveInterval: TimeInterval = 15

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await follow(&writer)
            try await writer.finish(nil)
        })
    }

    private func follow(_ writer: inout any ResponseBodyWriter) async throws {
        var after = self.after
        var lastWrite = Date()
        while !stopping.isRequested {
            let scope = self.scope
            let cursor = after
            let (lines, run) = try await store.call { store in
                (try store.logs(runID: scope.runID, jobID: scope.jobID, afterID: cursor, limit: 1000), try store.run(scope.runID))
            }
            for record in lines {
                try await writer.write(event("log", id: record.id, LogLineBody(record)))
                after = record.id
                lastWrite = Date()
            }
            if lines.count == 1000 { continue }
            guard let run else { return }  // deleted under us: nothing more will come
            if run.state != .running {
                // One more read: lines written just before the run ended.
                let last = after
                let final = try await store.call { try $0.logs(runID: scope.runID, jobID: scope.jobID, afterID: last, limit: 1) }
                if final.isEmpty { return try await writer.write(event("end", id: nil, ["state": run.state.rawValue])) }
                continue
            }
            if Date().timeIntervalSince(lastWrite) > Self.keepAliveInterval {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                lastWrite = Date()
            }
            try await Task.sleep(for: Self.pollInterval)
        }
    }

    private func event<T: Encodable>(_ name: String, id: Int64?, _ value: T) throws -> ByteBuffer {
        let json = String(decoding: try JSONBody.encoder().encode(value), as: UTF8.self)
        var text = "event: \(name)\n"
        if let id { text += "id: \(id)\n" }
        // JSON has no raw newlines, so the data is one `data:` line.
        text += "data: \(json)\n\n"
        return ByteBuffer(string: text)
    }
}
