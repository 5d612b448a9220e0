import APOStore
import Foundation
import Testing

/// `runs(limit:state:pipelineName:)`: the filters apply before the limit.
struct RunFilterTests {
    @Test func runsFilterByStateAndPipelineBeforeTheLimit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("apo-filter-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try JobStore(path: dir.appendingPathComponent("apo.db").path)
        func submit(_ name: String) throws -> Int64 {
            try store.createRun(NewRun(pipelineName: name, pipelineYAML: "name: \(name)", pipelineHash: name,
                                       artifactRoot: dir.path, jobs: [NewJob(key: "a", kind: "noop")]), now: Date())
        }
        let first = try submit("one")
        let second = try submit("two")
        let third = try submit("one")
        try store.cancelRun(third, now: Date())
        #expect(try store.runs(limit: 10, state: nil, pipelineName: "one").map(\.id) == [third, first])
        #expect(try store.runs(limit: 1, state: .running, pipelineName: "one").map(\.id) == [first])
        #expect(try store.runs(limit: 10, state: .cancelled, pipelineName: nil).map(\.id) == [third])
        #expect(try store.runs(limit: 10, state: .running, pipelineName: "two").map(\.id) == [second])
        #expect(try store.runs(limit: 10, state: .succeeded, pipelineName: nil).isEmpty)
    }
}
