import Foundation

/// How a reward model turns the final hidden states of one sequence into one vector.
public enum RewardPooling: String, Codable, Sendable, CaseIterable {
    /// Index `len-2`: the last response token, just before EOS (the reference's choice).
    case last
    /// Index `len-1`: the EOS token.
    case eos
    /// Mean over the sequence's `len` real positions.
    case average
    /// Elementwise maximum over the `len` real positions.
    case max
}

/// The special ids that frame one reward-model input `[BOS] query [SEP] response [EOS]` and pad it.
///
/// Invariant: `pad != eos` is not required for correctness — pooling reads positions from stored
/// lengths, never by comparing ids with PAD — but the defaults keep them different anyway.
public struct RewardInputFormat: Codable, Sendable, Equatable {
    public var bos: Int32?
    public var sep: Int32
    public var eos: Int32
    public var pad: Int32

    public init(bos: Int32?, sep: Int32, eos: Int32, pad: Int32) {
        self.bos = bos; self.sep = sep; self.eos = eos; self.pad = pad
    }

    /// `[BOS] query [SEP] response [EOS]`, truncated from the LEFT to `maxLength` tokens, so the
    /// response end and EOS always survive (and `last` pooling still finds the response's last token).
    public func frame(query: [Int32], response: [Int32], maxLength: Int) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(query.count + response.count + 3)
        if let bos { ids.append(bos) }
        ids += query
        ids.append(sep)
        ids += response
        ids.append(eos)
        return ids.count > maxLength ? Array(ids.suffix(maxLength)) : ids
    }
}

/// A batch of framed sequences, right-padded to the longest: tokens `[batch, seqLen]`.
/// Invariant: `lengths[b]` real tokens start each row; everything after is `pad`.
public struct RewardBatch: Sendable {
    public let tokens: [Int32]
    public let lengths: [Int]
    public let batch: Int
    public let seqLen: Int

    public init(sequences: [[Int32]], pad: Int32) {
        batch = sequences.count
        seqLen = sequences.map(\.count).max() ?? 0
        lengths = sequences.map(\.count)
        var t = [Int32](repeating: pad, count: batch * seqLen)
        for (b, s) in sequences.enumerated() {
            for (i, id) in s.enumerated() { t[b * seqLen + i] = id }
        }
        tokens = t
    }

    public var realTokenCount: Int { lengths.reduce(0, +) }
}

/// A reward model: a LLaMA backbone, a pooling rule and a bias-free `Linear(hidden, 1)` head.
/// Invariant: `head.count == parameters.config.hiddenSize`.
public final class RewardModel: @unchecked Sendable {
    public let parameters: ModelParameters
    /// `[hidden]`: the one row of the head's `[1, hidden]` weight (`score.weight` in saved models).
    public let head: FloatBuffer
    public var pooling: RewardPooling
    public var format: RewardInputFormat

    public static let headTensorName = "score.weight"

    public init(parameters: ModelParameters, head: [Float], pooling: RewardPooling, format: RewardInputFormat) {
        precondition(head.count == parameters.config.hiddenSize)
        self.parameters = parameters
        let buffer = FloatBuffer(count: head.count)
        for (i, w) in head.enumerated() { buffer[i] = w }
        self.head = buffer
        self.pooling = pooling
        self.format = format
    }

    /// A fresh head: normal with std `1/sqrt(hidden)`, from `seed`.
    public static func initialHead(hiddenSize: Int, seed: UInt64) -> [Float] {
        var rng = TrainingRandom(seed: seed)
        let std = 1 / Double(hiddenSize).squareRoot()
        return (0..<hiddenSize).map { _ in Float(rng.nextNormal() * std) }
    }
}

// MARK: - Pooling and head kernels

/// pooled `[B, C]` from hidden `[B·T, C]`; argmax `[B, C]` receives the row chosen by `max` pooling.
public func rewardPoolForward(
    pooled: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>?, hidden: UnsafePointer<Float>,
    lengths: [Int], seqLen T: Int, dim C: Int, pooling: RewardPooling
) {
    for (b, len) in lengths.enumerated() {
        let out = pooled + b * C
        let seq = hidden + b * T * C
        switch pooling {
        case .last, .eos:
            let index = pooling == .last ? Swift.max(len - 2, 0) : len - 1
            out.update(from: seq + index * C, count: C)
        case .average:
            out.update(repeating: 0, count: C)
            for t in 0..<len { for i in 0..<C { out[i] += seq[t * C + i] } }
            let inv = 1 / Float(len)
            for i in 0..<C { out[i] *= inv }
        case .max:
            out.update(from: seq, count: C)
            for i in 0..<C { argmax?[b * C + i] = 0 }
            for t in 1..<Swift.max(len, 1) {
                for i in 0..<C where seq[t * C + i] > out[i] {
                    out[i] = seq[t * C + i]
                    argmax?[b * C + i] = Int32(t)
                }
            }
        }
    }
}

/// Backward of `rewardPoolForward`: ADDS dPooled `[B, C]` into dHidden `[B·T, C]` (real rows only).
public func rewardPoolBackward(
    dHidden: UnsafeMutablePointer<Float>, dPooled: UnsafePointer<Float>, argmax: UnsafePointer<Int32>?,
    lengths: [Int], seqLen T: Int, dim C: Int, pooling: RewardPooling
) {
    for (b, len) in lengths.enumerated() {
        let g = dPooled + b * C
        let seq = dHidden + b * T * C
        switch pooling {
        case .last, .eos:
            let index = pooling == .last ? Swift.max(len - 2, 0) : len - 1
            for i in 0..<C { seq[index * C + i] += g[i] }
        case .average:
            let inv = 1 / Float(len)
            for t in 0..<len { for i in 0..<C { seq[t * C + i] += g[i] * inv } }
        case .max:
            for i in 0..<C { seq[Int(argmax![b * C + i]) * C + i] += g[i] }
        }
    }
}
