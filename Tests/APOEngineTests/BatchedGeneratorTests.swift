import Foundation
import Testing
@testable import APOEngine

/// One character per id (ids 0 and 1 are control tokens), matching `makeTinyModel`'s 61 ids, so
/// generator tests run on a random tiny model without a real vocabulary.
struct CharacterTokenizer: Tokenizer {
    static let characters = Array(" abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n:.!?,")
    var vocabularySize: Int { 2 + Self.characters.count }
    var bosID: Int32? { 1 }
    var eosID: Int32 { 0 }
    var data: TokenizerData {
        TokenizerData(model: "letters", tokens: ["<eos>", "<bos>"] + Self.characters.map(String.init),
                      tokenTypes: [3, 3] + Self.characters.map { _ in 1 }, bosID: 1, eosID: 0, addBOS: false)
    }
    func encode(_ text: String, parseSpecial: Bool) -> [Int32] {
        text.compactMap { c in Self.characters.firstIndex(of: c).map { Int32($0 + 2) } }
    }
    func tokenBytes(_ id: Int32) -> [UInt8] {
        id < 2 || Int(id) >= vocabularySize ? [] : Array(String(Self.characters[Int(id) - 2]).utf8)
    }
    func id(ofToken token: String) -> Int32? { encode(token, parseSpecial: false).first }
    func tokenString(_ id: Int32) -> String { String(decoding: tokenBytes(id), as: UTF8.self) }
    func isControl(_ id: Int32) -> Bool { id < 2 }
}

@Suite struct BatchedGeneratorTests {
    let tokenizer = CharacterTokenizer()

    func requests() -> [GenerationRequest] {
        let prompts = ["Hello there", "ab", "Hello there", "What is this?\n", "Hello there", "x"]
        return prompts.enumerated().map { i, p in
            GenerationRequest(prompt: tokenizer.encode(p), seed: SplitMix64.streamSeed(base: 9, query: p, sample: i))
        }
    }

    func run(slots: Int, _ requests: [GenerationRequest], stop: [String] = [], maxNew: Int = 12,
             maxPrompt: Int = 32, prefill: Int = 512) throws -> [GenerationResult] {
        let model = try makeTinyModel()
        let options = GenerationOptions(sampling: SamplingParameters(temperature: 1), maxNewTokens: maxNew,
                                        maxPromptTokens: maxPrompt, stopStrings: stop, slots: slots,
                                        prefillRowsPerStep: prefill)
        return try BatchedGenerator(model: model, tokenizer: tokenizer, options: options, threads: 2).generate(requests)
    }

    @Test func samplesDoNotDependOnBatchComposition() throws {
        let all = requests()
        let alone = try all.map { try run(slots: 1, [$0])[0] }
        // Two slots (continuous batching with slot reuse, shared prompts) and all at once with a
        // small prefill budget (prompts read over several steps).
        for result in [try run(slots: 2, all), try run(slots: 6, all, prefill: 3)] {
            for (i, r) in result.enumerated() {
                #expect(r.tokens == alone[i].tokens, "request \(i)")
                #expect(r.text == alone[i].text)
                #expect(r.requestIndex == i)
            }
        }
        // Same prompt, different seeds: different samples (a broken per-request stream shows here).
        #expect(alone[0].tokens != alone[2].tokens || alone[0].tokens != alone[4].tokens)
    }

    @Test func stopsAtStopStringsLengthAndCutsTheText() throws {
        let request = requests()[3]
        let free = try run(slots: 1, [request], maxNew: 20)[0]
        #expect(free.tokens.count <= 20)
        if free.finishReason == .length { #expect(free.tokens.count == 20) }
        // A stop string taken from the middle of the unconstrained text.
        guard free.text.count >= 6 else { Issue.record("tiny model stopped too early: \(free)"); return }
        let start = free.text.index(free.text.startIndex, offsetBy: 3)
        let stop = String(free.text[start..<free.text.index(start, offsetBy: 2)])
        let cut = try run(slots: 1, [request], stop: [stop], maxNew: 20)[0]
        #expect(cut.finishReason == .stopString)
        #expect(cut.text == String(free.text[..<free.text.range(of: stop)!.lowerBound]))
    }

    @Test func promptsAreTruncatedFromTheLeft() throws {
        var long = requests()[3]
        long.prompt = tokenizer.encode("some words first, then ") + long.prompt
        var short = long
        short.prompt = Array(long.prompt.suffix(10))
        let a = try run(slots: 1, [long], maxPrompt: 10)[0]
        let b = try run(slots: 1, [short], maxPrompt: 10)[0]
        #expect(a.promptTokenCount == 10)
        #expect(a.tokens == b.tokens)
    }

    @Test func badRequestsAreClearErrors() throws {
        #expect(throws: GenerationError.emptyPrompt(requestIndex: 1)) {
            try run(slots: 2, [requests()[0], GenerationRequest(prompt: [], seed: 1)])
        }
        // The tiny model's context is 64 tokens.
        #expect(throws: GenerationError.contextExceeded(promptTokens: 60, newTokens: 12, context: 64)) {
            try run(slots: 1, [requests()[0]], maxPrompt: 60)
        }
    }
}
