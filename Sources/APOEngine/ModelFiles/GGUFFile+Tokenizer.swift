/// The `tokenizer.ggml.*` metadata of a GGUF file, read and type-checked field by field (the
/// tokenizer itself checks the tables' consistency).
struct GGUFTokenizerFields {
    var model: String
    var pre: String?
    var tokens: [String]
    var merges: [String]
    var tokenTypes: [Int32]
    var scores: [Float]?
    var bosID: Int32?
    var eosID: Int32
    var unknownID: Int32?
    var paddingID: Int32?
    var addBOS: Bool
    var addEOS: Bool?
    var addSpacePrefix: Bool?
    var chatTemplate: String?
}

extension GGUFFile {
    func tokenizerFields() throws -> GGUFTokenizerFields {
        let model = try requiredString("tokenizer.ggml.model")
        func strings(_ key: String) throws -> [String]? {
            try optionalArray(key, of: .string)?.map { $0.stringValue! }
        }
        guard let tokens = try strings("tokenizer.ggml.tokens") else {
            throw ModelFileError.missingMetadata(file: path, key: "tokenizer.ggml.tokens")
        }
        let merges = try strings("tokenizer.ggml.merges") ?? []
        let tokenTypes: [Int32]
        if let raw = try optionalArray("tokenizer.ggml.token_type", of: .int32) {
            tokenTypes = raw.map { if case let .int32(v) = $0 { return v } else { return 0 } }
        } else {
            tokenTypes = [Int32](repeating: 1, count: tokens.count)  // all "normal"
        }
        let scores = try optionalArray("tokenizer.ggml.scores", of: .float32)?.map {
            if case let .float32(v) = $0 { return v } else { return 0 }
        }
        func tokenID(_ key: String) throws -> Int32? {
            guard let v = try optionalInt(key) else { return nil }
            guard v >= 0, v < tokens.count else {
                throw ModelFileError.invalid(file: path, field: "metadata '\(key)'", expected: "a token id in 0..<\(tokens.count)", found: String(v))
            }
            return Int32(v)
        }
        guard let eos = try tokenID("tokenizer.ggml.eos_token_id") else {
            throw ModelFileError.missingMetadata(file: path, key: "tokenizer.ggml.eos_token_id")
        }
        let bos = try tokenID("tokenizer.ggml.bos_token_id")
        return GGUFTokenizerFields(
            model: model, pre: try optionalString("tokenizer.ggml.pre"), tokens: tokens, merges: merges,
            tokenTypes: tokenTypes, scores: scores, bosID: bos, eosID: eos,
            unknownID: try tokenID("tokenizer.ggml.unknown_token_id"),
            paddingID: try tokenID("tokenizer.ggml.padding_token_id"),
            // llama.cpp's default: add BOS for "llama" (SentencePiece) vocabularies, not for "gpt2".
            addBOS: try optionalBool("tokenizer.ggml.add_bos_token") ?? (model == "llama" && bos != nil),
            addEOS: try optionalBool("tokenizer.ggml.add_eos_token"),
            addSpacePrefix: try optionalBool("tokenizer.ggml.add_space_prefix"),
            chatTemplate: try optionalString("tokenizer.chat_template"))
    }
}
