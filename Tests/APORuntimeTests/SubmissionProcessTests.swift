import APOStore
import Foundation
import Testing

/// What `apoctl submit` stores (or refuses), and memoization across submissions.
@Suite(.serialized)
struct SubmissionProcessTests {
    @Test func invalidPipelineIsRefusedWithPositionsAndNothingStored() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("broken.yaml", """
            name: broken
            jobs:
              - {id: a, kind: no-such-kind}
              - {id: b, kind: noop, needs: [missing]}
            """)
        let result = try sandbox.apoctl(["submit", file])
        #expect(result.status == 3)
        let errors = result.stderr.split(separator: "\n").filter { $0.contains(": error: ") }
        #expect(errors.count >= 2, "stderr: \(result.stderr)")
        // FILE:LINE:COLUMN: the unknown kind is on line 3, the missing need on line 4.
        #expect(errors.contains { $0.hasPrefix("\(file):3:") && $0.contains("no-such-kind") })
        #expect(errors.contains { $0.hasPrefix("\(file):4:") && $0.contains("missing") })
        #expect(result.stdout.isEmpty)
        #expect(try sandbox.store().runs(limit: 10).isEmpty)
    }

    /// apoctl runs in `client/`, apod in the sandbox: the relative input path is resolved against
    /// the submitter's directory and stored absolute, so the job finds the file; a missing input
    /// is refused at submit with its position and nothing is stored.
    @Test func inputPathsAreCheckedAndResolvedAgainstTheSubmittersDirectory() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let client = sandbox.directory.appendingPathComponent("client", isDirectory: true)
        try FileManager.default.createDirectory(at: client, withIntermediateDirectories: true)
        let line = #"{"chosen": "\n\nHuman: Q?\n\nAssistant: yes", "rejected": "\n\nHuman: Q?\n\nAssistant: no"}"#
        let hh = (1...3).map { line.replacingOccurrences(of: "Q?", with: "question \($0)?") }.joined(separator: "\n") + "\n"
        try hh.write(to: client.appendingPathComponent("hh.jsonl"), atomically: true, encoding: .utf8)
        let file = try sandbox.write("data.yaml", """
            name: data
            params: {input: hh.jsonl}
            jobs:
              - {id: prepare, kind: prepare-data, params: {input: "${params.input}"}}
            """)
        let missing = try sandbox.run("apoctl", ["submit", file, "--db", sandbox.databasePath, "--param", "input=nope.jsonl"],
                                      currentDirectory: client)
        #expect(missing.status == 3, "\(missing.stderr)")
        #expect(missing.stderr.hasPrefix("\(file):4:55: error: parameter 'input' of job 'prepare': input \(client.path)/nope.jsonl (from 'nope.jsonl') does not exist"), "\(missing.stderr)")
        // Refused before the database is touched: not even an empty file is created.
        #expect(!FileManager.default.fileExists(atPath: sandbox.databasePath))

        let submitted = try sandbox.run("apoctl", ["submit", file, "--db", sandbox.databasePath], currentDirectory: client)
        let runID = try #require(Int64(submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submitted.stderr)")
        let job = try #require(try sandbox.store().job(runID: runID, key: "prepare"))
        #expect(job.paramsJSON.contains("\"input\":\"\(client.path)/hh.jsonl\""), "\(job.paramsJSON)")
        try sandbox.startDaemon(workers: 1)
        #expect(try sandbox.waitForRun(runID).state == .succeeded, "\(sandbox.daemonLogs())")
    }

    @Test func exitCodesForUsageAndUnknownRuns() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        // Reading commands refuse a missing database (exit 6, DatabaseFileProcessTests): make one.
        _ = try sandbox.store()
        #expect(try sandbox.apoctl(["show", "999"]).status == 4)
        #expect(try sandbox.apoctl(["retry", "999/nope"]).status == 4)
        #expect(try sandbox.apoctl(["show", "not-a-number"]).status == 2)
        #expect(try sandbox.apoctl(["cancel"]).status == 2)
        #expect(try sandbox.apoctl(["runs"]).status == 0)
    }

    @Test func cancelNamesARunOrOneJobUnambiguously() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let store = try sandbox.store()
        let runID = try store.createRun(TestRuns.run([
            TestRuns.job("a"), TestRuns.job("b"), TestRuns.job("c"),
        ], in: sandbox), now: Date())
        func state(_ key: String) throws -> JobState? { try store.job(runID: runID, key: key)?.state }
        #expect(try sandbox.apoctl(["cancel", "\(runID)/a"]).status == 0)
        #expect(try state("a") == .cancelled && state("b") == .queued)
        let b = try #require(try store.job(runID: runID, key: "b"))
        #expect(try sandbox.apoctl(["cancel", "--job", String(b.id)]).status == 0)
        #expect(try state("b") == .cancelled && state("c") == .queued)
        #expect(try sandbox.apoctl(["cancel", "\(runID)/nope"]).status == 4)
        #expect(try sandbox.apoctl(["cancel", String(runID)]).status == 0)
        #expect(try state("c") == .cancelled)
        #expect(try store.run(runID)?.state == .cancelled)
    }

    /// `--params PRESET` sets values and matrix lists before `--param`; a bad preset is refused
    /// with its own file and line, and nothing is stored.
    @Test func paramsPresetComesBeforeParamAndItsErrorsNameItsFile() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("p.yaml", """
            name: p
            params: {x: 1, y: a}
            matrix: {seed: [1]}
            jobs:
              - {id: a, kind: noop, params: {value: "${params.x} ${params.y} ${matrix.seed}"}}
            """)
        let bad = try sandbox.write("bad.yaml", "params:\n  x: two\n")
        let refused = try sandbox.apoctl(["submit", file, "--params", bad])
        #expect(refused.status == 3)
        #expect(refused.stderr.hasPrefix("\(bad):2:6: error: parameter 'x': expected int"), "\(refused.stderr)")
        let missing = try sandbox.apoctl(["submit", file, "--params", sandbox.directory.appendingPathComponent("nope.yaml").path])
        #expect(missing.status == 3 && missing.stderr.contains("nope.yaml: error: cannot read params preset"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.databasePath))

        let preset = try sandbox.write("small.yaml", "params: {x: 2, y: b}\nmatrix: {seed: [3, 4]}\n")
        let submit = try sandbox.apoctl(["submit", file, "--params", preset, "--param", "y=c"])
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
        let store = try sandbox.store()
        #expect(try store.jobs(runID: runID).map(\.key).sorted() == ["seed=3/a", "seed=4/a"])
        #expect(try store.job(runID: runID, key: "seed=4/a")?.paramsJSON.contains(#""value":"2 c 4""#) == true)
    }

    @Test func resubmissionReusesUnchangedJobsAndRecomputesEditedOnes() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("memo.yaml", """
            name: memo
            params: {x: 1}
            jobs:
              - {id: source, kind: noop, params: {value: "${params.x}", artifact: source.json}}
              - {id: derived, kind: noop, params: {value: "${jobs.source.outputs.artifact}", artifact: derived.json}}
              - {id: other, kind: noop, params: {value: constant, artifact: other.json}}
              - {id: fresh, kind: noop, params: {value: 7}, memoize: false}
            """)
        func submitAndRun(_ extra: [String] = []) throws -> [String: JobRecord] {
            let out = try sandbox.apoctl(["submit", file] + extra)
            let runID = try #require(Int64(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(out.stderr)")
            #expect(try sandbox.waitForRun(runID).state == .succeeded)
            return Dictionary(uniqueKeysWithValues: try sandbox.store().jobs(runID: runID).map { ($0.key, $0) })
        }
        try sandbox.startDaemon(workers: 2)
        let first = try submitAndRun()
        #expect(first.values.allSatisfy { $0.memoizedFromJobID == nil })

        let same = try submitAndRun()
        #expect(same["source"]?.memoizedFromJobID == first["source"]?.id)
        #expect(same["derived"]?.memoizedFromJobID == first["derived"]?.id)
        #expect(same["other"]?.memoizedFromJobID == first["other"]?.id)
        #expect(same["fresh"]?.memoizedFromJobID == nil, "memoize: false opts out")
        #expect(same["source"]?.outputsJSON == first["source"]?.outputsJSON)

        let edited = try submitAndRun(["--param", "x=2"])
        #expect(edited["source"]?.memoizedFromJobID == nil, "its param changed")
        #expect(edited["derived"]?.memoizedFromJobID == nil, "its input artifact changed")
        // Reused from the latest job with that key (run 2's copy of run 1's outputs).
        #expect(edited["other"]?.memoizedFromJobID != nil)
        #expect(edited["other"]?.outputsJSON == first["other"]?.outputsJSON)
        let editedRun = try #require(edited["source"]?.runID)
        let artifact = try #require(try sandbox.store().artifacts(runID: editedRun).first { $0.name == "source.json" })
        #expect(try String(contentsOfFile: artifact.path, encoding: .utf8) == "2")
    }
}
