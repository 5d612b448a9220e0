import Foundation

/// fp32 → ggml block formats, as ggml's reference quantisers (`quantize_row_q8_0_ref`,
/// `quantize_row_q4_1_ref` in ggml-quants.c) compute them, so that a file apo writes has the bytes
/// llama.cpp's own tools would write for the same weights. The inverse is `Dequantization`.
public enum Quantization {
    public static let supportedTypes: Set<GGMLType> = [.f32, .f16, .q8_0, .q4_1]

    /// IEEE single → half, rounding to nearest even (as F16C's `_cvtss_sh(x, 0)` and ggml's
    /// software conversion do); overflow gives ±inf, NaN stays NaN.
    @inline(__always)
    public static func halfFromFloat(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xff)
        let mantissa = bits & 0x7f_ffff
        if exponent == 0xff {
            return sign | 0x7c00 | (mantissa != 0 ? 0x200 | UInt16(mantissa >> 13) : 0)
        }
        let e = exponent - 127 + 15
        if e >= 0x1f { return sign | 0x7c00 }
        if e <= 0 {
            // Subnormal half (or zero): shift the full significand into place, round to nearest even.
            if e < -10 { return sign }
            let significand = mantissa | 0x80_0000
            let shift = UInt32(14 - e)
            var half = significand >> shift
            let rest = significand & ((1 << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if rest > halfway || (rest == halfway && half & 1 == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = UInt32(e) << 10 | (mantissa >> 13)
        let rest = mantissa & 0x1fff
        if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) { half += 1 }  // may carry into the exponent: correct
        return sign | UInt16(half)
    }

    /// The bytes of `count` fp32 values (a multiple of the type's block size) in `type`, blocks
    /// split across `threads`. Precondition: every value is finite (callers check, so that a NaN
    /// is an error, not a trap).
    public static func quantize(_ type: GGMLType, _ x: UnsafePointer<Float>, count: Int, threads: Int = 1) -> [UInt8] {
        precondition(supportedTypes.contains(type) && count % type.blockSize == 0)
        var out = [UInt8](repeating: 0, count: count / type.blockSize * type.blockBytes)
        let blocks = count / type.blockSize
        let chunkThreads = max(1, min(threads, count / 65_536))
        out.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            parallelFor(blocks, threads: chunkThreads) { range in
                let dst = base + range.lowerBound * type.blockBytes
                let src = x + range.lowerBound * type.blockSize
                switch type {
                case .f32: dst.copyMemory(from: src, byteCount: range.count * 4)
                case .f16:
                    for i in 0..<range.count {
                        dst.storeBytes(of: halfFromFloat(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                    }
                case .q8_0:
                    for b in 0..<range.count { quantizeQ8_0Block(src + 32 * b, into: dst + 34 * b) }
                case .q4_1:
                    for b in 0..<range.count { quantizeQ4_1Block(src + 32 * b, into: dst + 20 * b) }
                default: break
                }
            }
        }
        return out
    }

    /// `d = amax/127` (as half), `q = roundf(x/d)` with 1/d taken once, as ggml does.
    static func quantizeQ8_0Block(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        block.storeBytes(of: halfFromFloat(d).littleEndian, as: UInt16.self)
        for j in 0..<32 {
            let q = Int8((x[j] * id).rounded(.toNearestOrAwayFromZero))  // C's roundf
            block.storeBytes(of: q, toByteOffset: 2 + j, as: Int8.self)
        }
    }

    /// `d = (max−min)/15`, `m = min` (both as half), `q = min(15, trunc((x−min)/d + 0.5))`;
    /// element j in byte j's low nibble, element j+16 in its high nibble.
    static func quantizeQ4_1Block(_ x: UnsafePointer<Float>, into block: UnsafeMutableRawPointer) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for j in 0..<32 {
            if x[j] < lo { lo = x[j] }
            if x[j] > hi { hi = x[j] }
        }
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        block.storeBytes(of: halfFromFloat(d).littleEndian, as: UInt16.self)
        block.storeBytes(of: halfFromFloat(lo).littleEndian, toByteOffset: 2, as: UInt16.self)
        for j in 0..<16 {
            let q0 = min(15, Int8(((x[j] - lo) * id + 0.5).rounded(.towardZero)))
            let q1 = min(15, Int8(((x[j + 16] - lo) * id + 0.5).rounded(.towardZero)))
            block.storeBytes(of: UInt8(q0) | UInt8(q1) << 4, toByteOffset: 4 + j, as: UInt8.self)
        }
    }
}
