/// Matrix-vector products over int8 weights for decode steps, where reading the weights is the
/// whole cost: a quarter of the bytes of fp32 means up to four times the tokens per second.
///
/// This module holds only these loops because it is the one compiled for AVX2/FMA on x86-64 (see
/// Package.swift); callers check the CPU (`Int8Matrix.kernelsSupported` in APOEngine) before calling into it.
///
/// Weight layout (`Int8Matrix` in APOEngine builds it): row-major `[outDim, inDim]`, `inDim` a
/// multiple of 32, cut into blocks of 32 weights with one fp32 scale each (`scales[o * inDim/32 + b]`).
/// Weight `q ∈ -127...127` is stored as the byte `q + 128`, and inside each 32-byte block byte
/// `4·j + k` holds input `8·k + j` (j in 0..<8, k in 0..<4): loaded as eight 32-bit lanes, shifting
/// every lane by 8·k yields inputs 8k...8k+7 in order, so the matching activations are one
/// contiguous load. Bytes become floats through the exponent of 2²³ (`0x4B00_00xx` is the float
/// 2²³ + xx), which needs no integer-to-float conversion instruction.
public enum Int8Kernels {
    /// `out[r·outStride + o] (+)= Σ_i x[r·xStride + i] · w[o, i]` for the output rows `outRows`
    /// and `xRows` activation rows.
    ///
    /// Several activation rows take turns over slices of 16 weight rows, so each slice is read
    /// from memory once and from L1 by the other rows (writing the rows into one loop that shares
    /// unpacked registers made the compiler spill them, and ran slower).
    @inline(never)
    public static func matVec(
        out: UnsafeMutablePointer<Float>, outStride: Int,
        x: UnsafePointer<Float>, xStride: Int, xRows: Int,
        weights: UnsafePointer<UInt8>, scales: UnsafePointer<Float>, inDim: Int,
        outRows: Range<Int>, accumulate: Bool
    ) {
        precondition(inDim % 32 == 0 && xRows >= 1)
        if xRows == 1 {
            matVec1(out: out, x: x, weights: weights, scales: scales, inDim: inDim, outRows: outRows, accumulate: accumulate)
            return
        }
        var lo = outRows.lowerBound
        while lo < outRows.upperBound {
            let slice = lo..<min(lo + 16, outRows.upperBound)
            for r in 0..<xRows {
                matVec1(out: out + r * outStride, x: x + r * xStride, weights: weights, scales: scales, inDim: inDim,
                        outRows: slice, accumulate: accumulate)
            }
            lo = slice.upperBound
        }
    }

    /// Weights `8k...8k+7` of a block as floats (still to be multiplied by the block's scale).
    @inline(__always)
    static func unpack(_ block: SIMD8<UInt32>, _ k: UInt32) -> SIMD8<Float> {
        let byte: SIMD8<UInt32> = (block &>> (8 * k)) & SIMD8<UInt32>(repeating: 0xFF)
        let bits: SIMD8<UInt32> = byte | SIMD8<UInt32>(repeating: 0x4B00_0000)
        return unsafeBitCast(bits, to: SIMD8<Float>.self) - SIMD8<Float>(repeating: 8_388_736)  // 2²³ + 128
    }

    /// One block of 32 weights against 32 activations at `x`, before the block's scale.
    @inline(__always)
    static func blockDot(_ block: SIMD8<UInt32>, _ x: UnsafeRawPointer) -> SIMD8<Float> {
        let p0: SIMD8<Float> = unpack(block, 0) * x.loadUnaligned(as: SIMD8<Float>.self)
        let p1: SIMD8<Float> = unpack(block, 1) * x.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let p2: SIMD8<Float> = unpack(block, 2) * x.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
        let p3: SIMD8<Float> = unpack(block, 3) * x.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        return (p0 + p1) + (p2 + p3)
    }

    static func matVec1(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weights: UnsafePointer<UInt8>,
        scales: UnsafePointer<Float>, inDim: Int, outRows: Range<Int>, accumulate: Bool
    ) {
        let blocks = inDim / 32
        let xRaw = UnsafeRawPointer(x)
        for o in outRows {
            let w = UnsafeRawPointer(weights + o * inDim)
            let s = scales + o * blocks
            // Two accumulators (even/odd blocks) keep two FMA chains in flight.
            var even = SIMD8<Float>(), odd = SIMD8<Float>()
            var b = 0
            while b < blocks {
                let block = w.loadUnaligned(fromByteOffset: b * 32, as: SIMD8<UInt32>.self)
                let t = blockDot(block, xRaw + b * 128)
                if b & 1 == 0 { even += t * s[b] } else { odd += t * s[b] }
                b += 1
            }
            let sum = (even + odd).sum()
            out[o] = accumulate ? out[o] + sum : sum
        }
    }
}
