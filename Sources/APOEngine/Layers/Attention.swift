import CDecodeKernels
import COpenBLAS
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
    slots: UnsafePointer<Int>, positions: UnsafePointer<Int32>, rows: UnsafeBufferPointer<Int>,
    heads: Int, kvHeads: Int, headDim: Int, maxPositions: Int, threads: Int, team: ThreadTeam? = nil,
    vectorised: Bool = DecodeWeights.quantisedKernelsSupported
) {
    let groupSize = heads / kvHeads
    let kvDim = kvHeads * headDim
    let scale = 1 / Float(headDim).squareRoot()
    // One work item per (row, KV head): the query heads sharing a KV head reuse its cache rows.
    // With fewer items than twice the threads (a decode step of one row has 3 KV heads for 2
    // threads), each query head is its own item instead, so the threads finish together.
    let split = rows.count * kvHeads < 2 * threads ? groupSize : 1
    let perItem = groupSize / split
    parallelFor(rows.count * kvHeads * split, threads: threads, team: team) { range in
        guard let maxLength = range.lazy.map({ Int(positions[rows[$0 / (kvHeads * split)]]) + 1 }).max() else { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: maxLength) { scratch in
            for item in range {
                let r = rows[item / (kvHeads * split)], kvh = (item / split) % kvHeads
                let firstHead = kvh * groupSize + (item % split) * perItem
                let slotCache = slots[r] * maxPositions * kvDim
                let heads = firstHead..<(firstHead + perItem)
                if vectorised {
                    apo_attention_row(q + r * kvHeads * groupSize * headDim, keys + slotCache, values + slotCache,
                                      Int(positions[r]) + 1, kvDim, headDim, groupSize, heads.lowerBound, heads.upperBound,
                                      scale, out + r * kvHeads * groupSize * headDim, scratch.baseAddress!)
                } else {
                    attentionRowPortable(q: q + r * kvHeads * groupSize * headDim, keys: keys + slotCache,
                                         values: values + slotCache, length: Int(positions[r]) + 1, kvDim: kvDim,
                                         headDim: headDim, groupSize: groupSize, heads: heads, scale: scale,
                                         out: out + r * kvHeads * groupSize * headDim, scores: scratch.baseAddress!)
                }
            }
        }
    }
}

/// `apo_attention_row` in Swift, for CPUs without AVX2/FMA (the C kernel is built for them).
func attentionRowPortable(
    q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, length: Int, kvDim: Int,
    headDim: Int, groupSize: Int, heads: Range<Int>, scale: Float, out: UnsafeMutablePointer<Float>,
    scores s: UnsafeMutablePointer<Float>
) {
    for h in heads {
        let kv = (h / groupSize) * headDim
        let qh = q + h * headDim
        var maxScore = -Float.infinity
        for t in 0..<length {
            let v = dot(qh, keys + kv + t * kvDim, headDim) * scale
            s[t] = v
            if v > maxScore { maxScore = v }
        }
        let inv = 1 / exponentiateInPlace(s, count: length, shift: maxScore)
        let o = out + h * headDim
        o.update(repeating: 0, count: headDim)
        for t in 0..<length {
            let w = s[t] * inv
            let vt = values + kv + t * kvDim
            for i in 0..<headDim { o[i] += w * vt[i] }
        }
    }
}

/// The same attention for a run of `count` consecutive rows of ONE sequence at consecutive
/// positions `firstPosition ..< firstPosition + count` (a prompt chunk), as two sgemms per head:
/// scores = Q·Kᵀ over all `firstPosition + count` cached positions, causal mask + softmax per row,
/// then out = P·V. Same result as `cachedAttentionForward` up to summation order; far faster for
/// long runs because the work becomes matrix products.
///
/// - q, out: the run's first row in `[rows, heads, headDim]` arrays (row stride `heads·headDim`);
/// - keys/values: one layer's cache; `scores`: scratch of `min(threads, heads) · count · (firstPosition + count)`
///   floats. Call with OpenBLAS single-threaded: this parallelises over heads itself.
public func cachedAttentionRunForward(
    out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>,
    keys: UnsafePointer<Float>, values: UnsafePointer<Float>, slot: Int, firstPosition: Int, count: Int,
    heads: Int, kvHeads: Int, headDim: Int, maxPositions: Int, scores: UnsafeMutablePointer<Float>, threads: Int,
    team: ThreadTeam? = nil
) {
    let groupSize = heads / kvHeads
    let kvDim = kvHeads * headDim
    let qDim = heads * headDim
    let length = firstPosition + count
    let scale = 1 / Float(headDim).squareRoot()
    // Heads are independent: one block of heads per thread, each with its own scores scratch.
    let parts = min(threads, heads)
    parallelFor(parts, threads: parts, team: team) { range in
        for part in range {
            let s = scores + part * count * length
            for h in (heads * part / parts)..<(heads * (part + 1) / parts) {
                let kvh = h / groupSize
                let k = keys + slot * maxPositions * kvDim + kvh * headDim
                let v = values + slot * maxPositions * kvDim + kvh * headDim
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(length), Int32(headDim),
                            scale, q + h * headDim, Int32(qDim), k, Int32(kvDim), 0, s, Int32(length))
                for i in 0..<count {
                    let row = s + i * length
                    let valid = firstPosition + i + 1
                    var maxScore = -Float.infinity
                    for t in 0..<valid where row[t] > maxScore { maxScore = row[t] }
                    let inv = 1 / exponentiateInPlace(row, count: valid, shift: maxScore)
                    for t in 0..<valid { row[t] *= inv }
                    for t in valid..<length { row[t] = 0 }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(headDim), Int32(length),
                            1, s, Int32(length), v, Int32(kvDim), 0, out + h * headDim, Int32(qDim))
            }
        }
    }
}

/// `s[t] = exp(s[t] − shift)` for `t < count`; returns their sum (softmax's denominator).
@inline(__always)
func exponentiateInPlace(_ s: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
    var sum: Float = 0
    for t in 0..<count {
        let e = expf(s[t] - shift)
        s[t] = e
        sum += e
    }
    return sum
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
