import Testing
@testable import APOEngine

// Tokenizer behaviour on tiny vocabularies built by hand, so every expected id can be checked on
// paper. Parity with llama.cpp on the real SmolLM2 vocabulary is in TokenizerParityTests.swift.

/// A byte-level vocabulary: ids 0…255 are the bytes (GPT-2 stand-ins), then a few merges and specials.
private func tinyByteLevel(pre: String = "gpt2") throws -> any Tokenizer {
    var tokens = (0..<256).map { byteToUnicode[$0] }
    var types = [Int32](repeating: TokenType.normal.rawValue, count: 256)
    func add(_ t: String, _ type: TokenType = .normal) { tokens.append(t); types.append(type.rawValue) }
    add("he")       // 256
    add("ll")       // 257
    add("hell")     // 258
    add("Ġw")       // 259
    add("<|end|>", .control)      // 260
    add("<u>", .userDefined)      // 261
    add("lo")       // 262
    add("<|end|>x", .control)     // 263: longer special wins where both match
    let merges = ["h e", "l l", "he ll", "Ġ w", "l o"]
    return try makeTokenizer(TokenizerData(
        model: "gpt2", pre: pre, tokens: tokens, merges: merges, tokenTypes: types,
        bosID: 260, eosID: 260, addBOS: false))
}

@Test func byteLevelMergesLowestRankFirst() throws {
    let tok = try tinyByteLevel()
    // "hello": he(0) → ll(1) → hell(2); "lo" (rank 4) never fires because "l" is used up by "ll".
    // " world": Ġw(3) then single bytes o r l d.
    #expect(tok.encode("hello world") == [258, 111, 259, 111, 114, 108, 100])
    // Equal ranks: the leftmost pair merges first ("lll" → "ll" + "l").
    #expect(tok.encode("lll") == [257, 108])
    #expect(tok.encode("") == [])
    #expect(tok.decode([258, 111, 259, 111, 114, 108, 100]) == "hello world")
}

@Test func byteLevelSpecialTokens() throws {
    let tok = try tinyByteLevel()
    // Control tokens only with parseSpecial; the longer "<|end|>x" is carved out before "<|end|>".
    #expect(tok.encode("a<|end|>b", parseSpecial: true) == [97, 260, 98])
    #expect(tok.encode("a<|end|>xb<|end|>", parseSpecial: true) == [97, 263, 98, 260])
    // Without parseSpecial the control string is plain text: words "a", "<|", "end", "|>", "b".
    #expect(tok.encode("a<|end|>b", parseSpecial: false) == [97, 60, 124, 101, 110, 100, 124, 62, 98])
    // User-defined tokens are recognised either way (llama.cpp / HF tokenizers behaviour).
    #expect(tok.encode("x<u>y", parseSpecial: false) == [120, 261, 121])
    #expect(tok.decode([97, 260, 98]) == "a<|end|>b")
    #expect(tok.isControl(260) && !tok.isControl(261) && !tok.isControl(97))
    #expect(tok.id(ofToken: "<|end|>") == 260)
    #expect(tok.tokenString(259) == "Ġw")
}

@Test func byteLevelRoundTripsAnyUnicode() throws {
    let tok = try tinyByteLevel()
    for text in ["é", "日本語", "😀 family 👨‍👩‍👧", "\t\r\n  x", "\u{0}\u{1F}\u{7F}", "a\u{301}"] {
        #expect(tok.decode(tok.encode(text)) == text)
    }
    // "é" is two bytes, so two byte tokens.
    #expect(tok.encode("é") == [0xC3, 0xA9])
}

@Test func streamingDecoderHoldsIncompleteCharacters() throws {
    let tok = try tinyByteLevel()
    var stream = StreamingDecoder(tokenizer: tok)
    // "😀" is F0 9F 98 80: nothing may come out until the fourth byte arrives.
    #expect(stream.append(0xF0) == "")
    #expect(stream.append(0x9F) == "")
    #expect(stream.append(0x98) == "")
    #expect(stream.pendingByteCount == 3)
    #expect(stream.append(0x80) == "😀")
    #expect(stream.append(258) == "hell")
    #expect(stream.append(0xC3) == "")
    #expect(stream.append(contentsOf: [0xA9, 260]) == "é<|end|>")
    // A dangling lead byte at the end becomes U+FFFD rather than vanishing.
    #expect(stream.append(0xE6) == "")
    #expect(stream.finish() == "\u{FFFD}")
    // Malformed bytes are released at once (waiting would not make them valid).
    var s2 = StreamingDecoder(tokenizer: tok)
    #expect(s2.append(0x80) == "\u{FFFD}")
    #expect(s2.pendingByteCount == 0)
}

@Test func gpt2PreTokenizerWords() throws {
    let p = try PreTokenizer(name: "gpt2")
    #expect(p.words("Hello  world") == ["Hello", " ", " world"])
    #expect(p.words("I'm 12345") == ["I", "'m", " 12345"])
    #expect(p.words("\n\n1") == ["\n", "\n", "1"])
    #expect(p.words("\n\nHuman:") == ["\n", "\n", "Human", ":"])
    #expect(p.words("a  ") == ["a", "  "])
    #expect(p.words("x!? y") == ["x", "!?", " y"])
    #expect(p.words("I'M") == ["I", "'", "M"])         // contractions are lowercase only
    #expect(p.words("日本語のテキスト、中文") == ["日本語のテキスト", "、", "中文"])
    #expect(p.words("a\u{00A0}b") == ["a", "\u{00A0}", "b"])  // NBSP is whitespace, not " "
}

@Test func smollmPreTokenizerSplitsDigitsFirst() throws {
    let p = try PreTokenizer(name: "smollm")
    // Digits are cut out first, so "\n\n" before a digit is alone in its range and stays one word.
    #expect(p.words("\n\n1") == ["\n\n", "1"])
    #expect(p.words("\n\nHuman:") == ["\n", "\n", "Human", ":"])
    #expect(p.words("I'm 12345") == ["I", "'m", " ", "1", "2", "3", "4", "5"])
    #expect(p.words("year2024x") == ["year", "2", "0", "2", "4", "x"])
    // Any \p{N} counts, not only ASCII digits; a space left at the end of a range is its own word.
    #expect(p.words("½ and ٣") == ["½", " and", " ", "٣"])
}

@Test func unknownPreTokenizerIsAClearError() throws {
    var data = TokenizerData(model: "gpt2", pre: "no-such-pre", tokens: (0..<256).map { byteToUnicode[$0] },
                             tokenTypes: [Int32](repeating: 1, count: 256), bosID: nil, eosID: 0, addBOS: false)
    #expect(throws: TokenizerError.unsupportedPreTokenizer("no-such-pre")) { try makeTokenizer(data) }
    #expect("\(TokenizerError.unsupportedPreTokenizer("no-such-pre"))".contains("smollm"))
    data.pre = "gpt2"
    data.tokenTypes.removeLast()
    #expect(throws: TokenizerError.lengthMismatch(field: "tokenizer.ggml.token_type", expected: 256, found: 255)) {
        try makeTokenizer(data)
    }
    data.tokenTypes.append(1)
    data.eosID = 256
    #expect(throws: TokenizerError.idOutOfRange(field: "tokenizer.ggml.eos_token_id", id: 256, vocabularySize: 256)) {
        try makeTokenizer(data)
    }
    data.eosID = 0
    data.model = "wordpiece"
    #expect(throws: TokenizerError.unsupportedModel("wordpiece")) { try makeTokenizer(data) }
    data.model = "gpt2"
    // A byte the vocabulary cannot spell is dropped (llama.cpp does the same), not an error.
    data.tokens[65] = "not-a-byte"
    #expect(try makeTokenizer(data).encode("xAy") == [120, 121])
    data.tokens[65] = byteToUnicode[65]
    data.merges = ["nospace"]
    #expect(throws: TokenizerError.badMerge(index: 0, merge: "nospace")) { try makeTokenizer(data) }
}

/// A SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then scored pieces.
private func tinySentencePiece(addBOS: Bool = true) throws -> any Tokenizer {
    var tokens = ["<unk>", "<s>", "</s>"]
    var types: [Int32] = [2, 3, 3]
    var scores: [Float] = [0, 0, 0]
    for b in 0..<256 {
        tokens.append("<0x" + String(b, radix: 16, uppercase: true).leftPadded(2) + ">")
        types.append(TokenType.byte.rawValue)
        scores.append(0)
    }
    for (t, s) in [("▁", -10), ("h", -10), ("i", -10), ("▁h", -1), ("hi", -2), ("▁hi", -0.5), ("é", -3)] as [(String, Float)] {
        tokens.append(t); types.append(1); scores.append(s)
    }
    // 259 "▁", 260 "h", 261 "i", 262 "▁h", 263 "hi", 264 "▁hi", 265 "é" (precomposed U+00E9)
    return try makeTokenizer(TokenizerData(
        model: "llama", tokens: tokens, tokenTypes: types, scores: scores,
        bosID: 1, eosID: 2, unknownID: 0, addBOS: addBOS))
}

private extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

@Test func sentencePieceMergesByScoreWithByteFallback() throws {
    let tok = try tinySentencePiece()
    // "▁hi▁hi": "▁h" (-1) beats "hi" (-2), leftmost first; then "▁h"+"i" = "▁hi" (-0.5).
    #expect(tok.encode("hi hi") == [1, 264, 264])
    // "ï" has no piece: its bytes C3 AF become <0xC3> (3+0xC3) and <0xAF> (3+0xAF).
    let fallback: [Int32] = [1, 262, 3 + 0xC3, 3 + 0xAF]
    #expect(tok.encode("hï") == fallback)
    // Lookups are by bytes, not Swift's canonical equivalence: "e\u{301}" is not the token "é".
    #expect(tok.encode("é") == [1, 259, 265])
    let decomposed: [Int32] = [1, 259, 3 + 0x65, 3 + 0xCC, 3 + 0x81]
    #expect(tok.encode("e\u{301}") == decomposed)
    // The prefixed space is dropped again when decoding from the start of a text.
    #expect(tok.decode([264, 264]) == "hi hi")
    #expect(tok.decode([262, 3 + 0xC3, 3 + 0xAF]) == "hï")
    #expect(tok.decode([1, 264]) == "<s> hi")  // as llama.cpp's detokenize with special tokens shown
    // After a special token the text is prefixed with "▁" again.
    #expect(tok.encode("hi<s>hi", parseSpecial: true) == [1, 264, 1, 264])
    let noBOS = try tinySentencePiece(addBOS: false)
    #expect(noBOS.encode("") == [])
    for text in ["hi", "hi  hi", "ihh é😀", " leading", "e\u{301}"] {
        #expect(noBOS.decode(noBOS.encode(text)) == text)
    }
}
