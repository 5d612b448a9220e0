/// Where each weight of a LLaMA model lives inside one flat `Float` arena.
///
/// Tensor names and shapes follow Hugging Face's LLaMA checkpoints (`model.layers.3.mlp.up_proj.weight`,
/// shape `[out, in]`, row-major), so safetensors files map one to one. Q and K projection rows use
/// Hugging Face's "split halves" RoPE layout; loaders convert other layouts at the boundary.
/// Gradients and optimiser moments reuse the same layout, so AdamW is one flat loop.
public struct ParameterLayout: Sendable {
    public struct Tensor: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// Offsets of one decoder block's tensors.
    public struct Layer: Sendable {
        public let attentionNorm: Int  // [hidden]
        public let wq: Int             // [qDim, hidden]
        public let wk: Int             // [kvDim, hidden]
        public let wv: Int             // [kvDim, hidden]
        public let wo: Int             // [hidden, qDim]
        public let ffnNorm: Int        // [hidden]
        public let wGate: Int          // [ffn, hidden]
        public let wUp: Int            // [ffn, hidden]
        public let wDown: Int          // [hidden, ffn]
    }

    public let config: LlamaConfig
    public let tensors: [Tensor]
    public let totalCount: Int
    public let tokenEmbedding: Int     // [vocab, hidden]
    public let layers: [Layer]
    public let finalNorm: Int          // [hidden]
    /// Offset of the output head `[vocab, hidden]`; equals `tokenEmbedding` when tied.
    public let output: Int

    public init(config c: LlamaConfig) {
        var tensors: [Tensor] = []
        var next = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let t = Tensor(name: name, shape: shape, offset: next)
            tensors.append(t)
            // Keep every tensor 16-float (64-byte) aligned for SIMD loads.
            next += (t.count + 15) / 16 * 16
            return t.offset
        }
        tokenEmbedding = add("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize])
        var layers: [Layer] = []
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)."
            layers.append(Layer(
                attentionNorm: add(p + "input_layernorm.weight", [c.hiddenSize]),
                wq: add(p + "self_attn.q_proj.weight", [c.qDim, c.hiddenSize]),
                wk: add(p + "self_attn.k_proj.weight", [c.kvDim, c.hiddenSize]),
                wv: add(p + "self_attn.v_proj.weight", [c.kvDim, c.hiddenSize]),
                wo: add(p + "self_attn.o_proj.weight", [c.hiddenSize, c.qDim]),
                ffnNorm: add(p + "post_attention_layernorm.weight", [c.hiddenSize]),
                wGate: add(p + "mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize]),
                wUp: add(p + "mlp.up_proj.weight", [c.intermediateSize, c.hiddenSize]),
                wDown: add(p + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize])
            ))
        }
        self.layers = layers
        finalNorm = add("model.norm.weight", [c.hiddenSize])
        output = c.tiedEmbeddings ? tokenEmbedding : add("lm_head.weight", [c.vocabSize, c.hiddenSize])
        self.config = c
        self.tensors = tensors
        self.totalCount = next
    }

    public func tensor(named name: String) -> Tensor? {
        tensors.first { $0.name == name }
    }
}

/// A model's weights: a `ParameterLayout` over one `FloatBuffer` (fp32, dequantised).
public final class ModelParameters: @unchecked Sendable {
    public let layout: ParameterLayout
    public let values: FloatBuffer
    public var config: LlamaConfig { layout.config }

    public init(config: LlamaConfig) {
        layout = ParameterLayout(config: config)
        values = FloatBuffer(count: layout.totalCount)
    }

    /// Start of the tensor at `offset` (one of the layout's offsets).
    public func pointer(_ offset: Int) -> UnsafeMutablePointer<Float> { values.pointer + offset }

    /// A buffer with the same layout, zero-filled: gradients, Adam moments.
    public func makeTwin() -> FloatBuffer { FloatBuffer(count: layout.totalCount) }
}
