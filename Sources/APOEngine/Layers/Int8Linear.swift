import APOKernels
import Foundation

/// A weight matrix `[outDim, inDim]` quantised to int8 in blocks of 32 with one fp32 scale per
/// block (the scheme of GGUF's Q8_0): the copy single-stream decode reads instead of the fp32
/// weights, because a decode step is bound by the bytes of weights it reads, not by arithmetic.
///
/// Scale = max |w| / 127 over the block; each weight rounds to the nearest multiple, so the error
/// is at most half a step (≤ 0.4 % of the block's largest weight). The byte layout is the one
/// `Int8Kernels` documents.
public final class Int8Matrix: @unchecked Sendable {
    public let outDim: Int
    public let inDim: Int
    let bytes: UnsafeMutablePointer<UInt8>
    let scales: FloatBuffer

    /// Whether this CPU can run `Int8Kernels` (compiled for AVX2 + FMA on x86-64).
    public static let kernelsSupported: Bool = {
        #if arch(x86_64)
        let cpu = CPUFeatures.current
        return cpu.avx2 && cpu.fma && cpu.f16c && cpu.bmi1 && cpu.bmi2
        #else
        return true
        #endif
    }()

    /// Quantises `weight` (row-major `[outDim, inDim]`); nil when `inDim` is not a multiple of 32.
    public init?(weight: UnsafePointer<Float>, outDim: Int, inDim: Int, threads: Int = 1) {
        guard inDim > 0, inDim % 32 == 0, outDim > 0 else { return nil }
        self.outDim = outDim
        self.inDim = inDim
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, outDim * inDim) == 0, let raw else {
            fatalError("Int8Matrix: cannot allocate \(outDim * inDim) bytes")
        }
        bytes = raw.bindMemory(to: UInt8.self, capacity: outDim * inDim)
        scales = FloatBuffer(count: outDim * inDim / 32)
        let bytes = bytes, scales = scales.pointer
        parallelFor(outDim, threads: threads) { rows in
            for block in (rows.lowerBound * inDim / 32)..<(rows.upperBound * inDim / 32) {
                let w = weight + block * 32
                var largest: Float = 0
                for i in 0..<32 { largest = max(largest, abs(w[i])) }
                let scale = largest / 127
                scales[block] = scale
                let inverse = scale > 0 ? 1 / scale : 0
                let out = bytes + block * 32
                for i in 0..<32 {
                    let q = max(-127, min(127, (w[i] * inverse).rounded()))
                    out[Self.bytePosition(of: i)] = UInt8(Int(q) + 128)
                }
            }
        }
    }

    deinit { free(bytes) }

    /// Where input `i` (0..<32) of a block sits among the block's bytes: lane `i % 8`, byte `i / 8`.
    @inline(__always)
    static func bytePosition(of i: Int) -> Int { 4 * (i % 8) + i / 8 }

    /// The quantised value of weight `[o, i]`, as the kernels see it.
    public func weight(_ o: Int, _ i: Int) -> Float {
        let block = (o * inDim + i) / 32
        let byte = bytes[block * 32 + Self.bytePosition(of: i % 32)]
        return Float(Int(byte) - 128) * scales[block]
    }

    /// `out (+)= inp · weightᵀ` for output columns `columns` (`inp`: `[rows, inDim]`, `out`:
    /// `[rows, outDim]`).
    public func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int,
                        columns: Range<Int>, accumulate: Bool) {
        Int8Kernels.matVec(out: out, outStride: outDim, x: inp, xStride: inDim, xRows: rows,
                           weights: bytes, scales: scales.pointer, inDim: inDim, outRows: columns, accumulate: accumulate)
    }

    /// The plain loop over the dequantised weights that `forward` must agree with (tests).
    public func forwardNaive(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, rows: Int, accumulate: Bool) {
        for r in 0..<rows {
            for o in 0..<outDim {
                var sum: Double = 0
                for i in 0..<inDim { sum += Double(inp[r * inDim + i]) * Double(weight(o, i)) }
                out[r * outDim + o] = (accumulate ? out[r * outDim + o] : 0) + Float(sum)
            }
        }
    }
}
