import Crypto
import Foundation
import Testing
@testable import APOEngine

/// The Hugging Face tokenizer files apo writes for SmolLM2. Their agreement with Hugging Face's own
/// libraries is checked by `Fixtures/tokenizer/make_hf_fixture.py` (tokenizers and AutoTokenizer:
/// identical ids on 351 texts, 310 of them HH); these tests tie that check to what the writer
/// produces now, and check the reader.
struct HFTokenizerFilesTests {
    static func smolLM2Data() throws -> TokenizerData {
        try GGUFFile(path: try ModelFilesTestSupport.smolLMPath()).tokenizerData()
    }

    static func check() throws -> [String: Any] {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/tokenizer/hf_check", withExtension: "json"))
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    @Test func theWrittenTokenizerIsTheOneHuggingFaceWasCheckedOn() throws {
        let files = try HFTokenizerFiles.encode(try Self.smolLM2Data(), contextLength: 8192, file: "tokenizer.json")
        let digest = SHA256.hash(data: files.tokenizer).map { String(format: "%02x", $0) }.joined()
        let check = try Self.check()
        #expect(digest == check["tokenizer_json_sha256"] as? String,
                "the writer changed: re-run Fixtures/tokenizer/make_hf_fixture.py on a fresh `apoctl model export`")
        #expect((check["texts_identical"] as? Int ?? 0) >= 300)
    }

    @Test func readingBackGivesTheSameTokenizer() throws {
        var data = try Self.smolLM2Data()
        data.chatTemplate = "{{ messages }}"
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try ModelLoader.writeTokenizerFiles(data, contextLength: 8192, into: dir)
        let read = try ModelLoader.readTokenizerData(directory: dir)
        #expect(read.tokens == data.tokens)
        #expect(read.merges == data.merges)
        #expect(read.tokenTypes == data.tokenTypes)
        #expect(read.pre == data.pre && read.model == data.model)
        #expect(read.bosID == data.bosID && read.eosID == data.eosID)
        #expect(read.paddingID == data.paddingID && read.unknownID == data.unknownID)
        #expect(read.addBOS == data.addBOS && read.chatTemplate == data.chatTemplate)
        // Same ids as the GGUF's tokenizer on the parity texts.
        let (inputs, expected) = try TokenizerParityFixture.load()
        let tokenizer = try makeTokenizer(read)
        for (input, ids) in zip(inputs, expected) {
            #expect(tokenizer.encode(input.text, parseSpecial: input.parse_special) == ids, "\(input.source)")
        }
        let generation = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("generation_config.json"))) as? [String: Any]
        #expect(generation?["eos_token_id"] as? Int == Int(data.eosID))
    }

    @Test func directoriesInApoEarlierFormatStillLoad() throws {
        let data = try Self.smolLM2Data()
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try JSONEncoder().encode(data).write(to: dir.appendingPathComponent("tokenizer.json"))
        #expect(try ModelLoader.readTokenizerData(directory: dir) == data)
    }

    @Test func filesHuggingFaceCannotMeanAreRefusedByField() throws {
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("tokenizer.json")
        try #"{"model": {"type": "WordPiece", "vocab": {}}}"#.write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: ModelFileError.self) { try ModelLoader.readTokenizerData(directory: dir) }
        do { _ = try ModelLoader.readTokenizerData(directory: dir) } catch { #expect("\(error)".contains("model.type")) }
        try #"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 2}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}"#
            .write(to: url, atomically: true, encoding: .utf8)
        do { _ = try ModelLoader.readTokenizerData(directory: dir); Issue.record("a gap in the ids was accepted") } catch {
            #expect("\(error)".contains("model.vocab"), "\(error)")
        }
        try #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}"#
            .write(to: url, atomically: true, encoding: .utf8)
        do { _ = try ModelLoader.readTokenizerData(directory: dir); Issue.record("an unknown pre-tokenizer was accepted") } catch {
            #expect("\(error)".contains("pre_tokenizer"), "\(error)")
        }
    }
}
