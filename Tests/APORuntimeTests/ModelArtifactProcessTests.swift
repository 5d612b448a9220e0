import APOStore
import Foundation
import Testing

/// A trained model directory is an artifact row like any file: a real pipeline (prepare-data →
/// train-rm on SmolLM2, a few steps) run by real `apod` workers, listed by the real `apoctl`.
@Suite(.serialized)
struct ModelArtifactProcessTests {
    static func pipeline() throws -> String {
        let root = PipelineResilienceTests.repositoryRoot
        let model = root.appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        let data = root.appendingPathComponent("../shared/data/hh-rlhf/harmless-base-test.jsonl.gz").standardized.path
        guard FileManager.default.fileExists(atPath: model) else {
            throw RuntimeSandbox.Failure(description: "missing \(model): run deploy/fetch-model.sh (or apoctl model pull smollm2-135m-instruct)")
        }
        return """
            name: model-artifact
            jobs:
              - id: prepare
                kind: prepare-data
                params: {input: "\(data)", max_queries: 20, seed: 7}
              - id: rm
                kind: train-rm
                params:
                  init: "\(model)"
                  train: ["${jobs.prepare.outputs.rm_train_pairs}"]
                  max_pairs: 4
                  max_length: 32
                  batch: 2
                  micro_batch: 1
                  warmup: 0
                  lr: 0.0001
                  trainable_layers: 1
                  seed: 3
                  threads: 1
            """
    }

    @Test func trainedModelDirectoryIsListedWithItsDigestAndReusedOnce() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("model-artifact.yaml", try Self.pipeline())
        func submitAndRun() throws -> Int64 {
            let submit = try sandbox.apoctl(["submit", file])
            let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(submit.stderr)")
            let run = try sandbox.waitForRun(runID, timeout: 300)
            #expect(run.state == .succeeded, "\(sandbox.daemonLogs())")
            return runID
        }
        try sandbox.startDaemon(workers: 1, leaseSeconds: 5)
        let store = try sandbox.store()
        let firstRun = try submitAndRun()

        let rm = try #require(try store.job(runID: firstRun, key: "rm"))
        let rows = try store.artifacts(runID: firstRun).filter { $0.jobID == rm.id }
        #expect(rows.map { [$0.name, $0.type.rawValue] } == [["metrics.json", "file"], ["model", "directory"]])
        let model = try #require(rows.first { $0.name == "model" })
        #expect(rm.outputsJSON?.contains(#""model":"\#(model.path)""#) == true, "\(rm.outputsJSON ?? "")")
        let files = try FileManager.default.contentsOfDirectory(atPath: model.path)
        #expect(files.contains("model.safetensors") && files.contains("config.json"), "\(files)")
        let oracle = try DirectoryDigestOracle.digest(of: URL(fileURLWithPath: model.path))
        #expect(model.sha256 == oracle.sha256)
        #expect(model.size == oracle.size)
        #expect(model.size > 100_000_000, "SmolLM2's weights alone are over 100 MB, found \(model.size)")

        // apoctl lists it, in the table and in JSON.
        let table = try sandbox.apoctl(["artifacts", String(firstRun)])
        #expect(table.status == 0, "\(table.stderr)")
        let modelLine = table.stdout.split(separator: "\n").first { $0.hasSuffix(model.path) }
        #expect(modelLine?.contains("directory") == true, "\(table.stdout)")
        #expect(modelLine?.contains(String(model.sha256.prefix(12))) == true)
        let json = try sandbox.apoctl(["artifacts", String(firstRun), "--json"])
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let entry = try #require(listed.first { $0["name"] as? String == "model" })
        #expect(entry["job"] as? String == "rm")
        #expect(entry["type"] as? String == "directory")
        #expect(entry["sha256"] as? String == oracle.sha256)
        #expect((entry["size"] as? NSNumber)?.int64Value == oracle.size)
        #expect(entry["path"] as? String == model.path)

        // Submitting it again reuses both jobs: the second run lists the same model, once.
        let secondRun = try submitAndRun()
        let reusedRM = try #require(try store.job(runID: secondRun, key: "rm"))
        #expect(reusedRM.memoizedFromJobID == rm.id)
        let reused = try store.artifacts(runID: secondRun).filter { $0.jobID == reusedRM.id }
        #expect(reused.map { [$0.name, $0.path, $0.type.rawValue, $0.sha256] }
            == rows.map { [$0.name, $0.path, $0.type.rawValue, $0.sha256] })
        #expect(try store.artifacts(runID: firstRun).count == store.artifacts(runID: secondRun).count)
    }
}
