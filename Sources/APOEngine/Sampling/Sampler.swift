import Foundation

/// SplitMix64: a tiny, well-mixed 64-bit generator; each (query, sample) stream of generation gets
/// its own, and training draws from one (`TrainingRandom`). Its whole state is one `UInt64`, so a
/// checkpoint restores it exactly.
public struct SplitMix64: RandomNumberGenerator, Codable, Sendable, Equatable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform draw in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// The seed of the stream for one sample of one query: a pure function of the run's seed, the
    /// query's id and the sample index, so samples do not depend on batch composition or order.
    public static func streamSeed(base: UInt64, query: String, sample: Int) -> UInt64 {
        // FNV-1a over the id's UTF-8 bytes, then SplitMix finalisation of each component.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in query.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        var mix = SplitMix64(seed: base)
        var s = mix.next() ^ hash
        mix = SplitMix64(seed: s)
        s = mix.next() ^ UInt64(truncatingIfNeeded: sample)
        mix = SplitMix64(seed: s)
        return mix.next()
    }
}

/// Decoding settings. `temperature == 0` means greedy (argmax); `topK == 0` and `topP == 1` disable
/// those filters; `repetitionPenalty == 1` disables the penalty.
public struct SamplingParameters: Codable, Sendable, Equatable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var repetitionPenalty: Float

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, repetitionPenalty: Float = 1) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
    }

    /// Throws a message naming the first out-of-range setting.
    public func validate() throws {
        if !(temperature >= 0) || !temperature.isFinite { throw SamplingError.invalid("temperature \(temperature) must be ≥ 0") }
        if topK < 0 { throw SamplingError.invalid("top-k \(topK) must be ≥ 0") }
        if !(topP > 0 && topP <= 1) { throw SamplingError.invalid("top-p \(topP) must be in (0, 1]") }
        if !(repetitionPenalty > 0) || !repetitionPenalty.isFinite {
            throw SamplingError.invalid("repetition penalty \(repetitionPenalty) must be > 0")
        }
    }
}

public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let why): return "invalid sampling parameter: \(why)" }
    }
}

/// Picks the next token from logits. Order (as Hugging Face's generate): repetition penalty over
/// the context, temperature, top-k, softmax, top-p (smallest prefix of the sorted distribution whose
/// mass reaches `topP`), then inverse-CDF with the caller's uniform draw. Ties break by lower id, so
/// a step is a pure function of (logits, context, uniform).
public struct Sampler: Sendable {
    public let parameters: SamplingParameters

    public init(_ parameters: SamplingParameters) { self.parameters = parameters }

    /// - logits: `[vocab]`, modified in place (penalty, temperature);
    /// - context: tokens the repetition penalty applies to (prompt and generated so far);
    /// - uniform: a draw in [0, 1); unused when greedy.
    public func sample(logits: UnsafeMutableBufferPointer<Float>, context: [Int32], uniform: Double) -> Int32 {
        let vocab = logits.count
        if parameters.repetitionPenalty != 1 {
            // CTRL-style penalty (as Hugging Face): each distinct context token once.
            var seen = Set<Int32>()
            for t in context where t >= 0 && Int(t) < vocab && seen.insert(t).inserted {
                let l = logits[Int(t)]
                logits[Int(t)] = l > 0 ? l / parameters.repetitionPenalty : l * parameters.repetitionPenalty
            }
        }
        if parameters.temperature == 0 || parameters.topK == 1 {
            var best = 0
            for i in 1..<vocab where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        let invT = 1 / parameters.temperature
        var maxLogit = -Float.infinity
        for i in 0..<vocab {
            logits[i] *= invT
            if logits[i] > maxLogit { maxLogit = logits[i] }
        }
        // Candidates: ids with their unnormalised probabilities.
        var ids: [Int32]
        var probs: [Float]
        if parameters.topK > 0 && parameters.topK < vocab {
            ids = topKIndices(logits, k: parameters.topK)
            probs = ids.map { expf(logits[Int($0)] - maxLogit) }
        } else {
            probs = [Float](repeating: 0, count: vocab)
            for i in 0..<vocab { probs[i] = expf(logits[i] - maxLogit) }
            ids = []
        }
        if parameters.topP < 1 {
            if ids.isEmpty {
                (ids, probs) = nucleus(probs: probs, topP: parameters.topP)
            } else {
                // Already sorted by descending logit (ties by id).
                let total = probs.reduce(0, +)
                var cumulative: Float = 0
                var keep = probs.count
                for (i, p) in probs.enumerated() {
                    cumulative += p
                    if cumulative >= parameters.topP * total { keep = i + 1; break }
                }
                ids.removeLast(ids.count - keep)
                probs.removeLast(probs.count - keep)
            }
        }
        let total = probs.reduce(Double(0)) { $0 + Double($1) }
        let target = uniform * total
        var cumulative: Double = 0
        for (i, p) in probs.enumerated() {
            cumulative += Double(p)
            if target < cumulative { return ids.isEmpty ? Int32(i) : ids[i] }
        }
        // uniform ≈ 1 with rounding: the last candidate with non-zero mass.
        let last = probs.lastIndex { $0 > 0 } ?? probs.count - 1
        return ids.isEmpty ? Int32(last) : ids[last]
    }

    /// The `k` largest logits' ids, sorted by descending logit (ties: lower id first).
    func topKIndices(_ logits: UnsafeMutableBufferPointer<Float>, k: Int) -> [Int32] {
        // Keep a small sorted list; k is small in practice (≤ a few hundred).
        var heap: [(Float, Int32)] = []
        heap.reserveCapacity(k + 1)
        for i in 0..<logits.count {
            let l = logits[i]
            if heap.count == k, let last = heap.last, !(l > last.0) { continue }
            var lo = 0, hi = heap.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if heap[mid].0 >= l { lo = mid + 1 } else { hi = mid }
            }
            heap.insert((l, Int32(i)), at: lo)
            if heap.count > k { heap.removeLast() }
        }
        return heap.map { $0.1 }
    }

    /// Smallest set of most probable ids whose mass reaches `topP` of the total, sorted.
    /// Only ids above a probability threshold are sorted; the threshold is lowered until the ids
    /// above it already hold `topP` of the mass, which makes the result exact.
    func nucleus(probs: [Float], topP: Float) -> ([Int32], [Float]) {
        let total = probs.reduce(Double(0)) { $0 + Double($1) }
        let needed = Double(topP) * total
        var threshold: Float = 1e-2  // probs are relative to the max (which is 1)
        var candidates: [(Float, Int32)] = []
        while true {
            candidates.removeAll(keepingCapacity: true)
            var mass: Double = 0
            for (i, p) in probs.enumerated() where p >= threshold {
                candidates.append((p, Int32(i)))
                mass += Double(p)
            }
            if mass >= needed || threshold == 0 { break }
            threshold = threshold > 1e-12 ? threshold * 1e-3 : 0
        }
        candidates.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        var cumulative: Double = 0
        var keep = candidates.count
        for (i, c) in candidates.enumerated() {
            cumulative += Double(c.0)
            if cumulative >= needed { keep = i + 1; break }
        }
        return (candidates[..<keep].map { $0.1 }, candidates[..<keep].map { $0.0 })
    }
}
