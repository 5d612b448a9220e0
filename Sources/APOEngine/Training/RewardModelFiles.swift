import Foundation

/// How a reward model is framed and pooled; stored beside its weights as `reward_model.json`.
public struct RewardModelSettings: Codable, Sendable, Equatable {
    public var pooling: RewardPooling
    public var format: RewardInputFormat
    /// The name of the head tensor in `model.safetensors` (shape `[1, hidden]`).
    public var headTensor: String
    /// Blocks below the first one training changed (their weights are the backbone's): scoring can
    /// share their states with every model of that backbone (`FrozenTrunkStore`). nil: unknown.
    public var frozenBlocks: Int?
    public init(pooling: RewardPooling, format: RewardInputFormat, headTensor: String = RewardModel.headTensorName,
                frozenBlocks: Int? = nil) {
        self.pooling = pooling; self.format = format; self.headTensor = headTensor; self.frozenBlocks = frozenBlocks
    }
}

/// Reward-model directories: a model directory `ModelLoader` reads (`model.safetensors` with the
/// LLaMA tensors under Hugging Face names, `config.json`, `tokenizer.json`) whose safetensors also
/// hold the head as `score.weight` `[1, hidden]` (Hugging Face's `LlamaForSequenceClassification`
/// name), plus `reward_model.json` (pooling, BOS/SEP/EOS/PAD ids). The whole directory appears
/// atomically: it is staged under a temporary name and renamed into place.
public enum RewardModelFiles {
    public static let settingsFileName = "reward_model.json"

    public struct Loaded {
        public let model: RewardModel
        public let tokenizer: any Tokenizer
        public let chatTemplate: String?
        /// False when `path` was a plain backbone and the head was freshly initialised.
        public let hadHead: Bool
        /// `RewardModelSettings.frozenBlocks` of a reward-model directory; nil for a plain backbone.
        public let frozenBlocks: Int?
    }

    /// A reward-model directory, or a backbone (GGUF file or model directory) with a fresh head drawn
    /// from `headSeed` and the tokenizer's default framing (`RewardInputFormat.forTokenizer`).
    /// `pooling` overrides the stored pooling when given.
    public static func load(path: String, threads: Int = 2, pooling: RewardPooling? = nil,
                            headSeed: UInt64 = 0) throws -> Loaded {
        let loaded = try ModelLoader.load(path: path, threads: threads)
        let hidden = loaded.config.hiddenSize
        let settingsURL = URL(fileURLWithPath: path).appendingPathComponent(settingsFileName)
        var settings = RewardModelSettings(pooling: pooling ?? .last, format: .forTokenizer(loaded.tokenizer))
        if FileManager.default.fileExists(atPath: settingsURL.path) {
            do {
                settings = try JSONDecoder().decode(RewardModelSettings.self, from: Data(contentsOf: settingsURL))
            } catch {
                throw ModelFileError.invalid(file: settingsURL.path, field: settingsFileName,
                                             expected: "reward-model settings JSON", found: "\(error)")
            }
            if let pooling { settings.pooling = pooling }
            try checkTokenIDs(settings.format, vocabularySize: loaded.tokenizer.vocabularySize, file: settingsURL.path)
        }
        if let n = settings.frozenBlocks, n < 0 || n > loaded.config.layerCount {
            throw ModelFileError.invalid(file: settingsURL.path, field: "frozenBlocks",
                                         expected: "0…\(loaded.config.layerCount)", found: String(n))
        }
        var head = RewardModel.initialHead(hiddenSize: hidden, seed: headSeed)
        var hadHead = false
        if let (shape, values) = loaded.extraTensors[settings.headTensor] {
            guard values.count == hidden, shape.reduce(1, *) == hidden else {
                throw ModelFileError.shapeMismatch(file: path, tensor: settings.headTensor, expected: [1, hidden], found: shape)
            }
            head = values
            hadHead = true
        }
        let model = RewardModel(parameters: loaded.parameters, head: head, pooling: settings.pooling, format: settings.format)
        return Loaded(model: model, tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate, hadHead: hadHead,
                      frozenBlocks: hadHead ? settings.frozenBlocks : nil)
    }

    /// Every framing id must be a token of the model's vocabulary: the embedding lookup of an id
    /// outside it would read past the table. Errors name the file and the field (`format.sep`, …).
    static func checkTokenIDs(_ format: RewardInputFormat, vocabularySize: Int, file: String) throws {
        let ids: [(String, Int32?)] = [("format.bos", format.bos), ("format.sep", format.sep),
                                       ("format.eos", format.eos), ("format.pad", format.pad)]
        for case let (field, id?) in ids where id < 0 || Int(id) >= vocabularySize {
            throw ModelFileError.invalid(file: file, field: field, expected: "a token id in 0..<\(vocabularySize)", found: String(id))
        }
    }

    /// The `pad_token_id` under which Hugging Face's `LlamaForSequenceClassification` pools the
    /// token apo pools, on a sequence framed as apo frames it (`[BOS] query [SEP] response [EOS]`,
    /// right-padded with it): HF pools the last token whose id is not `pad_token_id`. `last`
    /// pools the token before EOS, so EOS is HF's pad (EOS then pads too); `eos` pools EOS itself,
    /// so apo's PAD is. `average` and `max` have no HF counterpart: nil (the directory then says
    /// `LlamaForCausalLM`, and the head is only apo's).
    public static func huggingFacePadID(_ model: RewardModel) -> Int32? {
        switch model.pooling {
        case .last: return model.format.eos
        case .eos: return model.format.pad
        case .average, .max: return nil
        }
    }

    /// - frozenBlocks: how many bottom blocks training left as they were (recorded for scoring).
    public static func save(_ model: RewardModel, tokenizer: any Tokenizer, chatTemplate: String?,
                            frozenBlocks: Int? = nil, to destination: URL) throws {
        let fm = FileManager.default
        let staging = destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).staging-\(UUID().uuidString)")
        try fm.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: staging) }
        let inner = staging.appendingPathComponent("model")
        try ModelLoader.saveDirectory(model.parameters, tokenizer: tokenizer, chatTemplate: chatTemplate,
                                      extraTensors: [RewardModel.headTensorName: ([1, model.head.count], model.head.toArray())],
                                      classifierPadID: huggingFacePadID(model), to: inner)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(RewardModelSettings(pooling: model.pooling, format: model.format, frozenBlocks: frozenBlocks))
            .write(to: inner.appendingPathComponent(settingsFileName))
        if fm.fileExists(atPath: destination.path) { try fm.removeItem(at: destination) }
        guard rename(inner.path, destination.path) == 0 else {
            throw ModelFileError.cannotWrite(file: destination.path, reason: "rename failed: errno \(errno)")
        }
    }
}
