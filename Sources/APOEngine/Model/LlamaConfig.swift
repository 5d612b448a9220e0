/// The blueprint of a LLaMA-architecture decoder: every size the model code needs, read from a
/// model file's metadata (GGUF keys or a Hugging Face `config.json`), never hard-coded per model.
public struct LlamaConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var ropeTheta: Float
    public var rmsNormEps: Float
    /// True when the output head reuses the token embedding matrix (no separate `lm_head`).
    public var tiedEmbeddings: Bool
    /// The longest sequence the model was trained for (positions beyond it are still computed).
    public var contextLength: Int

    public init(
        vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
        headCount: Int, kvHeadCount: Int, headDim: Int? = nil, ropeTheta: Float,
        rmsNormEps: Float, tiedEmbeddings: Bool, contextLength: Int
    ) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim ?? hiddenSize / headCount
        self.ropeTheta = ropeTheta
        self.rmsNormEps = rmsNormEps
        self.tiedEmbeddings = tiedEmbeddings
        self.contextLength = contextLength
    }

    /// Width of the concatenated query heads.
    public var qDim: Int { headCount * headDim }
    /// Width of the concatenated key (or value) heads.
    public var kvDim: Int { kvHeadCount * headDim }
    /// Query heads that share one key/value head (grouped-query attention).
    public var headsPerKVHead: Int { headCount / kvHeadCount }
}
