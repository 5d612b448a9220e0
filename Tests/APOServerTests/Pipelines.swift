import Foundation

/// The pipelines the tests submit over HTTP.
enum Pipelines {
    /// `a` writes an artifact, `b` logs a few lines over about a second.
    static let small = """
        name: http-small
        jobs:
          - {id: a, kind: noop, params: {value: hello, artifact: a.json}}
          - {id: b, kind: sleep, needs: [a], params: {seconds: 1.2, log_every: 0.2}}
        """

    /// A job that runs until cancelled and one that fails its only attempt.
    static let controllable = """
        name: http-control
        jobs:
          - {id: slow, kind: sleep, params: {seconds: 600}}
          - {id: bad, kind: noop, params: {fail: true}, retries: {max_attempts: 1}}
        """

    /// Two problems, on lines 3 and 4.
    static let broken = """
        name: broken
        jobs:
          - {id: a, kind: no-such-kind}
          - {id: b, kind: noop, needs: [missing]}
        """
}

extension HTTPClient {
    /// Polls the run until it is no longer running.
    func waitForRunEnd(_ id: Int, timeout: TimeInterval = 60) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let state = (try get("/api/runs/\(id)").object["run"] as? [String: Any])?["state"] as? String
            if let state, state != "running" { return state }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw Failure(description: "run \(id) still running after \(timeout) s")
    }

    /// The id of the run's job with `key`.
    func jobID(run: Int, key: String) throws -> Int {
        let jobs = try get("/api/runs/\(run)").object["jobs"] as? [[String: Any]] ?? []
        guard let id = jobs.first(where: { $0["key"] as? String == key })?["id"] as? Int else {
            throw Failure(description: "run \(run) has no job \(key)")
        }
        return id
    }

    /// Polls the job until `condition` holds on its state.
    func waitForJob(_ id: Int, timeout: TimeInterval = 30, _ condition: (String) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let state = (try get("/api/jobs/\(id)").object["job"] as? [String: Any])?["state"] as? String ?? ""
            if condition(state) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw Failure(description: "job \(id) did not reach the expected state in \(timeout) s")
    }
}
