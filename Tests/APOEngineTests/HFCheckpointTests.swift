import Foundation
import Testing
@testable import APOEngine

/// A LLaMA checkpoint as Hugging Face transformers writes it (Fixtures/hfcheckpoint/make_fixture.py):
/// two safetensors shards named by model.safetensors.index.json, tensors in bf16, f16 and f32, a
/// tied embedding, RoPE theta in transformers 5's `rope_parameters`, and a byte-level BPE
/// `tokenizer.json` trained by `tokenizers`. apo loads it as it loads a GGUF and gives
/// transformers' fp32 logits.
///
/// Tolerance 1e-4 absolute on logits (|logit| ≲ 10 here): both sides compute in fp32 on the same
/// exactly-upcast weights, so only summation order differs (measured 4.1e-6). A wrong RoPE theta, pairing or
/// GQA mapping, or a misread f16/bf16 tensor moves logits by 1e-2 or more.
struct HFCheckpointTests {
    struct Reference: Decodable {
        struct Case: Decodable { let text: String; let ids: [Int32]; let logits: [[Float]] }
        let vocab_size: Int
        let shards: [String]
        let dtypes: [String: Int]
        let cases: [Case]
    }

    static func directory() throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures/hfcheckpoint/tiny-llama", withExtension: nil))
    }

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: RealSmolLM.fixture("hfcheckpoint/reference.json"))
    }

    /// Largest |apo − reference| over every position's logits of every case.
    static func worstLogitDifference(_ loaded: LoadedModel, _ reference: Reference) throws -> Float {
        let model = try LlamaModel(loaded: loaded)
        let state = InferenceState(model: model, slots: 1, maxPositions: 32, threads: 1, decodeWeights: .float32)
        var worst: Float = 0
        for c in reference.cases {
            let n = c.ids.count
            try state.forward(tokens: c.ids, slots: [Int](repeating: 0, count: n), positions: (0..<Int32(n)).map { $0 }, output: .all)
            for p in 0..<n {
                let logits = state.logits(p)
                for (v, expected) in zip(logits, c.logits[p]) { worst = max(worst, abs(v - expected)) }
            }
        }
        return worst
    }

    @Test func shardedMixedTypeCheckpointGivesTransformersLogits() throws {
        let reference = try Self.reference()
        #expect(reference.shards.count == 2 && reference.dtypes.count == 3, "the fixture exercises shards and bf16/f16/f32")
        let loaded = try ModelLoader.load(path: try Self.directory().path, threads: 1)
        #expect(loaded.config.tiedEmbeddings && loaded.config.ropeTheta == 5000 && loaded.config.kvHeadCount == 2)
        #expect(loaded.config.vocabSize == reference.vocab_size)
        for c in reference.cases {
            #expect(loaded.tokenizer.encode(c.text, parseSpecial: false) == c.ids, "token ids of \(c.text.debugDescription)")
        }
        let worst = try Self.worstLogitDifference(loaded, reference)
        #expect(worst < 1e-4, "max |Δ logit| \(worst)")
    }

    /// The same checkpoint through GGUF: exported f32 and read back, the logits are the same bits
    /// (the Q/K rows go into llama.cpp's order and back).
    @Test func checkpointExportsToGGUFAndBack() throws {
        let loaded = try ModelLoader.load(path: try Self.directory().path, threads: 1)
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("tiny.gguf")
        try GGUFExport.write(loaded.parameters, tokenizer: loaded.tokenizer.data, type: .f32, name: "tiny", to: file, threads: 1)
        let back = try ModelLoader.load(path: file.path, threads: 1)
        #expect(sameBits(back.parameters, loaded.parameters))
        #expect(back.tokenizer.data.tokens == loaded.tokenizer.data.tokens && back.tokenizer.data.merges == loaded.tokenizer.data.merges)
        let worst = try Self.worstLogitDifference(back, try Self.reference())
        #expect(worst < 1e-4, "max |Δ logit| \(worst)")
    }

    @Test func aMissingShardIsNamed() throws {
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = dir.appendingPathComponent("m")
        try FileManager.default.copyItem(at: try Self.directory(), to: copy)
        let shard = try Self.reference().shards[1]
        try FileManager.default.removeItem(at: copy.appendingPathComponent(shard))
        do {
            _ = try ModelLoader.load(path: copy.path, threads: 1)
            Issue.record("a checkpoint without its second shard loaded")
        } catch {
            #expect("\(error)".contains(shard), "\(error)")
        }
    }
}

/// Whether two models' weights are the same bits.
func sameBits(_ a: ModelParameters, _ b: ModelParameters) -> Bool {
    a.values.count == b.values.count && memcmp(a.values.pointer, b.values.pointer, a.values.count * 4) == 0
}
