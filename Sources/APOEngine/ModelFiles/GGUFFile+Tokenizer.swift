extension GGUFFile {
    /// The `tokenizer.ggml.*` metadata (and `tokenizer.chat_template`), type-checked field by field;
    /// `makeTokenizer` then checks the tables' consistency.
    public func tokenizerData() throws -> TokenizerData {
        let model = try requiredString("tokenizer.ggml.model")
        func strings(_ key: String) throws -> [String]? {
            try optionalArray(key, of: .string)?.map { $0.stringValue ?? "" }
        }
        guard let tokens = try strings("tokenizer.ggml.tokens") else {
            throw ModelFileError.missingMetadata(file: path, key: "tokenizer.ggml.tokens")
        }
        let merges = try strings("tokenizer.ggml.merges") ?? []
        let tokenTypes: [Int32]
        if let raw = try optionalArray("tokenizer.ggml.token_type", of: .int32) {
            tokenTypes = raw.map { if case let .int32(v) = $0 { return v } else { return 0 } }
        } else {
            tokenTypes = [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)
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
        return TokenizerData(
            model: model, pre: try optionalString("tokenizer.ggml.pre"), tokens: tokens, merges: merges,
            tokenTypes: tokenTypes, scores: scores, bosID: bos, eosID: eos,
            unknownID: try tokenID("tokenizer.ggml.unknown_token_id"),
            paddingID: try tokenID("tokenizer.ggml.padding_token_id"),
            // llama.cpp's default when the key is absent: BOS for "llama" (SentencePiece) vocabularies only.
            addBOS: try optionalBool("tokenizer.ggml.add_bos_token") ?? (model == "llama" && bos != nil),
            addEOS: try optionalBool("tokenizer.ggml.add_eos_token"),
            addSpacePrefix: try optionalBool("tokenizer.ggml.add_space_prefix"),
            chatTemplate: try optionalString("tokenizer.chat_template"))
    }
}

/// Builds the tokenizer for a model whose embedding has `vocabSize` rows, with errors naming `file`:
/// a vocabulary larger than the embedding would produce ids the model cannot look up.
func makeModelTokenizer(_ data: TokenizerData, vocabSize: Int, file: String) throws -> any Tokenizer {
    let tokenizer: any Tokenizer
    do {
        tokenizer = try makeTokenizer(data)
    } catch {
        throw ModelFileError.invalid(file: file, field: "tokenizer", expected: "a tokenizer the engine supports", found: "\(error)")
    }
    guard tokenizer.vocabularySize <= vocabSize else {
        throw ModelFileError.invalid(file: file, field: "tokenizer vocabulary", expected: "at most the model's \(vocabSize) embedding rows", found: "\(tokenizer.vocabularySize) tokens")
    }
    return tokenizer
}
