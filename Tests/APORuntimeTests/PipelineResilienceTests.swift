import APOStore
import Foundation
import Testing

/// The APO steps that take minutes survive a worker killed with SIGKILL in their middle: a small
/// real pipeline (prepare-data → generate → train-rm on SmolLM2 and the shared HH data) is run
/// once undisturbed and once with the worker killed mid-`generate` and mid-`train-rm`, after each
/// job's first checkpoint. Both runs must end with byte-identical samples and reward-model weights.
@Suite(.serialized)
struct PipelineResilienceTests {
    static let repositoryRoot: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/", !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    static func pipeline() throws -> String {
        let model = repositoryRoot.appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        let data = repositoryRoot.appendingPathComponent("../shared/data/hh-rlhf/harmless-base-test.jsonl.gz").standardized.path
        guard FileManager.default.fileExists(atPath: model) else {
            throw RuntimeSandbox.Failure(description: "missing \(model): run deploy/fetch-model.sh (or apoctl model pull smollm2-135m-instruct)")
        }
        return """
            name: resilience
            jobs:
              - id: prepare
                kind: prepare-data
                params: {input: "\(data)", max_queries: 20, seed: 7}
              - id: samples
                kind: generate
                params:
                  model: "\(model)"
                  input: "${jobs.prepare.outputs.rm_train_queries}"
                  samples: 2
                  max_new_tokens: 12
                  max_prompt_tokens: 64
                  chunk_size: 2
                  seed: 11
                  threads: 1
              - id: rm
                kind: train-rm
                needs: [samples]
                params:
                  init: "\(model)"
                  train: ["${jobs.prepare.outputs.rm_train_pairs}"]
                  max_length: 48
                  batch: 2
                  micro_batch: 1
                  warmup: 0
                  lr: 0.0001
                  trainable_layers: 1
                  checkpoint_every: 1
                  seed: 3
                  threads: 1
            """
    }

    struct Outcome {
        let samples: Data
        let rewardModel: Data
        let attempts: [String: [String?]]
        /// The rm job's artifact rows named `model`.
        let modelRows: [ArtifactRecord]
    }

    /// Runs the pipeline in a fresh sandbox; `killDuring` lists jobs whose worker is SIGKILLed once
    /// that job has written its first checkpoint.
    func run(killDuring jobsToKill: [String]) throws -> Outcome {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let file = try sandbox.write("resilience.yaml", try Self.pipeline())
        let submit = try sandbox.apoctl(["submit", file])
        #expect(submit.status == 0, "\(submit.stderr)")
        let runID = try #require(Int64(submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let store = try sandbox.store()
        let root = try #require(try store.run(runID)?.artifactRoot)
        try sandbox.startDaemon(workers: 1, leaseSeconds: 5)

        for key in jobsToKill {
            let checkpoints = URL(fileURLWithPath: root).appendingPathComponent(".checkpoints/\(key)")
            var running: JobRecord?
            try sandbox.waitUntil("job \(key) to write its first checkpoint", timeout: 240) {
                running = try store.jobs(runID: runID).first { $0.key == key && $0.state == .running }
                guard running != nil else { return false }
                // `.checkpoints/<key>/attempt-N/` exists from the attempt's start; wait for a real
                // checkpoint in it (a train step, a generated chunk).
                let files = FileManager.default.enumerator(atPath: checkpoints.path)?.allObjects as? [String] ?? []
                return files.contains { $0.contains("/step-") || $0.contains("/generate-") }
            }
            let pid = try #require(running?.leaseWorkerID.flatMap(RuntimeSandbox.pid(ofWorker:)))
            kill(pid, SIGKILL)
        }

        let run = try sandbox.waitForRun(runID, timeout: 600)
        #expect(run.state == .succeeded, "\(sandbox.daemonLogs())")
        let jobs = try store.jobs(runID: runID)
        var attempts: [String: [String?]] = [:]
        for job in jobs { attempts[job.key] = try store.attempts(jobID: job.id).map(\.outcome) }
        // Every attempt of the RM job records the compute path it resolved (and logs it); generate has none.
        for job in jobs {
            let rows = try store.attempts(jobID: job.id)
            let paths = rows.map(\.computePath)
            // Every attempt that ran its job to an end records the CPU it spent; a killed one cannot.
            for attempt in rows {
                if attempt.outcome == "succeeded" {
                    // Sampling and training on the real model cost far more than a data split.
                    let floor = ["samples", "rm"].contains(job.key) ? 0.5 : 0
                    #expect((attempt.cpuSeconds ?? -1) > floor, "\(job.key): \(String(describing: attempt.cpuSeconds))")
                } else if attempt.outcome == "expired" {
                    #expect(attempt.cpuSeconds == nil)
                }
            }
            if job.key == "rm" {
                #expect(paths.allSatisfy { $0?.hasPrefix("precision ") == true }, "\(paths)")
            } else if job.key == "samples" {
                #expect(paths.allSatisfy { $0 == nil }, "\(paths)")
            }
        }
        let samplesPath = try #require(try store.artifacts(runID: runID).first { $0.jobKey == "samples" }?.path)
        let weights = URL(fileURLWithPath: root).appendingPathComponent("rm/model/model.safetensors")
        let modelRows = try store.artifacts(runID: runID).filter { $0.jobKey == "rm" && $0.name == "model" }
        return Outcome(samples: try Data(contentsOf: URL(fileURLWithPath: samplesPath)),
                       rewardModel: try Data(contentsOf: weights), attempts: attempts, modelRows: modelRows)
    }

    @Test func killedWorkerInGenerateAndTrainRMEndsWithTheUndisturbedArtifacts() throws {
        let undisturbed = try run(killDuring: [])
        #expect(undisturbed.attempts["samples"] == ["succeeded"])
        #expect(undisturbed.attempts["rm"] == ["succeeded"])

        let killed = try run(killDuring: ["samples", "rm"])
        // The kill really landed mid-job: one expired attempt, then a resumed one.
        #expect(killed.attempts["samples"] == ["expired", "succeeded"])
        #expect(killed.attempts["rm"] == ["expired", "succeeded"])
        #expect(killed.samples == undisturbed.samples, "samples differ after resuming generate")
        #expect(killed.rewardModel.count == undisturbed.rewardModel.count)
        #expect(killed.rewardModel == undisturbed.rewardModel, "reward-model weights differ after resuming train-rm")
        // The resumed attempt records its model directory once, with the undisturbed run's digest.
        #expect(undisturbed.modelRows.map(\.type) == [.directory])
        #expect(killed.modelRows.count == 1)
        #expect(killed.modelRows.first?.sha256 == undisturbed.modelRows.first?.sha256)
        #expect(killed.modelRows.first?.size == undisturbed.modelRows.first?.size)
    }
}
