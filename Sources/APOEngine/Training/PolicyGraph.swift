import Foundation

/// One (prompt, response) token sequence for policy training. Invariant:
/// `1 ≤ promptLength < tokens.count`: the response (the tokens after the prompt, ending with EOS
/// unless truncated) is what the losses score, each token predicted from the positions before it.
public struct PolicySequence: Codable, Sendable, Equatable {
    public var tokens: [Int32]
    public var promptLength: Int

    public init(tokens: [Int32], promptLength: Int) {
        precondition(promptLength >= 1 && promptLength < tokens.count, "a policy sequence needs a prompt and a response")
        self.tokens = tokens
        self.promptLength = promptLength
    }

    public init(prompt: [Int32], response: [Int32]) {
        self.init(tokens: prompt + response, promptLength: prompt.count)
    }

    /// Scored (response) tokens.
    public var responseCount: Int { tokens.count - promptLength }

    /// `prompt` truncated from the LEFT to `maxPromptTokens` (as generation truncates prompts), then
    /// the response truncated from the right so the whole fits `maxLength`. nil when nothing of the
    /// response would remain.
    public static func truncated(prompt: [Int32], response: [Int32], maxPromptTokens: Int,
                                 maxLength: Int) -> PolicySequence? {
        let p = Array(prompt.suffix(max(1, maxPromptTokens)))
        let room = maxLength - p.count
        guard !p.isEmpty, room >= 1, !response.isEmpty else { return nil }
        return PolicySequence(prompt: p, response: Array(response.prefix(room)))
    }
}

/// Response-token log-probabilities of a causal LM over a micro-batch of `PolicySequence`s, and
/// their backward: the shared core of SFT (cross-entropy) and DPO (sequence log-probs).
///
/// `forward` returns per-sequence sums of response-token log-probs and keeps per-token ones in
/// `tokenLogProbs`; `backward` takes ∂loss/∂(token log-prob) for every scored token and ADDS
/// parameter gradients into `backbone.gradients` (the head's too when the tied embedding trains).
public final class PolicyGraph {
    public let parameters: ModelParameters
    public let backbone: LlamaTrainingGraph
    let scratch: LMHeadScratch
    let dHidden: FloatBuffer
    // state of the last forward pass: one entry per scored token
    private(set) var rows: [Int32] = []
    private(set) var targets: [Int32] = []
    private(set) var sequenceOfToken: [Int32] = []
    public private(set) var tokenLogProbs: [Float] = []
    private var logSumExp: [Float] = []
    private var forwarded = false

    public init(parameters: ModelParameters, trainableLayers: Int, trainEmbedding: Bool = true, maxBatch: Int,
                maxSeqLen: Int, threads: Int, needsGradients: Bool = true, headChunkRows: Int = 64,
                precision: ComputePrecision = .fp32, gradientCheckpointing: Bool = false) {
        self.parameters = parameters
        let c = parameters.config
        backbone = LlamaTrainingGraph(parameters: parameters, trainableLayers: trainableLayers,
                                      trainEmbedding: trainEmbedding, maxBatch: maxBatch, maxSeqLen: maxSeqLen,
                                      threads: threads, needsGradients: needsGradients, precision: precision,
                                      gradientCheckpointing: gradientCheckpointing)
        scratch = LMHeadScratch(chunkRows: headChunkRows, vocab: c.vocabSize, dim: c.hiddenSize)
        dHidden = FloatBuffer(count: needsGradients ? maxBatch * maxSeqLen * c.hiddenSize : 0)
    }

    public func zeroGradients() { backbone.zeroGradients() }

    /// Per-sequence sums of response-token log-probs (Double sums of fp32 token log-probs).
    public func forward(_ sequences: [PolicySequence]) -> [Double] {
        let c = parameters.config
        let B = sequences.count
        let T = sequences.map(\.tokens.count).max() ?? 0
        precondition(B > 0 && B <= backbone.maxBatch && T <= backbone.maxSeqLen, "micro-batch exceeds the graph's shape")
        var tokens = [Int32](repeating: 0, count: B * T)
        rows = []; targets = []; sequenceOfToken = []
        for (b, s) in sequences.enumerated() {
            for (t, id) in s.tokens.enumerated() { tokens[b * T + t] = id }
            // Row t predicts token t+1: the response tokens p..<L come from rows p-1..<L-1.
            for t in (s.promptLength - 1)..<(s.tokens.count - 1) {
                rows.append(Int32(b * T + t))
                targets.append(s.tokens[t + 1])
                sequenceOfToken.append(Int32(b))
            }
        }
        let hidden = backbone.forward(tokens: tokens, lengths: sequences.map(\.tokens.count), batch: B, seqLen: T)
        let m = rows.count
        tokenLogProbs = [Float](repeating: 0, count: m)
        logSumExp = [Float](repeating: 0, count: m)
        tokenLogProbs.withUnsafeMutableBufferPointer { lp in
            logSumExp.withUnsafeMutableBufferPointer { lse in
                rows.withUnsafeBufferPointer { r in
                    targets.withUnsafeBufferPointer { tg in
                        lmHeadLogProbForward(logProbs: lp.baseAddress!, logSumExp: lse.baseAddress!, hidden: hidden,
                                             rows: r.baseAddress!, targets: tg.baseAddress!, count: m,
                                             head: parameters.pointer(parameters.layout.output), vocab: c.vocabSize,
                                             dim: c.hiddenSize, scratch: scratch, threads: backbone.threads,
                                             precision: backbone.precision)
                    }
                }
            }
        }
        forwarded = true
        var sums = [Double](repeating: 0, count: B)
        for i in 0..<m { sums[Int(sequenceOfToken[i])] += Double(tokenLogProbs[i]) }
        return sums
    }

    /// dTokenLogProbs: ∂loss/∂ each scored token's log-prob, in `forward`'s order (sequence by
    /// sequence, response position by position).
    public func backward(dTokenLogProbs: [Float]) {
        precondition(forwarded, "backward before forward")
        precondition(dTokenLogProbs.count == rows.count)
        let c = parameters.config, lay = parameters.layout
        let n = backbone.batch * backbone.seqLen
        dHidden.pointer.update(repeating: 0, count: n * c.hiddenSize)
        // The tied head is the embedding: its gradient slot exists only when the embedding trains.
        let dHead = backbone.gradient(lay.output)
        dTokenLogProbs.withUnsafeBufferPointer { d in
            logSumExp.withUnsafeBufferPointer { lse in
                rows.withUnsafeBufferPointer { r in
                    targets.withUnsafeBufferPointer { tg in
                        lmHeadLogProbBackward(dHidden: dHidden.pointer, dHead: dHead, dLogProbs: d.baseAddress!,
                                              logSumExp: lse.baseAddress!, hidden: backbone.finalOut.pointer,
                                              rows: r.baseAddress!, targets: tg.baseAddress!, count: rows.count,
                                              head: parameters.pointer(lay.output), vocab: c.vocabSize,
                                              dim: c.hiddenSize, scratch: scratch, threads: backbone.threads,
                                              precision: backbone.precision)
                    }
                }
            }
        }
        backbone.backward(dHidden: dHidden.pointer)
    }

    /// Backward for per-sequence gradients ∂loss/∂(sequence log-prob sum): every token of sequence b
    /// gets `dSequenceLogProbs[b]` (DPO).
    public func backward(dSequenceLogProbs: [Float]) {
        backward(dTokenLogProbs: sequenceOfToken.map { dSequenceLogProbs[Int($0)] })
    }
}
