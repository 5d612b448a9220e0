import APOStore
import Foundation
import Testing

/// `apoctl logs -f` against a live run, and the worker's hard stop of a job that ignores a stop
/// request: real `apod` and `apoctl` processes on a real SQLite file.
@Suite(.serialized)
struct FollowAndStopProcessTests {
    static func submit(_ sandbox: RuntimeSandbox, _ file: String) throws -> Int64 {
        let submit = try sandbox.apoctl(["submit", file])
        return try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
    }

    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    @Test func logsFollowPrintsLinesWhileTheJobRunsAndExitsWhenTheRunEnds() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("follow.yaml", """
            name: follow
            jobs:
              - {id: nap, kind: sleep, params: {seconds: 6, log_every: 0.5}}
              - {id: after, kind: noop, needs: [nap]}
            """)
        let runID = try Self.submit(sandbox, file)
        let store = try sandbox.store()
        // Both followers start before any job has run: they must wait for lines, not give up.
        let follower = try sandbox.spawn("apoctl", ["logs", String(runID), "-f", "--db", sandbox.databasePath],
                                         stderrName: "follow.err", stdoutName: "follow.out")
        let jsonFollower = try sandbox.spawn("apoctl", ["logs", String(runID), "nap", "--follow", "--json",
                                                        "--db", sandbox.databasePath],
                                             stderrName: "follow-json.err", stdoutName: "follow-json.out")
        try sandbox.startDaemon(workers: 1)

        try sandbox.waitUntil("the follower to print two lines of the nap", timeout: 20) {
            Self.lines(sandbox.read("follow.out")).filter { $0.hasPrefix("[nap] sleep: slept") }.count >= 2
        }
        // Read after the lines were seen: they were printed while the job was still running.
        #expect(try store.job(runID: runID, key: "nap")?.state == .running, "lines came only after the job ended")
        #expect(follower.isRunning && jsonFollower.isRunning)

        let run = try sandbox.waitForRun(runID, timeout: 30)
        #expect(run.state == .succeeded)
        #expect(sandbox.wait(for: follower, timeout: 10), "logs -f still running after the run ended")
        #expect(sandbox.wait(for: jsonFollower, timeout: 10), "logs -f --json still running after the run ended")
        #expect(follower.terminationStatus == 0, "\(sandbox.read("follow.err"))")
        #expect(jsonFollower.terminationStatus == 0, "\(sandbox.read("follow-json.err"))")

        // Every stored line, in order, once; the last one is the nap's closing line.
        let stored = try store.logs(runID: runID, jobID: nil, afterID: 0, limit: 1000)
        let printed = Self.lines(sandbox.read("follow.out"))
        #expect(printed == stored.map { "[\($0.jobKey)] \($0.line)" })
        #expect(printed.count >= 8, "\(printed)")
        #expect(printed.last == "[nap] sleep: done after 6.0 s")
        let decoded = try Self.lines(sandbox.read("follow-json.out")).map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(decoded.map { $0["line"] as? String } == stored.filter { $0.jobKey == "nap" }.map(\.line))
        #expect(decoded.allSatisfy { $0["job"] as? String == "nap" && $0["stream"] as? String == "job" })

        // Resubmitted, both jobs are reused at once. The lines saying so are written in the
        // transaction that ends the run, so the follower prints them before it exits.
        let again = try Self.submit(sandbox, file)
        let memoFollower = try sandbox.spawn("apoctl", ["logs", String(again), "-f", "--db", sandbox.databasePath],
                                             stderrName: "follow-memo.err", stdoutName: "follow-memo.out")
        #expect(sandbox.wait(for: memoFollower, timeout: 20), "logs -f did not end with the reused run")
        #expect(memoFollower.terminationStatus == 0)
        #expect(try store.run(again)?.state == .succeeded)
        let memoLines = Self.lines(sandbox.read("follow-memo.out"))
        #expect(memoLines.count == 2, "\(memoLines)")
        #expect(memoLines.allSatisfy { $0.contains("memoized: reused outputs of job") }, "\(memoLines)")
    }

    /// A live process's pid answers signal 0; a gone one does not.
    static func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    @Test func jobIgnoringACancelIsHardStoppedAndItsWorkerReplaced() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        // Never checks for cancellation; would run for a minute.
        let stubbornRun = try store.createRun(TestRuns.run([
            TestRuns.job("stubborn", "sleep", params: #"{"seconds":60,"ignore_stop":true,"log_every":0.2}"#),
        ], in: sandbox), now: Date())
        // Waits behind it: the only worker is busy until the stubborn job is gone.
        let touch = sandbox.directory.appendingPathComponent("later-touch").path
        let laterRun = try store.createRun(TestRuns.run([
            TestRuns.job("later", params: #"{"touch":"\#(touch)"}"#),
        ], in: sandbox), now: Date())
        let grace = 1.0
        let daemon = try sandbox.startDaemon(workers: 1, leaseSeconds: 2, stopGrace: grace)

        var stubborn: JobRecord?
        try sandbox.waitUntil("the stubborn job to run and log") {
            stubborn = try store.job(runID: stubbornRun, key: "stubborn")
            guard stubborn?.state == .running else { return false }
            return try !store.logs(runID: stubbornRun, jobID: nil, afterID: 0, limit: 1).isEmpty
        }
        let firstWorker = try #require(stubborn?.leaseWorkerID)
        let firstPID = try #require(RuntimeSandbox.pid(ofWorker: firstWorker))
        let follower = try sandbox.spawn("apoctl", ["logs", String(stubbornRun), "-f", "--db", sandbox.databasePath],
                                         stderrName: "follow.err", stdoutName: "follow.out")

        let cancelled = Date()
        #expect(try sandbox.apoctl(["cancel", String(stubbornRun)]).status == 0)
        try sandbox.waitUntil("the stubborn job to end cancelled", timeout: 15) {
            try store.job(runID: stubbornRun, key: "stubborn")?.state == .cancelled
        }
        let stoppedAfter = Date().timeIntervalSince(cancelled)
        // It ignored the request, so only the hard stop, after the grace, could end it.
        #expect(stoppedAfter >= grace, "ended after \(stoppedAfter) s, before the grace ran out")
        #expect(stoppedAfter < grace + 6, "ended after \(stoppedAfter) s")
        try sandbox.waitUntil("the worker that ran it to exit", timeout: 10) { !Self.isAlive(firstPID) }

        // A fresh worker serves the queue: the waiting job runs, in another process.
        #expect(try sandbox.waitForRun(laterRun).state == .succeeded)
        let later = try #require(try store.job(runID: laterRun, key: "later"))
        let laterAttempts = try store.attempts(jobID: later.id)
        #expect(laterAttempts.map(\.outcome) == ["succeeded"])
        #expect(laterAttempts.first?.workerID != firstWorker, "the job ran in the worker that was hard-stopped")
        #expect(try String(contentsOfFile: touch, encoding: .utf8).split(separator: "\n").count == 1)
        #expect(daemon.isRunning, "apod must outlive a hard-stopped worker")
        let logs = sandbox.daemonLogs()
        #expect(logs.contains("ignored a stop request"), "\(logs)")
        #expect(logs.contains("exited with status 75"), "\(logs)")

        // Nothing lost or left behind: one cancelled attempt, the run cancelled, nothing running,
        // the job's log intact and followed to the end.
        let job = try #require(try store.job(runID: stubbornRun, key: "stubborn"))
        let attempts = try store.attempts(jobID: job.id)
        #expect(attempts.map(\.outcome) == ["cancelled"])
        // Its CPU time so far is recorded by the hard stop (a sleep: little of it).
        #expect(attempts.first?.cpuSeconds.map { $0 >= 0 && $0 < 2 } == true, "\(attempts)")
        #expect(attempts.allSatisfy { $0.workerID == firstWorker && $0.finishedAt != nil })
        #expect(job.finishedAt != nil && job.leaseWorkerID == nil)
        #expect(try store.run(stubbornRun)?.state == .cancelled)
        for runID in [stubbornRun, laterRun] {
            #expect(try store.jobs(runID: runID).allSatisfy { $0.state != .running && $0.leaseWorkerID == nil })
        }
        let stored = try store.logs(runID: stubbornRun, jobID: nil, afterID: 0, limit: 1000)
        #expect(stored.count >= 2)
        #expect(sandbox.wait(for: follower, timeout: 10), "logs -f did not end with the cancelled run")
        #expect(follower.terminationStatus == 0)
        #expect(Self.lines(sandbox.read("follow.out")) == stored.map { "[stubborn] \($0.line)" })

        // The same hard stop serves a shutdown: SIGTERM releases the ignoring job (no attempt
        // spent) and apod exits cleanly instead of waiting for the job or killing the worker.
        let secondRun = try store.createRun(TestRuns.run([
            TestRuns.job("stubborn-again", "sleep", params: #"{"seconds":60,"ignore_stop":true}"#, maxAttempts: 1),
        ], in: sandbox), now: Date())
        try sandbox.waitUntil("the second stubborn job to run") {
            try store.job(runID: secondRun, key: "stubborn-again")?.state == .running
        }
        let stopAsked = Date()
        sandbox.signal(daemon, SIGTERM)
        #expect(sandbox.wait(for: daemon, timeout: 15), "apod did not stop")
        #expect(daemon.terminationStatus == 0)
        #expect(Date().timeIntervalSince(stopAsked) >= grace)
        let again = try #require(try store.job(runID: secondRun, key: "stubborn-again"))
        #expect(again.state == .queued && again.attempts == 0, "\(again.state), \(again.attempts) attempts")
        #expect(try store.attempts(jobID: again.id).map(\.outcome) == ["released"])
    }

    @Test func stopGraceMustBePositive() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        for (arguments, name) in [(["--stop-grace", "0"], "zero"), (["worker", "--stop-grace", "-1"], "negative"),
                                  (["--stop-grace", "soon"], "not a number")] {
            let tag = UUID().uuidString.prefix(6)
            let apod = try sandbox.spawn("apod", arguments + ["--db", sandbox.databasePath], stderrName: "apod-\(tag).err")
            #expect(sandbox.wait(for: apod, timeout: 10), "\(name)")
            #expect(apod.terminationStatus != 0, "\(name)")
            #expect(sandbox.read("apod-\(tag).err").contains("--stop-grace"), "\(name): \(sandbox.read("apod-\(tag).err"))")
        }
    }
}
