import APOStore
import Foundation
import Testing

/// A matrixed pipeline run by real `apod`/`apoctl` processes: each copy runs in its cell, shared
/// jobs run once, copies with equal work memoize against each other and across runs, and the
/// copies' keys work in every command that names a job.
@Suite(.serialized)
struct MatrixProcessTests {
    /// data (shared) → train (per seed) → two rounds of step (per seed); `same` is copied per seed
    /// by a setting only, so its copies do equal work; summary (shared) names two copies.
    /// (No `touch:` files: an existing file a param names enters the memo key by content.)
    static let pipeline = """
        name: sweep
        params: {greeting: hi}
        matrix: {seed: [1, 2, 3]}
        jobs:
          - {id: data, kind: noop, params: {value: "${params.greeting}"}}
          - {id: train, kind: noop, params: {value: "${jobs.data.outputs.value} ${matrix.seed}", artifact: model.json}}
          - {id: same, kind: noop, priority: "${matrix.seed}", params: {value: equal}}
        rounds: 2
        round_jobs:
          - {id: step, kind: noop, params: {value: "${prev.step.outputs.value|jobs.train.outputs.value} r${round}"}}
        after_rounds:
          - {id: summary, kind: noop, params: {value: ["${jobs.seed=1/r2.step.outputs.value}", "${jobs.seed=3/r2.step.outputs.value}"]}}
        """

    @Test func copiesRunPerCellAndSharedJobsOnce() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("sweep.yaml", Self.pipeline)
        let submit = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
        try sandbox.startDaemon(workers: 2)
        #expect(try sandbox.waitForRun(runID, timeout: 60).state == .succeeded, "\(sandbox.daemonLogs())")

        let store = try sandbox.store()
        let jobs = Dictionary(uniqueKeysWithValues: try store.jobs(runID: runID).map { ($0.key, $0) })
        #expect(jobs.count == 1 + 3 * 4 + 1)
        #expect(jobs.values.allSatisfy { $0.state == .succeeded })
        // One data job, run once, read by every seed's train.
        #expect(try store.attempts(jobID: jobs["data"]!.id).count == 1)
        for seed in 1...3 {
            let train = try #require(jobs["seed=\(seed)/train"])
            #expect(train.needs == ["data"] && train.memoizedFromJobID == nil)
            #expect(try store.attempts(jobID: train.id).count == 1)
            #expect(jobs["seed=\(seed)/r2.step"]?.outputsJSON?.contains("hi \(seed) r1 r2") == true)
        }
        // The copies of `same` are equal work: one ran, the others reused it.
        let sameCopies = (1...3).compactMap { jobs["seed=\($0)/same"] }
        #expect(sameCopies.filter { $0.memoizedFromJobID == nil }.count == 1)
        let summary = jobs["summary"]?.outputsJSON ?? ""
        #expect(summary.contains("hi 1 r1 r2") && summary.contains("hi 3 r1 r2") && !summary.contains("hi 2"), "\(summary)")

        // A copy's artifact folder is its key with the cell's '/' made '_'.
        let artifact = try #require(try store.artifacts(runID: runID).first { $0.jobKey == "seed=2/train" })
        #expect(artifact.path.hasSuffix("/seed=2_train/model.json"), "\(artifact.path)")

        // apoctl show: shared jobs, then one heading per cell; --json carries the cell.
        let show = try sandbox.apoctl(["show", String(runID)])
        let lines = show.stdout.split(separator: "\n").map(String.init)
        let headings = lines.filter { $0.hasSuffix(":") && !$0.hasPrefix(" ") }
        #expect(headings == ["shared by every cell:", "cell seed=1:", "cell seed=2:", "cell seed=3:"], "\(show.stdout)")
        let shared = try #require(lines.firstIndex(of: "shared by every cell:"))
        let firstCell = try #require(lines.firstIndex(of: "cell seed=1:"))
        #expect(lines[shared..<firstCell].contains { $0.contains(" summary ") })
        #expect(lines[firstCell...].contains { $0.contains(" seed=1/r2.step ") })
        let json = try sandbox.apoctl(["show", String(runID), "--json"])
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let cells = (decoded["jobs"] as? [[String: Any]] ?? []).map { ($0["key"] as? String ?? "", $0["cell"] as? String) }
        #expect(cells.contains { $0 == ("seed=3/r1.step", "seed=3") })
        #expect(cells.contains { $0.0 == "data" && $0.1 == nil })

        // logs take a copy's key.
        let reused = try #require(sameCopies.first { $0.memoizedFromJobID != nil })
        let logs = try sandbox.apoctl(["logs", String(runID), reused.key])
        #expect(logs.status == 0 && logs.stdout.contains("memoized"), "\(logs.stdout)\(logs.stderr)")

        // Submitted again, every job — copies included — is reused from the first run.
        let again = try sandbox.apoctl(["submit", file])
        let second = try #require(Int64(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try sandbox.waitForRun(second, timeout: 60).state == .succeeded)
        #expect(try store.jobs(runID: second).allSatisfy { $0.memoizedFromJobID != nil })
    }

    @Test func retryNamesOneCopy() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("flaky.yaml", """
            name: flaky
            matrix: {seed: [1, 2]}
            jobs:
              - {id: f, kind: noop, retries: {max_attempts: 1}, params: {fail_times: "${matrix.seed}"}}
            """)
        let submit = try sandbox.apoctl(["submit", file])
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
        try sandbox.startDaemon(workers: 1)
        #expect(try sandbox.waitForRun(runID).state == .failed)
        // The attempt counter survives the retry: seed=1's second attempt passes its fail_times.
        let retry = try sandbox.apoctl(["retry", "\(runID)/seed=1/f"])
        #expect(retry.status == 0, "\(retry.stderr)")
        let store = try sandbox.store()
        try sandbox.waitUntil("seed=1/f to succeed") { try store.job(runID: runID, key: "seed=1/f")?.state == .succeeded }
        #expect(try store.job(runID: runID, key: "seed=2/f")?.state == .failed)
        #expect(try sandbox.apoctl(["retry", "\(runID)/seed=9/f"]).status == 4)
    }
}
