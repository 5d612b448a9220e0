import Foundation
import Testing
@testable import APOEngine

/// A tiny LLaMA written as GGUF by the test (F32, Q/K permuted the way llama.cpp's converter does),
/// so every loader path is checked against known weights; and the real SmolLM2 file.
struct ModelLoaderTests {
    typealias S = ModelFilesTestSupport

    static let tinyConfig = LlamaConfig(
        vocabSize: 20, hiddenSize: 8, intermediateSize: 12, layerCount: 2, headCount: 2, kvHeadCount: 1,
        ropeTheta: 5000, rmsNormEps: 1e-6, tiedEmbeddings: false, contextLength: 64)

    /// Deterministic weights: value k of tensor t is a hash of (t, k), distinct everywhere.
    static func tinyParameters(_ config: LlamaConfig = tinyConfig) -> ModelParameters {
        let p = ModelParameters(config: config)
        for (t, tensor) in p.layout.tensors.enumerated() {
            for k in 0..<tensor.count {
                p.pointer(tensor.offset)[k] = Float((t * 7919 + k * 104_729) % 2003) / 1000 - 1
            }
        }
        return p
    }

    /// "a", "b", "ab" (merge "a b"), then filler tokens "x3", "x4", ...
    static func tinyTokens(_ count: Int) -> [GGUFValue] {
        let first = ["a", "b", "ab"]
        return (0..<count).map { (i: Int) -> GGUFValue in .string(i < first.count ? first[i] : "x\(i)") }
    }

    /// The GGUF llama.cpp's converter would write for `parameters` (F32 throughout).
    static func tinyGGUF(_ parameters: ModelParameters, omit: Set<String> = [], reshape: [String: [Int]] = [:],
                         architecture: String = "llama", tokenCount: Int? = nil, extraMetadata: [(String, GGUFValue)] = []) -> GGUFWriter {
        let c = parameters.config
        var w = GGUFWriter()
        w.metadata = [
            ("general.architecture", .string(architecture)),
            ("\(architecture).embedding_length", .uint32(UInt32(c.hiddenSize))),
            ("\(architecture).block_count", .uint32(UInt32(c.layerCount))),
            ("\(architecture).feed_forward_length", .uint32(UInt32(c.intermediateSize))),
            ("\(architecture).attention.head_count", .uint32(UInt32(c.headCount))),
            ("\(architecture).attention.head_count_kv", .uint32(UInt32(c.kvHeadCount))),
            ("\(architecture).rope.freq_base", .float32(c.ropeTheta)),
            ("\(architecture).attention.layer_norm_rms_epsilon", .float32(c.rmsNormEps)),
            ("\(architecture).context_length", .uint32(UInt32(c.contextLength))),
            ("\(architecture).vocab_size", .uint32(UInt32(c.vocabSize))),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("gpt2")),
            ("tokenizer.ggml.tokens", .array(.string, tinyTokens(tokenCount ?? c.vocabSize))),
            ("tokenizer.ggml.merges", .array(.string, [.string("a b")])),
            ("tokenizer.ggml.eos_token_id", .uint32(1)),
            ("tokenizer.chat_template", .string("{{ messages }}")),
        ] + extraMetadata
        let sources = ModelLoader.ggufSources(for: c)
        for tensor in parameters.layout.tensors {
            guard let source = sources[tensor.name], !omit.contains(source.ggufName) else { continue }
            var values = Array(UnsafeBufferPointer(start: parameters.pointer(tensor.offset), count: tensor.count))
            if let heads = source.ropeHeads {
                values.withUnsafeMutableBufferPointer {
                    RoPELayout.permuteToGGUF($0.baseAddress!, heads: heads, headDim: c.headDim, columns: tensor.shape[1])
                }
            }
            let ne = reshape[source.ggufName] ?? tensor.shape.reversed()
            w.tensors.append(.init(name: source.ggufName, ne: ne, values: values))
        }
        return w
    }

    @Test func loadsTinyGGUFIntoHFLayout() throws {
        let original = Self.tinyParameters()
        try S.withTemporaryFile(Self.tinyGGUF(original).encoded()) { path in
            let model = try ModelLoader.load(path: path)
            #expect(model.config == Self.tinyConfig)
            #expect(model.parameters.values.toArray() == original.values.toArray())
            #expect(model.chatTemplate == "{{ messages }}")
            #expect(model.tokenizer.vocabularySize == 20 && model.tokenizer.eosID == 1)
            #expect(model.tokenizer.encode("abab") == [2, 2])  // merge "a b" → token "ab"
        }
    }

    @Test func tokenizerLargerThanEmbeddingIsRefused() throws {
        let w = Self.tinyGGUF(Self.tinyParameters(), tokenCount: 25)
        _ = try S.withTemporaryFile(w.encoded()) { path in
            #expect(throws: ModelFileError.invalid(file: path, field: "tokenizer vocabulary", expected: "at most the model's 20 embedding rows", found: "25 tokens")) {
                try ModelLoader.load(path: path)
            }
        }
    }

    @Test func tiedWhenThereIsNoOutputTensor() throws {
        var config = Self.tinyConfig
        config.tiedEmbeddings = true
        let original = Self.tinyParameters(config)
        try S.withTemporaryFile(Self.tinyGGUF(original).encoded()) { path in
            let model = try ModelLoader.load(path: path)
            #expect(model.config.tiedEmbeddings)
            #expect(model.parameters.layout.output == model.parameters.layout.tokenEmbedding)
            #expect(model.parameters.values.toArray() == original.values.toArray())
        }
    }

    @Test func missingTensorIsNamed() throws {
        let w = Self.tinyGGUF(Self.tinyParameters(), omit: ["blk.1.attn_k.weight"])
        _ = try S.withTemporaryFile(w.encoded()) { path in
            #expect(throws: ModelFileError.missingTensor(file: path, tensor: "blk.1.attn_k.weight")) {
                try ModelLoader.load(path: path)
            }
        }
    }

    @Test func shapeMismatchShowsBothShapes() throws {
        let w = Self.tinyGGUF(Self.tinyParameters(), reshape: ["blk.0.ffn_up.weight": [12, 8]])
        _ = try S.withTemporaryFile(w.encoded()) { path in
            #expect(throws: ModelFileError.shapeMismatch(file: path, tensor: "blk.0.ffn_up.weight", expected: [12, 8], found: [8, 12])) {
                try ModelLoader.load(path: path)
            }
        }
    }

    /// Dimensions the file's tensors do not back are refused before the arena is allocated.
    @Test func hostileDimensionsFailBeforeAllocating() throws {
        var w = Self.tinyGGUF(Self.tinyParameters())
        w.metadata.removeAll { $0.0 == "llama.block_count" || $0.0 == "llama.embedding_length" }
        w.metadata.append(("llama.block_count", .uint64(1_000_000_000)))
        w.metadata.append(("llama.embedding_length", .uint32(8)))
        _ = try S.withTemporaryFile(w.encoded()) { path in
            #expect(throws: ModelFileError.missingTensor(file: path, tensor: "blk.2.attn_norm.weight")) {
                try ModelLoader.load(path: path)
            }
        }
        w.metadata.removeAll { $0.0 == "llama.block_count" || $0.0 == "llama.embedding_length" }
        w.metadata.append(("llama.block_count", .uint32(2)))
        w.metadata.append(("llama.embedding_length", .uint32(1 << 30)))
        _ = try S.withTemporaryFile(w.encoded()) { path in
            #expect(throws: ModelFileError.shapeMismatch(file: path, tensor: "token_embd.weight", expected: [20, 1 << 30], found: [20, 8])) {
                try ModelLoader.load(path: path)
            }
        }
    }

    @Test func unsupportedArchitectureIsRefused() throws {
        let w = Self.tinyGGUF(Self.tinyParameters(), architecture: "gpt2")
        _ = try S.withTemporaryFile(w.encoded()) { path in
            #expect(throws: ModelFileError.unsupportedArchitecture(file: path, found: "gpt2", supported: ["llama"])) {
                try ModelLoader.load(path: path)
            }
        }
    }

    @Test func badMetadataTypeIsNamed() throws {
        var w = Self.tinyGGUF(Self.tinyParameters())
        w.metadata.removeAll { $0.0 == "llama.block_count" }
        w.metadata.append(("llama.block_count", .string("two")))
        _ = try S.withTemporaryFile(w.encoded()) { path in
            #expect(throws: ModelFileError.invalid(file: path, field: "metadata 'llama.block_count'", expected: "an integer", found: "string \"two\"")) {
                try ModelLoader.load(path: path)
            }
        }
        w.metadata.removeAll { $0.0 == "llama.block_count" }
        _ = try S.withTemporaryFile(w.encoded()) { path in
            #expect(throws: ModelFileError.missingMetadata(file: path, key: "llama.block_count")) {
                try ModelLoader.load(path: path)
            }
        }
    }

    // MARK: - RoPE layout

    @Test func unpermuteInvertsPermute() {
        for (heads, headDim, columns) in [(9, 64, 3), (3, 64, 5), (2, 4, 1), (1, 2, 2)] {
            let n = heads * headDim * columns
            let original = (0..<n).map { Float($0) }
            var w = original
            w.withUnsafeMutableBufferPointer { RoPELayout.permuteToGGUF($0.baseAddress!, heads: heads, headDim: headDim, columns: columns) }
            #expect(w != original || headDim == 2)
            w.withUnsafeMutableBufferPointer { RoPELayout.unpermuteFromGGUF($0.baseAddress!, heads: heads, headDim: headDim, columns: columns) }
            #expect(w == original)
        }
    }

    /// llama.cpp's `permute`: `w.reshape(heads, 2, d/2, cols).swapaxes(1, 2)`; for one head of
    /// d = 8 the GGUF rows are HF rows 0,4,1,5,2,6,3,7 (hand-derived).
    @Test func permuteMatchesConverterOrder() {
        var w: [Float] = (0..<16).map { Float($0) }  // 2 heads × 8 rows × 1 column
        w.withUnsafeMutableBufferPointer { RoPELayout.permuteToGGUF($0.baseAddress!, heads: 2, headDim: 8, columns: 1) }
        #expect(w == [0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15])
    }

    // MARK: - The real model

    /// Loaded once for the suite (about a second).
    static let smolLM: Result<LoadedModel, Error> = Result { try ModelLoader.load(path: try S.smolLMPath()) }

    @Test func smolLMConfigMatchesSpec() throws {
        let model = try Self.smolLM.get()
        // APO.md §6.
        #expect(model.config == LlamaConfig(
            vocabSize: 49_152, hiddenSize: 576, intermediateSize: 1536, layerCount: 30, headCount: 9,
            kvHeadCount: 3, headDim: 64, ropeTheta: 100_000, rmsNormEps: 1e-5, tiedEmbeddings: true,
            contextLength: 8192))
        #expect(model.chatTemplate?.contains("<|im_start|>") == true)
        #expect(model.extraTensors.isEmpty)
        // §6: BOS 1, EOS 2, no BOS added; "\n\n" between words is two tokens, one (1116) before a
        // digit. Expected ids from llama.cpp's llama-tokenize on this file.
        #expect(model.tokenizer.bosID == 1 && model.tokenizer.eosID == 2)
        #expect(model.tokenizer.encode("a\n\nb") == [81, 198, 198, 82])
        #expect(model.tokenizer.encode("\n\n1") == [1116, 33])
    }

    /// What `apoctl model info` prints, from headers only (counts from the `gguf` Python reader).
    @Test func smolLMSummary() throws {
        let summary = try ModelFileSummary(path: try S.smolLMPath())
        #expect(summary.format == "gguf" && summary.ggufVersion == 3 && summary.architecture == "llama")
        #expect(summary.tensorCount == 272 && summary.tensorTypes == ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        #expect(summary.config?.hiddenSize == 576 && summary.configError == nil)
        #expect(summary.tokenizer?.model == "gpt2" && summary.tokenizer?.pre == "smollm")
        #expect(summary.tokenizer?.vocabularySize == 49_152 && summary.tokenizer?.mergeCount == 48_900)
        #expect(summary.tokenizer?.addBOS == false && summary.tokenizer?.hasChatTemplate == true)
        #expect(summary.text.contains("hidden 576, layers 30, heads 9 (kv 3, head dim 64), ffn 1536"))
    }

    /// Q/K rows after un-permutation against Hugging Face transformers' own GGUF loader (which
    /// reverse-permutes Q/K) — fixture from `make_fixture.py`. Both dequantise the same blocks in
    /// fp32, so they agree to rounding (1e-6).
    @Test func smolLMQKRowsMatchTransformers() throws {
        let model = try Self.smolLM.get()
        let reference = try DequantizationTests.Reference.load()
        #expect(reference.hf_rows.count == 3)
        for (name, ref) in reference.hf_rows {
            let tensor = try #require(model.parameters.layout.tensor(named: name))
            #expect(tensor.shape == ref.shape)
            let w = model.parameters.pointer(tensor.offset)
            for (rowKey, values) in ref.rows {
                let row = try #require(Int(rowKey))
                for (j, v) in values.enumerated() {
                    #expect(abs(Double(w[row * tensor.shape[1] + j]) - v) <= 1e-6, "\(name)[\(row), \(j)]")
                }
                let sum = (0..<tensor.shape[1]).reduce(0.0) { $0 + Double(w[row * tensor.shape[1] + $1]) }
                #expect(abs(sum - ref.row_sums[rowKey]!) <= 1e-4, "\(name) row \(row) sum")
            }
        }
    }
}
