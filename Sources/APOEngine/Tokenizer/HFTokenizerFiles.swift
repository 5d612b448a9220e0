import Foundation

/// A model directory's tokenizer as Hugging Face writes it — `tokenizer.json` (the `tokenizers`
/// library's format) and `tokenizer_config.json` (special tokens, chat template) — so
/// `AutoTokenizer.from_pretrained(dir)` and `tokenizers.Tokenizer.from_file` load what apo wrote,
/// and apo loads what they wrote. Byte-level BPE (GPT-2 style, SmolLM2's) here; SentencePiece-style
/// BPE ("llama", LLaMA-2's) in `HFSentencePieceTokenizer`.
///
/// GGUF's token types map to `added_tokens`: control → special, user-defined → not special;
/// every other token is plain vocabulary. llama.cpp's pre-tokenizer names map to the pre-tokenizer
/// they stand for (`smollm`: individual digits, then GPT-2's byte-level split); the name itself
/// is kept in `tokenizer_config.json` as `apo_pre_tokenizer` for an exact round trip.
public enum HFTokenizerFiles {
    public static let tokenizerFileName = "tokenizer.json"
    public static let configFileName = "tokenizer_config.json"

    /// The two files' contents for `data`; `file` names the destination in errors.
    public static func encode(_ data: TokenizerData, contextLength: Int, file: String) throws -> (tokenizer: Data, config: Data) {
        if data.model == "llama" {
            return try write(HFSentencePieceTokenizer.tokenizerJSON(data), config: config(data, contextLength: contextLength))
        }
        guard data.model == "gpt2" else {
            throw ModelFileError.invalid(file: file, field: "tokenizer model", expected: "byte-level BPE (gpt2) or "
                                         + "SentencePiece BPE (llama)", found: data.model)
        }
        let pre = try PreTokenizer(name: data.pre ?? "gpt2")
        var vocab: [String: Int] = [:]
        var added: [[String: Any]] = []
        for (id, token) in data.tokens.enumerated() {
            vocab[token] = id
            let type = TokenType(rawValue: data.tokenTypes[id])
            guard type == .control || type == .userDefined else { continue }
            added.append(["id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": type == .userDefined, "special": type == .control])
        }
        let byteLevel: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let preTokenizer: [String: Any] = pre == .digitsThenGPT2
            ? ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel]]
            : byteLevel
        let tokenizer: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "normalizer": NSNull(),
            "added_tokens": added,
            "pre_tokenizer": preTokenizer,
            "post_processor": try postProcessor(data),
            "decoder": byteLevel,
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": data.merges,
            ] as [String: Any],
        ]
        var settings = config(data, contextLength: contextLength)
        settings["apo_pre_tokenizer"] = data.pre ?? "gpt2"
        return try write(tokenizer, config: settings)
    }

    /// `tokenizer_config.json`. PreTrainedTokenizerFast loads tokenizer.json as written; GPT2Tokenizer
    /// would rebuild the pre-tokenizer as plain ByteLevel and lose the digit split, LlamaTokenizer
    /// would rebuild the normalizer (seen with transformers 5).
    private static func config(_ data: TokenizerData, contextLength: Int) -> [String: Any] {
        var config: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": contextLength,
            "add_bos_token": data.addBOS, "add_eos_token": data.addEOS ?? false,
            "clean_up_tokenization_spaces": false,
        ]
        for (key, id) in [("bos_token", data.bosID), ("eos_token", data.eosID), ("pad_token", data.paddingID),
                          ("unk_token", data.unknownID)] {
            if let id { config[key] = data.tokens[Int(id)] }
        }
        if let template = data.chatTemplate { config["chat_template"] = template }
        return config
    }

    private static func write(_ tokenizer: [String: Any], config: [String: Any]) throws -> (tokenizer: Data, config: Data) {
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        return (try JSONSerialization.data(withJSONObject: tokenizer, options: options),
                try JSONSerialization.data(withJSONObject: config, options: options.union(.prettyPrinted)))
    }

    /// BOS before every encoded text when the tokenizer adds one; else the byte-level no-op.
    private static func postProcessor(_ data: TokenizerData) throws -> [String: Any] {
        guard data.addBOS, let bos = data.bosID else {
            return ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true]
        }
        let token = data.tokens[Int(bos)]
        let special: [String: Any] = ["SpecialToken": ["id": token, "type_id": 0]]
        return ["type": "TemplateProcessing",
                "single": [special, ["Sequence": ["id": "A", "type_id": 0]]],
                "pair": [special, ["Sequence": ["id": "A", "type_id": 0]], special, ["Sequence": ["id": "B", "type_id": 1]]],
                "special_tokens": [token: ["id": token, "ids": [Int(bos)], "tokens": [token]]]]
    }

    /// `TokenizerData` from the two files in `directory` (`tokenizer_config.json` may be missing:
    /// then no BOS is added, EOS is `<|endoftext|>` or `</s>`, and there is no chat template).
    /// Errors name the file and the field.
    public static func decode(directory: URL) throws -> TokenizerData {
        let file = try Parsed(directory: directory)
        let json = file.json, bad = file.bad
        guard let model = json["model"] as? [String: Any], model["type"] as? String == "BPE" else {
            throw bad("model.type", "BPE", (json["model"] as? [String: Any])?["type"])
        }
        if HFSentencePieceTokenizer.describes(json) { return try HFSentencePieceTokenizer.decode(file) }
        let table = try tokenTable(file)
        let merges = try (model["merges"] as? [Any] ?? []).enumerated().map { i, m -> String in
            if let s = m as? String { return s }
            if let pair = m as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }
            throw bad("model.merges[\(i)]", "\"left right\" or [left, right]", m)
        }
        let names = table.tokens, config = file.config
        let pre = try preTokenizerName(json["pre_tokenizer"], kept: config["apo_pre_tokenizer"] as? String, bad: bad)
        let eos = try file.tokenID("eos_token", in: names) ?? (names.firstIndex(of: "<|endoftext|>") ?? names.firstIndex(of: "</s>")).map(Int32.init)
        guard let eos else { throw bad("eos_token", "an EOS token in tokenizer_config.json or <|endoftext|> in the vocabulary", nil) }
        return TokenizerData(model: "gpt2", pre: pre, tokens: names, merges: merges, tokenTypes: table.types,
                             bosID: try file.tokenID("bos_token", in: names), eosID: eos, unknownID: try file.tokenID("unk_token", in: names),
                             paddingID: try file.tokenID("pad_token", in: names), addBOS: config["add_bos_token"] as? Bool ?? false,
                             addEOS: config["add_eos_token"] as? Bool, chatTemplate: config["chat_template"] as? String)
    }

    /// A directory's two files, parsed, with what every reader needs to name the file in errors.
    struct Parsed {
        let json: [String: Any]
        let config: [String: Any]
        let file: String
        let configFile: String

        init(directory: URL) throws {
            let url = directory.appendingPathComponent(tokenizerFileName)
            let configURL = directory.appendingPathComponent(configFileName)
            json = try object(at: url)
            config = FileManager.default.fileExists(atPath: configURL.path) ? try object(at: configURL) : [:]
            file = url.path
            configFile = configURL.path
        }

        func bad(_ field: String, _ expected: String, _ found: Any?) -> ModelFileError {
            .invalid(file: file, field: field, expected: expected, found: found.map { "\($0)" } ?? "nothing")
        }

        /// The id of the token `tokenizer_config.json` names under `key` (a string or {"content": …}).
        func tokenID(_ key: String, in names: [String]) throws -> Int32? {
            let value = config[key]
            guard let text = (value as? String) ?? ((value as? [String: Any])?["content"] as? String) else { return nil }
            guard let i = names.firstIndex(of: text) else { throw ModelFileError.invalid(
                file: configFile, field: key, expected: "a token of the vocabulary", found: text) }
            return Int32(i)
        }
    }

    /// `model.vocab` and `added_tokens` as one id-indexed table: added tokens are control (special)
    /// or user-defined, the rest normal.
    static func tokenTable(_ file: Parsed) throws -> (tokens: [String], types: [Int32]) {
        let bad = file.bad
        let model = file.json["model"] as? [String: Any] ?? [:]
        guard let vocab = model["vocab"] as? [String: Int] else { throw bad("model.vocab", "an object of token: id", nil) }
        var tokens = [String?](repeating: nil, count: vocab.count)
        var types = [Int32](repeating: TokenType.normal.rawValue, count: vocab.count)
        for (token, id) in vocab {
            guard id >= 0, id < tokens.count, tokens[id] == nil else { throw bad("model.vocab", "ids 0..<\(vocab.count), each once", "\(token): \(id)") }
            tokens[id] = token
        }
        for entry in file.json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = entry["id"] as? Int, let content = entry["content"] as? String, id >= 0 else {
                throw bad("added_tokens", "entries with an id and content", entry)
            }
            if id >= tokens.count {
                tokens += [String?](repeating: nil, count: id + 1 - tokens.count)
                types += [Int32](repeating: TokenType.normal.rawValue, count: id + 1 - types.count)
            }
            guard tokens[id] == nil || tokens[id] == content else { throw bad("added_tokens", "the vocabulary's token for id \(id)", content) }
            tokens[id] = content
            types[id] = ((entry["special"] as? Bool) ?? false ? TokenType.control : TokenType.userDefined).rawValue
        }
        if let gap = tokens.firstIndex(of: nil) { throw bad("model.vocab", "a token for every id", "no token for id \(gap)") }
        return (tokens.map { $0! }, types)
    }

    /// The llama.cpp name of the pre-tokenizer `node` describes (the kept name when it agrees).
    private static func preTokenizerName(_ node: Any?, kept: String?,
                                         bad: (String, String, Any?) -> ModelFileError) throws -> String {
        let object = node as? [String: Any]
        let steps = (object?["type"] as? String == "Sequence" ? object?["pretokenizers"] as? [[String: Any]] : object.map { [$0] }) ?? []
        let kinds = steps.map { step -> String in
            let type = step["type"] as? String ?? "?"
            if type == "Digits" { return (step["individual_digits"] as? Bool ?? false) ? "Digits" : "DigitRuns" }
            if type == "ByteLevel" { return (step["use_regex"] as? Bool ?? true) ? "ByteLevel" : "ByteLevelNoRegex" }
            return type
        }
        let structure: PreTokenizer
        switch kinds {
        case ["ByteLevel"]: structure = .gpt2
        case ["Digits", "ByteLevel"]: structure = .digitsThenGPT2
        default: throw bad("pre_tokenizer", "ByteLevel, or Sequence [Digits (individual), ByteLevel]", kinds.joined(separator: ", "))
        }
        if let kept, (try? PreTokenizer(name: kept)) == structure { return kept }
        return structure == .gpt2 ? "gpt2" : "smollm"
    }

    private static func object(at url: URL) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelFileError.cannotOpen(file: url.path, reason: error.localizedDescription)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelFileError.invalid(file: url.path, field: url.lastPathComponent, expected: "a JSON object", found: "something else")
        }
        return object
    }
}
