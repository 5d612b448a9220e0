// libFuzzer target: both tokenizers on any bytes.
//   - SmolLM2-135M-Instruct's byte-level BPE, read from the real GGUF (APO_FUZZ_MODEL);
//   - a SentencePiece BPE vocabulary made from the same tokens ("Ġ" → "▁", rank → score, plus the
//     256 <0xNN> byte tokens), since no SentencePiece model is at hand.
// Properties: no crash for any text (with and without special-token parsing) or any id sequence;
// every id is in range; decode(encode(s)) == s byte for byte for valid UTF-8 s (the input decoded
// with U+FFFD for bad bytes), except where the vocabulary cannot spell it (SmolLM2 lacks a few
// bytes; SentencePiece reads a literal "▁" as a space); the streaming decoder agrees with decode.
import Foundation
@testable import APOEngine

let modelPath = ProcessInfo.processInfo.environment["APO_FUZZ_MODEL"] ?? "data/models/SmolLM2-135M-Instruct.Q4_1.gguf"

let byteLevel: ByteLevelBPE = {
    do {
        return try ByteLevelBPE(GGUFFile(path: modelPath).tokenizerData())
    } catch {
        fuzzFailure("cannot load the SmolLM2 tokenizer from \(modelPath) (set APO_FUZZ_MODEL): \(error)")
    }
}()

/// Bytes SmolLM2's vocabulary has no token for: text containing them cannot round-trip.
let unspellable: Set<UInt8> = Set((0..<256).filter { byteLevel.id(ofToken: byteToUnicode[$0]) == nil }.map(UInt8.init))

let sentencePiece: SentencePieceBPE = {
    var tokens = ["<unk>", "<s>", "</s>"]
    var types: [Int32] = [TokenType.unknown.rawValue, TokenType.control.rawValue, TokenType.control.rawValue]
    var scores: [Float] = [0, 0, 0]
    for b in 0..<256 {
        tokens.append("<0x" + String(format: "%02X", b) + ">"); types.append(TokenType.byte.rawValue); scores.append(0)
    }
    var seen = Set(tokens)
    for (i, t) in byteLevel.data.tokens.enumerated() where byteLevel.data.tokenTypes[i] == TokenType.normal.rawValue {
        guard let text = String(validating: decodeByteLevel(t), as: UTF8.self), !text.isEmpty else { continue }
        let piece = text.replacingOccurrences(of: " ", with: "\u{2581}")
        guard seen.insert(piece).inserted else { continue }
        tokens.append(piece); types.append(TokenType.normal.rawValue); scores.append(-Float(i))
    }
    do {
        return try SentencePieceBPE(TokenizerData(
            model: "llama", tokens: tokens, tokenTypes: types, scores: scores, bosID: 1, eosID: 2,
            unknownID: 0, addBOS: false))
    } catch {
        fuzzFailure("cannot build the SentencePiece vocabulary: \(error)")
    }
}()

func check(_ tokenizer: any Tokenizer, _ name: String, _ text: String, roundTrips: Bool) {
    func inRange(_ ids: [Int32]) {
        for id in ids where id < 0 || Int(id) >= tokenizer.vocabularySize {
            fuzzFailure("\(name): id \(id) outside 0..<\(tokenizer.vocabularySize) for \(Array(text.utf8))")
        }
    }
    inRange(tokenizer.encode(text, parseSpecial: true))
    let ids = tokenizer.encode(text, parseSpecial: false)
    inRange(ids)
    let decoded = tokenizer.decode(ids)
    if roundTrips && Array(decoded.utf8) != Array(text.utf8) {
        fuzzFailure("\(name): decode(encode(s)) != s: s = \(Array(text.utf8)), ids = \(ids), decoded = \(Array(decoded.utf8))")
    }
    // Streaming decode gives the concatenated token bytes (decode's, less SentencePiece's dropped
    // leading space).
    var stream = StreamingDecoder(tokenizer: tokenizer)
    var streamed: [UInt8] = []
    for id in ids { streamed += Array(stream.append(id).utf8) }
    streamed += Array(stream.finish().utf8)
    var expected: [UInt8] = []
    for id in ids { expected += tokenizer.tokenBytes(id) }
    if streamed != Array(String(decoding: expected, as: UTF8.self).utf8) {
        fuzzFailure("\(name): streaming decode differs from the token bytes for ids \(ids)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizers(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)  // valid UTF-8 whatever the bytes
    check(byteLevel, "byte-level BPE", text, roundTrips: !text.utf8.contains(where: unspellable.contains))
    check(sentencePiece, "SentencePiece BPE", text, roundTrips: !text.unicodeScalars.contains("\u{2581}"))

    // The same bytes as an id sequence (little-endian Int32s, any value): decode must not crash.
    var ids: [Int32] = []
    var i = 0
    while i + 4 <= bytes.count {
        ids.append(Int32(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24))
        i += 4
    }
    for tokenizer in [byteLevel as any Tokenizer, sentencePiece] {
        _ = tokenizer.decode(ids)
        var stream = StreamingDecoder(tokenizer: tokenizer)
        _ = stream.append(contentsOf: ids)
        _ = stream.finish()
        for id in ids.prefix(16) { _ = tokenizer.tokenString(id); _ = tokenizer.isControl(id) }
    }
    return 0
}
