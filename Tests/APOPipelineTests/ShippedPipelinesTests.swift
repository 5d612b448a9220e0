import Foundation
import Testing
@testable import APOPipeline

/// Every file in `pipelines/` validates against the real kind registry, so a renamed kind, a
/// missing parameter or output, or a bad reference in a shipped pipeline fails here, not at 3 a.m.
@Suite struct ShippedPipelinesTests {
    static let directory = repositoryRoot().appendingPathComponent("pipelines")

    static func pipelineFiles() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" || $0.pathExtension == "yml" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test func everyShippedPipelineValidates() throws {
        let files = try Self.pipelineFiles()
        let names = Set(files.map(\.lastPathComponent))
        for required in ["apo-round.yaml", "apo-vs-baseline.yaml"] {
            #expect(names.contains(required), "pipelines/\(required) is missing")
        }
        for file in files {
            do {
                let p = try PipelineSpec.load(path: file.path)
                #expect(!p.jobs.isEmpty, "\(file.lastPathComponent) expands to no jobs")
                for job in p.jobs { #expect(JobKindRegistry.standard[job.kind] != nil) }
            } catch {
                Issue.record("\(file.lastPathComponent) does not validate:\n\(error)")
            }
        }
    }

    /// The policy update is chosen by a param: rjs gives rejection-sample + train-llm, dpo gives a
    /// dpo job under the same id, and later rounds follow whichever ran.
    @Test(arguments: [nil, "presets/demo.yaml"])
    func policyUpdateParamSelectsTheKind(presetFile: String?) throws {
        let path = Self.directory.appendingPathComponent("apo-vs-baseline.yaml").path
        let preset = try presetFile.map { try ParamsPreset.load(path: Self.directory.appendingPathComponent($0).path) }
        let rjs = try PipelineSpec.load(path: path, preset: preset, overrides: ["policy_update": "rjs", "rounds": "2"])
        let dpo = try PipelineSpec.load(path: path, preset: preset, overrides: ["policy_update": "dpo", "rounds": "2"])
        for arm in ["apo", "base"] {
            #expect(rjs.job("r1.policy_\(arm)")?.kind == "train-llm")
            #expect(rjs.job("r1.\(arm)_rjs")?.kind == "rejection-sample")
            #expect(dpo.job("r1.policy_\(arm)")?.kind == "dpo")
            #expect(dpo.job("r1.\(arm)_rjs") == nil)
            #expect(rjs.job("r2.policy_\(arm)")?.needs.contains("r1.policy_\(arm)") == true)
            #expect(dpo.job("r2.policy_\(arm)")?.needs.contains("r1.policy_\(arm)") == true)
        }
        // Round 2's APO RM learns from round 1's APO policy's samples; round 1's from the start model.
        #expect(rjs.job("r2.apo_rm_samples")?.needs.contains("r1.policy_apo") == true)
        #expect(rjs.job("r1.apo_rm_samples")?.params["model"] == rjs.params["model"])
        // Test-time decoding (spec §4) for every test answer set.
        for job in rjs.jobs where job.id.hasSuffix("test_answers") {
            #expect(job.params["temperature"] == .double(0.3), "\(job.id)")
            #expect(job.params["top_k"] == .int(5), "\(job.id)")
            #expect(job.params["top_p"] == .double(0.85), "\(job.id)")
            #expect(job.params["repetition_penalty"] == .double(1.05), "\(job.id)")
            #expect(job.params["samples"] == .int(1), "\(job.id)")
        }
        #expect(throws: PipelineValidationError.self) {
            _ = try PipelineSpec.load(path: path, preset: preset, overrides: ["policy_update": "ppo"])
        }
    }

    /// Every preset under pipelines/presets/ applies to apo-vs-baseline.yaml without a problem.
    @Test func everyShippedPresetApplies() throws {
        let presets = Self.directory.appendingPathComponent("presets")
        let files = try FileManager.default.contentsOfDirectory(at: presets, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" }
        #expect(!files.isEmpty)
        for file in files {
            do {
                _ = try PipelineSpec.load(path: Self.directory.appendingPathComponent("apo-vs-baseline.yaml").path,
                                          preset: try ParamsPreset.load(path: file.path))
            } catch {
                Issue.record("presets/\(file.lastPathComponent) does not apply:\n\(error)")
            }
        }
    }

    /// Over seeds, the data split and the testing RM are shared; every other job is one copy per
    /// seed, reading the shared jobs and its own seed's copies.
    @Test func apoVsBaselineRunsOverSeeds() throws {
        let path = Self.directory.appendingPathComponent("apo-vs-baseline.yaml").path
        let single = try PipelineSpec.load(path: path)
        let seeds = try PipelineSpec.load(path: path, overrides: ["matrix.seed": "[1, 2, 3]"])
        #expect(single.jobs.allSatisfy { !$0.id.contains("/") })
        let shared = seeds.jobs.filter { !$0.id.contains("/") }.map(\.id)
        #expect(shared == ["prepare", "testing_rm"])
        #expect(seeds.jobs.count == 2 + 3 * (single.jobs.count - 2))
        for seed in 1...3 {
            let rm = try #require(seeds.job("seed=\(seed)/r2.apo_rm"))
            #expect(rm.params["seed"] == .int(seed))
            #expect(rm.needs.contains("prepare") && rm.needs.contains("seed=\(seed)/r2.apo_pairs"))
            let scores = try #require(seeds.job("seed=\(seed)/r1.apo_test_scores"))
            #expect(scores.params["model"] == .string("${jobs.testing_rm.outputs.model}"))
        }
        #expect(seeds.job("prepare")?.params["seed"] == .int(42))
        // A one-value matrix changes nothing: the default run is the single-seed run.
        let one = try PipelineSpec.load(path: path, overrides: ["matrix.seed": "[42]"])
        #expect(one.jobs == single.jobs)
    }

    /// One APO round has the steps of spec §1 in order.
    @Test func apoRoundHasTheSpecSteps() throws {
        let p = try PipelineSpec.load(path: Self.directory.appendingPathComponent("apo-round.yaml").path)
        func needs(_ a: String, _ b: String) -> Bool { p.job(a)?.needs.contains(b) == true }
        #expect(needs("apo_pairs", "rm_samples"))
        #expect(needs("apo_rm", "apo_pairs"))
        #expect(needs("llm_scores", "apo_rm") && needs("llm_scores", "llm_samples"))
        #expect(needs("rjs", "llm_scores"))
        #expect(needs("train_llm", "rjs"))
        #expect(needs("evaluate", "test_scores"))
        #expect(p.job("apo_rm")?.params["apo_loss_coeff"] == .double(0.1))
        #expect(p.job("apo_rm")?.params["apo_sample_num"] == .int(4))
        #expect(p.job("rm_samples")?.params["samples"] == .int(4))
    }
}

/// `when:` keeps or drops a job at submit time.
@Suite struct JobConditionTests {
    func expand(_ yaml: String, _ overrides: [String: String] = [:]) throws -> ExpandedPipeline {
        try PipelineSpec.expand(yaml: yaml, file: "t.yaml", overrides: overrides)
    }

    let alternatives = """
    name: t
    params: {mode: a}
    jobs:
      - {id: x, kind: noop, when: "${params.mode} == a", params: {value: from-a}}
      - {id: x, kind: noop, when: "${params.mode} != a", params: {value: not-a}}
      - {id: y, kind: noop, params: {value: "${jobs.x.outputs.value}"}}
    """

    @Test func conditionChoosesOneOfTwoJobsWithTheSameID() throws {
        #expect(try expand(alternatives).job("x")?.params["value"] == .string("from-a"))
        #expect(try expand(alternatives, ["mode": "b"]).job("x")?.params["value"] == .string("not-a"))
    }

    @Test func referenceToADroppedJobIsAnError() throws {
        let yaml = """
        name: t
        jobs:
          - {id: x, kind: noop, when: false, params: {value: v}}
          - {id: y, kind: noop, params: {value: "${jobs.x.outputs.value}"}}
        """
        let error = try #require(throws: PipelineValidationError.self) { try expand(yaml) }
        #expect(error.description.contains("unknown job 'x'"))
    }

    @Test func badConditionNamesTheLine() throws {
        let yaml = """
        name: t
        jobs:
          - {id: x, kind: noop, when: "maybe", params: {value: v}}
        """
        let error = try #require(throws: PipelineValidationError.self) { try expand(yaml) }
        #expect(error.description.contains("t.yaml:3:"))
        #expect(error.description.contains("'when' must be"))
    }

    @Test func sameIDTwiceWithoutConditionsIsStillADuplicate() throws {
        let yaml = """
        name: t
        jobs:
          - {id: x, kind: noop, when: true, params: {value: v}}
          - {id: x, kind: noop, params: {value: w}}
        """
        #expect(throws: PipelineValidationError.self) { try expand(yaml) }
    }
}
