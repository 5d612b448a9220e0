import Foundation
import Testing
@testable import APOEngine

/// One token per lowercase letter or space (ids 10…36), enough to check framing, truncation and
/// bad-input handling without a model file. (The real SmolLM2 tokenizer is exercised by the parity test.)
struct LetterTokenizer: Tokenizer {
    static let alphabet = Array(" abcdefghijklmnopqrstuvwxyz")
    var vocabularySize: Int { 10 + Self.alphabet.count }
    var bosID: Int32? { 1 }
    var eosID: Int32 { 2 }
    var data: TokenizerData {
        TokenizerData(model: "gpt2", tokens: (0..<vocabularySize).map { tokenString(Int32($0)) },
                      tokenTypes: Array(repeating: 1, count: vocabularySize), bosID: 1, eosID: 2, addBOS: false)
    }
    func encode(_ text: String, parseSpecial: Bool) -> [Int32] {
        text.compactMap { c in Self.alphabet.firstIndex(of: c).map { Int32($0 + 10) } }
    }
    func tokenBytes(_ id: Int32) -> [UInt8] { Array(tokenString(id).utf8) }
    func id(ofToken token: String) -> Int32? {
        ["<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "<file_sep>": 5][token]
    }
    func tokenString(_ id: Int32) -> String {
        id >= 10 ? String(Self.alphabet[Int(id) - 10]) : ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "", "", "<file_sep>", "", "", "", ""][Int(id)]
    }
    func isControl(_ id: Int32) -> Bool { id < 10 }
}

struct RewardDatasetTests {
    let tokenizer = LetterTokenizer()

    @Test func formatPicksRareSeparatorAndPadThatIsNotEOS() {
        let f = RewardInputFormat.forTokenizer(tokenizer)
        #expect(f == RewardInputFormat(bos: 1, sep: 5, eos: 2, pad: 0))
    }

    @Test func framingTruncatesFromTheLeftAndKeepsTheResponseEnd() {
        let f = RewardInputFormat.forTokenizer(tokenizer)
        let full = f.frame(text: "ab<sep>cd", tokenizer: tokenizer, maxLength: 100)!
        #expect(full.ids == [1, 11, 12, 5, 13, 14, 2])
        #expect(!full.truncated)
        let cut = f.frame(text: "ab<sep>cd", tokenizer: tokenizer, maxLength: 4)!
        #expect(cut.ids == [5, 13, 14, 2])
        #expect(cut.truncated)
        #expect(f.frame(text: "no separator", tokenizer: tokenizer, maxLength: 10) == nil)
    }

    @Test func badItemsThrowNamingTheItem() {
        let f = RewardInputFormat.forTokenizer(tokenizer)
        let mismatched = PreferenceItem(texts: ["a<sep>b", "a<sep>c"], scores: [1], isAPO: false, source: "pairs.json item 3")
        #expect(throws: RewardDataError.mismatchedLengths(source: "pairs.json item 3", texts: 2, scores: 1)) {
            _ = try RewardDataset.build([mismatched], tokenizer: tokenizer, format: f, maxLength: 16)
        }
        let noSep = PreferenceItem(texts: ["a<sep>b", "a c"], scores: [1, 0], isAPO: false, source: "pairs.json item 4")
        #expect(throws: RewardDataError.missingSeparator(source: "pairs.json item 4", response: 1)) {
            _ = try RewardDataset.build([noSep], tokenizer: tokenizer, format: f, maxLength: 16)
        }
        #expect("\(RewardDataError.missingSeparator(source: "pairs.json item 4", response: 1))".contains("<sep>"))
    }

    @Test func itemsIdenticalAfterTruncationOrWithEqualScoresAreCountedNotTrained() throws {
        let f = RewardInputFormat.forTokenizer(tokenizer)
        let items = [
            PreferenceItem(texts: ["q<sep>xx yes", "q<sep>xx yes"], scores: [1, 0], isAPO: false, source: "i0"),
            // Differ only in the query start, which left truncation to 5 tokens removes.
            PreferenceItem(texts: ["aaaa<sep>same", "bbbb<sep>same"], scores: [1, 0], isAPO: false, source: "i1"),
            PreferenceItem(texts: ["q<sep>a", "q<sep>b"], scores: [0.5, 0.5], isAPO: false, source: "i2"),
            PreferenceItem(texts: ["q<sep>good", "q<sep>bad"], scores: [1, 0], isAPO: true, source: "i3"),
        ]
        let (examples, report) = try RewardDataset.build(items, tokenizer: tokenizer, format: f, maxLength: 5)
        #expect(examples.count == 1)
        #expect(examples[0].isAPO)
        #expect(report.identicalAfterTruncation == 2)
        #expect(report.equalScores == 1)
        #expect(report.used == 1)
        #expect(report.truncatedSequences >= 4)
    }
}
