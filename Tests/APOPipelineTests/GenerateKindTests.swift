import APOEngine
import APOJSON
import Foundation
import Testing
@testable import APOPipeline

/// A job context whose `checkCancelled` starts throwing once `cancelAfterProgress` progress
/// reports have arrived: a worker killed mid-job, as far as the kind can tell.
final class InterruptedJobContext: JobContext {
    let params: [String: JSONValue]
    let outputDirectory: URL
    let checkpointDirectory: URL
    let threads = 2
    /// A cache of this context's own (tests never touch the user's).
    lazy var trunkCache = TrunkStateCache(root: FileManager.default.temporaryDirectory
        .appendingPathComponent("apo-trunk-cache-\(UUID().uuidString)"), capacityBytes: 100_000_000)
    let cancelAfterProgress: Int
    private(set) var progressCount = 0
    private(set) var messages: [String] = []

    init(params: [String: JSONValue], output: URL, checkpoint: URL, cancelAfterProgress: Int = .max) throws {
        self.params = params
        outputDirectory = output
        checkpointDirectory = checkpoint
        self.cancelAfterProgress = cancelAfterProgress
        for d in [output, checkpoint] { try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true) }
    }

    func reportProgress(done: Int, total: Int, message: String?) {
        progressCount += 1
        messages.append(message ?? "")
    }
    func log(_ line: String) {}
    func recordMetric(step: Int, name: String, value: Double) {}
    func checkCancelled() throws { if progressCount >= cancelAfterProgress { throw JobCancelled() } }
    func writeArtifact(named name: String, _ write: (URL) throws -> Void) throws -> URL {
        let final = outputDirectory.appendingPathComponent(name)
        let tmp = outputDirectory.appendingPathComponent("." + name + ".tmp")
        try write(tmp)
        _ = rename(tmp.path, final.path)
        return final
    }
}

@Suite(.serialized) struct GenerateKindTests {
    static let queries: [[String: String]] = [
        ["query_id": "q1", "query": "\n\nHuman: What is the capital of France?\n\nAssistant:"],
        ["query_id": "q2", "query": "\n\nHuman: Give me a word that rhymes with cat.\n\nAssistant:"],
        ["query_id": "q3", "query": "\n\nHuman: Count to three.\n\nAssistant: One, two, three.\n\nHuman: Now backwards.\n\nAssistant:"],
    ]

    func modelPath() throws -> String {
        let path = repositoryRoot().appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw FormatError(file: path, message: "model missing: run `.ci/run` or `apoctl model pull smollm2-135m-instruct`")
        }
        return path
    }

    func params(_ input: URL) throws -> [String: JSONValue] {
        var p: [String: JSONValue] = [:]
        for spec in GenerateKind.parameters { if let d = spec.defaultValue { p[spec.name] = d } }
        p["model"] = .string(try modelPath())
        p["input"] = .string(input.path)
        p["samples"] = .int(2)
        p["max_new_tokens"] = .int(6)
        p["chunk_size"] = .int(1)
        p["temperature"] = .double(1.0)
        p["top_p"] = .double(0.95)
        p["slots"] = .int(4)
        p["threads"] = .int(2)
        return p
    }

    @Test func killedJobResumesFromItsLastChunkWithIdenticalOutput() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let input = dir.file("queries.json")
        try JSONSerialization.data(withJSONObject: Self.queries).write(to: input)
        let p = try params(input)

        let whole = try InterruptedJobContext(params: p, output: dir.file("a/out"), checkpoint: dir.file("a/ckpt"))
        let outputs = try GenerateKind.run(whole)
        let samples = try LLMSamplesFile.read(URL(fileURLWithPath: outputs["samples"]!.stringValue!))
        #expect(samples.map(\.queryID) == ["q1", "q2", "q3"])
        #expect(samples.allSatisfy { $0.samples.count == 2 })
        #expect(samples.map(\.query) == Self.queries.map { $0["query"]! })
        #expect(samples.contains { !$0.samples[0].isEmpty })

        // Killed after the first chunk; a fresh context on the same checkpoint directory resumes.
        let first = try InterruptedJobContext(params: p, output: dir.file("b/out"), checkpoint: dir.file("b/ckpt"),
                                              cancelAfterProgress: 1)
        #expect(throws: JobCancelled.self) { try GenerateKind.run(first) }
        let second = try InterruptedJobContext(params: p, output: dir.file("b/out"), checkpoint: dir.file("b/ckpt"))
        let resumed = try GenerateKind.run(second)
        #expect(second.messages.first == "chunk 1/3 (resumed)")
        #expect(second.messages.dropFirst().allSatisfy { !$0.contains("resumed") })
        let a = try Data(contentsOf: URL(fileURLWithPath: outputs["samples"]!.stringValue!))
        let b = try Data(contentsOf: URL(fileURLWithPath: resumed["samples"]!.stringValue!))
        #expect(a == b)

        // max_queries answers the first N queries only, each exactly as the whole job did; the
        // second of two shards of the cut list holds the second query.
        var cut = p
        cut["max_queries"] = .int(2)
        let cutSamples = try LLMSamplesFile.read(URL(fileURLWithPath: try GenerateKind.run(
            try InterruptedJobContext(params: cut, output: dir.file("c/out"), checkpoint: dir.file("c/ckpt")))["samples"]!.stringValue!))
        #expect(cutSamples == Array(samples.prefix(2)))
        cut["shard_index"] = .int(2)
        cut["shard_count"] = .int(2)
        let shard = try LLMSamplesFile.read(URL(fileURLWithPath: try GenerateKind.run(
            try InterruptedJobContext(params: cut, output: dir.file("d/out"), checkpoint: dir.file("d/ckpt")))["samples"]!.stringValue!))
        #expect(shard == [samples[1]])
        cut["max_queries"] = .int(-1)
        #expect(throws: JobParameterError.self) {
            try GenerateKind.run(try InterruptedJobContext(params: cut, output: dir.file("e/out"), checkpoint: dir.file("e/ckpt")))
        }
    }

    /// A LLaMA checkpoint as transformers writes it (sharded safetensors, bf16/f16/f32, the engine
    /// tests' fixture) is a `model` as a GGUF is.
    @Test func aTransformersCheckpointIsAModel() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let input = dir.file("queries.json")
        try JSONSerialization.data(withJSONObject: Self.queries).write(to: input)
        var p = try params(input)
        let checkpoint = repositoryRoot().appendingPathComponent("Tests/APOEngineTests/Fixtures/hfcheckpoint/tiny-llama")
        #expect(FileManager.default.fileExists(atPath: checkpoint.appendingPathComponent("model.safetensors.index.json").path))
        p["model"] = .string(checkpoint.path)
        p["max_prompt_tokens"] = .int(128)  // its context is 256
        let outputs = try GenerateKind.run(try InterruptedJobContext(params: p, output: dir.file("out"), checkpoint: dir.file("ckpt")))
        let samples = try LLMSamplesFile.read(URL(fileURLWithPath: outputs["samples"]!.stringValue!))
        #expect(samples.map(\.queryID) == ["q1", "q2", "q3"])
        #expect(samples.allSatisfy { $0.samples.count == 2 } && samples.contains { !$0.samples[0].isEmpty })
    }

    @Test func queriesComeFromPairsFiles() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let q = "\n\nHuman: Hi\n\nAssistant:"
        let input = try dir.write("pairs.json", """
            [{"text": ["\(q.debugDescription.dropFirst().dropLast())<sep> Hello", "\(q.debugDescription.dropFirst().dropLast())<sep> Go away"], "scores": [1, 0], "query_id": "h1"},
             {"text": ["\(q.debugDescription.dropFirst().dropLast())<sep> Hey", "\(q.debugDescription.dropFirst().dropLast())<sep> No"], "scores": [1, 0]},
             {"text": ["Other<sep> a", "Other<sep> b"], "scores": [0, 1]}]
            """)
        let queries = try GenerateKind.readQueries(input)
        #expect(queries.map(\.queryID) == ["h1", "pair-2"])
        #expect(queries.map(\.query) == [q, "Other"])
    }

    @Test func badInputIsAClearError() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let empty = try dir.write("empty.json", "[]")
        #expect(throws: FormatError(file: empty.path, message: "no queries (the file is an empty list)")) {
            try GenerateKind.readQueries(empty)
        }
        let input = try dir.write("q.json", #"[{"query_id": "a", "query": "x"}, {"query_id": "a", "query": "y"}]"#)
        #expect(throws: FormatError.self) { try GenerateKind.readQueries(input) }
        var p = try params(try dir.write("ok.json", #"[{"query_id": "a", "query": "x"}]"#))
        p["template"] = .string("jinja")
        let ctx = try InterruptedJobContext(params: p, output: dir.file("o"), checkpoint: dir.file("c"))
        let error = #expect(throws: JobParameterError.self) { try GenerateKind.run(ctx) }
        #expect(error?.description == "parameter 'template': 'jinja' is not chatml, raw or auto")
        p["template"] = .string("auto")
        p["decode_weights"] = .string("fp16")
        let ctx2 = try InterruptedJobContext(params: p, output: dir.file("o2"), checkpoint: dir.file("c2"))
        let error2 = #expect(throws: JobParameterError.self) { try GenerateKind.run(ctx2) }
        #expect(error2?.description == "parameter 'decode_weights': \"fp16\" is not one of f32, int8, file")
    }
}
