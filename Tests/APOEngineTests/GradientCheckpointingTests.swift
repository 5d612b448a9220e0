import Foundation
import Testing
@testable import APOEngine

/// Gradient checkpointing re-runs each trained block's forward pass from its kept input, with the
/// same kernels on the same inputs, so every result must equal the saved-activations path bit for
/// bit — rewards, log-probs, every gradient, and the weights after whole training steps. Any
/// difference, however small, means the re-computation read something the forward pass had
/// changed since (a shared buffer, positions, lengths), which is the bug these tests exist for.
struct GradientCheckpointingTests {
    static func bitsEqual(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Bool {
        UnsafeBufferPointer(start: a, count: count).elementsEqual(UnsafeBufferPointer(start: b, count: count)) {
            $0.bitPattern == $1.bitPattern
        }
    }

    /// Three sequences of different lengths: right padding inside the micro-batch.
    static let rewardBatch = RewardBatch(sequences: [[1, 5, 6, 3, 7, 8, 2], [1, 4, 3, 9, 2], [1, 10, 11, 3, 12, 6, 9, 2]],
                                         pad: 0)

    @Test(arguments: [(1, false, 1), (2, false, 2), (2, true, 1), (2, true, 3)])
    func rewardModelGradientsAreBitIdentical(trainableLayers: Int, trainEmbedding: Bool, threads: Int) {
        func run(checkpointing: Bool) -> (rewards: [Float], graph: RewardModelGraph) {
            let graph = RewardModelGraph(model: TinyModels.rewardModel(seed: 5), trainableLayers: trainableLayers,
                                         trainEmbedding: trainEmbedding, maxBatch: 3, maxSeqLen: 8, threads: threads,
                                         gradientCheckpointing: checkpointing)
            graph.zeroGradients()
            let rewards = graph.forward(Self.rewardBatch)
            graph.backward(dRewards: [0.7, -1.3, 0.4])
            return (rewards, graph)
        }
        let saved = run(checkpointing: false), recomputed = run(checkpointing: true)
        #expect(saved.rewards.map(\.bitPattern) == recomputed.rewards.map(\.bitPattern))
        let count = saved.graph.backbone.gradients.count
        #expect(count == recomputed.graph.backbone.gradients.count && count > 0)
        #expect(Self.bitsEqual(saved.graph.backbone.gradients.pointer, recomputed.graph.backbone.gradients.pointer,
                               count: count))
        #expect(saved.graph.headGradient.toArray().map(\.bitPattern)
                == recomputed.graph.headGradient.toArray().map(\.bitPattern))
        // The gradients are not trivially equal: a frozen run would give zeros on both sides.
        #expect((0..<count).contains { saved.graph.backbone.gradients[$0] != 0 })
    }

    @Test func policyGradientsAreBitIdenticalForSFTAndDPO() {
        for loss in [PolicyGradientTests.sftLoss, PolicyGradientTests.dpoLoss] {
            func run(checkpointing: Bool) -> (loss: Double, graph: PolicyGraph) {
                let graph = PolicyGraph(parameters: TinyModels.parameters(seed: 11), trainableLayers: 2,
                                        trainEmbedding: true, maxBatch: 2, maxSeqLen: 7, threads: 2,
                                        gradientCheckpointing: checkpointing)
                graph.zeroGradients()
                return (loss(graph, true), graph)
            }
            let saved = run(checkpointing: false), recomputed = run(checkpointing: true)
            #expect(saved.loss.bitPattern == recomputed.loss.bitPattern)
            #expect(Self.bitsEqual(saved.graph.backbone.gradients.pointer, recomputed.graph.backbone.gradients.pointer,
                                   count: saved.graph.backbone.gradients.count))
        }
    }

    /// Whole optimiser steps with gradient accumulation over micro-batches of different lengths.
    @Test func trainingStepsEndWithTheSameWeights() {
        func train(checkpointing: Bool) -> RewardTrainer {
            var settings = RewardTrainerTests.settings()
            settings.trainableLayers = 2
            settings.gradientCheckpointing = checkpointing
            let trainer = RewardTrainer(model: TinyModels.rewardModel(seed: 9), settings: settings,
                                        examples: RewardTrainerTests.examples)
            for _ in 0..<4 { _ = trainer.step() }
            return trainer
        }
        let saved = train(checkpointing: false), recomputed = train(checkpointing: true)
        let p = saved.model.parameters
        #expect(Self.bitsEqual(p.values.pointer, recomputed.model.parameters.values.pointer, count: p.layout.totalCount))
        #expect(saved.model.head.toArray() == recomputed.model.head.toArray())
        #expect(saved.optimizer.v[0].toArray() == recomputed.optimizer.v[0].toArray())
    }

    /// The memory side: a checkpointed graph keeps one block's activations plus each trained block's
    /// input, instead of every trained block's activations.
    @Test func checkpointingKeepsOnlyBlockInputs() {
        let c = TinyModels.config
        let full = LlamaTrainingGraph(parameters: TinyModels.parameters(seed: 1), trainableLayers: 2,
                                      maxBatch: 4, maxSeqLen: 32, threads: 1)
        let light = LlamaTrainingGraph(parameters: TinyModels.parameters(seed: 1), trainableLayers: 2,
                                       maxBatch: 4, maxSeqLen: 32, threads: 1, gradientCheckpointing: true)
        guard case .all(let blocks) = full.saved, case .checkpointed(let inputs) = light.saved else {
            Issue.record("unexpected saved-activation modes: \(full.saved), \(light.saved)")
            return
        }
        #expect(blocks.count == 2 && inputs.count == 2)
        #expect(inputs.allSatisfy { $0.count == 4 * 32 * c.hiddenSize })
        #expect(full.sharedScratch == nil, "every block trains: nothing shared without checkpointing")
        #expect(light.sharedScratch != nil)
    }
}
