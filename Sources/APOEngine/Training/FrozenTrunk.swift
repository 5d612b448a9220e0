import Foundation

/// Where the hidden states entering a graph's first trainable block are kept between forward
/// passes, jobs and processes. Below that block the weights are frozen, so a sequence's states
/// there depend only on those weights, the arithmetic and the sequence's own tokens (right padding
/// never reaches a real position). A store is bound to one trunk — frozen weights, depth and
/// arithmetic — by whoever makes it; its keys within that trunk are token sequences.
public protocol FrozenTrunkStore: AnyObject {
    /// Copies the states kept for `tokens` (`tokens.count × hidden` floats) into `states`; false
    /// when there are none (or they cannot be read).
    func load(_ tokens: ArraySlice<Int32>, into states: UnsafeMutablePointer<Float>) -> Bool
    /// Keeps `tokens.count × hidden` floats for `tokens`. Every value is exactly representable in
    /// fp16, so a store may keep them as fp16 without loss.
    func save(_ tokens: ArraySlice<Int32>, states: UnsafePointer<Float>)
}

/// The fp16 rounding of frozen-trunk states: applied whether a sequence's states were computed or
/// loaded, so a result never depends on what a cache held.
public enum FrozenTrunkRounding {
    /// Rounds `count` floats to the nearest fp16 value in place; false (values untouched) when one
    /// is not finite or lies outside fp16's range — such a sequence is neither rounded nor kept.
    public static func roundToHalf(_ values: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        for i in 0..<count where !(abs(values[i]) <= Float(Float16.greatestFiniteMagnitude)) { return false }
        for i in 0..<count { values[i] = Float(Float16(values[i])) }
        return true
    }
}

extension LlamaTrainingGraph {
    /// Computes and keeps the frozen-trunk states of `sequences` that the store lacks (at most
    /// `maxBatch` sequences of at most `maxSeqLen` tokens), as a training batch of them would:
    /// the same blocks, the same rounding. What a job calls to fill the store ahead of training
    /// (see `TrunkPrefill`). Does nothing without a bound store.
    public func prefillFrozenTrunk(_ sequences: [[Int32]]) {
        guard let trunk = trunkStore, let T = sequences.map(\.count).max(), T > 0 else { return }
        var tokens = [Int32](repeating: 0, count: sequences.count * T)
        for (b, sequence) in sequences.enumerated() {
            tokens.replaceSubrange((b * T)..<(b * T + sequence.count), with: sequence)
        }
        bindBatch(tokens: tokens, lengths: sequences.map(\.count), batch: sequences.count, seqLen: T)
        restoreFrozenTrunk(trunk, into: blockInput(trunkDepth))
    }

    /// Fills `x`, block `trunkDepth`'s input, for every sequence of the batch: from `trunk`
    /// when it holds every sequence, otherwise by running the embedding and the frozen blocks over
    /// the batch and keeping what was missing. Pad rows are zeroed either way (they never reach a
    /// real position; zero keeps their products finite).
    func restoreFrozenTrunk(_ trunk: any FrozenTrunkStore, into x: FloatBuffer) {
        let T = seqLen, C = parameters.config.hiddenSize
        var missing: [Int] = []
        for b in 0..<batch where !trunk.load(tokens[(b * T)..<(b * T + lengths[b])], into: x.pointer + b * T * C) {
            missing.append(b)
        }
        if !missing.isEmpty {
            runBlocks(0..<trunkDepth, from: embedTokens())
            for b in 0..<batch {
                let rows = x.pointer + b * T * C
                let rounded = FrozenTrunkRounding.roundToHalf(rows, count: lengths[b] * C)
                if rounded, missing.contains(b) { trunk.save(tokens[(b * T)..<(b * T + lengths[b])], states: rows) }
            }
        }
        for b in 0..<batch {
            (x.pointer + (b * T + lengths[b]) * C).update(repeating: 0, count: (T - lengths[b]) * C)
        }
        trunkHits += batch - missing.count
        trunkMisses += missing.count
    }
}
