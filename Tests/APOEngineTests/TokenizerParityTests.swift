import Foundation
import Testing
@testable import APOEngine

// Exact parity with llama.cpp's llama-tokenize (the reference for the `smollm` pre-tokenizer, see
// APO.md §6) on the real SmolLM2 vocabulary: HH queries and responses plus edge cases, made by
// Fixtures/tokenizer/make_fixture.py. Tolerance: none — every id must match.

enum TokenizerParityFixture {
    struct Input: Decodable {
        let text: String
        let parse_special: Bool
        let source: String
    }

    static func directory() throws -> URL {
        guard let url = Bundle.module.url(forResource: "Fixtures/tokenizer", withExtension: nil) else {
            throw FixtureError("Fixtures/tokenizer is missing from the test bundle")
        }
        return url
    }

    static func load() throws -> (inputs: [Input], expected: [[Int32]]) {
        let dir = try directory()
        let inputs = try JSONDecoder().decode([Input].self, from: Data(contentsOf: dir.appendingPathComponent("inputs.json")))
        let expected = try JSONDecoder().decode([[Int32]].self, from: Data(contentsOf: dir.appendingPathComponent("expected_ids.json")))
        guard inputs.count == expected.count else {
            throw FixtureError("inputs.json has \(inputs.count) texts but expected_ids.json has \(expected.count)")
        }
        return (inputs, expected)
    }

    /// SmolLM2's tokenizer, through the real loader (GGUF metadata → TokenizerData → makeTokenizer).
    /// Fails (never skips) when the model file has not been fetched.
    static func smolLM2Tokenizer() throws -> any Tokenizer {
        let path = try ModelFilesTestSupport.smolLMPath()
        return try makeTokenizer(GGUFFile(path: path).tokenizerData())
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}

@Suite struct TokenizerParityTests {
    let tokenizer: any Tokenizer

    /// Loaded once for the whole suite (Swift Testing makes one suite instance per test).
    private static let shared = Result { try TokenizerParityFixture.smolLM2Tokenizer() }

    init() throws {
        tokenizer = try Self.shared.get()
    }

    @Test func matchesLlamaCppOnHHTextsAndEdgeCases() throws {
        let (inputs, expected) = try TokenizerParityFixture.load()
        #expect(inputs.filter { $0.source.hasPrefix("hh:") }.count >= 200)
        var mismatches = 0
        for (input, want) in zip(inputs, expected) {
            let got = tokenizer.encode(input.text, parseSpecial: input.parse_special)
            if got != want {
                mismatches += 1
                if mismatches == 1 {
                    let at = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(got.count, want.count)
                    let window = max(0, at - 4)..<(at + 12)
                    Issue.record("""
                        first mismatch: \(input.source) (parseSpecial \(input.parse_special)) at token \(at)
                        text: \(String(reflecting: input.text.prefix(200)))
                        ours[\(window.lowerBound)...]:      \(got[window.clamped(to: got.indices)])
                        llama.cpp[\(window.lowerBound)...]: \(want[window.clamped(to: want.indices)])
                        ours (all):      \(got)
                        llama.cpp (all): \(want)
                        """)
                }
            }
        }
        #expect(mismatches == 0, "\(mismatches) of \(inputs.count) texts differ from llama.cpp")
    }

    @Test func decodeInvertsEncode() throws {
        let (inputs, _) = try TokenizerParityFixture.load()
        for input in inputs {
            let ids = tokenizer.encode(input.text, parseSpecial: input.parse_special)
            // Characters the vocabulary cannot spell (e.g. U+0004) are dropped by encode, as by llama.cpp.
            var text = String.UnicodeScalarView()
            for s in input.text.unicodeScalars where !tokenizer.encode(String(s)).isEmpty { text.append(s) }
            let expected = String(text)
            #expect(tokenizer.decode(ids) == expected, "round trip of \(input.source)")
            // Streaming in one-id steps gives the same text.
            var stream = StreamingDecoder(tokenizer: tokenizer)
            var streamed = ""
            for id in ids { streamed += stream.append(id) }
            streamed += stream.finish()
            #expect(streamed == expected, "streamed round trip of \(input.source)")
        }
    }

    @Test func concurrentEncodingMatchesSerial() throws {
        // Workers share one tokenizer (and its word cache): results must not depend on interleaving.
        let (inputs, expected) = try TokenizerParityFixture.load()
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: inputs.count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        let tokenizer = self.tokenizer
        DispatchQueue.concurrentPerform(iterations: inputs.count) { i in
            results[i] = tokenizer.encode(inputs[i].text, parseSpecial: inputs[i].parse_special)
        }
        #expect(Array(results) == expected)
    }

    @Test func heapAndLinearMergesAgree() throws {
        // Long words take a heap path; both paths must give the same ids on every word.
        let bpe = try #require(tokenizer as? ByteLevelBPE)
        let (inputs, _) = try TokenizerParityFixture.load()
        var words = Set<String>()
        for input in inputs { words.formUnion(bpe.preTokenizer.words(input.text)) }
        // Long single words: runs, and a whole HH text with its spaces and digits removed.
        let squashed = inputs[0].text.unicodeScalars.filter { $0.properties.isAlphabetic }
        words.formUnion([String(repeating: "a", count: 1000), String(repeating: " ", count: 700),
                         String(repeating: "!?", count: 300), String(String.UnicodeScalarView(squashed))])
        for word in words {
            let bytes = Array(word.utf8)
            #expect(bpe.mergeLongWord(bytes) == bpe.mergeShortWord(bytes), "word \(String(reflecting: word.prefix(40)))")
        }
    }

    @Test func smolLM2FactsFromTheSpec() {
        // APO.md §6: no BOS added; "\n\n" is 198,198 before a letter but 1116 before a digit.
        #expect(tokenizer.bosID == 1 && tokenizer.eosID == 2)
        #expect(tokenizer.encode("\n\nHuman:").prefix(2) == [198, 198])
        #expect(tokenizer.encode("\n\n1").first == 1116)
        #expect(tokenizer.encode("<|im_start|>", parseSpecial: true) == [1])
        #expect(tokenizer.id(ofToken: "<|im_end|>") == 2)
        #expect(tokenizer.isControl(0) && tokenizer.isControl(2) && !tokenizer.isControl(198))
        #expect(tokenizer.data.addBOS == false && tokenizer.data.pre == "smollm" && tokenizer.vocabularySize == 49152)
    }

    @Test func chatMLPromptTokenizesWithControlTokens() {
        // The model's own template selects ChatML; its role markers become single control tokens.
        let template = ChatTemplate.detect(chatTemplateString: tokenizer.data.chatTemplate)
        #expect(template == .chatML)
        let prompt = template.renderHHQuery("\n\nHuman: Hi\n\nAssistant:")
        let ids = tokenizer.encode(prompt, parseSpecial: true)
        // <|im_start|> user \n Hi <|im_end|> \n <|im_start|> assistant \n  (ids from llama-tokenize)
        #expect(ids == [1, 4093, 198, 26843, 2, 198, 1, 520, 9531, 198])
        #expect(tokenizer.decode(ids) == prompt)
    }
}
