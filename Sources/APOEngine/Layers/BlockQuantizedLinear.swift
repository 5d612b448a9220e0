import CDecodeKernels
import Foundation

/// GGUF's 32-weight block formats that decode reads as stored.
public enum BlockFormat: Sendable, CaseIterable {
    /// `d: f16, q: int8 × 32`; weight = q·d.
    case q8_0
    /// `d: f16, 16 bytes of nibbles`; weight = (q − 8)·d.
    case q4_0
    /// `d: f16, m: f16, 16 bytes of nibbles`; weight = q·d + m.
    case q4_1

    var kernel: apo_block_format {
        switch self {
        case .q8_0: return APO_Q8_0
        case .q4_0: return APO_Q4_0
        case .q4_1: return APO_Q4_1
        }
    }

    public var blockBytes: Int { Int(apo_block_bytes(kernel)) }

    /// The GGUF type's name ("Q4_1").
    public var name: String {
        switch self {
        case .q8_0: return "Q8_0"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        }
    }

    /// The format of a GGUF tensor type, nil for types without a block kernel.
    public init?(_ type: GGMLType) {
        switch type {
        case .q8_0: self = .q8_0
        case .q4_0: self = .q4_0
        case .q4_1: self = .q4_1
        default: return nil
        }
    }
}

/// Activation rows as the block kernels read them: blocks of 32 int16 values with one fp32 scale
/// each (rounding error ≤ 1.5e-5 of the block's largest value, far below the weights' own
/// quantisation) and each block's exact fp32 sum. Made once per product group, shared by threads.
public final class QuantisedInput {
    public private(set) var rows = 0
    public private(set) var width = 0
    private var capacity = 0
    private(set) var values = UnsafeMutablePointer<Int16>.allocate(capacity: 0)
    private(set) var scales = FloatBuffer(count: 0)
    private(set) var sums = FloatBuffer(count: 0)

    public init() {}
    deinit { values.deallocate() }

    /// Quantises `rows` rows of `width` floats (`width` a multiple of 32) at `x`, `stride` apart.
    public func quantise(_ x: UnsafePointer<Float>, rows: Int, width: Int, stride: Int) {
        precondition(width % 32 == 0 && rows >= 0)
        if rows * width > capacity {
            values.deallocate()
            capacity = rows * width
            values = .allocate(capacity: capacity)
            scales = FloatBuffer(count: capacity / 32)
            sums = FloatBuffer(count: capacity / 32)
        }
        self.rows = rows
        self.width = width
        apo_quantize_activations(x, rows, stride, width, values, scales.pointer, sums.pointer)
    }
}

/// A weight matrix `[outDim, inDim]` in one of GGUF's 32-weight block formats (Q8_0, Q4_0, Q4_1),
/// copied from the model file: decode reads the file's own quantisation, not a dequantised or
/// re-quantised copy. Each row's bytes are regrouped for the kernels (its codes together, then its
/// scales; `apo_block_row_regroup`), and Q/K rows are put into the engine's split-halves RoPE
/// order as they are copied (rows move whole; blocks never straddle rows).
public final class BlockQuantizedMatrix: @unchecked Sendable {
    public let format: BlockFormat
    public let outDim: Int
    public let inDim: Int
    public let rowBytes: Int
    let bytes: UnsafeMutableRawPointer

    /// Widest row the kernels take (their per-row scale products live on the stack).
    public static let maxInDim = 4096 * 32

    /// Copies `outDim` rows of `source` (GGUF blocks, rows in file order); row `r` of the result is
    /// file row `sourceRow(r)`. Nil when `type` has no kernel or `inDim` is not a multiple of 32.
    public init?(type: GGMLType, source: UnsafeRawBufferPointer, outDim: Int, inDim: Int,
                 sourceRow: (Int) -> Int = { $0 }) {
        guard let format = BlockFormat(type), inDim > 0, inDim % 32 == 0, inDim <= Self.maxInDim, outDim > 0
        else { return nil }
        let rowBytes = inDim / 32 * format.blockBytes
        guard source.count == outDim * rowBytes, let base = source.baseAddress else { return nil }
        self.format = format
        self.outDim = outDim
        self.inDim = inDim
        self.rowBytes = rowBytes
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, outDim * rowBytes) == 0, let raw else {
            fatalError("BlockQuantizedMatrix: cannot allocate \(outDim * rowBytes) bytes")
        }
        bytes = raw
        let fileRows = base.assumingMemoryBound(to: UInt8.self)
        let kernelRows = raw.assumingMemoryBound(to: UInt8.self)
        for r in 0..<outDim {
            apo_block_row_regroup(format.kernel, fileRows + sourceRow(r) * rowBytes, kernelRows + r * rowBytes, inDim / 32)
        }
    }

    deinit { free(bytes) }

    public var byteCount: Int { outDim * rowBytes }

    /// `out (+)= x · weightᵀ` for output columns `columns` (`x`: quantised `[rows, inDim]`, `out`:
    /// `[rows, outDim]`).
    public func forward(out: UnsafeMutablePointer<Float>, x: QuantisedInput, columns: Range<Int>, accumulate: Bool) {
        precondition(x.width == inDim && columns.lowerBound >= 0 && columns.upperBound <= outDim)
        apo_block_matvec(format.kernel, bytes.assumingMemoryBound(to: UInt8.self), rowBytes, inDim / 32,
                         x.values, x.scales.pointer, x.sums.pointer, x.rows, out, outDim,
                         columns.lowerBound, columns.upperBound, accumulate ? 1 : 0)
    }

    /// Weight `[o, i]` as the format defines it, read from the regrouped row independently of the
    /// kernels (tests).
    public func weight(_ o: Int, _ i: Int) -> Float {
        let blocks = inDim / 32, b = i / 32, j = i % 32
        let row = UnsafeRawPointer(bytes) + o * rowBytes
        let codeBytes = format == .q8_0 ? 32 : 16
        func half(_ offset: Int) -> Float {
            Dequantization.floatFromHalf(UInt16(row.load(fromByteOffset: offset, as: UInt8.self))
                                         | UInt16(row.load(fromByteOffset: offset + 1, as: UInt8.self)) << 8)
        }
        let d = half(blocks * codeBytes + 2 * b)
        let code = row + b * codeBytes
        let nibble = Int(code.load(fromByteOffset: j % 16, as: UInt8.self))
        switch format {
        case .q8_0: return Float(code.load(fromByteOffset: j, as: Int8.self)) * d
        case .q4_0: return Float((j < 16 ? nibble & 0x0F : nibble >> 4) - 8) * d
        case .q4_1: return Float(j < 16 ? nibble & 0x0F : nibble >> 4) * d + half(blocks * (codeBytes + 2) + 2 * b)
        }
    }
}

/// One matrix as a decode step reads it: the file's blocks where it has them, else int8 copies.
public enum DecodeMatrix: @unchecked Sendable {
    case blocks(BlockQuantizedMatrix)
    case int8(Int8Matrix)

    /// `out (+)= inp · weightᵀ` for `columns`; block matrices read `blockInput`, `inp` quantised.
    public func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, blockInput: QuantisedInput,
                        rows: Int, columns: Range<Int>, accumulate: Bool) {
        switch self {
        case .blocks(let m): m.forward(out: out, x: blockInput, columns: columns, accumulate: accumulate)
        case .int8(let m): m.forward(out: out, inp: inp, rows: rows, columns: columns, accumulate: accumulate)
        }
    }

    var isBlocks: Bool { if case .blocks = self { return true } else { return false } }

    /// Bytes one product reads: the blocks, or 32 int8 bytes and a 4-byte scale per 32 weights.
    public var byteCount: Int {
        switch self {
        case .blocks(let m): return m.byteCount
        case .int8(let m): return m.outDim * m.inDim * 9 / 8
        }
    }

    /// The GGUF type name of what is read ("Q4_1", "Q8_0", …, or "int8" for our own copies).
    public var formatName: String {
        switch self {
        case .blocks(let m): return m.format.name
        case .int8: return "int8"
        }
    }
}
