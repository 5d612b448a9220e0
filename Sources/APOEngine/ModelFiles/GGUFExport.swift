import Foundation

/// Writes a model as a GGUF file that llama.cpp loads and apo reads back: llama.cpp's tensor
/// names, Q/K rows permuted back into its adjacent-pairs RoPE order, its metadata keys, and
/// weights in f32, f16, q8_0 or q4_1 (blocks as ggml's reference quantisers make them).
/// 1-D tensors (the norms) stay f32 in every type, as llama.cpp's own converter keeps them.
/// An f32 export reloads bit-exactly: the permutation is undone on load and nothing is rounded.
public enum GGUFExport {
    public static let typeNames: [String: GGMLType] = ["f32": .f32, "f16": .f16, "q8_0": .q8_0, "q4_1": .q4_1]

    /// llama.cpp's `llama_ftype` for a file whose matrices are `type` (llama.h).
    static func fileType(_ type: GGMLType) -> UInt32 {
        switch type {
        case .f16: return 1
        case .q4_1: return 3
        case .q8_0: return 7
        default: return 0
        }
    }

    /// Writes `parameters` (Hugging Face layout) and `tokenizer` to `url` as `type`. The file
    /// appears whole or not at all (written beside it, fsynced, renamed). Tensors are converted
    /// one at a time, so memory stays near one tensor beyond the model.
    public static func write(
        _ parameters: ModelParameters, tokenizer: TokenizerData, type: GGMLType, name: String,
        to url: URL, threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) throws {
        guard Quantization.supportedTypes.contains(type) else {
            throw ModelFileError.invalid(file: url.path, field: "type", expected: "one of f32, f16, q8_0, q4_1", found: type.name)
        }
        let config = parameters.config
        var writer = GGUFWriter()
        writer.metadata = try metadata(config: config, tokenizer: tokenizer, type: type, name: name, file: url.path)
        let sources = ModelLoader.ggufSources(for: config)
        let plan = try parameters.layout.tensors.map { tensor -> (ParameterLayout.Tensor, String, GGMLType) in
            let tensorType = tensor.shape.count == 1 ? GGMLType.f32 : type
            guard tensor.shape.last! % tensorType.blockSize == 0 else {
                throw ModelFileError.invalid(file: url.path, field: "tensor '\(tensor.name)'",
                                             expected: "rows of a multiple of \(tensorType.blockSize) values for \(tensorType.name)",
                                             found: "rows of \(tensor.shape.last!)")
            }
            return (tensor, sources[tensor.name]?.ggufName ?? tensor.name, tensorType)
        }
        let header = writer.header(plan.map { t, ggufName, tensorType in
            (ggufName, Array(t.shape.reversed()), tensorType, t.count / tensorType.blockSize * tensorType.blockBytes)
        })
        let align = writer.alignment
        try writeAtomically(to: url) { handle in
            try handle.write(contentsOf: Data(header))
            for (tensor, _, tensorType) in plan {
                var bytes = try encodedTensor(tensor, of: parameters, as: tensorType, ropeHeads: sources[tensor.name]?.ropeHeads,
                                              file: url.path, threads: threads)
                while bytes.count % align != 0 { bytes.append(0) }
                try handle.write(contentsOf: Data(bytes))
            }
        }
    }

    /// One tensor's bytes in the file: Q/K rows in GGUF order, values checked finite, then converted.
    static func encodedTensor(
        _ tensor: ParameterLayout.Tensor, of parameters: ModelParameters, as type: GGMLType, ropeHeads: Int?,
        file: String, threads: Int
    ) throws -> [UInt8] {
        var values = Array(UnsafeBufferPointer(start: parameters.pointer(tensor.offset), count: tensor.count))
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw ModelFileError.invalid(file: file, field: "tensor '\(tensor.name)' element \(bad)", expected: "a finite value", found: "\(values[bad])")
        }
        return values.withUnsafeMutableBufferPointer { buffer in
            if let heads = ropeHeads {
                RoPELayout.permuteToGGUF(buffer.baseAddress!, heads: heads, headDim: parameters.config.headDim, columns: tensor.shape[1])
            }
            return Quantization.quantize(type, buffer.baseAddress!, count: tensor.count, threads: threads)
        }
    }

    /// llama.cpp's metadata for a LLaMA model and its tokenizer. A vocabulary shorter than the
    /// embedding is padded with unused `[PAD<id>]` tokens, as llama.cpp's converter does, since
    /// llama.cpp requires one token per embedding row.
    public static func metadata(
        config c: LlamaConfig, tokenizer t: TokenizerData, type: GGMLType, name: String, file: String
    ) throws -> [(String, GGUFValue)] {
        guard t.tokens.count <= c.vocabSize else {
            throw ModelFileError.invalid(file: file, field: "tokenizer vocabulary", expected: "at most the model's \(c.vocabSize) embedding rows", found: "\(t.tokens.count) tokens")
        }
        let padding = t.tokens.count..<c.vocabSize
        let tokens = t.tokens + padding.map { "[PAD\($0)]" }
        let tokenTypes = t.tokenTypes + padding.map { _ in TokenType.unused.rawValue }
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(v)) }
        var m: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("general.name", .string(name)),
            ("general.file_type", .uint32(fileType(type))),
            ("llama.vocab_size", u32(c.vocabSize)),
            ("llama.context_length", u32(c.contextLength)),
            ("llama.embedding_length", u32(c.hiddenSize)),
            ("llama.block_count", u32(c.layerCount)),
            ("llama.feed_forward_length", u32(c.intermediateSize)),
            ("llama.rope.dimension_count", u32(c.headDim)),
            ("llama.attention.head_count", u32(c.headCount)),
            ("llama.attention.head_count_kv", u32(c.kvHeadCount)),
            ("llama.attention.key_length", u32(c.headDim)),
            ("llama.attention.value_length", u32(c.headDim)),
            ("llama.attention.layer_norm_rms_epsilon", .float32(c.rmsNormEps)),
            ("llama.rope.freq_base", .float32(c.ropeTheta)),
        ]
        if type != .f32 && type != .f16 { m.append(("general.quantization_version", .uint32(2))) }
        m.append(("tokenizer.ggml.model", .string(t.model)))
        // llama.cpp spells GPT-2's pre-tokenizer "gpt-2" (apo, after Hugging Face, also says "gpt2").
        if let pre = t.pre { m.append(("tokenizer.ggml.pre", .string(pre == "gpt2" ? "gpt-2" : pre))) }
        m.append(("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })))
        m.append(("tokenizer.ggml.token_type", .array(.int32, tokenTypes.map { .int32($0) })))
        if let scores = t.scores {
            m.append(("tokenizer.ggml.scores", .array(.float32, (scores + padding.map { _ in -1000 }).map { .float32($0) })))
        }
        if !t.merges.isEmpty { m.append(("tokenizer.ggml.merges", .array(.string, t.merges.map { .string($0) }))) }
        for (key, id) in [("bos", t.bosID), ("eos", t.eosID), ("unknown", t.unknownID), ("padding", t.paddingID)] {
            if let id { m.append(("tokenizer.ggml.\(key)_token_id", .uint32(UInt32(id)))) }
        }
        m.append(("tokenizer.ggml.add_bos_token", .bool(t.addBOS)))
        if let addEOS = t.addEOS { m.append(("tokenizer.ggml.add_eos_token", .bool(addEOS))) }
        if let prefix = t.addSpacePrefix { m.append(("tokenizer.ggml.add_space_prefix", .bool(prefix))) }
        if let template = t.chatTemplate { m.append(("tokenizer.chat_template", .string(template))) }
        return m
    }

    /// Runs `body` on a new file beside `url`, fsyncs it and renames it over `url`.
    static func writeAtomically(to url: URL, _ body: (FileHandle) throws -> Void) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw ModelFileError.cannotWrite(file: url.path, reason: "cannot create \(temporary.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            do {
                try body(handle)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
            guard rename(temporary.path, url.path) == 0 else {
                throw ModelFileError.cannotWrite(file: url.path, reason: String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let e = error as? ModelFileError { throw e }
            throw ModelFileError.cannotWrite(file: url.path, reason: "\(error)")
        }
    }
}
