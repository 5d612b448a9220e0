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
}
