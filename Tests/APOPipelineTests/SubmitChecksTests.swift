import Foundation
import Testing
@testable import APOPipeline

/// A kind with one parameter of each path type, to test the submit checks without a real job.
private enum PathProbeKind: JobKind {
    static let name = "path-probe"
    static let version = 1
    static let parameters = [
        ParameterSpec("input", .path, default: .null, help: "an input file"),
        ParameterSpec("inputs", .pathList, default: .array([]), help: "input files"),
        ParameterSpec("data", .pathOrURL, default: .null, sha256Parameter: "sha256", help: "a pinned input"),
        ParameterSpec("sha256", .string, default: .null, help: "pin of data"),
        ParameterSpec("out", .outputPath, default: .null, help: "a file written outside the artifacts"),
        ParameterSpec("name", .artifactName, default: .null, help: "an artifact name"),
    ]
    static let outputs = ["value"]
    static func run(_ context: any JobContext) throws -> JobOutputs { [:] }
}

private let registry: [String: any JobKind.Type] = ["path-probe": PathProbeKind.self, "noop": NoopKind.self]

/// `p.yaml` expanded with the submit checks against `base`; diagnostics on failure.
private func submit(_ yaml: String, base: URL, overrides: [String: String] = [:]) -> Result<ExpandedPipeline, PipelineValidationError> {
    do {
        return .success(try PipelineSpec.expand(yaml: yaml, file: "p.yaml", overrides: overrides, registry: registry,
                                                inputs: InputFileCheck(baseDirectory: base)))
    } catch let error as PipelineValidationError {
        return .failure(error)
    } catch {
        Issue.record("unexpected \(error)")
        return .failure(PipelineValidationError(diagnostics: []))
    }
}

private func errors(_ yaml: String, base: URL, overrides: [String: String] = [:]) -> [String] {
    switch submit(yaml, base: base, overrides: overrides) {
    case .success: Issue.record("expected the submit checks to refuse the pipeline"); return []
    case .failure(let e): return e.diagnostics.map(\.description)
    }
}

@Suite struct SubmitChecksTests {
    @Test func relativeInputPathsAreResolvedAgainstTheSubmitterAndStoredAbsolute() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(at: dir.file("data/models"), withIntermediateDirectories: true)
        let x = try dir.write("data/x.txt", "x")
        let y = try dir.write("y.txt", "y")
        let p = try submit("""
            name: paths
            jobs:
              - {id: a, kind: noop}
              - id: b
                kind: path-probe
                params:
                  input: data/./x.txt
                  inputs: [y.txt, "${jobs.a.outputs.artifact}", data/models]
                  data: https://example.com/hh.jsonl.gz
                  out: logs/touched.txt
            """, base: dir.url).get()
        let params = try #require(p.job("b")?.params)
        #expect(params["input"] == .string(x.path))
        #expect(params["inputs"] == .array([.string(y.path), .string("${jobs.a.outputs.artifact}"),
                                            .string(dir.file("data/models").path)]))
        #expect(params["data"] == .string("https://example.com/hh.jsonl.gz"))  // fetched by the job
        #expect(params["out"] == .string(dir.file("logs/touched.txt").path))  // absolute, need not exist
        #expect(p.job("b")?.paramsJSON.contains(x.path) == true)
    }

    @Test func withoutSubmitChecksPathsStayAsWritten() throws {
        let p = try PipelineSpec.expand(yaml: """
            name: paths
            jobs: [{id: b, kind: path-probe, params: {input: nowhere/x.txt}}]
            """, file: "p.yaml", registry: registry)
        #expect(p.job("b")?.params["input"] == .string("nowhere/x.txt"))
    }

    @Test func missingInputsAreRefusedWithTheirPosition() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        _ = try dir.write("y.txt", "y")
        let found = errors("""
            name: missing
            params: {file: gone.txt}
            jobs:
              - id: b
                kind: path-probe
                params:
                  input: "${params.file}"
                  inputs: [y.txt, also/gone.txt]
            round_jobs:
              - {id: c, kind: path-probe, params: {input: round-gone.txt}}
            rounds: 3
            """, base: dir.url)
        #expect(found.contains("p.yaml:7:14: error: parameter 'input' of job 'b': input \(dir.file("gone.txt").path) (from 'gone.txt') does not exist"), "\(found)")
        #expect(found.contains { $0.hasPrefix("p.yaml:8:15: error: parameter 'inputs' of job 'b': input ") && $0.contains("also/gone.txt") }, "\(found)")
        // One error for the round template, not one per round.
        #expect(found.filter { $0.contains("round-gone.txt") }.count == 1, "\(found)")
        #expect(found.count == 3, "\(found)")
    }

    @Test func overriddenPathsAreCheckedToo() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        _ = try dir.write("ok.txt", "ok")
        let yaml = """
            name: override
            params: {file: ok.txt}
            jobs: [{id: b, kind: path-probe, params: {input: "${params.file}"}}]
            """
        #expect(throws: Never.self) { try submit(yaml, base: dir.url).get() }
        let found = errors(yaml, base: dir.url, overrides: ["file": "typo.txt"])
        #expect(found.count == 1 && found[0].hasPrefix("p.yaml:3:50: error:") && found[0].contains("typo.txt"), "\(found)")
    }

    @Test func pinnedSha256IsCheckedAtSubmit() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        _ = try dir.write("hh.jsonl", "{}\n")
        let digest = sha256Hex(Data("{}\n".utf8))
        func yaml(_ pin: String) -> String {
            """
            name: pinned
            jobs:
              - id: b
                kind: path-probe
                params: {data: hh.jsonl, sha256: "\(pin)"}
            """
        }
        #expect(throws: Never.self) { try submit(yaml(digest), base: dir.url).get() }
        #expect(throws: Never.self) { try submit(yaml(digest.uppercased()), base: dir.url).get() }
        let wrong = String(repeating: "0", count: 64)
        let found = errors(yaml(wrong), base: dir.url)
        #expect(found == ["p.yaml:5:20: error: parameter 'data' of job 'b': \(dir.file("hh.jsonl").path) has sha256 \(digest), but parameter 'sha256' pins \(wrong)"], "\(found)")
    }

    @Test func prepareDataPinsItsInputAtSubmit() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let text = #"{"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}"# + "\n"
        _ = try dir.write("hh.jsonl", text)
        let yaml = """
            name: data
            params: {input: hh.jsonl, sha256: "\(String(repeating: "a", count: 64))"}
            jobs:
              - {id: prepare, kind: prepare-data, params: {input: "${params.input}", sha256: "${params.sha256}"}}
            """
        let inputs = InputFileCheck(baseDirectory: dir.url)
        #expect(throws: PipelineValidationError.self) { try PipelineSpec.expand(yaml: yaml, file: "p.yaml", inputs: inputs) }
        let p = try PipelineSpec.expand(yaml: yaml, file: "p.yaml", overrides: ["sha256": sha256Hex(Data(text.utf8))], inputs: inputs)
        #expect(p.job("prepare")?.params["input"] == .string(dir.file("hh.jsonl").path))
    }

    @Test func directoryPinnedByAFileDigestIsRefused() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(at: dir.file("d"), withIntermediateDirectories: true)
        let found = errors("""
            name: pinned
            jobs: [{id: b, kind: path-probe, params: {data: d, sha256: "\(String(repeating: "0", count: 64))"}}]
            """, base: dir.url)
        #expect(found.count == 1 && found[0].contains("is a directory"), "\(found)")
    }

    // MARK: - Names that escape

    @Test func artifactNamesThatLeaveTheJobFolderAreRefusedWithPositions() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let long = String(repeating: "n", count: 201)
        let bad: [(String, String)] = [
            ("../escape.json", "'..'"), ("a/../../b.json", "'..'"), ("/etc/passwd", "absolute"),
            (".hidden", "'.'"), ("sub/.tmp", "'.'"), ("a\\u0000b", "U+0000"), ("a\\nb", "U+000A"),
            (long, "201 bytes"), ("a//b", "empty path component"),
        ]
        for (name, why) in bad {
            let found = errors("""
                name: names
                jobs:
                  - {id: a, kind: noop, params: {artifact: "\(name)"}}
                """, base: dir.url)
            #expect(found.count == 1 && found[0].hasPrefix("p.yaml:3:44: error: parameter 'artifact' of job 'a': artifact name ")
                    && found[0].contains(why), "\(name): \(found)")
        }
        for good in ["a.json", "sub/dir/a.json", String(repeating: "n", count: 200)] {
            #expect(throws: Never.self) {
                try submit("name: names\njobs: [{id: a, kind: noop, params: {artifact: \"\(good)\"}}]", base: dir.url).get()
            }
        }
    }

    @Test func longOrControlCharacterIDsAndNamesAreRefused() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let longID = String(repeating: "j", count: 201)
        var found = errors("name: ids\njobs:\n  - {id: \(longID), kind: noop}\n", base: dir.url)
        #expect(found.count == 1 && found[0].hasPrefix("p.yaml:3:10: error: job id") && found[0].contains("201 bytes"), "\(found)")
        // A round job's id is rN.<id>: the prefix counts.
        let roundID = String(repeating: "r", count: 198)
        found = errors("name: ids\nrounds: 2\nround_jobs:\n  - {id: \(roundID), kind: noop}\n", base: dir.url)
        #expect(found.count == 1 && found[0].contains("201 bytes"), "\(found)")
        // "$" in a regex would have let a trailing newline through.
        found = errors("name: ids\njobs:\n  - {id: \"a\\n\", kind: noop}\n", base: dir.url)
        #expect(found.count == 1 && found[0].hasPrefix("p.yaml:3:10: error: bad job id \"a\\n\""), "\(found)")
        found = errors("name: \"\(String(repeating: "p", count: 201))\"\njobs: [{id: a, kind: noop}]\n", base: dir.url)
        #expect(found.count == 1 && found[0].hasPrefix("p.yaml:1:7: error: 'name' is 201 bytes long"), "\(found)")
        found = errors("name: \"a\\u0007b\"\njobs: [{id: a, kind: noop}]\n", base: dir.url)
        #expect(found.count == 1 && found[0].contains("U+0007"), "\(found)")
    }

    @Test func pathsWithControlCharactersAreRefusedEvenWithoutSubmitChecks() throws {
        do {
            _ = try PipelineSpec.expand(yaml: "name: p\njobs: [{id: b, kind: path-probe, params: {input: \"x\\u0000y\"}}]\n",
                                        file: "p.yaml", registry: registry)
            Issue.record("a path with a NUL was accepted")
        } catch let e as PipelineValidationError {
            #expect(e.diagnostics.count == 1 && e.diagnostics[0].description.contains("U+0000"), "\(e)")
        }
    }
}
