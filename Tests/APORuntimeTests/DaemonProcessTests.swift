import APOStore
import Foundation
import Testing

/// End-to-end behaviour of real `apod`/`apoctl` processes on a real SQLite file. Serialized:
/// they spawn worker processes, and the machine has few cores.
@Suite(.serialized)
struct DaemonProcessTests {
    /// apod restarts itself with OMP_WAIT_POLICY=PASSIVE before anything runs, so oneDNN's OpenMP
    /// threads sleep instead of spinning on the cores its workers share; the workers inherit it.
    @Test func daemonAndWorkersRunWithPassiveOpenMPThreads() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        _ = try sandbox.apoctl(["submit", try sandbox.write("p.yaml", "name: p\njobs:\n  - id: a\n    kind: sleep\n    params: {seconds: 30}\n")])
        let daemon = try sandbox.startDaemon(workers: 1)
        func environment(_ pid: Int32) -> [String] {
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") ?? Data()
            return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        }
        var workers: [Int32] = []
        try sandbox.waitUntil("a worker process", timeout: 30) {
            workers = (try? String(contentsOfFile: "/proc/\(daemon.processIdentifier)/task/\(daemon.processIdentifier)/children",
                                   encoding: .utf8))?.split(separator: " ").compactMap { Int32($0) } ?? []
            // A child is listed from fork on; its environment is readable once it has exec'd.
            return !workers.isEmpty && workers.allSatisfy { !environment($0).isEmpty }
        }
        #expect(environment(daemon.processIdentifier).contains("OMP_WAIT_POLICY=PASSIVE"))
        for worker in workers { #expect(environment(worker).contains("OMP_WAIT_POLICY=PASSIVE")) }
    }

    /// A job's CPU time is the worker's, not the wall clock: a 1.5 s sleep costs almost none.
    /// `apoctl show` and the report print it (the compute kinds' side is in PipelineResilienceTests).
    @Test func aSleepingJobRecordsItsCPUTimeNotItsWallTime() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let submit = try sandbox.apoctl(["submit", try sandbox.write("nap.yaml", "name: nap\njobs:\n  - id: nap\n    kind: sleep\n    params: {seconds: 1.5}\n")])
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
        try sandbox.startDaemon(workers: 1)
        #expect(try sandbox.waitForRun(runID).state == .succeeded)
        let store = try sandbox.store()
        let job = try #require(try store.jobs(runID: runID).first)
        let attempt = try #require(try store.attempts(jobID: job.id).first)
        let wall = try #require(attempt.finishedAt).timeIntervalSince(attempt.startedAt)
        let cpu = try #require(attempt.cpuSeconds, "the worker records the attempt's CPU time")
        #expect(wall >= 1.5)
        #expect(cpu >= 0 && cpu < 0.5, "a sleep spent \(cpu) CPU-s in \(wall) s")
        #expect(job.cpuSeconds == cpu)

        let show = try sandbox.apoctl(["show", String(runID)])
        #expect(show.stdout.contains(" CPU "), "\(show.stdout)")
        let report = try sandbox.apoctl(["report", String(runID), "--format", "md"])
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stdout.contains("## CPU time by step"), "\(report.stdout)")
        #expect(report.stdout.contains("; served by 1 apod session on 1 host. "), "\(report.stdout)")
        #expect(report.stdout.contains("| nap | sleep | 1 |"), "\(report.stdout)")
    }

    @Test func submittedChainRunsInDependencyOrder() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("chain.yaml", """
            name: chain
            params: {x: 1}
            jobs:
              - {id: a, kind: noop, params: {value: "${params.x}", artifact: a.json}}
              - {id: b, kind: noop, params: {value: "${jobs.a.outputs.artifact}"}}
              - {id: c, kind: sleep, params: {seconds: 0.2}, needs: [b]}
              - {id: d, kind: noop, needs: [a]}
              - {id: e, kind: noop, needs: [c, d]}
            """)
        let submit = try sandbox.apoctl(["submit", file])
        #expect(submit.status == 0, "\(submit.stderr)")
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        try sandbox.startDaemon(workers: 2)
        let watch = try sandbox.apoctl(["watch", String(runID), "--interval", "0.1"])
        #expect(watch.status == 0, "watch: \(watch.stdout)\(watch.stderr)")
        #expect(watch.stdout.contains("run \(runID) succeeded"))

        let store = try sandbox.store()
        let jobs = try store.jobs(runID: runID)
        let byKey = Dictionary(uniqueKeysWithValues: jobs.map { ($0.key, $0) })
        #expect(jobs.count == 5 && jobs.allSatisfy { $0.state == .succeeded })
        for job in jobs {
            let started = try #require(job.startedAt)
            for need in job.needs {
                let finished = try #require(byKey[need]?.finishedAt)
                #expect(started >= finished, "\(job.key) started before its dependency \(need) finished")
            }
        }
        // b received a's artifact path, resolved at run time.
        let artifact = try #require(try store.artifacts(runID: runID).first)
        #expect(artifact.jobKey == "a")
        #expect(byKey["b"]?.outputsJSON?.contains(artifact.path) == true)
        #expect(try String(contentsOfFile: artifact.path, encoding: .utf8) == "1")

        let show = try sandbox.apoctl(["show", String(runID)])
        #expect(show.status == 0)
        for key in ["a", "b", "c", "d", "e"] { #expect(show.stdout.contains(" \(key) ")) }
        let json = try sandbox.apoctl(["show", String(runID), "--json"])
        let decoded = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect((decoded?["jobs"] as? [Any])?.count == 5)
        let artifactsJSON = try sandbox.apoctl(["artifacts", String(runID), "--json"])
        let listed = try JSONSerialization.jsonObject(with: Data(artifactsJSON.stdout.utf8)) as? [[String: Any]]
        #expect(listed?.first?["sha256"] as? String == artifact.sha256)
        for listing in [["runs", "--json"], ["history", "--json"]] {
            let out = try sandbox.apoctl(listing)
            #expect(out.status == 0)
            #expect((try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [Any])?.count == 1, "\(listing)")
        }
    }

    @Test func racingWorkersOfTwoDaemonsRunEachJobOnce() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let count = 120
        let touchDir = sandbox.directory.appendingPathComponent("touch")
        try FileManager.default.createDirectory(at: touchDir, withIntermediateDirectories: true)
        let store = try sandbox.store()
        let jobs = (0..<count).map { i in
            TestRuns.job("j\(i)", params: #"{"touch":"\#(touchDir.path)/j\#(i)"}"#)
        }
        let runID = try store.createRun(TestRuns.run(jobs, in: sandbox), now: Date())
        // Two daemons on one database, two workers each: four processes race for every claim.
        try sandbox.startDaemon(workers: 2)
        try sandbox.startDaemon(workers: 2)
        let run = try sandbox.waitForRun(runID, timeout: 60)
        #expect(run.state == .succeeded)

        var workers = Set<String>()
        for job in try store.jobs(runID: runID) {
            #expect(job.state == .succeeded)
            let attempts = try store.attempts(jobID: job.id)
            #expect(attempts.count == 1, "\(job.key) has \(attempts.count) attempts")
            attempts.forEach { workers.insert($0.workerID) }
            let lines = try String(contentsOf: touchDir.appendingPathComponent(job.key), encoding: .utf8)
                .split(separator: "\n")
            #expect(lines.count == 1, "\(job.key) executed \(lines.count) times")
        }
        #expect(workers.count >= 2, "only \(workers) claimed jobs")
    }

    @Test func killedWorkerJobFinishesOnAnotherAttempt() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("slow", "sleep", params: #"{"seconds":1.0}"#),
            // Exits the worker process (status 77) on its first attempt.
            TestRuns.job("crashy", params: #"{"crash_times":1}"#, needs: ["slow"]),
        ], in: sandbox), now: Date())
        let daemon = try sandbox.startDaemon(workers: 1, leaseSeconds: 2)
        var running: JobRecord?
        try sandbox.waitUntil("the sleep job to start") {
            running = try store.jobs(runID: runID).first { $0.key == "slow" && $0.state == .running }
            return running != nil
        }
        let workerID = try #require(running?.leaseWorkerID)
        let pid = try #require(RuntimeSandbox.pid(ofWorker: workerID))
        Thread.sleep(forTimeInterval: 0.2)
        kill(pid, SIGKILL)

        let run = try sandbox.waitForRun(runID, timeout: 30)
        #expect(run.state == .succeeded, "\(sandbox.daemonLogs())")
        let slow = try #require(try store.jobs(runID: runID).first { $0.key == "slow" })
        let attempts = try store.attempts(jobID: slow.id)
        #expect(attempts.map(\.outcome) == ["expired", "succeeded"])
        #expect(attempts[0].workerID != attempts[1].workerID, "the restarted worker is a new process")
        let crashy = try #require(try store.jobs(runID: runID).first { $0.key == "crashy" })
        #expect(try store.attempts(jobID: crashy.id).map(\.outcome) == ["expired", "succeeded"])
        #expect(daemon.isRunning, "the daemon survives its workers' crashes")
        let logs = try sandbox.apoctl(["logs", String(runID), "crashy"])
        #expect(logs.status == 0)
        #expect(logs.stdout.contains("crashing the process on purpose"))
    }

    @Test func killedDaemonRunFinishesAfterRestartWithoutRedoingWork() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let touch = sandbox.directory.appendingPathComponent("touch").path
        try FileManager.default.createDirectory(atPath: touch, withIntermediateDirectories: true)
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("n1", params: #"{"touch":"\#(touch)/n1"}"#),
            TestRuns.job("s1", "sleep", params: #"{"seconds":1.0}"#, needs: ["n1"]),
            TestRuns.job("n2", params: #"{"touch":"\#(touch)/n2"}"#, needs: ["s1"]),
        ], in: sandbox), now: Date())
        // A lease long enough that a loaded machine cannot let it lapse before the orphaned worker
        // notices its parent is gone (then another worker's claim would reap it: `expired`).
        let first = try sandbox.startDaemon(workers: 2, leaseSeconds: 8)
        try sandbox.waitUntil("s1 to run") {
            try store.jobs(runID: runID).contains { $0.key == "s1" && $0.state == .running }
        }
        sandbox.signal(first, SIGKILL)
        #expect(sandbox.wait(for: first, timeout: 5))
        // The orphaned workers see their parent gone and give the job back.
        try sandbox.waitUntil("orphaned workers to release s1", timeout: 10) {
            try !store.jobs(runID: runID).contains { $0.state == .running }
        }
        try sandbox.startDaemon(workers: 2, leaseSeconds: 2)
        let run = try sandbox.waitForRun(runID, timeout: 30)
        #expect(run.state == .succeeded)
        for key in ["n1", "n2"] {
            let lines = try String(contentsOfFile: "\(touch)/\(key)", encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 1, "\(key) ran \(lines.count) times")
        }
        let s1 = try #require(try store.jobs(runID: runID).first { $0.key == "s1" })
        #expect(try store.attempts(jobID: s1.id).map(\.outcome) == ["released", "succeeded"])
    }

    @Test func sigtermReleasesRunningJobsAndRestartResumes() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("s1", "sleep", params: #"{"seconds":1.5}"#, maxAttempts: 1),
            TestRuns.job("s2", "sleep", params: #"{"seconds":1.5}"#, maxAttempts: 1),
        ], in: sandbox), now: Date())
        let daemon = try sandbox.startDaemon(workers: 2, leaseSeconds: 30)
        try sandbox.waitUntil("both jobs to run") {
            try store.jobs(runID: runID).filter { $0.state == .running }.count == 2
        }
        let stopAsked = Date()
        sandbox.signal(daemon, SIGTERM)
        #expect(sandbox.wait(for: daemon, timeout: 10), "apod did not stop")
        #expect(daemon.terminationStatus == 0)
        #expect(Date().timeIntervalSince(stopAsked) < 3, "stopping took \(Date().timeIntervalSince(stopAsked)) s")
        for job in try store.jobs(runID: runID) {
            #expect(job.state == .queued, "\(job.key) is \(job.state)")
            #expect(job.attempts == 0, "a released attempt is not counted")
            #expect(try store.attempts(jobID: job.id).map(\.outcome) == ["released"])
        }
        // maxAttempts is 1: only an uncounted release lets the jobs run again.
        try sandbox.startDaemon(workers: 2, leaseSeconds: 30)
        #expect(try sandbox.waitForRun(runID).state == .succeeded)
        // The run's history says it was resumed once, from a clean stop.
        let show = try sandbox.apoctl(["show", String(runID)])
        #expect(show.stdout.contains("served by 2 apod sessions on 1 host; 1 ended before it did (1 stopped cleanly, 0 lost)"),
                "\(show.stdout)")
    }

    @Test func cancellingARunStopsItsRunningJobPromptly() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("long.yaml", """
            name: long
            jobs:
              - {id: nap, kind: sleep, params: {seconds: 60}}
              - {id: after, kind: noop, needs: [nap]}
            """)
        let runID = try #require(Int64(try sandbox.apoctl(["submit", file]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        try sandbox.startDaemon(workers: 1, leaseSeconds: 30)
        let watch = try sandbox.spawn("apoctl", ["watch", String(runID), "--db", sandbox.databasePath], stdoutName: "watch.out")
        let store = try sandbox.store()
        try sandbox.waitUntil("the nap to start") {
            try store.jobs(runID: runID).contains { $0.key == "nap" && $0.state == .running }
        }
        let cancelled = Date()
        #expect(try sandbox.apoctl(["cancel", String(runID)]).status == 0)
        try sandbox.waitUntil("the nap to stop", timeout: 5) {
            try store.jobs(runID: runID).first { $0.key == "nap" }?.state == .cancelled
        }
        #expect(Date().timeIntervalSince(cancelled) < 3)
        #expect(try store.run(runID)?.state == .cancelled)
        #expect(try store.jobs(runID: runID).first { $0.key == "after" }?.state != .succeeded)
        #expect(sandbox.wait(for: watch, timeout: 5))
        #expect(watch.terminationStatus == 5, "watch exits 5 for a cancelled run")
    }

    @Test func retryAndResumeRerunFailedJobs() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("flaky.yaml", """
            name: flaky
            jobs:
              - id: flaky
                kind: noop
                params: {fail_times: 2}
                retries: {max_attempts: 2, backoff_seconds: 0.05, max_backoff_seconds: 0.1}
              - {id: after, kind: noop, needs: [flaky]}
            """)
        let runID = try #require(Int64(try sandbox.apoctl(["submit", file]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        try sandbox.startDaemon(workers: 2)
        let failed = try sandbox.apoctl(["watch", String(runID), "--interval", "0.1"])
        #expect(failed.status == 1, "watch exits 1 for a failed run")
        let store = try sandbox.store()
        var jobs = try store.jobs(runID: runID)
        #expect(jobs.first { $0.key == "flaky" }?.state == .failed)
        #expect(jobs.first { $0.key == "flaky" }?.attempts == 2)
        #expect(jobs.first { $0.key == "after" }?.state == .upstreamFailed)

        #expect(try sandbox.apoctl(["retry", "\(runID)/flaky"]).status == 0)
        #expect(try sandbox.waitForRun(runID).state == .succeeded)
        jobs = try store.jobs(runID: runID)
        #expect(jobs.allSatisfy { $0.state == .succeeded })

        // resume: every failed job of a run at once; succeeded jobs are left alone.
        let touch = sandbox.directory.appendingPathComponent("ok-touch").path
        let second = try store.createRun(TestRuns.run([
            TestRuns.job("ok", params: #"{"touch":"\#(touch)"}"#),
            TestRuns.job("once", params: #"{"fail_times":1}"#, needs: ["ok"], maxAttempts: 1),
        ], in: sandbox), now: Date())
        #expect(try sandbox.waitForRun(second).state == .failed)
        #expect(try sandbox.apoctl(["resume", String(second)]).status == 0)
        #expect(try sandbox.waitForRun(second).state == .succeeded)
        #expect(try String(contentsOfFile: touch, encoding: .utf8).split(separator: "\n").count == 1)
    }

    @Test func standaloneWorkerRunsJobsAndStopsOnSigterm() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("one"), TestRuns.job("two", needs: ["one"]),
        ], in: sandbox), now: Date())
        let worker = try sandbox.spawn("apod", ["worker", "--db", sandbox.databasePath, "--id", "9",
                                                "--lease-seconds", "2"], stderrName: "worker.log")
        #expect(try sandbox.waitForRun(runID).state == .succeeded)
        let attempts = try store.jobs(runID: runID).flatMap { try store.attempts(jobID: $0.id) }
        #expect(attempts.allSatisfy { $0.workerID.hasPrefix("w9@") })
        sandbox.signal(worker, SIGTERM)
        #expect(sandbox.wait(for: worker, timeout: 5))
        #expect(worker.terminationStatus == 0)
    }
}
