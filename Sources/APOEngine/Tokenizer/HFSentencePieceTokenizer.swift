import Foundation

/// A SentencePiece-style BPE tokenizer (LLaMA-2's, TinyLlama's) in Hugging Face's `tokenizer.json`
/// form, mapped onto apo's "llama" `TokenizerData` and back.
///
/// Hugging Face spells it as BPE with `byte_fallback`, spaces turned into "▁" by the normalizer
/// (`Prepend("▁")` + `Replace(" ", "▁")`, the legacy form transformers' LlamaConverter writes) or by
/// a `Metaspace` pre-tokenizer, and a decoder that undoes both. Token types: `<0xNN>` → byte, the
/// model's `unk_token` → unknown, other added tokens → control (special) or user-defined, the rest
/// normal. The merges are kept verbatim — `SentencePieceBPE` merges by their rank, exactly as
/// Hugging Face does — and scores are derived from them (a token scores minus the rank of the first
/// merge that makes it) so a GGUF export gives llama.cpp the same order.
/// Written back in the legacy form, so a file read and written again gives the same `TokenizerData`.
enum HFSentencePieceTokenizer {
    static let space = "\u{2581}"

    /// True when `json` (a BPE `tokenizer.json`) spells spaces SentencePiece's way, not byte-level.
    static func describes(_ json: [String: Any]) -> Bool {
        let model = json["model"] as? [String: Any]
        let pre = json["pre_tokenizer"] as? [String: Any]
        return model?["byte_fallback"] as? Bool == true || pre?["type"] as? String == "Metaspace"
            || json["normalizer"] is [String: Any]
    }

    static func decode(_ file: HFTokenizerFiles.Parsed) throws -> TokenizerData {
        let json = file.json, bad = file.bad
        let model = json["model"] as? [String: Any] ?? [:]
        guard model["byte_fallback"] as? Bool == true else {
            throw bad("model.byte_fallback", "true (SentencePiece BPE spells unknown characters with <0xNN> tokens)", model["byte_fallback"])
        }
        if model["ignore_merges"] as? Bool == true { throw bad("model.ignore_merges", "false", true) }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] where !((model[key] as? String ?? "").isEmpty) {
            throw bad("model.\(key)", "none", model[key])
        }
        let (addSpacePrefix, metaspacePrepend) = try spacePrefix(json, bad: bad)
        try checkDecoder(json["decoder"], addSpacePrefix: addSpacePrefix, bad: bad)
        let table = try HFTokenizerFiles.tokenTable(file)
        let tokens = table.tokens
        var types = table.types
        for (i, t) in tokens.enumerated() where types[i] == TokenType.normal.rawValue && isByteToken(t) {
            types[i] = TokenType.byte.rawValue
        }
        let unknown = try (model["unk_token"] as? String).map { name -> Int32 in
            guard let i = tokens.firstIndex(of: name) else { throw bad("model.unk_token", "a token of the vocabulary", name) }
            return Int32(i)
        } ?? file.tokenID("unk_token", in: tokens)
        if let unknown { types[Int(unknown)] = TokenType.unknown.rawValue }
        let merges = try mergeList(model["merges"], bad: bad)
        let scores = try mergeScores(tokens: tokens, merges: merges, bad: bad)
        let template = try templateTokens(json["post_processor"], bad: bad)
        func id(_ name: String?) -> Int32? { name.flatMap { tokens.firstIndex(of: $0) }.map(Int32.init) }
        let bos = try file.tokenID("bos_token", in: tokens) ?? id(template.before)
        let eos = try file.tokenID("eos_token", in: tokens) ?? id(template.after) ?? id("</s>")
        guard let eos else { throw bad("eos_token", "an EOS token in tokenizer_config.json or </s> in the vocabulary", nil) }
        let config = file.config
        return TokenizerData(
            model: "llama", tokens: tokens, merges: merges, tokenTypes: types, scores: scores,
            bosID: bos, eosID: eos, unknownID: unknown, paddingID: try file.tokenID("pad_token", in: tokens),
            addBOS: template.present ? template.before != nil : config["add_bos_token"] as? Bool ?? false,
            addEOS: template.present ? template.after != nil : config["add_eos_token"] as? Bool,
            addSpacePrefix: addSpacePrefix, metaspacePrepend: metaspacePrepend, chatTemplate: config["chat_template"] as? String)
    }

    /// Whether a "▁" is put before the text: from the legacy normalizer, or a Metaspace pre-tokenizer
    /// (then also where: its `prepend_scheme`; older files' `add_prefix_space: true` is `always`).
    private static func spacePrefix(_ json: [String: Any], bad: (String, String, Any?) -> ModelFileError) throws
        -> (Bool, MetaspacePrepend?) {
        let expected = "Sequence [Prepend(\"▁\")?, Replace(\" \", \"▁\")] with no pre-tokenizer, or no normalizer and Metaspace(\"▁\", split: false)"
        if let normalizer = json["normalizer"] as? [String: Any] {
            guard json["pre_tokenizer"] is NSNull || json["pre_tokenizer"] == nil else { throw bad("pre_tokenizer", expected, json["pre_tokenizer"]) }
            let steps = normalizer["type"] as? String == "Sequence" ? normalizer["normalizers"] as? [[String: Any]] ?? [] : [normalizer]
            let prepend: [String: Any] = ["type": "Prepend", "prepend": space]
            let replace: [String: Any] = ["type": "Replace", "pattern": ["String": " "], "content": space]
            let given = steps.map(canonical), prependJSON = canonical(prepend), replaceJSON = canonical(replace)
            if given == [prependJSON, replaceJSON] { return (true, nil) }
            if given == [replaceJSON] { return (false, nil) }
            throw bad("normalizer", expected, steps.map { $0["type"] as? String ?? "?" }.joined(separator: ", "))
        }
        guard let pre = json["pre_tokenizer"] as? [String: Any], pre["type"] as? String == "Metaspace",
              pre["replacement"] as? String == space, pre["split"] as? Bool == false else {
            throw bad("pre_tokenizer", expected, (json["pre_tokenizer"] as? [String: Any])?["type"])
        }
        let scheme = pre["prepend_scheme"] as? String ?? ((pre["add_prefix_space"] as? Bool ?? true) ? "always" : "never")
        if scheme == "never" { return (false, nil) }
        guard let placement = MetaspacePrepend(rawValue: scheme) else {
            throw bad("pre_tokenizer.prepend_scheme", "always, first or never", scheme)
        }
        return (true, placement)
    }

    /// The decoder must undo the encoding: "▁" → " ", <0xNN> → bytes, and drop the prefixed space.
    private static func checkDecoder(_ node: Any?, addSpacePrefix: Bool, bad: (String, String, Any?) -> ModelFileError) throws {
        let decoder = node as? [String: Any] ?? [:]
        let steps = decoder["type"] as? String == "Sequence" ? decoder["decoders"] as? [[String: Any]] ?? [] : [decoder]
        let kinds = steps.map { $0["type"] as? String ?? "?" }
        let strips = steps.contains { ($0["type"] as? String == "Strip" && $0["start"] as? Int == 1)
            || ($0["type"] as? String == "Metaspace" && $0["prepend_scheme"] as? String != "never") }
        guard Set(kinds).isSubset(of: ["Replace", "ByteFallback", "Fuse", "Strip", "Metaspace"]), kinds.contains("ByteFallback"),
              strips == addSpacePrefix else {
            throw bad("decoder", "Sequence [Replace(\"▁\", \" \"), ByteFallback, Fuse" + (addSpacePrefix ? ", Strip(\" \", 1, 0)]" : "]"),
                      kinds.joined(separator: ", "))
        }
    }

    /// `model.merges` as "left right" strings; either half containing a space cannot be told apart.
    private static func mergeList(_ node: Any?, bad: (String, String, Any?) -> ModelFileError) throws -> [String] {
        try (node as? [Any] ?? []).enumerated().map { i, m -> String in
            let pair = (m as? [String]) ?? (m as? String).map { $0.split(separator: " ", omittingEmptySubsequences: false).map(String.init) }
            guard let pair, pair.count == 2, !pair[0].isEmpty, !pair[1].isEmpty, !pair.joined().contains(" ") else {
                throw bad("model.merges[\(i)]", "[left, right], two tokens without spaces", m)
            }
            return pair[0] + " " + pair[1]
        }
    }

    /// Minus the rank of the first merge that makes each token (0 for tokens no merge makes), so
    /// highest score first is lowest rank first.
    private static func mergeScores(tokens: [String], merges: [String], bad: (String, String, Any?) -> ModelFileError) throws -> [Float] {
        var index: [[UInt8]: Int] = [:]
        for (i, t) in tokens.enumerated() where index[Array(t.utf8)] == nil { index[Array(t.utf8)] = i }
        var scores = [Float?](repeating: nil, count: tokens.count)
        for (rank, merge) in merges.enumerated() {
            let joined = Array(merge.utf8).filter { $0 != 0x20 }
            guard let id = index[joined] else { throw bad("model.merges[\(rank)]", "a pair whose join is a token", merge) }
            if scores[id] == nil { scores[id] = -Float(rank) }
        }
        return scores.map { $0 ?? 0 }
    }

    /// The special tokens TemplateProcessing puts before and after a single text.
    private static func templateTokens(_ node: Any?, bad: (String, String, Any?) -> ModelFileError) throws
        -> (present: Bool, before: String?, after: String?) {
        guard let processor = node as? [String: Any] else { return (false, nil, nil) }
        guard processor["type"] as? String == "TemplateProcessing", let single = processor["single"] as? [[String: Any]],
              let a = single.firstIndex(where: { $0["Sequence"] != nil }) else {
            throw bad("post_processor", "TemplateProcessing with the text ($A) in \"single\"", processor["type"])
        }
        func special(_ items: ArraySlice<[String: Any]>) throws -> String? {
            guard items.count <= 1 else { throw bad("post_processor.single", "at most one special token on each side of $A", items.count) }
            return items.first.flatMap { ($0["SpecialToken"] as? [String: Any])?["id"] as? String }
        }
        return (true, try special(single[..<a]), try special(single[(a + 1)...]))
    }

    /// `value` as sorted-key JSON, to compare parsed JSON by content.
    static func canonical(_ value: Any) -> Data? {
        try? JSONSerialization.data(withJSONObject: ["v": value], options: [.sortedKeys])
    }

    private static func isByteToken(_ t: String) -> Bool {
        t.utf8.count == 6 && t.hasPrefix("<0x") && t.hasSuffix(">") && UInt8(t.dropFirst(3).dropLast(), radix: 16) != nil
    }
}

// MARK: - Writing

extension HFSentencePieceTokenizer {
    /// `tokenizer.json` for `data` in the legacy LLaMA form transformers' LlamaConverter writes, or
    /// with a Metaspace pre-tokenizer when `data` was read from one (its placement is kept).
    static func tokenizerJSON(_ data: TokenizerData) -> [String: Any] {
        let prefix = data.addSpacePrefix ?? true
        let metaspace = prefix ? data.metaspacePrepend : nil
        var added: [[String: Any]] = []
        var vocab: [String: Int] = [:]
        for (id, token) in data.tokens.enumerated() {
            vocab[token] = id
            let type = TokenType(rawValue: data.tokenTypes[id])
            guard type == .control || type == .unknown || type == .userDefined else { continue }
            added.append(["id": id, "content": token, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": false, "special": type != .userDefined])
        }
        let replace: [String: Any] = ["type": "Replace", "pattern": ["String": " "], "content": space]
        let prepend: [String: Any] = ["type": "Prepend", "prepend": space]
        var decoders: [[String: Any]] = [["type": "Replace", "pattern": ["String": space], "content": " "],
                                         ["type": "ByteFallback"], ["type": "Fuse"]]
        if prefix { decoders.append(["type": "Strip", "content": " ", "start": 1, "stop": 0]) }
        let merges = data.merges.isEmpty ? mergesFromScores(data) : data.merges
        return [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(),
            "added_tokens": added,
            "normalizer": metaspace == nil ? ["type": "Sequence", "normalizers": prefix ? [prepend, replace] : [replace]] as Any : NSNull(),
            "pre_tokenizer": metaspace.map { ["type": "Metaspace", "replacement": space, "prepend_scheme": $0.rawValue, "split": false] as Any } ?? NSNull(),
            "post_processor": postProcessor(data),
            "decoder": ["type": "Sequence", "decoders": decoders],
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": data.unknownID.map { data.tokens[Int($0)] as Any } ?? NSNull(),
                "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": true,
                "byte_fallback": true, "ignore_merges": false, "vocab": vocab,
                "merges": merges.map { $0.split(separator: " ", maxSplits: 1).map(String.init) },
            ] as [String: Any],
        ]
    }

    /// BOS before (EOS after) each text as the tokenizer adds them, in TemplateProcessing's terms.
    private static func postProcessor(_ data: TokenizerData) -> [String: Any] {
        var specials: [String: Any] = [:]
        func items(_ sequence: String, _ typeID: Int) -> [[String: Any]] {
            var out: [[String: Any]] = []
            let ends = [(data.addBOS ? data.bosID : nil, true), (data.addEOS == true ? data.eosID : nil, false)]
            for (id, first) in ends where first {
                if let id { out.append(["SpecialToken": ["id": data.tokens[Int(id)], "type_id": typeID]]) }
            }
            out.append(["Sequence": ["id": sequence, "type_id": typeID]])
            for (id, first) in ends where !first {
                if let id { out.append(["SpecialToken": ["id": data.tokens[Int(id)], "type_id": typeID]]) }
            }
            for case let (id?, _) in ends {
                let token = data.tokens[Int(id)]
                specials[token] = ["id": token, "ids": [Int(id)], "tokens": [token]]
            }
            return out
        }
        let single = items("A", 0)
        return ["type": "TemplateProcessing", "single": single, "pair": single + items("B", 1), "special_tokens": specials]
    }

    /// Merges for a vocabulary that has only scores (a GGUF's), as transformers makes them from a
    /// SentencePiece model: every split of a normal token into two normal tokens, highest score first.
    static func mergesFromScores(_ data: TokenizerData) -> [String] {
        let normal = TokenType.normal.rawValue
        var index: [[UInt8]: Int] = [:]
        for (i, t) in data.tokens.enumerated() where data.tokenTypes[i] == normal && index[Array(t.utf8)] == nil {
            index[Array(t.utf8)] = i
        }
        let scores = data.scores ?? []
        var ranked: [(score: Float, id: Int, merge: String)] = []
        for (id, token) in data.tokens.enumerated() where data.tokenTypes[id] == normal {
            let scalars = Array(token.unicodeScalars)
            for split in 1..<max(scalars.count, 1) {
                let left = String(String.UnicodeScalarView(scalars[..<split])), right = String(String.UnicodeScalarView(scalars[split...]))
                if index[Array(left.utf8)] != nil, index[Array(right.utf8)] != nil, !token.contains(" ") {
                    ranked.append((id < scores.count ? scores[id] : 0, id, left + " " + right))
                }
            }
        }
        // Stable: splits of one token keep their left-to-right order.
        return ranked.enumerated().sorted { a, b in
            a.element.score != b.element.score ? a.element.score > b.element.score
                : a.element.id != b.element.id ? a.element.id < b.element.id : a.offset < b.offset
        }.map(\.element.merge)
    }
}
