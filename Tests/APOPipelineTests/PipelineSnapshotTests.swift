import Foundation
import Testing
@testable import APOPipeline

/// Pins what `PipelineSpec` makes of pipeline files, byte for byte: every expanded DAG (job ids in
/// order, kinds, params, needs, settings) and every diagnostic line (position, message, order), for
/// the shipped pipelines, the fuzz regression inputs, the edge cases below and seeded mutations of
/// them. It guards refactors of `Spec/` (the stage split of issue 12) and the matrix expansion that
/// follows, which must leave matrix-free pipelines as they were. When a change is meant to alter the
/// output (a new kind parameter, an edited shipped pipeline), regenerate and review the diff:
/// `APO_UPDATE_SNAPSHOTS=1 swift test --filter PipelineSnapshotTests`.
@Suite struct PipelineSnapshotTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pipeline-snapshots")
    static var updating: Bool { ProcessInfo.processInfo.environment["APO_UPDATE_SNAPSHOTS"] == "1" }

    @Test func shippedPipelines() throws {
        let files = try ShippedPipelinesTests.pipelineFiles()
        let inputs = try FakeInputs()
        defer { inputs.remove() }
        var cases: [(String, String)] = []
        for file in files {
            let label = "pipelines/\(file.lastPathComponent)"
            let yaml = try String(contentsOf: file, encoding: .utf8)
            let pinned = yaml.contains("\n  sha256: ")
            let variants: [(String, [String: String], InputFileCheck?, ParamsPreset?)] = try
                [("defaults", [:], nil, nil), ("inputs missing", [:], inputs.missing, nil)]
                + (pinned ? [("inputs present", ["sha256": inputs.hhDigest], inputs.present, nil)] : [])
                + (Self.overrideVariants[file.lastPathComponent] ?? []).map { variant in
                    let preset = try variant.preset.map { try ParamsPreset.load(path: ShippedPipelinesTests.directory.appendingPathComponent($0).path) }
                    let name = ([variant.preset.map { "--params \($0)" }] + (variant.overrides.isEmpty ? [] : [
                        "--param " + variant.overrides.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    ])).compactMap { $0 }.joined(separator: " ")
                    return (name, variant.overrides, nil, preset.map { ParamsPreset(yaml: $0.yaml, file: "pipelines/\(variant.preset!)") })
                }
            for (name, overrides, check, preset) in variants {
                let text = Self.render { try PipelineSpec.expand(yaml: yaml, file: label, preset: preset, overrides: overrides, inputs: check) }
                cases.append(("\(label) \(name)", text.replacingOccurrences(of: inputs.root.path, with: "<tmp>")))
            }
        }
        cases.append(("unreadable file", Self.render { try PipelineSpec.load(path: "/nonexistent/apo/p.yaml") }))
        try Self.check(cases, against: "shipped-pipelines.txt")
    }

    /// `--param` overrides, after a preset (a path under pipelines/) where one is named.
    static let overrideVariants: [String: [(preset: String?, overrides: [String: String])]] = [
        "apo-vs-baseline.yaml": [(nil, ["policy_update": "dpo"]), (nil, ["rounds": "1"]), (nil, ["rounds": "0"]),
                                 (nil, ["policy_update": "ppo"]), (nil, ["shards": "2", "rounds": "1"]),
                                 ("presets/demo.yaml", [:]), ("presets/demo.yaml", ["policy_update": "dpo", "rounds": "2"]),
                                 ("presets/demo.yaml", ["threads": "two", "seed": "1.5", "nope": "x"]),
                                 ("presets/demo.yaml", ["matrix.seed": "[1, 2]"]),
                                 (nil, ["matrix.seed": "[7, x]", "matrix.lr": "[1]"])],
        "noop-chain.yaml": [(nil, ["rounds": "0"]), (nil, ["rounds": "1", "greeting": "${params.rounds}"])],
    ]

    @Test func fuzzRegressionInputs() throws {
        let cases = try FuzzRegressionTests.inputs("pipeline").map { url in
            let yaml = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            return (url.lastPathComponent, Self.render { try PipelineSpec.expand(yaml: yaml, file: "fuzz.yaml") })
        }
        try Self.check(cases, against: "fuzz-regressions.txt")
    }

    @Test func edgeCases() throws {
        var cases = Self.edgeCases.map { c in
            (c.name, Self.render { try PipelineSpec.expand(yaml: c.yaml, file: "e.yaml", overrides: c.overrides) })
        }
        for args in [["a=1", "b=x=y", "c="], ["=1"], ["novalue"]] {
            let text: String
            do { text = "\(try PipelineSpec.parseOverrides(args).sorted { $0.key < $1.key })" } catch { text = "\(error)" }
            cases.append(("parseOverrides \(args)", text))
        }
        try Self.check(cases, against: "edge-cases.txt")
    }

    /// Seeded mutations reach diagnostics no hand-written case does; each is pinned by the sha256 of
    /// its rendering (the full text would be megabytes), and a mismatch prints the input and output.
    @Test func mutations() throws {
        var corpus: [(String, String)] = [("robustness-base", PipelineSpecRobustnessTests.base)]
        corpus += Self.edgeCases.map { ($0.name, $0.yaml) }
        corpus += try FuzzRegressionTests.inputs("pipeline").map { ($0.lastPathComponent, String(decoding: try Data(contentsOf: $0), as: UTF8.self)) }
        var lines: [String] = []
        var rendered: [String: (yaml: String, text: String)] = [:]
        for (n, (name, text)) in corpus.enumerated() {
            var rng = SeededGenerator(seed: UInt64(1000 + n))
            for i in 0..<(n == 0 ? 600 : 40) {
                let yaml = Self.mutate(text, &rng)
                let out = Self.render { try PipelineSpec.expand(yaml: yaml, file: "m.yaml") }
                let key = "\(name) #\(i)"
                rendered[key] = (yaml, out)
                lines.append("\(key) \(sha256Hex(Data(out.utf8)).prefix(16))")
            }
        }
        let file = Self.directory.appendingPathComponent("mutations.txt")
        let actual = lines.joined(separator: "\n") + "\n"
        if Self.updating { try Self.write(actual, to: file); return }
        let expected = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(expected.count == lines.count, "mutations.txt has \(expected.count) cases, the test made \(lines.count)")
        for (want, got) in zip(expected, lines) where want != got {
            let key = String(got[..<got.lastIndex(of: " ")!])
            let (yaml, out) = rendered[key]!
            Issue.record("mutation \(key) changed (pinned \(want)):\n--- input\n\(yaml)\n--- output now\n\(out)")
        }
    }

    // MARK: - Rendering and comparison

    /// A pipeline as one line per job (sorted-key JSON of `ExpandedJob`, so every field counts), or
    /// the diagnostics exactly as `apoctl submit` prints them.
    static func render(_ expand: () throws -> ExpandedPipeline) -> String {
        do {
            let p = try expand()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var lines = ["ok name=\(p.name) yaml=\(p.yamlHash.prefix(16)) params=\(p.paramsJSON)"]
            for job in p.jobs {
                lines.append(String(decoding: (try? encoder.encode(job)) ?? Data(), as: UTF8.self))
            }
            return lines.joined(separator: "\n")
        } catch let e as PipelineValidationError {
            return e.description
        } catch {
            return "unexpected \(type(of: error)): \(error)"
        }
    }

    static func check(_ cases: [(String, String)], against name: String) throws {
        let file = directory.appendingPathComponent(name)
        let actual = cases.map { "### \($0.0)\n\($0.1)\n" }.joined()
        if updating { try write(actual, to: file); return }
        let expected = try String(contentsOf: file, encoding: .utf8)
        guard expected != actual else { return }
        let pinned = Dictionary(sections(expected), uniquingKeysWith: { a, _ in a })
        for (caseName, text) in cases where pinned[caseName] != text {
            Issue.record("\(name): '\(caseName)' changed\n--- pinned\n\(pinned[caseName] ?? "(absent)")\n--- now\n\(text)")
        }
        #expect(sections(expected).map(\.0) == cases.map(\.0), "\(name): the list of cases changed")
    }

    static func sections(_ text: String) -> [(String, String)] {
        text.components(separatedBy: "### ").dropFirst().map { block in
            let newline = block.firstIndex(of: "\n")!
            return (String(block[..<newline]), String(block[block.index(after: newline)...].dropLast()))
        }
    }

    static func write(_ text: String, to file: URL) throws {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
    }

    /// 1–3 deletions, insertions or replacements from an alphabet of the spec's own syntax.
    static func mutate(_ text: String, _ rng: inout SeededGenerator) -> String {
        let alphabet = Array("${}[]:-|.,\"'&* \n\tjobsparamsprevroundsoutputswhen0123456789")
        var m = Array(text)
        for _ in 0..<(1 + rng.nextIndex(below: 3)) {
            guard !m.isEmpty else { break }
            let at = rng.nextIndex(below: m.count)
            switch rng.nextIndex(below: 3) {
            case 0: m.remove(at: at)
            case 1: m.insert(alphabet[rng.nextIndex(below: alphabet.count)], at: at)
            default: m[at] = alphabet[rng.nextIndex(below: alphabet.count)]
            }
        }
        return String(m)
    }
}

/// The files the shipped pipelines read, as stand-ins under a temporary folder: `present` resolves
/// every relative input path to one of them, `missing` to nothing.
private struct FakeInputs {
    let root: URL
    let hhDigest: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("apo-snapshot-\(UUID().uuidString)")
        let files = [
            "shared/data/hh-rlhf/harmless-base-test.jsonl.gz": "not really gzip\n",
            "work/data/models/SmolLM2-135M-Instruct.Q4_1.gguf": "not really a model\n",
            "work/pipelines/data/toy-samples.json": "[]\n",
        ]
        for (path, text) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        hhDigest = sha256Hex(Data("not really gzip\n".utf8))
    }

    var present: InputFileCheck { InputFileCheck(baseDirectory: root.appendingPathComponent("work")) }
    var missing: InputFileCheck { InputFileCheck(baseDirectory: root.appendingPathComponent("empty/deeper")) }
    func remove() { try? FileManager.default.removeItem(at: root) }
}
