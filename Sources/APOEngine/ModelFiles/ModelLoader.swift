import Foundation

/// A model ready to run: fp32 weights in Hugging Face layout (Q/K rows in split-halves RoPE order),
/// the configuration they were read with, and the file's tokenizer. Invariant:
/// `parameters.config == config`.
public struct LoadedModel {
    public let config: LlamaConfig
    public let parameters: ModelParameters
    /// The raw Jinja chat template, if the file has one.
    public let chatTemplate: String?
    /// Tensors of a model directory beyond the LLaMA layout (e.g. a reward head `score.weight`),
    /// name → (shape, values). Always empty for GGUF files.
    public let extraTensors: [String: ([Int], [Float])]
    /// The file or directory this was loaded from.
    public let path: String
}

/// Reads and writes model files: GGUF (`.gguf`) and model directories (`model.safetensors` +
/// `config.json` + `tokenizer.json`).
public enum ModelLoader {
    /// A .gguf file, or a model directory (model.safetensors + config.json + tokenizer.json).
    public static func load(path: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> LoadedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFileError.cannotOpen(file: path, reason: "no such file or directory")
        }
        return try loadGGUF(path: path, threads: threads)
    }

    // MARK: - GGUF

    /// How a GGUF tensor maps onto the layout: its GGUF name, and for Q/K the head count whose rows
    /// the converter permuted.
    struct GGUFSource {
        var ggufName: String
        var ropeHeads: Int?
    }

    /// GGUF tensor name (llama.cpp's `LLM_TENSOR_NAMES` for llama) of each layout tensor.
    static func ggufSources(for config: LlamaConfig) -> [String: GGUFSource] {
        var map: [String: GGUFSource] = [
            "model.embed_tokens.weight": GGUFSource(ggufName: "token_embd.weight"),
            "model.norm.weight": GGUFSource(ggufName: "output_norm.weight"),
        ]
        if !config.tiedEmbeddings {
            map["lm_head.weight"] = GGUFSource(ggufName: "output.weight")
        }
        for i in 0..<config.layerCount {
            let hf = "model.layers.\(i).", g = "blk.\(i)."
            map[hf + "input_layernorm.weight"] = GGUFSource(ggufName: g + "attn_norm.weight")
            map[hf + "self_attn.q_proj.weight"] = GGUFSource(ggufName: g + "attn_q.weight", ropeHeads: config.headCount)
            map[hf + "self_attn.k_proj.weight"] = GGUFSource(ggufName: g + "attn_k.weight", ropeHeads: config.kvHeadCount)
            map[hf + "self_attn.v_proj.weight"] = GGUFSource(ggufName: g + "attn_v.weight")
            map[hf + "self_attn.o_proj.weight"] = GGUFSource(ggufName: g + "attn_output.weight")
            map[hf + "post_attention_layernorm.weight"] = GGUFSource(ggufName: g + "ffn_norm.weight")
            map[hf + "mlp.gate_proj.weight"] = GGUFSource(ggufName: g + "ffn_gate.weight")
            map[hf + "mlp.up_proj.weight"] = GGUFSource(ggufName: g + "ffn_up.weight")
            map[hf + "mlp.down_proj.weight"] = GGUFSource(ggufName: g + "ffn_down.weight")
        }
        return map
    }

    /// GGUF tensors that change the model's arithmetic in ways the engine does not implement.
    static let unsupportedGGUFTensors = ["rope_freqs.weight"]

    static func loadGGUF(path: String, threads: Int) throws -> LoadedModel {
        let file = try GGUFFile(path: path)
        let config = try LlamaConfig(gguf: file)
        for name in unsupportedGGUFTensors where file.tensor(named: name) != nil {
            throw ModelFileError.invalid(file: path, field: "tensor '\(name)'", expected: "no RoPE frequency scaling (not supported)", found: "present")
        }
        if let scaling = try file.optionalString("llama.rope.scaling.type"), scaling != "none" {
            throw ModelFileError.invalid(file: path, field: "metadata 'llama.rope.scaling.type'", expected: "none (RoPE scaling is not supported)", found: scaling)
        }
        let parameters = try ggufParameters(file, config: config, threads: threads)
        let fields = try file.tokenizerFields()
        _ = fields
        return LoadedModel(
            config: config, parameters: parameters,
            chatTemplate: try file.optionalString("tokenizer.chat_template"),
            extraTensors: [:], path: path)
    }

    /// Dequantises every layout tensor from `file` into a new arena, checking names and shapes, and
    /// undoing the converter's Q/K row permutation.
    static func ggufParameters(_ file: GGUFFile, config: LlamaConfig, threads: Int) throws -> ModelParameters {
        let parameters = ModelParameters(config: config)
        let sources = ggufSources(for: config)
        for tensor in parameters.layout.tensors {
            guard let source = sources[tensor.name] else { continue }
            guard let info = file.tensor(named: source.ggufName) else {
                throw ModelFileError.missingTensor(file: file.path, tensor: source.ggufName)
            }
            guard info.shape == tensor.shape else {
                throw ModelFileError.shapeMismatch(file: file.path, tensor: source.ggufName, expected: tensor.shape, found: info.shape)
            }
            let destination = parameters.pointer(tensor.offset)
            try file.dequantize(info, into: destination, threads: threads)
            if let heads = source.ropeHeads {
                RoPELayout.unpermuteFromGGUF(destination, heads: heads, headDim: config.headDim, columns: tensor.shape[1])
            }
        }
        return parameters
    }
}
