extension LlamaConfig {
    /// Architectures whose GGUF tensors map onto `ParameterLayout`.
    public static let supportedGGUFArchitectures = ["llama"]

    /// Reads the model's dimensions from GGUF metadata (`<arch>.embedding_length`, ...). The vocabulary
    /// size comes from `<arch>.vocab_size`, else the token list, else the embedding's shape; the
    /// output head is tied when the file has no `output.weight`.
    public init(gguf f: GGUFFile) throws {
        let arch = try f.requiredString("general.architecture")
        guard Self.supportedGGUFArchitectures.contains(arch) else {
            throw ModelFileError.unsupportedArchitecture(file: f.path, found: arch, supported: Self.supportedGGUFArchitectures)
        }
        func positive(_ key: String, _ value: Int) throws -> Int {
            guard value > 0 else {
                throw ModelFileError.invalid(file: f.path, field: "metadata '\(key)'", expected: "a positive integer", found: String(value))
            }
            return value
        }
        func int(_ suffix: String) throws -> Int { try positive("\(arch).\(suffix)", f.requiredInt("\(arch).\(suffix)")) }

        let hidden = try int("embedding_length")
        let layers = try int("block_count")
        let ffn = try int("feed_forward_length")
        let heads = try int("attention.head_count")
        let kvHeads = try f.optionalInt("\(arch).attention.head_count_kv").map { try positive("\(arch).attention.head_count_kv", $0) } ?? heads
        guard heads % kvHeads == 0 else {
            throw ModelFileError.invalid(file: f.path, field: "metadata '\(arch).attention.head_count_kv'", expected: "a divisor of head_count \(heads)", found: String(kvHeads))
        }
        let headDim: Int
        if let k = try f.optionalInt("\(arch).attention.key_length") {
            headDim = try positive("\(arch).attention.key_length", k)
        } else {
            guard hidden % heads == 0 else {
                throw ModelFileError.invalid(file: f.path, field: "metadata '\(arch).embedding_length'", expected: "a multiple of head_count \(heads)", found: String(hidden))
            }
            headDim = hidden / heads
        }
        guard headDim % 2 == 0 else {
            throw ModelFileError.invalid(file: f.path, field: "head dimension", expected: "an even number (RoPE rotates pairs)", found: String(headDim))
        }
        if let ropeDims = try f.optionalInt("\(arch).rope.dimension_count"), ropeDims != headDim {
            throw ModelFileError.invalid(file: f.path, field: "metadata '\(arch).rope.dimension_count'", expected: "the head dimension \(headDim) (partial RoPE is not supported)", found: String(ropeDims))
        }
        let theta = try f.optionalDouble("\(arch).rope.freq_base") ?? 10_000
        let eps = try f.requiredDouble("\(arch).attention.layer_norm_rms_epsilon")
        let context = try f.optionalInt("\(arch).context_length") ?? 2048

        let vocab: Int
        if let v = try f.optionalInt("\(arch).vocab_size") {
            vocab = try positive("\(arch).vocab_size", v)
        } else if let tokens = try f.optionalArray("tokenizer.ggml.tokens", of: .string), !tokens.isEmpty {
            vocab = tokens.count
        } else if let embd = f.tensor(named: "token_embd.weight"), embd.ne.count == 2 {
            vocab = embd.ne[1]
        } else {
            throw ModelFileError.missingMetadata(file: f.path, key: "\(arch).vocab_size")
        }

        self.init(
            vocabSize: vocab, hiddenSize: hidden, intermediateSize: ffn, layerCount: layers,
            headCount: heads, kvHeadCount: kvHeads, headDim: headDim, ropeTheta: Float(theta),
            rmsNormEps: Float(eps), tiedEmbeddings: f.tensor(named: "output.weight") == nil,
            contextLength: context)
    }
}
