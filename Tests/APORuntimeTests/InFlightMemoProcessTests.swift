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
        // Same kind and params, so the same memo key; long enough for both workers to claim one
        // even when the test suite's other daemons load the machine.
        let file = try sandbox.write("twins.yaml", """
            name: twins
            jobs:
              - {id: left, kind: sleep, params: {seconds: 6}}
              - {id: right, kind: sleep, params: {seconds: 6}}
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
        // Same memo key (timeout and retries are not part of it). Whichever twin declares the key
        // first runs and times out with no retry left; the other waits for it meanwhile, then
        // runs the kind itself (and times out too) instead of reusing a failure.
        let file = try sandbox.write("twins-fail.yaml", """
            name: twins-fail
            jobs:
              - {id: first, kind: sleep, params: {seconds: 6}, timeout: 3, retries: {max_attempts: 1}}
              - {id: second, kind: sleep, params: {seconds: 6}, timeout: 3, retries: {max_attempts: 1}}
            """)
        let submit = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
        try sandbox.startDaemon(workers: 2)
        let run = try sandbox.waitForRun(runID, timeout: 60)
        #expect(run.state == .failed, "\(sandbox.daemonLogs())")

        let store = try sandbox.store()
        let jobs = try store.jobs(runID: runID)
        #expect(jobs.count == 2 && jobs.allSatisfy { $0.state == .failed && $0.memoizedFromJobID == nil })
        // A timeout ends an attempt as `timed_out`, or `failed` when the worker had to hard-stop it.
        let outcomes = try jobs.map { try store.attempts(jobID: $0.id).map { $0.outcome == "failed" ? "timed_out" : $0.outcome } }
        let runner = try #require(jobs.indices.first { outcomes[$0] == ["timed_out"] }, "\(outcomes)")
        let waiter = 1 - runner
        #expect(outcomes[waiter] == ["released", "timed_out"], "\(outcomes) \(sandbox.daemonLogs())")
        let lines = try store.logs(runID: runID, jobID: jobs[waiter].id, afterID: 0, limit: 100).map(\.line)
        #expect(lines.contains { $0.hasPrefix("waiting for job \(jobs[runner].id) ") }, "\(lines)")
    }
}
