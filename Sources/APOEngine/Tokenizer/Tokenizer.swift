/// Text ↔ token ids for one vocabulary. Invariant: every id it produces is in `0..<vocabularySize`, and
/// `decode(encode(x, parseSpecial: false)) == x` for any text made only of characters the vocabulary
/// can spell (byte-level and byte-fallback vocabularies spell everything).
public protocol Tokenizer: Sendable {
    var vocabularySize: Int { get }
    var bosID: Int32? { get }
    var eosID: Int32 { get }
    /// The tables this tokenizer was built from (what a model directory's `tokenizer.json` stores).
    var data: TokenizerData { get }
    /// Plain text → ids. `parseSpecial`: recognise special-token strings like "<|im_start|>" in the
    /// text. Adds BOS/EOS only where the vocabulary asks for it (`addBOS`/`addEOS`).
    func encode(_ text: String, parseSpecial: Bool) -> [Int32]
    /// Ids → text; special tokens decode to their own text. Bytes that do not form valid UTF-8
    /// become U+FFFD.
    func decode(_ ids: [Int32]) -> String
    /// The raw bytes one token stands for (a byte-fallback token is one byte, possibly half a
    /// character). Out-of-range ids give no bytes.
    func tokenBytes(_ id: Int32) -> [UInt8]
    func id(ofToken token: String) -> Int32?
    /// The vocabulary's own spelling of a token (e.g. "Ġthe" for GPT-2 byte-level BPE).
    func tokenString(_ id: Int32) -> String
    /// True for control tokens (BOS, EOS, `<|im_start|>`…): text that is structure, not content.
    func isControl(_ id: Int32) -> Bool
}

extension Tokenizer {
    public func encode(_ text: String) -> [Int32] { encode(text, parseSpecial: false) }

    // Both tokenizers answer these from their tables alone.
    public func tokenString(_ id: Int32) -> String {
        guard id >= 0 && Int(id) < data.tokens.count else { return "" }
        return data.tokens[Int(id)]
    }

    public func isControl(_ id: Int32) -> Bool {
        let types = data.tokenTypes
        guard id >= 0 && Int(id) < types.count else { return false }
        return types[Int(id)] == TokenType.control.rawValue
    }

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids { bytes.append(contentsOf: tokenBytes(id)) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The token types GGUF stores in `tokenizer.ggml.token_type` (llama.cpp's `llama_token_type`).
public enum TokenType: Int32, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// Everything needed to rebuild a tokenizer: GGUF's `tokenizer.ggml.*` metadata, field by field.
/// Invariant (checked by `makeTokenizer`): `tokenTypes` and `scores` (when present) have one entry
/// per token, and every special id is a valid index.
public struct TokenizerData: Codable, Sendable, Equatable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE) or "llama" (SentencePiece-style BPE).
    public var model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer name for "gpt2" models ("smollm", "gpt2", …).
    public var pre: String?
    public var tokens: [String]
    /// `tokenizer.ggml.merges`: "left right" pairs, best (rank 0) first. For "llama" only when read
    /// from Hugging Face's `tokenizer.json` (then they, not `scores`, order the merges).
    public var merges: [String]
    /// `tokenizer.ggml.token_type`, raw values of `TokenType`.
    public var tokenTypes: [Int32]
    /// `tokenizer.ggml.scores`: merge priorities for "llama" models (higher merges first).
    public var scores: [Float]?
    public var bosID: Int32?
    public var eosID: Int32
    public var unknownID: Int32?
    public var paddingID: Int32?
    /// `tokenizer.ggml.add_bos_token`: prepend BOS when encoding plain text.
    public var addBOS: Bool
    /// `tokenizer.ggml.add_eos_token` (nil: false).
    public var addEOS: Bool?
    /// `tokenizer.ggml.add_space_prefix` for "llama" models (nil: true, SentencePiece's default).
    public var addSpacePrefix: Bool?
    /// For "llama" models read from a `tokenizer.json` whose `Metaspace` pre-tokenizer puts the
    /// space prefix: where it goes (`MetaspacePrepend`). nil: as SentencePiece and llama.cpp put it.
    /// A GGUF has no key for it: an export tokenizes as llama.cpp does.
    public var metaspacePrepend: MetaspacePrepend?
    /// `tokenizer.chat_template`, the Jinja source, kept verbatim.
    public var chatTemplate: String?

    public init(
        model: String, pre: String? = nil, tokens: [String], merges: [String] = [],
        tokenTypes: [Int32], scores: [Float]? = nil, bosID: Int32?, eosID: Int32,
        unknownID: Int32? = nil, paddingID: Int32? = nil, addBOS: Bool, addEOS: Bool? = nil,
        addSpacePrefix: Bool? = nil, metaspacePrepend: MetaspacePrepend? = nil, chatTemplate: String? = nil
    ) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.merges = merges
        self.tokenTypes = tokenTypes
        self.scores = scores
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.metaspacePrepend = metaspacePrepend
        self.chatTemplate = chatTemplate
    }
}

/// Where Hugging Face's `Metaspace` pre-tokenizer puts the "▁" of the space prefix. Unlike
/// SentencePiece (and llama.cpp, and the legacy `Prepend` normalizer), which put it before the text
/// and after every special token unconditionally, Metaspace puts none before a fragment that already
/// starts with a space or "▁"; and with `first`, none after a special token inside the text.
public enum MetaspacePrepend: String, Codable, Sendable {
    case always, first
}

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case unsupportedModel(String)
    case unsupportedPreTokenizer(String)
    case emptyVocabulary
    case lengthMismatch(field: String, expected: Int, found: Int)
    case idOutOfRange(field: String, id: Int32, vocabularySize: Int)
    case badMerge(index: Int, merge: String)
    case duplicateToken(id: Int, token: String)
    case missingByteToken(byte: UInt8)

    public var description: String {
        switch self {
        case .unsupportedModel(let m):
            return "tokenizer.ggml.model '\(m)' is not supported (expected 'gpt2' or 'llama')"
        case .unsupportedPreTokenizer(let p):
            return "tokenizer.ggml.pre '\(p)' is not supported (supported: \(PreTokenizer.supportedNames.joined(separator: ", ")))"
        case .emptyVocabulary:
            return "tokenizer.ggml.tokens is empty"
        case .lengthMismatch(let field, let expected, let found):
            return "\(field) has \(found) entries, expected one per token (\(expected))"
        case .idOutOfRange(let field, let id, let n):
            return "\(field) = \(id) is outside the vocabulary (0..<\(n))"
        case .badMerge(let index, let merge):
            return "tokenizer.ggml.merges[\(index)] = '\(merge)' is not two space-separated tokens"
        case .duplicateToken(let id, let token):
            return "tokenizer.ggml.tokens[\(id)] = '\(token)' appears twice"
        case .missingByteToken(let byte):
            return "byte-fallback token <0x\(String(byte, radix: 16, uppercase: true))> is missing from the vocabulary"
        }
    }
}

/// Builds the tokenizer `data.model` names, after checking the tables are consistent.
public func makeTokenizer(_ data: TokenizerData) throws -> any Tokenizer {
    try validate(data)
    switch data.model {
    case "gpt2":
        return try ByteLevelBPE(data)
    case "llama":
        return try SentencePieceBPE(data)
    default:
        throw TokenizerError.unsupportedModel(data.model)
    }
}

func validate(_ data: TokenizerData) throws {
    let n = data.tokens.count
    if n == 0 { throw TokenizerError.emptyVocabulary }
    if data.tokenTypes.count != n {
        throw TokenizerError.lengthMismatch(field: "tokenizer.ggml.token_type", expected: n, found: data.tokenTypes.count)
    }
    if let scores = data.scores, scores.count != n {
        throw TokenizerError.lengthMismatch(field: "tokenizer.ggml.scores", expected: n, found: scores.count)
    }
    func check(_ field: String, _ id: Int32?) throws {
        if let id, id < 0 || Int(id) >= n {
            throw TokenizerError.idOutOfRange(field: field, id: id, vocabularySize: n)
        }
    }
    try check("tokenizer.ggml.bos_token_id", data.bosID)
    try check("tokenizer.ggml.eos_token_id", data.eosID)
    try check("tokenizer.ggml.unknown_token_id", data.unknownID)
    try check("tokenizer.ggml.padding_token_id", data.paddingID)
}

/// Turns a stream of ids into text pieces that never end inside a UTF-8 character: bytes of an
/// incomplete character are held until the token that completes them arrives. Invariant: the
/// concatenation of everything `append` and `finish` return equals the concatenated `tokenBytes`
/// of all ids fed, decoded as UTF-8 — which is `decode` for byte-level BPE (SentencePiece `decode`
/// also drops the space it prefixed to the first token; a stream decodes a continuation, so keeps it).
public struct StreamingDecoder {
    private let tokenizer: any Tokenizer
    private var pending: [UInt8] = []

    public init(tokenizer: any Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// Feeds one id; returns the text that is now complete (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        pending.append(contentsOf: tokenizer.tokenBytes(id))
        let complete = completePrefixLength(pending)
        if complete == 0 { return "" }
        let text = String(decoding: pending[0..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Feeds several ids at once.
    public mutating func append(contentsOf ids: [Int32]) -> String {
        var out = ""
        for id in ids { out += append(id) }
        return out
    }

    /// Flushes what is left; an incomplete trailing character becomes U+FFFD.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Bytes held back because they may be the start of a character not yet complete.
    public var pendingByteCount: Int { pending.count }
}

/// Length of the longest prefix of `bytes` that does not end inside a possibly-valid UTF-8 sequence.
/// A trailing lead byte followed by fewer continuation bytes than it announces is held back;
/// anything malformed is released (it decodes to U+FFFD and waiting would not fix it).
func completePrefixLength(_ bytes: [UInt8]) -> Int {
    let n = bytes.count
    // A UTF-8 character is at most 4 bytes: look back at most 3 bytes for its lead byte.
    var i = n - 1
    var continuation = 0
    while i >= 0 && continuation < 3 && bytes[i] & 0xC0 == 0x80 {
        continuation += 1
        i -= 1
    }
    if i < 0 { return n }
    let lead = bytes[i]
    let need: Int
    if lead & 0x80 == 0 { need = 1 }
    else if lead & 0xE0 == 0xC0 { need = 2 }
    else if lead & 0xF0 == 0xE0 { need = 3 }
    else if lead & 0xF8 == 0xF0 { need = 4 }
    else { return n }
    let have = continuation + 1
    return have < need ? i : n
}
