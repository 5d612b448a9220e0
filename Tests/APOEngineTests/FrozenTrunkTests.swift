import Foundation
import Testing
@testable import APOEngine

/// The frozen-trunk path: states entering the first trained block come from a store when it holds
/// them, and the results must not depend on whether it did — bit for bit — while differing from
/// the store-less path only by the fp16 rounding of those states.
struct FrozenTrunkTests {
    /// Keeps states in memory, as fp16 like the disk cache, and counts calls.
    final class MemoryTrunkStore: FrozenTrunkStore {
        var entries: [[Int32]: [Float16]] = [:]
        var loads = 0, saves = 0
        func load(_ tokens: ArraySlice<Int32>, into states: UnsafeMutablePointer<Float>) -> Bool {
            loads += 1
            guard let e = entries[Array(tokens)] else { return false }
            for (i, h) in e.enumerated() { states[i] = Float(h) }
            return true
        }
        func save(_ tokens: ArraySlice<Int32>, states: UnsafePointer<Float>) {
            saves += 1
            let count = tokens.count * TinyModels.config.hiddenSize
            entries[Array(tokens)] = (0..<count).map { Float16(states[$0]) }
        }
    }

    static let batch = GradientCheckpointingTests.rewardBatch

    /// Rewards and every gradient of one forward/backward, with `store` bound at depth 1.
    static func pass(store: MemoryTrunkStore?, checkpointing: Bool = false) -> (rewards: [Float], grads: [Float], head: [Float]) {
        let graph = RewardModelGraph(model: TinyModels.rewardModel(seed: 5), trainableLayers: 1, maxBatch: 3,
                                     maxSeqLen: 8, threads: 2, gradientCheckpointing: checkpointing)
        if let store { graph.backbone.useFrozenTrunk(store, depth: 1) }
        graph.zeroGradients()
        let rewards = graph.forward(batch)
        graph.backward(dRewards: [0.7, -1.3, 0.4])
        return (rewards, graph.backbone.gradients.toArray(), graph.headGradient.toArray())
    }

    static func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

    @Test func hitsMissesAndMixedBatchesGiveTheSameBits() {
        let store = MemoryTrunkStore()
        let missed = Self.pass(store: store)
        #expect(store.saves == 3 && store.entries.count == 3)
        let hit = Self.pass(store: store)
        #expect(store.saves == 3, "every sequence was read, none computed again")
        // A store that holds only the second sequence: a mixed batch.
        let partial = MemoryTrunkStore()
        let second = Array(Self.batch.tokens[8..<(8 + Self.batch.lengths[1])])
        partial.entries[second] = store.entries[second]
        let mixed = Self.pass(store: partial)
        #expect(partial.saves == 2)
        let checkpointed = Self.pass(store: store, checkpointing: true)
        for other in [hit, mixed, checkpointed] {
            #expect(Self.bits(other.rewards) == Self.bits(missed.rewards))
            #expect(Self.bits(other.grads) == Self.bits(missed.grads))
            #expect(Self.bits(other.head) == Self.bits(missed.head))
        }
    }

    /// Without a store the states stay fp32: rewards move by about fp16's relative rounding
    /// (2⁻¹¹ ≈ 4.9e-4) of the states passed through one block — observed 1e-4; bound 5e-3 relative
    /// to the largest reward — and gradients likewise (bound 2e-2 of the largest), while a wrong
    /// state (another sequence's, a missing row) moves them by O(1).
    @Test func theStoreOnlyRoundsTheStatesToHalfPrecision() {
        let plain = Self.pass(store: nil)
        let cached = Self.pass(store: MemoryTrunkStore())
        #expect(Self.bits(plain.rewards) != Self.bits(cached.rewards), "the states were rounded")
        let rScale = plain.rewards.map(abs).max()!
        for (a, b) in zip(plain.rewards, cached.rewards) { #expect(abs(a - b) <= 5e-3 * rScale) }
        let gScale = plain.grads.map(abs).max()!
        for (a, b) in zip(plain.grads, cached.grads) { #expect(abs(a - b) <= 2e-2 * gScale) }
    }

    @Test func halfRoundingRefusesWhatFP16CannotHold() {
        var values: [Float] = [1.0009765625, 3.14159, -70000]
        let ok = values.withUnsafeMutableBufferPointer { FrozenTrunkRounding.roundToHalf($0.baseAddress!, count: 3) }
        #expect(!ok && values[1] == 3.14159, "out of range: untouched, so never kept")
        var small: [Float] = [3.14159, -0.1]
        #expect(small.withUnsafeMutableBufferPointer { FrozenTrunkRounding.roundToHalf($0.baseAddress!, count: 2) })
        #expect(small == [Float(Float16(3.14159)), Float(Float16(-0.1))])
    }
}
