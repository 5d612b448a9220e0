import Foundation

/// Conversion of ggml block formats to fp32. Block layouts (ggml-common.h):
/// - Q8_0: `d: f16, qs: [int8 × 32]`, x = q·d
/// - Q4_0: `d: f16, qs: [u8 × 16]`, x = (q − 8)·d
/// - Q4_1: `d: f16, m: f16, qs: [u8 × 16]`, x = q·d + m
/// In the 4-bit types byte j holds element j in its low nibble and element j+16 in its high nibble.
public enum Dequantization {
    public static let supportedTypes: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1]

    /// IEEE half → single, exact for every bit pattern (subnormals, infinities, NaN payloads).
    @inline(__always)
    public static func floatFromHalf(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1f
        var mantissa = UInt32(h & 0x3ff)
        if exponent == 0x1f {  // inf / NaN
            return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
        }
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            // Subnormal half: normalise into a single-precision normal.
            var e: UInt32 = 127 - 15 + 1
            while mantissa & 0x400 == 0 {
                mantissa <<= 1
                e -= 1
            }
            mantissa &= 0x3ff
            return Float(bitPattern: sign | (e << 23) | (mantissa << 13))
        }
        return Float(bitPattern: sign | ((exponent + 127 - 15) << 23) | (mantissa << 13))
    }

    /// All 65,536 halves, converted once: a table load is cheaper than the branches above.
    static let halfTable: [Float] = (0...UInt16.max).map { floatFromHalf($0) }

    /// Converts `count` elements (a multiple of the type's block size) of `type` at `source` into
    /// `destination`, splitting the work across `threads`. Returns false for an unsupported type.
    @discardableResult
    public static func dequantize(
        _ type: GGMLType, source: UnsafeRawPointer, count: Int,
        into destination: UnsafeMutablePointer<Float>, threads: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> Bool {
        guard supportedTypes.contains(type) else { return false }
        let blocks = count / type.blockSize
        // Chunks of at least 64K elements: smaller ones cost more to dispatch than to convert.
        let chunkThreads = max(1, min(threads, count / 65_536))
        halfTable.withUnsafeBufferPointer { table in
            let half = table.baseAddress!
            parallelFor(blocks, threads: chunkThreads) { range in
                let src = source + range.lowerBound * type.blockBytes
                let dst = destination + range.lowerBound * type.blockSize
                let n = range.count
                switch type {
                case .f32: dequantizeF32(src, n, dst)
                case .f16: dequantizeF16(src, n, dst, half)
                case .bf16: dequantizeBF16(src, n, dst)
                case .q8_0: dequantizeQ8_0(src, n, dst, half)
                case .q4_0: dequantizeQ4_0(src, n, dst, half)
                case .q4_1: dequantizeQ4_1(src, n, dst, half)
                default: break
                }
            }
        }
        return true
    }

    @inline(__always)
    static func loadHalf(_ p: UnsafeRawPointer, _ offset: Int, _ table: UnsafePointer<Float>) -> Float {
        table[Int(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))]
    }

    static func dequantizeF32(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
    }

    static func dequantizeF16(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>, _ half: UnsafePointer<Float>) {
        for i in 0..<n { dst[i] = loadHalf(src, 2 * i, half) }
    }

    static func dequantizeBF16(_ src: UnsafeRawPointer, _ n: Int, _ dst: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            let b = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            dst[i] = Float(bitPattern: UInt32(b) << 16)
        }
    }

    static func dequantizeQ8_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>, _ half: UnsafePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 34
            let d = loadHalf(block, 0, half)
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            let out = dst + b * 32
            for j in 0..<32 { out[j] = Float(qs[j]) * d }
        }
    }

    static func dequantizeQ4_0(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>, _ half: UnsafePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 18
            let d = loadHalf(block, 0, half)
            let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
            let out = dst + b * 32
            for j in 0..<16 {
                let q = qs[j]
                out[j] = Float(Int32(q & 0x0f) - 8) * d
                out[j + 16] = Float(Int32(q >> 4) - 8) * d
            }
        }
    }

    static func dequantizeQ4_1(_ src: UnsafeRawPointer, _ blocks: Int, _ dst: UnsafeMutablePointer<Float>, _ half: UnsafePointer<Float>) {
        for b in 0..<blocks {
            let block = src + b * 20
            let d = loadHalf(block, 0, half)
            let m = loadHalf(block, 2, half)
            let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
            let out = dst + b * 32
            for j in 0..<16 {
                let q = qs[j]
                out[j] = Float(q & 0x0f) * d + m
                out[j + 16] = Float(q >> 4) * d + m
            }
        }
    }
}

extension GGUFFile {
    /// Writes `tensor` as fp32 into `destination` (room for `tensor.elementCount` floats).
    public func dequantize(_ tensor: GGUFTensorInfo, into destination: UnsafeMutablePointer<Float>,
                           threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        guard Dequantization.supportedTypes.contains(tensor.type) else {
            throw ModelFileError.unsupportedTensorType(
                file: path, tensor: tensor.name,
                type: "\(tensor.type.name) (supported: \(Dequantization.supportedTypes.map(\.name).sorted().joined(separator: ", ")))")
        }
        let bytes = self.bytes(of: tensor)
        guard let base = bytes.baseAddress, tensor.elementCount > 0 else { return }
        Dequantization.dequantize(tensor.type, source: base, count: tensor.elementCount, into: destination, threads: threads)
    }

    /// The tensor named `name` as fp32, in ggml order (row `r` of `ne[0]` elements at `r * ne[0]`).
    public func dequantized(_ name: String) throws -> [Float] {
        guard let t = tensor(named: name) else { throw ModelFileError.missingTensor(file: path, tensor: name) }
        var out = [Float](repeating: 0, count: t.elementCount)
        if out.isEmpty { return out }
        try out.withUnsafeMutableBufferPointer { try dequantize(t, into: $0.baseAddress!) }
        return out
    }
}
