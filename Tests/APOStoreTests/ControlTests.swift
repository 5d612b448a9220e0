import Foundation
import Testing
@testable import APOStore

@Suite struct ControlTests {
    @Test(arguments: StoreDriverKind.allCases) func cancelRunCancelsWaitingJobsAndAsksRunningOnesToStop(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([
            job("a", priority: 1), job("b"), job("c", needs: ["a"]),
        ]), now: t0)
        let a = try store.mustClaim(now: at(0))
        #expect(a.job.key == "a")
        #expect(try store.heartbeat(a.lease, leaseDuration: 60, now: at(1)) == .keepGoing)

        try store.cancelRun(runID, now: at(2))
        #expect(try store.states(runID: runID) == ["a": .running, "b": .cancelled, "c": .cancelled])
        #expect(try store.run(runID)?.state == .running, "a has not stopped yet")
        #expect(try store.requireJob(runID: runID, key: "a").cancelRequested)
        #expect(try store.claimNextJob(workerID: "w", leaseDuration: 60, now: at(2)) == nil)

        #expect(try store.heartbeat(a.lease, leaseDuration: 60, now: at(3)) == .cancelRequested)
        try store.finishCancelled(a.lease, now: at(4))
        #expect(try store.states(runID: runID) == ["a": .cancelled, "b": .cancelled, "c": .cancelled])
        #expect(try store.attempts(jobID: a.job.id).map(\.outcome) == ["cancelled"])
        let run = try #require(try store.run(runID))
        #expect(run.state == .cancelled)
        #expect(run.finishedAt == at(4))
        expectStoreError(.notFound(what: "run", id: 999)) { try store.cancelRun(999, now: at(5)) }
    }

    @Test(arguments: StoreDriverKind.allCases) func cancelQueuedJobMarksDependentsNotRunnable(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b", needs: ["a"]), job("c", needs: ["b"])]),
                                        now: t0)
        let a = try store.requireJob(runID: runID, key: "a")
        try store.cancelJob(a.id, now: at(1))
        #expect(try store.states(runID: runID) == ["a": .cancelled, "b": .upstreamFailed,
                                                    "c": .upstreamFailed])
        #expect(try store.run(runID)?.state == .cancelled)
        expectStoreError(.invalidTransition(jobID: a.id, expected: [.blocked, .queued, .running],
                                            found: .cancelled)) {
            try store.cancelJob(a.id, now: at(2))
        }
    }

    @Test(arguments: StoreDriverKind.allCases) func cancelledJobWhoseWorkerDiesIsCancelledNotRetried(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a")]), now: t0)
        let a = try store.mustClaim(lease: 10, now: at(0))
        try store.cancelJob(a.job.id, now: at(1))
        #expect(try store.reapExpiredLeases(now: at(20)) == [a.job.id])
        #expect(try store.states(runID: runID) == ["a": .cancelled])
    }

    @Test(arguments: StoreDriverKind.allCases) func retryGivesAFreshBudgetAndUnblocksDependents(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([
            job("a", maxAttempts: 1), job("b", needs: ["a"]), job("c", needs: ["b"]),
        ]), now: t0)
        let first = try store.mustClaim(now: at(0))
        try store.fail(first.lease, error: "boom", retryable: true, now: at(1))
        #expect(try store.run(runID)?.state == .failed)
        let b = try store.requireJob(runID: runID, key: "b")
        expectStoreError(.dependencyNotRunnable(jobID: b.id, dependencyKey: "a", state: .failed)) {
            try store.retryJob(b.id, now: at(2))
        }

        try store.retryJob(first.job.id, now: at(2))
        #expect(try store.states(runID: runID) == ["a": .queued, "b": .blocked, "c": .blocked])
        let a = try store.requireJob(runID: runID, key: "a")
        #expect(a.attempts == 0 && a.error == nil && a.finishedAt == nil)
        let run = try #require(try store.run(runID))
        #expect(run.state == .running && run.finishedAt == nil)

        let second = try store.mustClaim(now: at(3))
        #expect(second.job.key == "a")
        #expect(try store.attempts(jobID: a.id).map(\.number) == [1, 2])
        try store.complete(second.lease, outputsJSON: "{}", memoKey: nil, now: at(4))
        #expect(try store.states(runID: runID)["b"] == .queued)
        expectStoreError(.invalidTransition(jobID: a.id, expected: [.failed, .cancelled, .upstreamFailed],
                                            found: .succeeded)) {
            try store.retryJob(a.id, now: at(5))
        }
    }

    @Test(arguments: StoreDriverKind.allCases) func retryKeepsDependentsBlockedByAnotherFailure(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        // d needs both a and b; both fail. Retrying a alone must leave d not runnable.
        let runID = try store.createRun(newRun([
            job("a", maxAttempts: 1), job("b", maxAttempts: 1), job("d", needs: ["a", "b"]),
        ]), now: t0)
        for _ in 0..<2 {
            let claimed = try store.mustClaim(now: at(0))
            try store.fail(claimed.lease, error: "boom", retryable: false, now: at(1))
        }
        try store.retryJob(try store.requireJob(runID: runID, key: "a").id, now: at(2))
        #expect(try store.states(runID: runID) == ["a": .queued, "b": .failed, "d": .upstreamFailed])
    }

    @Test(arguments: StoreDriverKind.allCases) func resumeRestartsEverythingThatDidNotSucceed(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([
            job("a"), job("b", needs: ["a"], maxAttempts: 1), job("c", needs: ["b"]), job("x"),
        ]), now: t0)
        let a = try store.mustClaim(now: at(0))
        let x = try store.mustClaim(now: at(0))
        try store.complete(a.lease, outputsJSON: #"{"a":1}"#, memoKey: nil, now: at(1))
        try store.cancelJob(x.job.id, now: at(1))
        try store.finishCancelled(x.lease, now: at(2))
        let b = try store.mustClaim(now: at(2))
        try store.fail(b.lease, error: "boom", retryable: true, now: at(3))
        #expect(try store.states(runID: runID) == ["a": .succeeded, "b": .failed,
                                                    "c": .upstreamFailed, "x": .cancelled])
        #expect(try store.run(runID)?.state == .failed)
        let aBefore = try store.requireJob(runID: runID, key: "a")

        try store.resumeRun(runID, now: at(10))
        #expect(try store.states(runID: runID) == ["a": .succeeded, "b": .queued, "c": .blocked,
                                                    "x": .queued])
        #expect(try store.requireJob(runID: runID, key: "a") == aBefore, "succeeded jobs untouched")
        #expect(try store.run(runID)?.state == .running)
        #expect(try store.requireJob(runID: runID, key: "b").attempts == 0)

        var remaining = 3
        while let claimed = try store.claimNextJob(workerID: "w", leaseDuration: 60, now: at(11)) {
            try store.complete(claimed.lease, outputsJSON: "{}", memoKey: nil, now: at(12))
            remaining -= 1
        }
        #expect(remaining == 0)
        #expect(try store.run(runID)?.state == .succeeded)
    }

    @Test(arguments: StoreDriverKind.allCases) func memoizedJobReusesOutputsAndArtifacts(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let firstRun = try store.createRun(newRun([job("prep")]), now: t0)
        let original = try store.mustClaim(now: at(0))
        try store.complete(original.lease, JobCompletion(
            outputsJSON: #"{"train":"run1/train.jsonl"}"#, memoKey: "prep:v1:abc",
            artifacts: [StagedArtifact(name: "train.jsonl", path: "run1/train.jsonl", sha256: "ab12", size: 42),
                        StagedArtifact(name: "model", path: "run1/model", type: .directory, sha256: "cd34", size: 4096)]),
            now: at(2))
        #expect(try store.findMemoizedJob(memoKey: "prep:v1:abc")?.id == original.job.id)
        #expect(try store.findMemoizedJob(memoKey: "prep:v1:other") == nil)

        let secondRun = try store.createRun(newRun([job("prep"), job("use", needs: ["prep"])],
                                                   yaml: "name: test\nedited: true\n"), now: at(10))
        let again = try store.mustClaim(now: at(11))
        try store.completeMemoized(again.lease, fromJobID: original.job.id, logLine: "reused job 1", now: at(12))
        let reused = try store.requireJob(runID: secondRun, key: "prep")
        let logged = try store.logs(runID: secondRun, jobID: reused.id, afterID: 0, limit: 10)
        #expect(logged.map { [$0.stream, $0.line] } == [["runtime", "reused job 1"]])
        #expect(logged.first?.attemptID == again.lease.attemptID)
        #expect(reused.state == .succeeded)
        #expect(reused.outputsJSON == #"{"train":"run1/train.jsonl"}"#)
        #expect(reused.memoizedFromJobID == original.job.id)
        #expect(reused.memoKey == "prep:v1:abc")
        #expect(try store.attempts(jobID: reused.id).map(\.outcome) == ["memoized"])
        // The reused job lists the original's artifacts, directories as directories, once each.
        let reusedArtifacts = try store.artifacts(runID: secondRun)
        #expect(reusedArtifacts.map { [$0.name, $0.path, $0.type.rawValue, $0.sha256] }
            == [["model", "run1/model", "directory", "cd34"], ["train.jsonl", "run1/train.jsonl", "file", "ab12"]])
        #expect(reusedArtifacts.map(\.size) == [4096, 42])
        #expect(try store.artifacts(runID: firstRun).count == 2)
        #expect(try store.states(runID: secondRun)["use"] == .queued)

        // Without a lease: a queued job completed straight from the memo.
        let thirdRun = try store.createRun(newRun([job("prep")], yaml: "third"), now: at(20))
        let queued = try store.requireJob(runID: thirdRun, key: "prep")
        try store.completeMemoized(jobID: queued.id, fromJobID: original.job.id, now: at(21))
        #expect(try store.run(thirdRun)?.state == .succeeded)
        #expect(try store.findMemoizedJob(memoKey: "prep:v1:abc")?.id == queued.id, "latest wins")
    }

    @Test(arguments: StoreDriverKind.allCases) func logsMetricsArtifactsAndPipelineText(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let yaml = "name: demo\njobs: []\n"
        let runID = try store.createRun(newRun([job("a"), job("b")], name: "demo", yaml: yaml), now: t0)
        let again = try store.createRun(newRun([job("a")], name: "demo", yaml: yaml), now: t0)
        #expect(try store.run(runID)?.pipelineID == store.run(again)?.pipelineID, "pipeline deduped")
        #expect(try store.pipelineYAML(runID: runID) == yaml)

        let a = try store.mustClaim(now: at(0))
        let b = try store.mustClaim(now: at(0))
        try store.appendLogs(a.lease, stream: "stdout", lines: ["one", "two"], now: at(1))
        try store.appendLog(b.lease, stream: "stderr", line: "b says", now: at(2))
        let all = try store.logs(runID: runID, jobID: nil, afterID: 0, limit: 100)
        #expect(all.map(\.line) == ["one", "two", "b says"])
        #expect(all.map(\.jobKey) == ["a", "a", "b"])
        #expect(all.map(\.attemptID) == [a.lease.attemptID, a.lease.attemptID, b.lease.attemptID])
        #expect(try store.logs(runID: runID, jobID: a.job.id, afterID: all[0].id, limit: 100)
            .map(\.line) == ["two"])
        var forged = a.lease
        forged.jobID = 12_345
        expectStoreError(.leaseLost(jobID: 12_345)) {
            try store.appendLog(forged, stream: "stdout", line: "x", now: at(3))
        }

        for step in 0..<3 {
            try store.recordMetric(a.lease, step: step, name: "loss", value: 1 / Double(step + 1), now: at(3))
        }
        #expect(try store.metrics(jobID: a.job.id).map(\.value) == [1, 0.5, 1.0 / 3])

        try store.complete(a.lease, JobCompletion(outputsJSON: "{}", artifacts: [
            StagedArtifact(name: "out", path: "p1", sha256: "s1", size: 1),
            StagedArtifact(name: "more", path: "p2", type: .directory, sha256: "s2", size: 2),
        ]), now: at(4))
        let artifacts = try store.artifacts(runID: runID)
        #expect(artifacts.map { [$0.jobKey, $0.name, $0.path, $0.type.rawValue, $0.sha256] }
            == [["a", "more", "p2", "directory", "s2"], ["a", "out", "p1", "file", "s1"]])
        // The schema refuses a type it does not know.
        #expect(throws: (any Error).self) {
            try store.driver.write { db in
                try db.execute("UPDATE artifacts SET type = 'symlink' WHERE job_id = ?", [a.job.id])
            }
        }
        expectStoreError(.notFound(what: "run", id: 777)) { _ = try store.pipelineYAML(runID: 777) }
        #expect(try store.runs(limit: 10).map(\.id) == [again, runID])
    }

    @Test(arguments: StoreDriverKind.allCases) func viewsAnswerPlainSQL(_ driver: StoreDriverKind) throws {
        let database = try TemporaryDatabase(driver)
        let store = try database.openStore()
        let runID = try store.createRun(newRun([job("a"), job("b", needs: ["a"])], name: "demo"),
                                        now: t0)
        let a = try store.mustClaim("w-1", now: at(0))
        try store.fail(a.lease, error: "first try", retryable: true, now: at(1))
        let retried = try store.mustClaim("w-2", now: at(100))
        try store.complete(retried.lease, outputsJSON: "{}", memoKey: nil, now: at(101))
        let b = try store.mustClaim("w-2", now: at(102))
        try store.complete(b.lease, outputsJSON: "{}", memoKey: nil, now: at(104))

        // Another connection, as `sqlite3 apo.db` or `psql` would be.
        let reader = try database.openStore()
        try reader.read { db in
            let summary = try #require(try db.fetchOne("SELECT * FROM run_summary"))
            #expect(summary["run_id"] == runID)
            #expect(summary["pipeline"] == "demo")
            #expect(summary["state"] == "succeeded")
            #expect(summary["jobs"] == 2)
            #expect(summary["succeeded"] == 2)
            #expect(summary["failed"] == 0)
            #expect(summary["duration_seconds"] == 104.0)
            #expect(summary["created_at"] == "2027-01-15 08:00:00.000")

            let history = try db.fetchAll("""
                SELECT job, attempt, worker, outcome, error, duration_seconds
                FROM job_history WHERE run_id = ?
                """, [runID])
            #expect(history.map { $0["job"] as String } == ["a", "a", "b"])
            #expect(history.map { $0["attempt"] as Int } == [1, 2, 1])
            #expect(history.map { $0["worker"] as String } == ["w-1", "w-2", "w-2"])
            #expect(history.map { $0["outcome"] as String } == ["failed", "succeeded", "succeeded"])
            #expect(history[0]["error"] == "first try")
            #expect(history[2]["duration_seconds"] == 2.0)
        }
    }
}
