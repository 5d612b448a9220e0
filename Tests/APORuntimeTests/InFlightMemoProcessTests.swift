import APOStore
import Foundation
import Testing

/// In-flight memoization through real `apod` processes: two identical jobs ready at once run the
/// kind once, unless the one running it fails.
@Suite(.serialized)
struct InFlightMemoProcessTests {
    @Test func identicalJobsReadyTogetherRunTheKindOnce() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        // Same kind and params, so the same memo key; long enough for both workers to claim one.
        let file = try sandbox.write("twins.yaml", """
            name: twins
            jobs:
              - {id: left, kind: sleep, params: {seconds: 3}}
              - {id: right, kind: sleep, params: {seconds: 3}}
            """)
        let submit = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
        try sandbox.startDaemon(workers: 2)
        let run = try sandbox.waitForRun(runID, timeout: 60)
        #expect(run.state == .succeeded, "\(sandbox.daemonLogs())")

        let store = try sandbox.store()
        let jobs = try store.jobs(runID: runID)
        #expect(jobs.count == 2 && jobs.allSatisfy { $0.state == .succeeded })
        let ran = try #require(jobs.first { $0.memoizedFromJobID == nil }, "one job must have run the kind")
        let waited = try #require(jobs.first { $0.id != ran.id })
        #expect(waited.memoizedFromJobID == ran.id)
        #expect(waited.outputsJSON == ran.outputsJSON)
        #expect(try store.attempts(jobID: ran.id).map(\.outcome) == ["succeeded"])
        // It was claimed while the other ran, waited without spending an attempt, then reused.
        #expect(try store.attempts(jobID: waited.id).map(\.outcome) == ["released", "memoized"],
                "\(sandbox.daemonLogs())")
        let lines = try store.logs(runID: runID, jobID: nil, afterID: 0, limit: 100)
        #expect(lines.filter { $0.line.contains("reused outputs") }.map(\.jobID) == [waited.id])
        #expect(lines.contains { $0.jobID == waited.id && $0.line.hasPrefix("waiting for job \(ran.id) ") },
                "\(lines.map(\.line))")
    }

    @Test func whenTheRunningTwinFailsTheWaiterRunsItself() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        // Same memo key (timeout, priority and retries are not part of it). `first` is claimed
        // first (priority) and times out with no retry left; `second` waits for it meanwhile.
        let file = try sandbox.write("twins-fail.yaml", """
            name: twins-fail
            jobs:
              - {id: first, kind: sleep, params: {seconds: 3}, priority: 10, timeout: 1,
                 retries: {max_attempts: 1}}
              - {id: second, kind: sleep, params: {seconds: 3}}
            """)
        let submit = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
        try sandbox.startDaemon(workers: 2)
        let run = try sandbox.waitForRun(runID, timeout: 60)
        #expect(run.state == .failed, "\(sandbox.daemonLogs())")

        let store = try sandbox.store()
        let first = try #require(try store.job(runID: runID, key: "first"))
        let second = try #require(try store.job(runID: runID, key: "second"))
        #expect(first.state == .failed)
        #expect(second.state == .succeeded)
        #expect(second.memoizedFromJobID == nil, "nothing to reuse: it ran the kind itself")
        #expect(try store.attempts(jobID: second.id).map(\.outcome) == ["released", "succeeded"],
                "\(sandbox.daemonLogs())")
        let lines = try store.logs(runID: runID, jobID: second.id, afterID: 0, limit: 100).map(\.line)
        #expect(lines.contains { $0.hasPrefix("waiting for job \(first.id) ") }, "\(lines)")
    }
}
