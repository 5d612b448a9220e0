import Foundation
import Testing
@testable import APOEngine

/// Finite differences on a tiny random model: every parameter of every tensor group (embedding,
/// norms, q/k/v/o, gate/up/down, head) against central differences of the fp32 forward pass.
///
/// Tolerance: with step h = 1e-2 in fp32, central differences carry a truncation error ~h²·f''' and a
/// rounding error ~1e-7·|L|/h ≈ 1e-5; we accept |fd − analytic| ≤ 2e-3 + 2e-2·|analytic|, which is
/// two orders of magnitude below the typical gradient entry (~1e-1) — a wrong formula misses by O(1).
struct RewardModelGradientTests {
    static let step: Float = 1e-2
    /// Max pooling has kinks where the argmax changes; a smaller step keeps most probes on one side.
    static let maxPoolingStep: Float = 1e-3
    static let absoluteTolerance = 2e-3
    static let relativeTolerance = 2e-2

    /// Two items: a pair and a triple with different lengths (right padding inside the micro-batch).
    static let items: [(sequences: [[Int32]], scores: [Double], isAPO: Bool)] = [
        ([[1, 5, 6, 3, 7, 8, 2], [1, 5, 6, 3, 9, 2]], [1, 0], false),
        ([[1, 4, 3, 10, 11, 12, 7, 2], [1, 4, 3, 6, 2], [1, 4, 3, 8, 9, 5, 2]], [0.2, 0.9, 0.5], true),
    ]

    static func loss(_ graph: RewardModelGraph, objective: RewardObjective, backward: Bool) -> Double {
        let sequences = items.flatMap(\.sequences)
        let batch = RewardBatch(sequences: sequences, pad: 0)
        let rewards = graph.forward(batch).map(Double.init)
        var total = 0.0
        var d = [Float](repeating: 0, count: sequences.count)
        var k = 0
        for item in items {
            let r = Array(rewards[k..<(k + item.sequences.count)])
            let c = objective.contribution(rewards: r, scores: item.scores, isAPO: item.isAPO,
                                           batchItems: items.count, batchRewards: sequences.count)!
            total += c.loss
            for (i, g) in c.dRewards.enumerated() { d[k + i] = Float(g) }
            k += item.sequences.count
        }
        if backward { graph.backward(dRewards: d) }
        return total
    }

    @Test(arguments: RewardPooling.allCases)
    func everyParameterMatchesFiniteDifferences(pooling: RewardPooling) throws {
        let model = TinyModels.rewardModel(seed: 7, pooling: pooling)
        let graph = RewardModelGraph(model: model, trainableLayers: 2, maxBatch: 5, maxSeqLen: 8, threads: 1)
        let objective = RewardObjective(variant: .ranking, rmKLCoeff: 1, apoLossCoeff: 0.3, apoSampleNum: 2,
                                        centerCoeff: 0.05)
        graph.zeroGradients()
        _ = Self.loss(graph, objective: objective, backward: true)

        var checks: [(name: String, values: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>, count: Int)] = []
        for t in model.parameters.layout.tensors {
            checks.append((t.name, model.parameters.pointer(t.offset), graph.backbone.gradient(t.offset)!, t.count))
        }
        checks.append(("score.weight", model.head.pointer, graph.headGradient.pointer, model.head.count))
        var worst = (name: "", excess: -Double.infinity)
        for c in checks {
            var maxDiff = 0.0
            let h = pooling == .max ? Self.maxPoolingStep : Self.step
            for i in 0..<c.count {
                let saved = c.values[i]
                c.values[i] = saved + h
                let plus = Self.loss(graph, objective: objective, backward: false)
                c.values[i] = saved - h
                let minus = Self.loss(graph, objective: objective, backward: false)
                c.values[i] = saved
                let fd = (plus - minus) / (2 * Double(h))
                let analytic = Double(c.grads[i])
                let diff = abs(fd - analytic)
                maxDiff = max(maxDiff, diff)
                let excess = diff - (Self.absoluteTolerance + Self.relativeTolerance * abs(analytic))
                if excess > worst.excess { worst = (c.name + "[\(i)] fd=\(fd) analytic=\(analytic)", excess) }
            }
            _ = maxDiff
        }
        #expect(worst.excess <= 0, "pooling \(pooling): worst entry \(worst.name)")
    }

    @Test func gradientsAreNotAllZeroAndPadRowsOfTheEmbeddingStayUntouched() {
        let model = TinyModels.rewardModel(seed: 3)
        let graph = RewardModelGraph(model: model, trainableLayers: 2, maxBatch: 5, maxSeqLen: 8, threads: 1)
        graph.zeroGradients()
        _ = Self.loss(graph, objective: RewardObjective(), backward: true)
        let lay = model.parameters.layout
        let dim = lay.config.hiddenSize
        let emb = graph.backbone.gradient(lay.tokenEmbedding)!
        // Token 0 (PAD) appears only at pad positions: its row must get no gradient at all.
        #expect((0..<dim).allSatisfy { emb[$0] == 0 })
        // Token 5 is used: its row must get some.
        #expect((0..<dim).contains { emb[5 * dim + $0] != 0 })
    }

    @Test func padPositionsDoNotChangeRewards() {
        let model = TinyModels.rewardModel(seed: 11, pooling: .average)
        let graph = RewardModelGraph(model: model, trainableLayers: 0, maxBatch: 3, maxSeqLen: 10, threads: 2,
                                     needsGradients: false)
        let short: [Int32] = [1, 5, 3, 6, 2]
        let long: [Int32] = [1, 5, 6, 7, 3, 8, 9, 10, 11, 2]
        let alone = graph.forward(RewardBatch(sequences: [short], pad: 0))[0]
        let padded = graph.forward(RewardBatch(sequences: [short, long], pad: 0))[0]
        let otherPad = graph.forward(RewardBatch(sequences: [short, long], pad: 12))[0]
        #expect(abs(alone - padded) <= 1e-6 * max(1, abs(alone)))
        #expect(padded == otherPad)
    }

    @Test func frozenLowerLayersGetTheSameTopGradientsAsFullTraining() {
        let model = TinyModels.rewardModel(seed: 5)
        let full = RewardModelGraph(model: model, trainableLayers: 2, maxBatch: 5, maxSeqLen: 8, threads: 1)
        let top = RewardModelGraph(model: model, trainableLayers: 1, maxBatch: 5, maxSeqLen: 8, threads: 1)
        full.zeroGradients(); top.zeroGradients()
        let a = Self.loss(full, objective: RewardObjective(), backward: true)
        let b = Self.loss(top, objective: RewardObjective(), backward: true)
        #expect(a == b)
        let lay = model.parameters.layout
        #expect(top.backbone.gradient(lay.layers[0].wq) == nil)
        #expect(top.backbone.gradient(lay.tokenEmbedding) == nil)
        for t in lay.tensors where top.backbone.trainable.contains(offset: t.offset) {
            let g1 = full.backbone.gradient(t.offset)!, g2 = top.backbone.gradient(t.offset)!
            let maxDiff = (0..<t.count).map { abs(g1[$0] - g2[$0]) }.max()!
            #expect(maxDiff <= 1e-6, "\(t.name)")
        }
        #expect(top.backbone.gradients.count < full.backbone.gradients.count)
    }
}
