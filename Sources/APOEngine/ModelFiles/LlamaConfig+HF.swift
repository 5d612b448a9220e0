import Foundation

extension LlamaConfig {
    /// Reads a Hugging Face `config.json` of a LLaMA model (`model_type` "llama" or an
    /// `architectures` entry starting with "Llama").
    public init(huggingFaceConfigAt url: URL) throws {
        let c = try HuggingFaceConfigFields(url)
        let hidden = try c.int("hidden_size")
        let heads = try c.int("num_attention_heads")
        let kvHeads = try c.int("num_key_value_heads", default: heads)
        guard heads % kvHeads == 0 else {
            throw c.invalid("num_key_value_heads", expected: "a divisor of num_attention_heads \(heads)", found: String(kvHeads))
        }
        try c.checkNothingUnsupported()
        self.init(
            vocabSize: try c.int("vocab_size"), hiddenSize: hidden, intermediateSize: try c.int("intermediate_size"),
            layerCount: try c.int("num_hidden_layers"), headCount: heads, kvHeadCount: kvHeads,
            headDim: try c.headDim(hidden: hidden, heads: heads),
            ropeTheta: Float(try c.ropeTheta() ?? 10_000), rmsNormEps: Float(try c.number("rms_norm_eps") ?? 1e-6),
            tiedEmbeddings: try c.tiedEmbeddings(), contextLength: try c.int("max_position_embeddings", default: 2048))
    }

    /// The `config.json` Hugging Face transformers reads for this model: `LlamaForCausalLM`, or with
    /// `classifierPadID` a one-label `LlamaForSequenceClassification` (head `score.weight`) that
    /// pools the last token whose id is not `classifierPadID`.
    public func huggingFaceConfigJSON(bosID: Int32?, eosID: Int32?, classifierPadID: Int32? = nil) throws -> Data {
        // Floats are written via their shortest decimal form ("1e-05", not 9.99999974e-06).
        func decimal(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }
        var c: [String: Any] = [
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_act": "silu",
            "hidden_size": hiddenSize,
            "intermediate_size": intermediateSize,
            "num_hidden_layers": layerCount,
            "num_attention_heads": headCount,
            "num_key_value_heads": kvHeadCount,
            "head_dim": headDim,
            "rms_norm_eps": decimal(rmsNormEps),
            "rope_theta": decimal(ropeTheta),
            "vocab_size": vocabSize,
            "tie_word_embeddings": tiedEmbeddings,
            "max_position_embeddings": contextLength,
            "torch_dtype": "float32",
            "attention_bias": false,
            "mlp_bias": false,
        ]
        if let pad = classifierPadID {
            c["architectures"] = ["LlamaForSequenceClassification"]
            c["id2label"] = ["0": "LABEL_0"]
            c["label2id"] = ["LABEL_0": 0]
            c["pad_token_id"] = Int(pad)
        }
        if let bosID { c["bos_token_id"] = Int(bosID) }
        if let eosID { c["eos_token_id"] = Int(eosID) }
        return try JSONSerialization.data(withJSONObject: c, options: [.prettyPrinted, .sortedKeys])
    }
}

/// The fields of a Hugging Face `config.json`, each read with an error naming the file and the key.
struct HuggingFaceConfigFields {
    let c: [String: Any]
    let file: String

    init(_ url: URL) throws {
        file = url.path
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelFileError.cannotOpen(file: file, reason: "\(error.localizedDescription)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data), let c = json as? [String: Any] else {
            throw ModelFileError.invalid(file: file, field: "config.json", expected: "a JSON object", found: "something else")
        }
        self.c = c
        let architectures = c["architectures"] as? [String] ?? []
        let modelType = c["model_type"] as? String
        guard modelType == "llama" || architectures.contains(where: { $0.hasPrefix("Llama") }) else {
            throw ModelFileError.unsupportedArchitecture(file: file, found: modelType ?? architectures.first ?? "(none)", supported: ["llama", "LlamaForCausalLM"])
        }
    }

    func invalid(_ key: String, expected: String, found: String) -> ModelFileError {
        ModelFileError.invalid(file: file, field: key, expected: expected, found: found)
    }

    func number(_ key: String) throws -> Double? {
        guard let v = c[key], !(v is NSNull) else { return nil }
        guard let n = v as? NSNumber else { throw invalid(key, expected: "a number", found: "\(v)") }
        return n.doubleValue
    }

    func int(_ key: String, default value: Int? = nil) throws -> Int {
        guard let d = try number(key) else {
            if let value { return value }
            throw ModelFileError.missingMetadata(file: file, key: key)
        }
        guard d > 0, d == d.rounded(), d < 1e12 else { throw invalid(key, expected: "a positive integer", found: String(d)) }
        return Int(d)
    }

    /// `head_dim`, else `hidden_size / num_attention_heads`.
    func headDim(hidden: Int, heads: Int) throws -> Int {
        if let h = try number("head_dim") { return Int(h) }
        guard hidden % heads == 0 else {
            throw invalid("hidden_size", expected: "a multiple of num_attention_heads \(heads)", found: String(hidden))
        }
        return hidden / heads
    }

    /// `rope_theta`, or transformers 5's `rope_parameters` {rope_type, rope_theta}; no RoPE scaling.
    func ropeTheta() throws -> Double? {
        if let scaling = c["rope_scaling"], !(scaling is NSNull) {
            throw invalid("rope_scaling", expected: "null (RoPE scaling is not supported)", found: "\(scaling)")
        }
        var theta = try number("rope_theta")
        if let rope = c["rope_parameters"], !(rope is NSNull) {
            guard let parameters = rope as? [String: Any] else {
                throw invalid("rope_parameters", expected: "an object", found: "\(rope)")
            }
            let type = parameters["rope_type"] as? String ?? "default"
            guard type == "default" else {
                throw invalid("rope_parameters.rope_type", expected: "default (RoPE scaling is not supported)", found: type)
            }
            if let value = parameters["rope_theta"] {
                guard let n = value as? NSNumber, n.doubleValue > 0 else {
                    throw invalid("rope_parameters.rope_theta", expected: "a positive number", found: "\(value)")
                }
                theta = n.doubleValue
            }
        }
        return theta
    }

    /// Biases and activations other than LLaMA's are refused rather than ignored.
    func checkNothingUnsupported() throws {
        for key in ["attention_bias", "mlp_bias"] where (c[key] as? Bool) == true {
            throw invalid(key, expected: "false (biases are not supported)", found: "true")
        }
        if let act = c["hidden_act"] as? String, act != "silu" {
            throw invalid("hidden_act", expected: "silu", found: act)
        }
    }

    func tiedEmbeddings() throws -> Bool {
        switch c["tie_word_embeddings"] {
        case nil: return false  // transformers' LlamaConfig default
        case let b as Bool: return b
        case let other?: throw invalid("tie_word_embeddings", expected: "true or false", found: "\(other)")
        }
    }
}
