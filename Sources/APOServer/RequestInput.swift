import APOStore
import Foundation
import Hummingbird

/// Reading path and query parameters, each failure a 400 naming the parameter.
extension Request {
    /// A positive integer id from the path (`{id}`).
    func pathID(_ context: BasicRequestContext, _ name: String = "id") throws -> Int64 {
        let text = context.parameters.get(name) ?? ""
        guard let id = Int64(text), id > 0 else {
            throw APIError.badInput(name, "'\(text)' is not an id (a positive integer)")
        }
        return id
    }

    func queryText(_ name: String) -> String? {
        uri.queryParameters.get(name)
    }

    /// An integer query value within `range`, or `fallback` when absent.
    func queryInt(_ name: String, in range: ClosedRange<Int64>, default fallback: Int64) throws -> Int64 {
        guard let text = queryText(name) else { return fallback }
        guard let value = Int64(text), range.contains(value) else {
            throw APIError.badInput(name, "'\(text)' is not an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// `?state=` as a run state.
    func runStateFilter() throws -> RunState? {
        guard let text = queryText("state") else { return nil }
        guard let state = RunState(rawValue: text) else {
            let known = RunState.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.badInput("state", "unknown run state '\(text)' (one of \(known))")
        }
        return state
    }

    /// Whether the client asked for Server-Sent Events.
    var acceptsEventStream: Bool {
        headers[.accept]?.contains("text/event-stream") ?? false
    }
}
