import Foundation

/// The result of `perplexity`: `exp(negativeLogLikelihood / scoredTokens)` over all chunks.
public struct PerplexityResult: Sendable, Equatable {
    public var perplexity: Double
    public var chunkCount: Int
    public var scoredTokens: Int
    public var negativeLogLikelihood: Double
    /// Running perplexity after each chunk (llama.cpp prints these as `[1]…,[2]…`).
    public var runningPerplexity: [Double]
}

public enum PerplexityError: Error, CustomStringConvertible, Equatable {
    case tooFewTokens(tokens: Int, context: Int)
    case contextTooSmall(Int)

    public var description: String {
        switch self {
        case let .tooFewTokens(tokens, context):
            return "perplexity: the text has \(tokens) tokens; a context of \(context) needs at least \(2 * context)"
        case let .contextTooSmall(c):
            return "perplexity: context \(c) is too small (at least 4 tokens)"
        }
    }
}

/// Perplexity exactly as llama.cpp's `llama-perplexity` computes it (examples/perplexity,
/// `perplexity()` without `--ppl-stride`): the tokens are cut into `tokens.count / context` chunks
/// of `context` tokens, each scored independently from an empty cache; when `bos` is given (the
/// vocabulary adds BOS) the chunk's first token is replaced by it; only the predictions of tokens
/// `first+1 ..< context` with `first = context/2` count, so every scored token has at least half a
/// context before it. Requires at least `2·context` tokens, as llama.cpp does.
public func perplexity(
    model: LlamaModel, tokens: [Int32], context: Int, bos: Int32?, threads: Int,
    progress: ((_ chunk: Int, _ of: Int) -> Void)? = nil
) throws -> PerplexityResult {
    guard context >= 4 else { throw PerplexityError.contextTooSmall(context) }
    guard tokens.count >= 2 * context else {
        throw PerplexityError.tooFewTokens(tokens: tokens.count, context: context)
    }
    let chunks = tokens.count / context
    let first = context / 2
    let state = InferenceState(model: model, slots: 1, maxPositions: context, threads: threads)
    var nll: Double = 0
    var count = 0
    var running: [Double] = []
    let positions = (0..<Int32(context)).map { $0 }
    let slots = [Int](repeating: 0, count: context)
    for chunk in 0..<chunks {
        var chunkTokens = Array(tokens[(chunk * context)..<((chunk + 1) * context)])
        if let bos { chunkTokens[0] = bos }
        // Logits of rows first ..< context-1 predict tokens first+1 ..< context.
        try state.forward(tokens: chunkTokens, slots: slots, positions: positions,
                          output: .rows(Array(first..<(context - 1))))
        for (i, row) in state.logitRowIndices.enumerated() {
            let target = Int(tokens[chunk * context + row + 1])
            nll -= logSoftmax(UnsafeBufferPointer(state.logits(i)), at: target)
            count += 1
        }
        running.append(exp(nll / Double(count)))
        progress?(chunk + 1, chunks)
    }
    return PerplexityResult(perplexity: exp(nll / Double(count)), chunkCount: chunks, scoredTokens: count,
                            negativeLogLikelihood: nll, runningPerplexity: running)
}
