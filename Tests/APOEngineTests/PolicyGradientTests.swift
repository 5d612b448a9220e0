import Foundation
import Testing
@testable import APOEngine

/// The LM head's log-prob/cross-entropy backward and DPO's sequence log-prob backward against
/// central finite differences of the fp32 forward pass, on a tiny random model where every tensor
/// (embedding = tied head included) trains.
///
/// Tolerance (as in `RewardModelGradientTests`, plus Richardson extrapolation over steps 1e-2 and
/// 5e-3, which leaves a truncation error ~h^4 instead of ~h^2):
/// rounding ~1e-7·|L|/h remains; we accept |fd − analytic| ≤ 2e-3 + 2e-2·|analytic|, far
/// below typical entries (~1e-1), while a wrong formula misses by O(1).
struct PolicyGradientTests {
    static let step: Float = 1e-2
    static let absoluteTolerance = 2e-3
    static let relativeTolerance = 2e-2

    /// Two sequences of different lengths (right padding inside the micro-batch); token 2 is EOS.
    static let sequences = [
        PolicySequence(tokens: [1, 5, 6, 3, 7, 8, 2], promptLength: 3),
        PolicySequence(tokens: [1, 4, 9, 10, 11, 2], promptLength: 4),
    ]
    /// A DPO pair (chosen, rejected) with reference log-probs that differ from the policy's.
    static let pair = [
        PolicySequence(tokens: [1, 4, 3, 10, 11, 12, 2], promptLength: 3),
        PolicySequence(tokens: [1, 4, 3, 6, 2], promptLength: 3),
    ]
    static let referenceLogProbs = (chosen: -9.5, rejected: -5.25)
    static let beta = 0.7

    static func sftLoss(_ graph: PolicyGraph, backward: Bool) -> Double {
        let sums = graph.forward(sequences)
        let count = sequences.reduce(0) { $0 + $1.responseCount }
        if backward {
            graph.backward(dTokenLogProbs: [Float](repeating: -1 / Float(count), count: graph.tokenLogProbs.count))
        }
        return -sums.reduce(0, +) / Double(count)
    }

    static func dpoLoss(_ graph: PolicyGraph, backward: Bool) -> Double {
        let sums = graph.forward(pair)
        let l = DPOLoss(beta: beta, policyChosen: sums[0], policyRejected: sums[1],
                        referenceChosen: referenceLogProbs.chosen, referenceRejected: referenceLogProbs.rejected)
        if backward { graph.backward(dSequenceLogProbs: [Float(l.dPolicyChosen), Float(l.dPolicyRejected)]) }
        return l.loss
    }

    static func checkAgainstFiniteDifferences(_ loss: (PolicyGraph, Bool) -> Double, chunkRows: Int) -> String? {
        let p = TinyModels.parameters(seed: 11)
        let graph = PolicyGraph(parameters: p, trainableLayers: 2, trainEmbedding: true, maxBatch: 2, maxSeqLen: 7,
                                threads: 1, headChunkRows: chunkRows)
        graph.zeroGradients()
        _ = loss(graph, true)
        var worst = (name: "", excess: -Double.infinity)
        for t in p.layout.tensors {
            let values = p.pointer(t.offset), grads = graph.backbone.gradient(t.offset)!
            for i in 0..<t.count {
                let saved = values[i]
                func central(_ h: Float) -> Double {
                    values[i] = saved + h
                    let plus = loss(graph, false)
                    values[i] = saved - h
                    let minus = loss(graph, false)
                    values[i] = saved
                    return (plus - minus) / (2 * Double(h))
                }
                // Richardson extrapolation cancels the h-squared term of the central difference: the
                // head's softmax over a random model is curved enough for that term to reach a few %.
                let fd = (4 * central(step / 2) - central(step)) / 3
                let analytic = Double(grads[i])
                let excess = abs(fd - analytic) - (absoluteTolerance + relativeTolerance * abs(analytic))
                if excess > worst.excess { worst = (t.name + "[\(i)] fd=\(fd) analytic=\(analytic)", excess) }
            }
        }
        return worst.excess <= 0 ? nil : worst.name
    }

    /// chunkRows 2 splits the head's rows over several chunks; 64 takes them in one.
    @Test(arguments: [2, 64])
    func crossEntropyGradientMatchesFiniteDifferences(chunkRows: Int) {
        let failure = Self.checkAgainstFiniteDifferences(Self.sftLoss, chunkRows: chunkRows)
        #expect(failure == nil, "worst entry: \(failure ?? "")")
    }

    @Test(arguments: [3, 64])
    func dpoGradientMatchesFiniteDifferences(chunkRows: Int) {
        let failure = Self.checkAgainstFiniteDifferences(Self.dpoLoss, chunkRows: chunkRows)
        #expect(failure == nil, "worst entry: \(failure ?? "")")
    }

    /// Token log-probs against a Double log-softmax of logits computed here by plain loops from the
    /// graph's own final hidden states — the head, selection of rows and targets are what is tested.
    @Test func tokenLogProbsMatchAPlainLogSoftmax() {
        let p = TinyModels.parameters(seed: 3)
        let c = p.config
        let graph = PolicyGraph(parameters: p, trainableLayers: 0, maxBatch: 2, maxSeqLen: 7, threads: 1,
                                needsGradients: false)
        let sums = graph.forward(Self.sequences)
        let hidden = graph.backbone.finalOut.pointer
        let T = 7
        var k = 0
        for (b, s) in Self.sequences.enumerated() {
            var sum = 0.0
            for t in (s.promptLength - 1)..<(s.tokens.count - 1) {
                let h = hidden + (b * T + t) * c.hiddenSize
                var logits = [Double](repeating: 0, count: c.vocabSize)
                for v in 0..<c.vocabSize {
                    for i in 0..<c.hiddenSize { logits[v] += Double(h[i]) * Double(p.values[p.layout.output + v * c.hiddenSize + i]) }
                }
                let mx = logits.max()!
                let lse = mx + Foundation.log(logits.reduce(0) { $0 + Foundation.exp($1 - mx) })
                let expected = logits[Int(s.tokens[t + 1])] - lse
                // fp32 logits of a 16-wide dot product: ~1e-6 relative; 1e-4 absolute is generous.
                #expect(abs(Double(graph.tokenLogProbs[k]) - expected) < 1e-4)
                sum += expected
                k += 1
            }
            #expect(abs(sums[b] - sum) < 1e-3)
        }
        #expect(k == graph.tokenLogProbs.count)
    }

    /// Hand values: at z = 0 the loss is log 2 and the gradients are ∓β/2; a large margin is stable.
    @Test func dpoLossHandValues() {
        let zero = DPOLoss(beta: 0.1, policyChosen: -3, policyRejected: -4, referenceChosen: -3, referenceRejected: -4)
        #expect(zero.margin == 0)
        #expect(abs(zero.loss - Foundation.log(2)) < 1e-15)
        #expect(abs(zero.dPolicyChosen + 0.05) < 1e-15 && abs(zero.dPolicyRejected - 0.05) < 1e-15)
        // z = 0.5·((−1 − −2) − (−6 − −3)) = 0.5·(1 + 3) = 2: loss = log(1 + e^−2).
        let two = DPOLoss(beta: 0.5, policyChosen: -1, policyRejected: -6, referenceChosen: -2, referenceRejected: -3)
        #expect(abs(two.margin - 2) < 1e-15)
        #expect(abs(two.loss - Foundation.log(1 + Foundation.exp(-2.0))) < 1e-15)
        let huge = DPOLoss(beta: 1, policyChosen: 0, policyRejected: 0, referenceChosen: 0, referenceRejected: 1000)
        #expect(huge.loss == 0 || huge.loss < 1e-300)
        let bad = DPOLoss(beta: 1, policyChosen: 0, policyRejected: 0, referenceChosen: 1000, referenceRejected: 0)
        #expect(abs(bad.loss - 1000) < 1e-9 && abs(bad.dPolicyChosen + 1) < 1e-12)
    }
}
