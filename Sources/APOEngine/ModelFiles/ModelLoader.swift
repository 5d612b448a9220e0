import Foundation

/// A model ready to run: fp32 weights in Hugging Face layout (Q/K rows in split-halves RoPE order),
/// the configuration they were read with, and the file's tokenizer. Invariant:
/// `parameters.config == config`.
public struct LoadedModel: Sendable {
    public let config: LlamaConfig
    public let parameters: ModelParameters
    /// Built from the file's tokenizer metadata (`tokenizer.ggml.*`, or a directory's `tokenizer.json`).
    public let tokenizer: any Tokenizer
    /// The raw Jinja chat template, if the file has one.
    public let chatTemplate: String?
    /// Tensors of a model directory beyond the LLaMA layout (e.g. a reward head `score.weight`),
    /// name → (shape, values). Always empty for GGUF files.
    public let extraTensors: [String: ([Int], [Float])]
    /// The file or directory this was loaded from.
    public let path: String
    /// The GGUF itself when `path` is one (mapped, not read: its quantised blocks are what
    /// `DecodeWeights.file` decodes with); nil for model directories.
    public let ggufFile: GGUFFile?
}

/// Reads and writes model files: GGUF (`.gguf`) and model directories (`model.safetensors` +
/// `config.json` + `tokenizer.json`).
public enum ModelLoader {
    /// A .gguf file, or a model directory: config.json + tokenizer.json + model.safetensors (or
    /// Hugging Face's shards with model.safetensors.index.json), tensors in F32, F16 or BF16.
    public static func load(path: String, threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> LoadedModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFileError.cannotOpen(file: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue {
            return try loadDirectory(URL(fileURLWithPath: path, isDirectory: true), threads: threads)
        }
        return try loadGGUF(path: path, threads: threads)
    }

    /// Every tensor the layout will hold, as (HF name, shape), produced one at a time so that a
    /// hostile config (a billion layers) fails at its first missing tensor instead of allocating.
    static func forEachExpectedTensor(_ c: LlamaConfig, _ body: (String, [Int]) throws -> Void) throws {
        try body("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)."
            try body(p + "input_layernorm.weight", [c.hiddenSize])
            try body(p + "self_attn.q_proj.weight", [c.qDim, c.hiddenSize])
            try body(p + "self_attn.k_proj.weight", [c.kvDim, c.hiddenSize])
            try body(p + "self_attn.v_proj.weight", [c.kvDim, c.hiddenSize])
            try body(p + "self_attn.o_proj.weight", [c.hiddenSize, c.qDim])
            try body(p + "post_attention_layernorm.weight", [c.hiddenSize])
            try body(p + "mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize])
            try body(p + "mlp.up_proj.weight", [c.intermediateSize, c.hiddenSize])
            try body(p + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize])
        }
        try body("model.norm.weight", [c.hiddenSize])
        if !c.tiedEmbeddings { try body("lm_head.weight", [c.vocabSize, c.hiddenSize]) }
    }

    // MARK: - Model directories

    public static let weightsFileName = "model.safetensors"
    public static let configFileName = "config.json"
    public static let tokenizerFileName = "tokenizer.json"

    static func loadDirectory(_ dir: URL, threads: Int) throws -> LoadedModel {
        let config = try LlamaConfig(huggingFaceConfigAt: dir.appendingPathComponent(configFileName))
        let weights = try SafetensorsCheckpoint(directory: dir)
        // Names and shapes first: only then is the arena's size backed by the file's own tensors.
        try forEachExpectedTensor(config) { name, shape in
            guard let info = weights.tensor(named: name) else {
                throw ModelFileError.missingTensor(file: weights.path(of: name), tensor: name)
            }
            guard info.shape == shape else {
                throw ModelFileError.shapeMismatch(file: weights.path(of: name), tensor: name, expected: shape, found: info.shape)
            }
        }
        let parameters = ModelParameters(config: config)
        var layoutNames = Set<String>()
        for tensor in parameters.layout.tensors {
            layoutNames.insert(tensor.name)
            try weights.read(tensor.name, into: parameters.pointer(tensor.offset))
        }
        var extra: [String: ([Int], [Float])] = [:]
        for info in weights.tensors where !layoutNames.contains(info.name) {
            // A tied checkpoint may still carry a copy of the head; the embedding is the truth.
            if config.tiedEmbeddings && info.name == "lm_head.weight" { continue }
            // transformers may store RoPE's inverse frequencies; they follow from rope_theta.
            if info.name.hasSuffix(".rotary_emb.inv_freq") { continue }
            extra[info.name] = (info.shape, try weights.floats(info.name))
        }

        let tokenizerURL = dir.appendingPathComponent(tokenizerFileName)
        let tokenizerData = try readTokenizerData(directory: dir)
        let tokenizer = try makeModelTokenizer(tokenizerData, vocabSize: config.vocabSize, file: tokenizerURL.path)
        return LoadedModel(
            config: config, parameters: parameters, tokenizer: tokenizer, chatTemplate: tokenizerData.chatTemplate,
            extraTensors: extra, path: dir.path, ggufFile: nil)
    }

    /// Writes a model directory that `load` reads back (used by training jobs); with
    /// `classifierPadID`, its config.json describes a `LlamaForSequenceClassification` (see
    /// `LlamaConfig.huggingFaceConfigJSON`). The directory
    /// appears whole or not at all: it is written under a temporary name beside `to`, fsynced, and
    /// renamed into place (replacing an existing directory of that name).
    public static func saveDirectory(
        _ parameters: ModelParameters, tokenizer: any Tokenizer, chatTemplate: String?,
        extraTensors: [String: ([Int], [Float])] = [:], classifierPadID: Int32? = nil, to destination: URL
    ) throws {
        let fm = FileManager.default
        let parent = destination.deletingLastPathComponent()
        let temporary = parent.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(UUID().uuidString)")
        do {
            try fm.createDirectory(at: temporary, withIntermediateDirectories: true)
        } catch {
            throw ModelFileError.cannotWrite(file: temporary.path, reason: error.localizedDescription)
        }
        do {
            let layout = parameters.layout
            for name in extraTensors.keys where layout.tensor(named: name) != nil {
                throw ModelFileError.duplicate(file: destination.path, kind: "tensor (extra tensor shadows a model tensor)", name: name)
            }
            var entries = layout.tensors.map {
                SafetensorsWriter.Entry(name: $0.name, shape: $0.shape, pointer: UnsafePointer(parameters.pointer($0.offset)))
            }
            // Extra tensors are copied into one block so their pointers stay valid while writing.
            let extraNames = extraTensors.keys.sorted()
            var extraStorage: [Float] = []
            var extraOffsets: [Int] = []
            for name in extraNames {
                let (shape, values) = extraTensors[name]!
                guard shape.reduce(1, *) == values.count else {
                    throw ModelFileError.shapeMismatch(file: destination.path, tensor: name, expected: shape, found: [values.count])
                }
                extraOffsets.append(extraStorage.count)
                extraStorage.append(contentsOf: values)
            }
            try extraStorage.withUnsafeBufferPointer { storage in
                for (i, name) in extraNames.enumerated() {
                    let base = storage.baseAddress ?? UnsafePointer(parameters.values.pointer)  // unused when empty
                    entries.append(SafetensorsWriter.Entry(name: name, shape: extraTensors[name]!.0, pointer: base + extraOffsets[i]))
                }
                try SafetensorsWriter.write(entries, metadata: ["format": "pt"], to: temporary.appendingPathComponent(weightsFileName))
            }

            var data = tokenizer.data
            data.chatTemplate = chatTemplate
            try writeTokenizerFiles(data, contextLength: parameters.config.contextLength, into: temporary)
            try writeSynced(parameters.config.huggingFaceConfigJSON(bosID: data.bosID, eosID: data.eosID,
                                                                    classifierPadID: classifierPadID),
                            to: temporary.appendingPathComponent(configFileName))

            // Swap into place: move an old directory aside first, since rename cannot replace a non-empty one.
            var old: URL? = nil
            if fm.fileExists(atPath: destination.path) {
                let aside = parent.appendingPathComponent(".\(destination.lastPathComponent).old-\(UUID().uuidString)")
                try fm.moveItem(at: destination, to: aside)
                old = aside
            }
            try fm.moveItem(at: temporary, to: destination)
            if let old { try? fm.removeItem(at: old) }
        } catch {
            try? fm.removeItem(at: temporary)
            if let e = error as? ModelFileError { throw e }
            throw ModelFileError.cannotWrite(file: destination.path, reason: "\(error)")
        }
    }

    /// A directory's tokenizer: Hugging Face's `tokenizer.json` (+ `tokenizer_config.json`), or the
    /// `TokenizerData` JSON that apo wrote before it wrote Hugging Face's (top-level `"model"` is a
    /// string there, an object in Hugging Face's).
    public static func readTokenizerData(directory dir: URL) throws -> TokenizerData {
        let url = dir.appendingPathComponent(tokenizerFileName)
        let bytes: Data
        do { bytes = try Data(contentsOf: url) } catch {
            throw ModelFileError.cannotOpen(file: url.path, reason: error.localizedDescription)
        }
        let top = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any]
        guard top?["model"] is String else { return try HFTokenizerFiles.decode(directory: dir) }
        do {
            return try JSONDecoder().decode(TokenizerData.self, from: bytes)
        } catch {
            throw ModelFileError.invalid(file: url.path, field: "tokenizer.json", expected: "TokenizerData JSON", found: "\(error)")
        }
    }

    /// Hugging Face's tokenizer files and `generation_config.json` (byte-level or SentencePiece BPE).
    static func writeTokenizerFiles(_ data: TokenizerData, contextLength: Int, into dir: URL) throws {
        let url = dir.appendingPathComponent(tokenizerFileName)
        let files = try HFTokenizerFiles.encode(data, contextLength: contextLength, file: url.path)
        try writeSynced(files.tokenizer, to: url)
        try writeSynced(files.config, to: dir.appendingPathComponent(HFTokenizerFiles.configFileName))
        var generation: [String: Any] = ["eos_token_id": Int(data.eosID)]
        if let bos = data.bosID { generation["bos_token_id"] = Int(bos) }
        if let pad = data.paddingID { generation["pad_token_id"] = Int(pad) }
        try writeSynced(try JSONSerialization.data(withJSONObject: generation, options: [.prettyPrinted, .sortedKeys]),
                        to: dir.appendingPathComponent("generation_config.json"))
    }

    static func writeSynced(_ data: Data, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ModelFileError.cannotWrite(file: url.path, reason: "cannot create file")
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.write(contentsOf: data)
        try handle.synchronize()
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
        var map: [String: GGUFSource] = [:]
        try? forEachExpectedTensor(config) { name, _ in
            let ropeHeads = name.hasSuffix(".q_proj.weight") ? config.headCount
                : name.hasSuffix(".k_proj.weight") ? config.kvHeadCount : nil
            map[name] = GGUFSource(ggufName: ggufName(forHFName: name), ropeHeads: ropeHeads)
        }
        return map
    }

    /// llama.cpp's name for an HF LLaMA tensor name (`model.layers.3.mlp.up_proj.weight` → `blk.3.ffn_up.weight`).
    static func ggufName(forHFName name: String) -> String {
        switch name {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        let parts = name.split(separator: ".", maxSplits: 3)  // model, layers, N, rest
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers" else { return name }
        let suffixes = [
            "input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
            "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
            "self_attn.o_proj.weight": "attn_output.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
            "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
            "mlp.down_proj.weight": "ffn_down.weight",
        ]
        return "blk.\(parts[2]).\(suffixes[String(parts[3])] ?? String(parts[3]))"
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
        let tokenizerData = try file.tokenizerData()
        let tokenizer = try makeModelTokenizer(tokenizerData, vocabSize: config.vocabSize, file: path)
        return LoadedModel(
            config: config, parameters: parameters, tokenizer: tokenizer,
            chatTemplate: tokenizerData.chatTemplate,
            extraTensors: [:], path: path, ggufFile: file)
    }

    /// Dequantises every layout tensor from `file` into a new arena, checking names and shapes, and
    /// undoing the converter's Q/K row permutation.
    static func ggufParameters(_ file: GGUFFile, config: LlamaConfig, threads: Int) throws -> ModelParameters {
        // Names and shapes first: only then is the arena's size backed by the file's own tensors.
        try forEachExpectedTensor(config) { name, shape in
            let ggufName = ggufName(forHFName: name)
            guard let info = file.tensor(named: ggufName) else {
                throw ModelFileError.missingTensor(file: file.path, tensor: ggufName)
            }
            guard info.shape == shape else {
                throw ModelFileError.shapeMismatch(file: file.path, tensor: ggufName, expected: shape, found: info.shape)
            }
        }
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
        file.releaseResidentPages()
        return parameters
    }
}
