import Foundation
import Testing
@testable import APOPipeline

/// `--params PRESET`: values over the pipeline's defaults, `--param` over both, and problems
/// reported at the preset's own file, line and column.
@Suite struct ParamsPresetTests {
    static let pipeline = """
        name: p
        params: {size: 10, lr: 0.5, mode: a, seed: 1}
        matrix: {seed: ["${params.seed}"]}
        jobs:
          - {id: data, kind: noop, params: {value: "${params.size} ${params.mode}"}}
          - {id: train, kind: noop, params: {value: "${params.lr}", fail_times: "${matrix.seed}"}}
        """

    static func expand(preset: String, _ overrides: [String: String] = [:]) throws -> ExpandedPipeline {
        try PipelineSpec.expand(yaml: pipeline, file: "p.yaml", preset: ParamsPreset(yaml: preset, file: "small.yaml"),
                                overrides: overrides)
    }

    static func problems(preset: String, _ overrides: [String: String] = [:], pipeline: String = pipeline) -> [String] {
        do {
            _ = try PipelineSpec.expand(yaml: pipeline, file: "p.yaml", preset: ParamsPreset(yaml: preset, file: "small.yaml"),
                                        overrides: overrides)
            return ["(expanded)"]
        } catch let e as PipelineValidationError {
            return e.diagnostics.map(\.description)
        } catch {
            return ["unexpected \(error)"]
        }
    }

    @Test func presetValuesApplyAndParamOverridesWin() throws {
        let preset = """
            params: {size: 3, lr: 1, mode: b}
            matrix: {seed: [7, 8]}
            """
        let p = try Self.expand(preset: preset)
        #expect(p.params["size"] == .int(3) && p.params["mode"] == .string("b"))
        #expect(p.params["lr"] == .double(1))  // an int widens to the default's number type
        #expect(p.job("data")?.params["value"] == .string("3 b"))
        #expect(p.jobs.map(\.id) == ["data", "seed=7/train", "seed=8/train"])

        let overridden = try Self.expand(preset: preset, ["size": "4", "matrix.seed": "[9]"])
        #expect(overridden.job("data")?.params["value"] == .string("4 b"))
        #expect(overridden.jobs.map(\.id) == ["data", "train"])
        #expect(overridden.job("train")?.params["fail_times"] == .int(9))
    }

    @Test func anEmptyPresetChangesNothing() throws {
        let plain = try PipelineSpec.expand(yaml: Self.pipeline, file: "p.yaml")
        #expect(try Self.expand(preset: "params: {}\n").jobs == plain.jobs)
        #expect(try Self.expand(preset: "# nothing yet\n{}\n").jobs == plain.jobs)
    }

    @Test func problemsPointIntoThePresetFile() {
        #expect(Self.problems(preset: """
            params:
              size: ten
              lrr: 0.1
              mode: [a]
            matrix:
              seed: [1, x]
              sede: [1]
            colour: red
            """) == [
            "small.yaml:2:9: error: parameter 'size': expected int, the type of the pipeline's default, found string ten",
            "small.yaml:3:3: error: unknown pipeline parameter 'lrr' (known: lr, mode, seed, size)",
            "small.yaml:4:9: error: parameter 'mode': expected string, the type of the pipeline's default, found list [\"a\"]",
            "small.yaml:6:13: error: matrix key 'seed': expected int values, as in the pipeline's list, found string x",
            "small.yaml:7:3: error: unknown matrix key 'sede' (declared: seed)",
            "small.yaml:8:1: error: unknown key 'colour' in a params preset (expected one of: params, matrix)",
        ])
    }

    @Test func presetProblemsComeBeforeThePipelinesOwn() {
        let broken = Self.pipeline + "\n  - {id: extra, kind: nope}\n"
        #expect(Self.problems(preset: "params: {size: x}\n", pipeline: broken) == [
            "small.yaml:1:16: error: parameter 'size': expected int, the type of the pipeline's default, found string x",
            "p.yaml:7:23: error: unknown job kind 'nope' (known: \(JobKindRegistry.standard.keys.filter { !JobKindRegistry.expansionKinds.contains($0) }.sorted().joined(separator: ", ")))",
        ])
    }

    @Test func yamlErrorsAndNonMappingsInAPreset() {
        #expect(Self.problems(preset: "params: {size: [1\n").first?.hasPrefix("small.yaml:2:1: error: YAML syntax") == true)
        #expect(Self.problems(preset: "- size\n") == ["small.yaml:1:1: error: a params preset must be a mapping with 'params' and/or 'matrix'"])
        #expect(Self.problems(preset: "params: [size]\n") == ["small.yaml:1:9: error: 'params' must be a mapping of param names to values"])
    }

    @Test func anUnreadablePresetNamesItsPath() {
        let error = #expect(throws: PipelineValidationError.self) { try ParamsPreset.load(path: "/nonexistent/apo/preset.yaml") }
        #expect(error?.description.hasPrefix("/nonexistent/apo/preset.yaml: error: cannot read params preset") == true)
    }
}
