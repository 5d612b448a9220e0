import Foundation
import Testing
@testable import APOEngine

/// Token ids read from model files index the embedding table: an id outside the vocabulary must be a
/// clear error naming the file and the field, never a lookup past the table (issue 9).
struct ModelFileTokenIDTests {
    typealias S = ModelFilesTestSupport

    /// The tiny GGUF of `ModelLoaderTests` (20 tokens) with `metadata` added or replaced.
    func loadTinyGGUF(_ metadata: [(String, GGUFValue)]) throws -> (path: String, result: Result<LoadedModel, Error>) {
        var w = ModelLoaderTests.tinyGGUF(ModelLoaderTests.tinyParameters())
        let keys = Set(metadata.map(\.0))
        w.metadata.removeAll { keys.contains($0.0) }
        w.metadata += metadata
        let dir = try S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("m.gguf")
        try Data(w.encoded()).write(to: url)
        return (url.path, Result { try ModelLoader.load(path: url.path, threads: 1) })
    }

    @Test(arguments: [
        ("tokenizer.ggml.bos_token_id", GGUFValue.uint32(20)),
        ("tokenizer.ggml.eos_token_id", GGUFValue.int32(-1)),
        ("tokenizer.ggml.padding_token_id", GGUFValue.uint64(1 << 40)),
        ("tokenizer.ggml.unknown_token_id", GGUFValue.uint32(4_000_000_000)),
    ])
    func ggufSpecialIDOutsideTheVocabularyIsNamed(key: String, value: GGUFValue) throws {
        let (path, result) = try loadTinyGGUF([(key, value)])
        #expect(throws: ModelFileError.invalid(file: path, field: "metadata '\(key)'", expected: "a token id in 0..<20", found: String(value.intValue!))) {
            try result.get()
        }
    }

    @Test func ggufSpecialIDsInsideTheVocabularyLoad() throws {
        let (_, result) = try loadTinyGGUF([("tokenizer.ggml.bos_token_id", .uint32(19)), ("tokenizer.ggml.padding_token_id", .uint8(0))])
        let model = try result.get()
        #expect(model.tokenizer.bosID == 19 && model.tokenizer.data.paddingID == 0)
    }

    @Test func ggufMalformedMergeIsNamed() throws {
        let (path, result) = try loadTinyGGUF([("tokenizer.ggml.merges", .array(.string, [.string("a b"), .string("ab")]))])
        #expect(throws: ModelFileError.invalid(file: path, field: "tokenizer", expected: "a tokenizer the engine supports",
                                                found: "tokenizer.ggml.merges[1] = 'ab' is not two space-separated tokens")) {
            try result.get()
        }
    }

    /// A model directory written by `saveDirectory`, then `edit` applied to one of its JSON files.
    func savedDirectory(_ file: String, edit: (inout [String: Any]) -> Void) throws -> (dir: URL, target: URL) {
        let model = try ModelDirectoryTests.tinyModel()
        let dir = try S.temporaryDirectory()
        let target = dir.appendingPathComponent("rm")
        let backbone = RewardModel(parameters: model.parameters, head: [Float](repeating: 0.5, count: model.config.hiddenSize),
                                   pooling: .last, format: .forTokenizer(model.tokenizer))
        try RewardModelFiles.save(backbone, tokenizer: model.tokenizer, chatTemplate: nil, to: target)
        let url = target.appendingPathComponent(file)
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return (dir, target)
    }

    /// A directory in apo's earlier tokenizer format (TokenizerData JSON) with a bad id.
    @Test func tokenizerJSONSpecialIDOutsideTheVocabularyIsNamed() throws {
        let (dir, target) = try savedDirectory(ModelLoader.tokenizerFileName) { _ in }
        defer { try? FileManager.default.removeItem(at: dir) }
        var legacy = try ModelLoader.readTokenizerData(directory: target)
        legacy.paddingID = 99
        try JSONEncoder().encode(legacy).write(to: target.appendingPathComponent(ModelLoader.tokenizerFileName))
        let file = target.appendingPathComponent(ModelLoader.tokenizerFileName).path
        #expect(throws: ModelFileError.invalid(file: file, field: "tokenizer", expected: "a tokenizer the engine supports",
                                                found: "tokenizer.ggml.padding_token_id = 99 is outside the vocabulary (0..<20)")) {
            try ModelLoader.load(path: target.path, threads: 1)
        }
    }

    /// Hugging Face's tokenizer_config.json naming a special token the vocabulary does not have.
    @Test func tokenizerConfigSpecialTokenOutsideTheVocabularyIsNamed() throws {
        let (dir, target) = try savedDirectory(HFTokenizerFiles.configFileName) { $0["pad_token"] = "<no-such-token>" }
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = target.appendingPathComponent(HFTokenizerFiles.configFileName).path
        #expect(throws: ModelFileError.invalid(file: file, field: "pad_token", expected: "a token of the vocabulary",
                                                found: "<no-such-token>")) {
            try ModelLoader.load(path: target.path, threads: 1)
        }
    }

    @Test(arguments: [("bos", 20), ("sep", -1), ("eos", 1_000_000), ("pad", 20)])
    func rewardModelJSONIDOutsideTheVocabularyIsNamed(field: String, id: Int) throws {
        let (dir, target) = try savedDirectory(RewardModelFiles.settingsFileName) { json in
            var format = json["format"] as! [String: Any]
            format[field] = id
            json["format"] = format
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = target.appendingPathComponent(RewardModelFiles.settingsFileName).path
        #expect(throws: ModelFileError.invalid(file: file, field: "format.\(field)", expected: "a token id in 0..<20", found: String(id))) {
            try RewardModelFiles.load(path: target.path, threads: 1)
        }
    }

    @Test func rewardModelJSONWithIDsInsideTheVocabularyLoads() throws {
        let (dir, target) = try savedDirectory(RewardModelFiles.settingsFileName) { json in
            json["format"] = ["sep": 19, "eos": 1, "pad": 0]  // no bos: framing without one
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let loaded = try RewardModelFiles.load(path: target.path, threads: 1)
        #expect(loaded.model.format == RewardInputFormat(bos: nil, sep: 19, eos: 1, pad: 0))
        #expect(loaded.hadHead)
    }
}
