import Crypto
import Foundation
import Testing
@testable import APOEngine

/// A LLaMA-2-style SentencePiece BPE `tokenizer.json` (trained by `sentencepiece`, converted by
/// transformers' LlamaConverter: Fixtures/tokenizer/make_spm_fixture.py) read by apo gives the ids
/// and decodes Hugging Face's `tokenizers` gives on 303 texts (260 HH, 43 edge cases: spaces,
/// newlines, byte-fallback characters, digits, special-token strings), and apo writes it back as
/// Hugging Face wrote it: `check_spm_export.py` found `tokenizers`, AutoTokenizer and
/// AutoModelForCausalLM on apo's export agree on every text and the logits (spm_hf_check.json).
struct HFSentencePieceTokenizerTests {
    struct Expected: Decodable {
        struct Case: Decodable {
            let text: String
            let parse_special: Bool
            var ids: [Int32]
            let decoded: String?
        }
        struct Checkpoint: Decodable {
            let text: String
            let ids: [Int32]
            let last_logits: [Float]
        }
        let cases_with_byte_tokens: Int
        let checkpoint: Checkpoint
        var cases: [Case]
    }

    static func directory() throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures/tokenizer/spm", withExtension: nil))
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: RealSmolLM.fixture("tokenizer/spm_expected.json"))
    }

    static func json(_ url: URL) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    /// Texts whose ids differ from `tokenizers`', with the first few named.
    static func mismatches(_ tokenizer: any Tokenizer, _ expected: Expected) -> [String] {
        expected.cases.filter { tokenizer.encode($0.text, parseSpecial: $0.parse_special) != $0.ids }.map(\.text.debugDescription)
    }

    @Test func idsAndDecodesAreThoseOfTokenizers() throws {
        let data = try ModelLoader.readTokenizerData(directory: try Self.directory())
        #expect(data.model == "llama" && data.addBOS && data.addEOS == false && data.addSpacePrefix == true)
        #expect(data.tokenTypes.filter { $0 == TokenType.byte.rawValue }.count == 256)
        #expect(data.unknownID == 0 && data.tokenTypes[0] == TokenType.unknown.rawValue)
        #expect(data.bosID == 1 && data.eosID == 2 && data.tokenTypes[1] == TokenType.control.rawValue)
        let expected = try Self.expected()
        #expect(expected.cases.count >= 300 && expected.cases_with_byte_tokens >= 10)
        let tokenizer = try makeTokenizer(data)
        let wrong = Self.mismatches(tokenizer, expected)
        #expect(wrong.isEmpty, "\(wrong.count) texts differ, e.g. \(wrong.prefix(3))")
        for c in expected.cases {
            #expect(tokenizer.decode(c.ids) == c.decoded ?? "<s> " + c.text, "decode of \(c.text.debugDescription)")
        }
    }

    /// Scores derived from the merges order SentencePiece's "highest score first" as Hugging Face's
    /// "lowest rank first": the score-only tokenizer (what a GGUF carries) gives the same ids here.
    @Test func scoresAloneGiveTheSameIds() throws {
        var data = try ModelLoader.readTokenizerData(directory: try Self.directory())
        data.merges = []
        #expect(Self.mismatches(try makeTokenizer(data), try Self.expected()).isEmpty)
    }

    @Test func writingAndReadingBackGivesTheSameTokenizer() throws {
        var data = try ModelLoader.readTokenizerData(directory: try Self.directory())
        data.chatTemplate = "{{ messages }}"
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelLoader.writeTokenizerFiles(data, contextLength: 2048, into: dir)
        #expect(try ModelLoader.readTokenizerData(directory: dir) == data)
        // Everything `tokenizers` reads is what Hugging Face wrote, so it gives the same ids.
        let written = try Self.json(dir.appendingPathComponent("tokenizer.json"))
        let original = try Self.json(try Self.directory().appendingPathComponent("tokenizer.json"))
        for key in ["model", "normalizer", "pre_tokenizer", "decoder", "post_processor", "added_tokens"] {
            let same = HFSentencePieceTokenizer.canonical(written[key] ?? NSNull()) == HFSentencePieceTokenizer.canonical(original[key] ?? NSNull())
            #expect(same, "\(key) differs from what transformers wrote")
        }
        let config = try Self.json(dir.appendingPathComponent("tokenizer_config.json"))
        #expect(config["tokenizer_class"] as? String == "PreTrainedTokenizerFast" && config["bos_token"] as? String == "<s>")
    }

    @Test func theWrittenTokenizerIsTheOneHuggingFaceWasCheckedOn() throws {
        let data = try ModelLoader.readTokenizerData(directory: try Self.directory())
        let files = try HFTokenizerFiles.encode(data, contextLength: 128, file: "tokenizer.json")
        let digest = SHA256.hash(data: files.tokenizer).map { String(format: "%02x", $0) }.joined()
        let check = try #require(try JSONSerialization.jsonObject(with: RealSmolLM.fixture("tokenizer/spm_hf_check.json")) as? [String: Any])
        #expect(digest == check["tokenizer_json_sha256"] as? String,
                "the writer changed: re-run Fixtures/tokenizer/check_spm_export.py on a fresh `apoctl model export`")
        #expect(check["tokenizers_identical"] as? Int == 303 && check["auto_tokenizer_identical"] as? Int == 303)
    }

    /// The same vocabulary in the Metaspace form (Mistral's; LlamaConverter with legacy=False): no
    /// "▁" before a text that starts with a space or "▁", and with `first` none after a special token
    /// inside the text. The ids are `tokenizers`' (make_spm_metaspace_fixture.py makes this same
    /// edit); written back, the file reads as the same tokenizer.
    @Test(arguments: [MetaspacePrepend.first, .always])
    func aMetaspaceTokenizerPutsTheSpacePrefixWhereTokenizersDoes(_ placement: MetaspacePrepend) throws {
        var json = try Self.json(try Self.directory().appendingPathComponent("tokenizer.json"))
        json["normalizer"] = NSNull()
        json["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁", "prepend_scheme": placement.rawValue, "split": false]
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("tokenizer.json"))
        try FileManager.default.copyItem(at: try Self.directory().appendingPathComponent("tokenizer_config.json"),
                                         to: dir.appendingPathComponent("tokenizer_config.json"))
        let data = try ModelLoader.readTokenizerData(directory: dir)
        #expect(data.addSpacePrefix == true && data.metaspacePrepend == placement)

        struct Differences: Decodable { let cases: Int; let schemes: [String: [String: [Int32]]] }
        let differences = try JSONDecoder().decode(Differences.self, from: RealSmolLM.fixture("tokenizer/spm_metaspace_expected.json"))
        var expected = try Self.expected()
        #expect(expected.cases.count == differences.cases)
        let changed = try #require(differences.schemes[placement.rawValue])
        #expect(changed.count >= 8, "leading spaces differ from the legacy form in both schemes")
        for (index, ids) in changed { expected.cases[Int(index)!].ids = ids }
        let tokenizer = try makeTokenizer(data)
        let wrong = Self.mismatches(tokenizer, expected)
        #expect(wrong.isEmpty, "\(wrong.count) texts differ, e.g. \(wrong.prefix(3))")

        let back = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: back) }
        try ModelLoader.writeTokenizerFiles(data, contextLength: 2048, into: back)
        #expect(try ModelLoader.readTokenizerData(directory: back) == data)
    }

    /// A GGUF's SentencePiece vocabulary has scores, no merges: the writer makes merges from the
    /// scores, and what is read back tokenizes the same.
    @Test func aScoresOnlyVocabularyIsWrittenWithMergesThatTokenizeTheSame() throws {
        var data = try ModelLoader.readTokenizerData(directory: try Self.directory())
        data.merges = []
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelLoader.writeTokenizerFiles(data, contextLength: 2048, into: dir)
        let back = try ModelLoader.readTokenizerData(directory: dir)
        #expect(!back.merges.isEmpty && back.tokens == data.tokens && back.tokenTypes == data.tokenTypes)
        #expect(Self.mismatches(try makeTokenizer(back), try Self.expected()).isEmpty)
    }

    /// The fixture directory is also a tiny random LlamaForCausalLM (f32, tied head): it loads as a
    /// model, its tokenizer SentencePiece, and gives transformers' logits (summation order only: 1e-4).
    @Test func aLlamaCheckpointWithThisTokenizerLoadsAsAModel() throws {
        let reference = try Self.expected().checkpoint
        let loaded = try ModelLoader.load(path: try Self.directory().path, threads: 1)
        #expect(loaded.tokenizer is SentencePieceBPE && loaded.config.vocabSize == 1000)
        #expect(loaded.tokenizer.encode(reference.text, parseSpecial: false) == reference.ids)
        let model = try LlamaModel(loaded: loaded)
        let state = InferenceState(model: model, slots: 1, maxPositions: 64, threads: 1, decodeWeights: .float32)
        let n = reference.ids.count
        try state.forward(tokens: reference.ids, slots: [Int](repeating: 0, count: n), positions: (0..<Int32(n)).map { $0 }, output: .all)
        let worst = zip(state.logits(n - 1), reference.last_logits).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-4, "max |Δ logit| \(worst)")
    }

    /// Merges no score order can express — "abc" is a token but the file lists (ab, c), not (a, bc) —
    /// are followed as `tokenizers` follows them (ids from tokenizers 0.23 on this very file); the
    /// scores alone would merge a + bc.
    @Test func theFilesMergesDecideNotTheScores() throws {
        var vocab: [String: Int] = ["<unk>": 0, "<s>": 1, "</s>": 2]
        for b in 0..<256 { vocab[String(format: "<0x%02X>", b)] = 3 + b }
        for t in ["▁", "a", "b", "c", "ab", "bc", "abc"] { vocab[t] = vocab.count }
        let specials = [("<unk>", 0), ("<s>", 1), ("</s>", 2)].map { ["id": $1, "content": $0, "special": true] as [String: Any] }
        let json: [String: Any] = [
            "added_tokens": specials,
            "normalizer": ["type": "Sequence", "normalizers": [["type": "Prepend", "prepend": "▁"],
                                                              ["type": "Replace", "pattern": ["String": " "], "content": "▁"]]],
            "pre_tokenizer": NSNull(), "post_processor": NSNull(),
            "decoder": ["type": "Sequence", "decoders": [["type": "Replace", "pattern": ["String": "▁"], "content": " "],
                                                         ["type": "ByteFallback"], ["type": "Fuse"],
                                                         ["type": "Strip", "content": " ", "start": 1, "stop": 0]]],
            "model": ["type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true, "vocab": vocab,
                      "merges": [["b", "c"], ["ab", "c"], ["a", "b"]]] as [String: Any],
        ]
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("tokenizer.json"))
        var data = try ModelLoader.readTokenizerData(directory: dir)
        let tokenizer = try makeTokenizer(data)
        #expect(tokenizer.encode("abc") == [259, 260, 264])
        #expect(tokenizer.encode("abcab c") == [259, 260, 264, 263, 259, 262])
        #expect(tokenizer.encode("cab") == [259, 262, 263])
        data.merges = []
        #expect(try makeTokenizer(data).encode("abc") == [259, 265])
    }

    @Test func filesApoCannotMeanAreRefusedByField() throws {
        let original = try Self.json(try Self.directory().appendingPathComponent("tokenizer.json"))
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func refusal(_ change: (inout [String: Any]) -> Void) throws -> String {
            var json = original
            change(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent("tokenizer.json"))
            do { _ = try ModelLoader.readTokenizerData(directory: dir) } catch { return "\(error)" }
            return "accepted"
        }
        #expect(try refusal { $0["normalizer"] = ["type": "NFKC"] }.contains("normalizer"))
        #expect(try refusal { $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁", "split": true] }.contains("pre_tokenizer"))
        #expect(try refusal { $0["decoder"] = ["type": "ByteLevel"] }.contains("decoder"))
        #expect(try refusal { json in
            var model = json["model"] as! [String: Any]
            model["merges"] = [["▁t", "zz"]]
            json["model"] = model
        }.contains("model.merges[0]"))
    }
}
