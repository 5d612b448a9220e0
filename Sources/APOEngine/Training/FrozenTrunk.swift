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
    /// `maxBatch` sequences of at most `maxSeqLen` tokens). What a job calls to fill the store
    /// ahead of training (see `TrunkPrefill`). Does nothing without a bound store.
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
    /// where it holds the sequence, otherwise by running the embedding and the frozen blocks over
    /// that sequence alone and keeping the result. Alone, because a sequence's states computed
    /// beside others differ in the last fp16 bit now and then (the products' row count changes
    /// their kernels' tail handling): what is kept must not depend on which batch, of which job,
    /// met the text first. Pad rows are zeroed (they never reach a real position; zero keeps their
    /// products finite).
    func restoreFrozenTrunk(_ trunk: any FrozenTrunkStore, into x: FloatBuffer) {
        let T = seqLen, C = parameters.config.hiddenSize
        var missing: [Int] = []
        for b in 0..<batch where !trunk.load(tokens[(b * T)..<(b * T + lengths[b])], into: x.pointer + b * T * C) {
            missing.append(b)
        }
        if !missing.isEmpty { computeAlone(missing, trunk: trunk, into: x) }
        for b in 0..<batch {
            (x.pointer + (b * T + lengths[b]) * C).update(repeating: 0, count: (T - lengths[b]) * C)
        }
        trunkHits += batch - missing.count
        trunkMisses += missing.count
    }

    /// Runs the frozen blocks over each of the batch's sequences `missing`, one at a time (in the
    /// graph's own buffers, so the batch's rows are set aside meanwhile), rounds and keeps each,
    /// and puts them in their rows of `x`. A sequence whose states are not finite or lie outside
    /// fp16's range is used as computed and not kept.
    private func computeAlone(_ missing: [Int], trunk: any FrozenTrunkStore, into x: FloatBuffer) {
        let B = batch, T = seqLen, C = parameters.config.hiddenSize
        let batchTokens = tokens, batchLengths = lengths
        let rows = FloatBuffer(count: B * T * C)
        rows.pointer.update(from: x.pointer, count: B * T * C)
        for b in missing {
            let sequence = Array(batchTokens[(b * T)..<(b * T + batchLengths[b])])
            bindBatch(tokens: sequence, lengths: [sequence.count], batch: 1, seqLen: sequence.count)
            runBlocks(0..<trunkDepth, from: embedTokens())
            let states = blockInput(trunkDepth).pointer
            if FrozenTrunkRounding.roundToHalf(states, count: sequence.count * C) {
                trunk.save(sequence[...], states: states)
            }
            (rows.pointer + b * T * C).update(from: states, count: sequence.count * C)
        }
        bindBatch(tokens: batchTokens, lengths: batchLengths, batch: B, seqLen: T)
        x.pointer.update(from: rows.pointer, count: B * T * C)
    }
}
