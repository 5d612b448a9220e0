import Foundation

/// One preference item as read from a "text-scores" pairs file: texts are `"<query><sep><response>"`.
public struct PreferenceItem: Sendable, Equatable {
    public var texts: [String]
    public var scores: [Double]
    public var isAPO: Bool
    /// Where the item came from, for error messages (`"pairs.json item 17"`).
    public var source: String

    public init(texts: [String], scores: [Double], isAPO: Bool, source: String) {
        self.texts = texts; self.scores = scores; self.isAPO = isAPO; self.source = source
    }

    /// The literal separator between query and response in a pairs file.
    public static let separator = "<sep>"
}

/// One tokenized training/evaluation item: framed sequences (one per response) and human scores.
/// Invariant: `sequences.count == scores.count >= 2`, every sequence non-empty and ≤ max_length.
public struct RewardExample: Codable, Sendable, Equatable {
    public var sequences: [[Int32]]
    public var scores: [Double]
    public var isAPO: Bool

    public init(sequences: [[Int32]], scores: [Double], isAPO: Bool) {
        self.sequences = sequences; self.scores = scores; self.isAPO = isAPO
    }
}

/// Bad preference data: names the item (file and index) and what is wrong.
public enum RewardDataError: Error, CustomStringConvertible, Equatable {
    case mismatchedLengths(source: String, texts: Int, scores: Int)
    case missingSeparator(source: String, response: Int)
    case tooFewResponses(source: String, count: Int)
    case nonFiniteScore(source: String, response: Int)

    public var description: String {
        switch self {
        case let .mismatchedLengths(s, t, c):
            return "\(s): \"text\" has \(t) entries but \"scores\" has \(c); they must pair up one to one"
        case let .missingSeparator(s, r):
            return "\(s): text \(r) has no \"\(PreferenceItem.separator)\" between query and response"
        case let .tooFewResponses(s, n):
            return "\(s): an item needs at least 2 responses to rank, found \(n)"
        case let .nonFiniteScore(s, r):
            return "\(s): score \(r) is not a finite number"
        }
    }
}

/// Items that were read but not used, counted so jobs can report them instead of training on noise.
public struct RewardDataReport: Codable, Sendable, Equatable {
    /// Items whose responses became identical token sequences after left truncation.
    public var identicalAfterTruncation = 0
    /// Items whose scores are all equal (no ordered pair to learn from).
    public var equalScores = 0
    /// Sequences that were cut from the left to fit max_length.
    public var truncatedSequences = 0
    public var used = 0
    public init() {}
}

extension RewardInputFormat {
    /// The ids a tokenizer's reward inputs use. Reuses rare existing tokens instead of adding new ones:
    /// - SEP: `<file_sep>` (SmolLM2 id 5: a code-corpus marker never produced in dialogue), else
    ///   `<sep>`, `<|reserved_special_token_0|>`, `<unk>`;
    /// - PAD: `<|endoftext|>` (SmolLM2 id 0), else `<pad>`, `<unk>`, else 0 — never EOS, although
    ///   pooling reads stored lengths and never looks for PAD anyway.
    /// BOS and EOS are the tokenizer's own (SmolLM2: 1 `<|im_start|>`, 2 `<|im_end|>`).
    public static func forTokenizer(_ tokenizer: any Tokenizer) -> RewardInputFormat {
        func first(_ names: [String]) -> Int32? { names.lazy.compactMap { tokenizer.id(ofToken: $0) }.first }
        let eos = tokenizer.eosID
        let sep = first(["<file_sep>", "<sep>", "<|reserved_special_token_0|>", "<unk>"]) ?? eos
        var pad = first(["<|endoftext|>", "<pad>", "<unk>"]) ?? 0
        if pad == eos { pad = eos == 0 ? 1 : 0 }
        return RewardInputFormat(bos: tokenizer.bosID, sep: sep, eos: eos, pad: pad)
    }

    /// Splits `"<query><sep><response>"` at the first `<sep>` and frames it.
    public func frame(text: String, tokenizer: any Tokenizer, maxLength: Int) -> (ids: [Int32], truncated: Bool)? {
        guard let range = text.range(of: PreferenceItem.separator) else { return nil }
        // Plain text (no special-token parsing: data must not inject control tokens), and without any
        // BOS/EOS the vocabulary adds on its own — framing places those exactly once.
        func plain(_ s: Substring) -> [Int32] {
            var ids = tokenizer.encode(String(s), parseSpecial: false)
            if tokenizer.data.addBOS, let b = tokenizer.bosID, ids.first == b { ids.removeFirst() }
            if tokenizer.data.addEOS == true, ids.last == tokenizer.eosID { ids.removeLast() }
            return ids
        }
        let query = plain(text[..<range.lowerBound])
        let response = plain(text[range.upperBound...])
        let ids = frame(query: query, response: response, maxLength: maxLength)
        let full = query.count + response.count + 2 + (bos == nil ? 0 : 1)
        return (ids, full > maxLength)
    }
}

public enum RewardDataset {
    /// Tokenizes and checks items. Malformed items throw; items that cannot teach anything (identical
    /// after truncation, all scores equal) are counted in the report and left out.
    public static func build(_ items: [PreferenceItem], tokenizer: any Tokenizer, format: RewardInputFormat,
                             maxLength: Int) throws -> (examples: [RewardExample], report: RewardDataReport) {
        var report = RewardDataReport()
        var examples: [RewardExample] = []
        for item in items {
            guard item.texts.count == item.scores.count else {
                throw RewardDataError.mismatchedLengths(source: item.source, texts: item.texts.count,
                                                        scores: item.scores.count)
            }
            guard item.texts.count >= 2 else {
                throw RewardDataError.tooFewResponses(source: item.source, count: item.texts.count)
            }
            if let bad = item.scores.firstIndex(where: { !$0.isFinite }) {
                throw RewardDataError.nonFiniteScore(source: item.source, response: bad)
            }
            var sequences: [[Int32]] = []
            for (k, text) in item.texts.enumerated() {
                guard let framed = format.frame(text: text, tokenizer: tokenizer, maxLength: maxLength) else {
                    throw RewardDataError.missingSeparator(source: item.source, response: k)
                }
                if framed.truncated { report.truncatedSequences += 1 }
                sequences.append(framed.ids)
            }
            if Set(item.scores).count == 1 { report.equalScores += 1; continue }
            // Responses with different scores but the same ids would be trained to differ: skip the item.
            var distinct = true
            for i in sequences.indices {
                for j in sequences.indices where j > i && sequences[i] == sequences[j]
                    && item.scores[i] != item.scores[j] { distinct = false }
            }
            if !distinct { report.identicalAfterTruncation += 1; continue }
            examples.append(RewardExample(sequences: sequences, scores: item.scores, isAPO: item.isAPO))
            report.used += 1
        }
        return (examples, report)
    }
}
