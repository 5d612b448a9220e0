import Foundation

/// What `apoctl model info` reports about a model file or directory, read from its headers only
/// (no dequantisation). Invariant: `tensorTypes` counts sum to `tensorCount`.
public struct ModelFileSummary: Codable, Sendable {
    public struct TokenizerSummary: Codable, Sendable {
        public var model: String
        public var pre: String?
        public var vocabularySize: Int
        public var mergeCount: Int
        public var bosID: Int32?
        public var eosID: Int32
        public var addBOS: Bool
        public var hasChatTemplate: Bool
    }

    public var path: String
    /// "gguf" or "directory".
    public var format: String
    public var ggufVersion: UInt32?
    public var architecture: String
    public var name: String?
    public var fileBytes: Int
    /// nil when the file's metadata does not describe a model the engine can load (see `configError`).
    public var config: LlamaConfig?
    public var configError: String?
    public var tensorCount: Int
    public var parameterCount: Int
    /// Tensor storage type (ggml's or safetensors' name) → number of tensors.
    public var tensorTypes: [String: Int]
    public var tokenizer: TokenizerSummary?
    public var tokenizerError: String?

    public init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFileError.cannotOpen(file: path, reason: "no such file or directory")
        }
        self.path = path
        if isDirectory.boolValue {
            let dir = URL(fileURLWithPath: path, isDirectory: true)
            format = "directory"
            let weights = try SafetensorsCheckpoint(directory: dir)
            fileBytes = weights.files.reduce(0) { total, file in
                total + ((try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0)
            }
            tensorCount = weights.tensors.count
            parameterCount = weights.tensors.reduce(0) { $0 + $1.count }
            tensorTypes = Dictionary(weights.tensors.map { ($0.dtype.rawValue, 1) }, uniquingKeysWith: +)
            architecture = "llama"
            do { config = try LlamaConfig(huggingFaceConfigAt: dir.appendingPathComponent(ModelLoader.configFileName)) } catch {
                configError = "\(error)"
            }
            do {
                let data = try ModelLoader.readTokenizerData(directory: dir)
                tokenizer = TokenizerSummary(data)
            } catch {
                tokenizerError = "\(error)"
            }
            return
        }
        let file = try GGUFFile(path: path)
        format = "gguf"
        ggufVersion = file.version
        fileBytes = file.fileSize
        architecture = (try? file.requiredString("general.architecture")) ?? "(none)"
        name = try? file.optionalString("general.name")
        tensorCount = file.tensors.count
        parameterCount = file.tensors.reduce(0) { $0 + $1.elementCount }
        tensorTypes = Dictionary(file.tensors.map { ($0.type.name, 1) }, uniquingKeysWith: +)
        do { config = try LlamaConfig(gguf: file) } catch { configError = "\(error)" }
        do { tokenizer = TokenizerSummary(try file.tokenizerData()) } catch { tokenizerError = "\(error)" }
    }

    /// Several lines for a terminal.
    public var text: String {
        var lines: [String] = []
        lines.append("\(path): \(format)\(ggufVersion.map { " v\($0)" } ?? ""), \(fileBytes) bytes")
        lines.append("architecture  \(architecture)\(name.map { " (\($0))" } ?? "")")
        if let c = config {
            lines.append("dims          hidden \(c.hiddenSize), layers \(c.layerCount), heads \(c.headCount) (kv \(c.kvHeadCount), head dim \(c.headDim)), ffn \(c.intermediateSize)")
            lines.append("              vocab \(c.vocabSize), context \(c.contextLength), rope theta \(c.ropeTheta), rms eps \(c.rmsNormEps), tied embeddings \(c.tiedEmbeddings)")
        } else if let configError {
            lines.append("config        not loadable: \(configError)")
        }
        let types = tensorTypes.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        lines.append("tensors       \(tensorCount) (\(types)), \(parameterCount) parameters")
        if let t = tokenizer {
            lines.append("tokenizer     \(t.model)\(t.pre.map { "/\($0)" } ?? ""), \(t.vocabularySize) tokens, \(t.mergeCount) merges, bos \(t.bosID.map(String.init) ?? "none"), eos \(t.eosID), add bos \(t.addBOS), chat template \(t.hasChatTemplate ? "yes" : "no")")
        } else if let tokenizerError {
            lines.append("tokenizer     not readable: \(tokenizerError)")
        }
        return lines.joined(separator: "\n")
    }
}

extension ModelFileSummary.TokenizerSummary {
    init(_ d: TokenizerData) {
        self.init(model: d.model, pre: d.pre, vocabularySize: d.tokens.count, mergeCount: d.merges.count,
                  bosID: d.bosID, eosID: d.eosID, addBOS: d.addBOS, hasChatTemplate: d.chatTemplate != nil)
    }
}
