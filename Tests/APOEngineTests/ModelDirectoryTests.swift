import Foundation
import Testing
@testable import APOEngine

/// Model directories (model.safetensors + config.json + tokenizer.json): write → read round trips,
/// Hugging Face-style inputs (F16/BF16 tensors, config defaults), and corrupt safetensors headers.
struct ModelDirectoryTests {
    typealias S = ModelFilesTestSupport

    static func tinyModel(tied: Bool = false) throws -> LoadedModel {
        var config = ModelLoaderTests.tinyConfig
        config.tiedEmbeddings = tied
        let bytes = ModelLoaderTests.tinyGGUF(ModelLoaderTests.tinyParameters(config)).encoded()
        return try S.withTemporaryFile(bytes) { try ModelLoader.load(path: $0) }
    }

    @Test(arguments: [false, true])
    func saveThenLoadRoundTrips(tied: Bool) throws {
        let model = try Self.tinyModel(tied: tied)
        let dir = try S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("model")
        let score: [Float] = (0..<8).map { Float($0) * 0.25 - 1 }
        try ModelLoader.saveDirectory(model.parameters, tokenizer: model.tokenizer, chatTemplate: "T",
                                      extraTensors: ["score.weight": ([1, 8], score)], to: target)
        let back = try ModelLoader.load(path: target.path)
        #expect(back.config == model.config)
        #expect(back.parameters.values.toArray() == model.parameters.values.toArray())
        #expect(back.tokenizer.data.tokens == model.tokenizer.data.tokens)
        #expect(back.tokenizer.encode("abab") == [2, 2])
        #expect(back.chatTemplate == "T")
        #expect(back.extraTensors.count == 1)
        #expect(back.extraTensors["score.weight"]?.0 == [1, 8] && back.extraTensors["score.weight"]?.1 == score)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: target.path))
                == ["model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"])

        // Saving again replaces the directory whole, and leaves no temporary siblings.
        try ModelLoader.saveDirectory(back.parameters, tokenizer: back.tokenizer, chatTemplate: nil, to: target)
        let again = try ModelLoader.load(path: target.path)
        #expect(again.extraTensors.isEmpty && again.chatTemplate == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["model"])
    }

    @Test func configJSONHasHuggingFaceKeys() throws {
        let json = try ModelLoaderTests.tinyConfig.huggingFaceConfigJSON(bosID: nil, eosID: 1)
        let c = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        #expect(c["architectures"] as? [String] == ["LlamaForCausalLM"])
        #expect(c["hidden_size"] as? Int == 8 && c["intermediate_size"] as? Int == 12)
        #expect(c["num_hidden_layers"] as? Int == 2 && c["num_attention_heads"] as? Int == 2 && c["num_key_value_heads"] as? Int == 1)
        #expect(c["rms_norm_eps"] as? Double == 1e-6 && c["rope_theta"] as? Double == 5000)
        #expect(c["vocab_size"] as? Int == 20 && c["tie_word_embeddings"] as? Bool == false)
        #expect(c["max_position_embeddings"] as? Int == 64)
    }

    /// A directory as Hugging Face writes it: half-precision tensors, keys left to their defaults.
    @Test func readsHalfPrecisionCheckpointWithDefaults() throws {
        let model = try Self.tinyModel(tied: true)
        let dir = try S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = model.parameters.layout
        // Round every weight to bf16 for the even layers' tensors and to f16 for the rest.
        var header: [String: Any] = [:]
        var data: [UInt8] = []
        var expected = [Float](repeating: 0, count: layout.totalCount)
        for (i, t) in layout.tensors.enumerated() {
            let values = Array(UnsafeBufferPointer(start: model.parameters.pointer(t.offset), count: t.count))
            let useBF16 = i % 2 == 0
            let start = data.count
            for (k, v) in values.enumerated() {
                let bits: UInt16 = useBF16 ? UInt16(v.bitPattern >> 16) : Float16(v).bitPattern
                data += [UInt8(bits & 0xff), UInt8(bits >> 8)]
                expected[t.offset + k] = useBF16 ? Float(bitPattern: v.bitPattern & 0xffff_0000) : Float(Float16(v))
            }
            header[t.name] = ["dtype": useBF16 ? "BF16" : "F16", "shape": t.shape, "data_offsets": [start, data.count]]
        }
        header["lm_head.weight"] = ["dtype": "F16", "shape": [0], "data_offsets": [data.count, data.count]]
        try Self.writeSafetensors(header: header, data: data, to: dir.appendingPathComponent("model.safetensors"))
        let config: [String: Any] = [
            "model_type": "llama", "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 20, "rms_norm_eps": 1e-6,
            "rope_theta": 5000, "tie_word_embeddings": true, "max_position_embeddings": 64, "rope_scaling": NSNull(),
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("config.json"))
        try JSONEncoder().encode(model.tokenizer.data).write(to: dir.appendingPathComponent("tokenizer.json"))

        let back = try ModelLoader.load(path: dir.path)
        #expect(back.config == model.config)
        #expect(back.parameters.values.toArray() == expected)
        #expect(back.extraTensors.isEmpty)  // a tied checkpoint's lm_head copy is dropped
    }

    static func writeSafetensors(header: [String: Any], data: [UInt8], to url: URL) throws {
        let json = try JSONSerialization.data(withJSONObject: header)
        var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        bytes += json
        bytes += data
        try Data(bytes).write(to: url)
    }

    func safetensorsError(header: [String: Any], data: [UInt8]) throws -> ModelFileError? {
        let dir = try S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.safetensors")
        try Self.writeSafetensors(header: header, data: data, to: url)
        do {
            _ = try SafetensorsFile(path: url.path)
            return nil
        } catch let e as ModelFileError {
            return e
        }
    }

    @Test func safetensorsDefectsAreNamed() throws {
        let ok: [String: Any] = ["a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]]]
        #expect(try safetensorsError(header: ok, data: [UInt8](repeating: 0, count: 8)) == nil)

        let short = try #require(try safetensorsError(header: ok, data: [0, 0, 0]))
        guard case let .truncated(_, f1, _, _) = short else { Issue.record("wrong error \(short)"); return }
        #expect(f1 == "tensor 'a' data")

        let wrongSize: [String: Any] = ["a": ["dtype": "F32", "shape": [3], "data_offsets": [0, 8]]]
        let e2 = try #require(try safetensorsError(header: wrongSize, data: [UInt8](repeating: 0, count: 12)))
        guard case let .invalid(_, f2, expected2, _) = e2 else { Issue.record("wrong error \(e2)"); return }
        #expect(f2 == "tensor 'a' data_offsets" && expected2.hasPrefix("12 bytes"))

        let badType: [String: Any] = ["a": ["dtype": "Q4", "shape": [2], "data_offsets": [0, 8]]]
        let e3 = try #require(try safetensorsError(header: badType, data: [UInt8](repeating: 0, count: 8)))
        guard case let .invalid(_, f3, _, _) = e3 else { Issue.record("wrong error \(e3)"); return }
        #expect(f3 == "tensor 'a' dtype")

        let overlap: [String: Any] = [
            "a": ["dtype": "F32", "shape": [2], "data_offsets": [0, 8]],
            "b": ["dtype": "F32", "shape": [2], "data_offsets": [4, 12]],
        ]
        let e4 = try #require(try safetensorsError(header: overlap, data: [UInt8](repeating: 0, count: 12)))
        guard case let .invalid(_, f4, _, _) = e4 else { Issue.record("wrong error \(e4)"); return }
        #expect(f4 == "tensor 'b' data_offsets")

        let negative: [String: Any] = ["a": ["dtype": "F32", "shape": [-2], "data_offsets": [0, 8]]]
        #expect(try safetensorsError(header: negative, data: [UInt8](repeating: 0, count: 8)) != nil)

        // Header length beyond the file.
        let dir = try S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("h.safetensors")
        try Data(withUnsafeBytes(of: UInt64(1000).littleEndian) { Array($0) } + Array("{}".utf8)).write(to: url)
        #expect(throws: ModelFileError.truncated(file: url.path, field: "JSON header", neededBytes: 1000, availableBytes: 2)) {
            try SafetensorsFile(path: url.path)
        }
        try Data(withUnsafeBytes(of: UInt64(3).littleEndian) { Array($0) } + Array("{x}".utf8)).write(to: url)
        #expect(throws: ModelFileError.self) { try SafetensorsFile(path: url.path) }
    }

    @Test func missingDirectoryPiecesAreNamed() throws {
        let model = try Self.tinyModel()
        let dir = try S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let target = dir.appendingPathComponent("m")
        try ModelLoader.saveDirectory(model.parameters, tokenizer: model.tokenizer, chatTemplate: nil, to: target)
        try FileManager.default.removeItem(at: target.appendingPathComponent("tokenizer.json"))
        #expect(throws: ModelFileError.self) { try ModelLoader.load(path: target.path) }

        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: target.appendingPathComponent("config.json"))) as? [String: Any])
        config["model_type"] = "gpt_neox"
        config["architectures"] = ["GPTNeoXForCausalLM"]
        try JSONSerialization.data(withJSONObject: config).write(to: target.appendingPathComponent("config.json"))
        #expect(throws: ModelFileError.unsupportedArchitecture(file: target.appendingPathComponent("config.json").path, found: "gpt_neox", supported: ["llama", "LlamaForCausalLM"])) {
            try ModelLoader.load(path: target.path)
        }
    }
}
