import Foundation

/// Causal grouped-query attention of new token rows against a KV cache (inference).
///
/// Row `r` (query `q[r, h, :]`, slot `slots[r]`, position `positions[r]`) attends to cached
/// positions `0...positions[r]` of its slot; query head `h` reads KV head `h / headsPerKVHead`.
/// The cache rows for those positions must already hold this layer's (rotated) keys and values —
/// the caller writes the new rows' K/V before calling, so rows of one call may attend to each other.
///
/// - q: `[rows, heads, headDim]`; out: `[rows, heads, headDim]`;
/// - keys/values: one layer's cache, `[slots, maxPositions, kvHeads, headDim]`.
public func cachedAttentionForward(
    out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
    slots: UnsafePointer<Int>, positions: UnsafePointer<Int32>, rows: Int,
    heads: Int, kvHeads: Int, headDim: Int, maxPositions: Int, threads: Int
) {
    let groupSize = heads / kvHeads
    let kvDim = kvHeads * headDim
    let scale = 1 / Float(headDim).squareRoot()
    // One work item per (row, KV head): the query heads sharing a KV head reuse its cache rows.
    parallelFor(rows * kvHeads, threads: threads) { range in
        guard let maxLength = range.lazy.map({ Int(positions[$0 / kvHeads]) + 1 }).max() else { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: groupSize * maxLength) { scratch in
            let scores = scratch.baseAddress!
            for item in range {
                let r = item / kvHeads, kvh = item % kvHeads
                let length = Int(positions[r]) + 1
                let slotBase = slots[r] * maxPositions * kvDim + kvh * headDim
                let kBase = keys + slotBase
                let vBase = values + slotBase
                for g in 0..<groupSize {
                    let h = kvh * groupSize + g
                    let qh = q + (r * heads + h) * headDim
                    let s = scores + g * length
                    var maxScore = -Float.infinity
                    for t in 0..<length {
                        let v = dot(qh, kBase + t * kvDim, headDim) * scale
                        s[t] = v
                        if v > maxScore { maxScore = v }
                    }
                    var sum: Float = 0
                    for t in 0..<length {
                        let e = expf(s[t] - maxScore)
                        s[t] = e
                        sum += e
                    }
                    let inv = 1 / sum
                    let o = out + (r * heads + h) * headDim
                    o.update(repeating: 0, count: headDim)
                    for t in 0..<length {
                        let w = s[t] * inv
                        let vt = vBase + t * kvDim
                        for i in 0..<headDim { o[i] += w * vt[i] }
                    }
                }
            }
        }
    }
}

/// Dot product with independent SIMD accumulators (a plain reduction loop does not vectorise
/// without reassociation, which Swift never does for floats).
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD16<Float>()
    var i = 0
    let rawA = UnsafeRawPointer(a), rawB = UnsafeRawPointer(b)
    while i + 16 <= n {
        let x = rawA.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        let y = rawB.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        acc += x * y
        i += 16
    }
    var sum = acc.sum()
    while i < n {
        sum += a[i] * b[i]
        i += 1
    }
    return sum
}
