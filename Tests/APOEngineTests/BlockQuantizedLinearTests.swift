import Foundation
import Testing
@testable import APOEngine

/// Decode on the GGUF's own blocks: the copied matrices hold exactly the weights the dequantiser
/// gives (rows regrouped and RoPE-reordered), and the kernels equal a plain double-precision loop
/// over those weights within the rounding of their int16 activations.
@Suite struct BlockQuantizedLinearTests {
    /// Random file blocks of `type`, with the cases that matter: a zero scale, a negative scale, a
    /// subnormal-half scale and the largest codes.
    func fileBlocks(_ type: GGMLType, rows: Int, inDim: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        let blocks = rows * inDim / 32
        var bytes = [UInt8](repeating: 0, count: blocks * type.blockBytes)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: rng.next()) }
        func setHalf(_ block: Int, _ offset: Int, _ bits: UInt16) {
            bytes[block * type.blockBytes + offset] = UInt8(bits & 0xFF)
            bytes[block * type.blockBytes + offset + 1] = UInt8(bits >> 8)
        }
        for b in 0..<blocks {
            // Scales in ±[2⁻¹⁰, 2⁻⁴): realistic magnitudes, both signs.
            setHalf(b, 0, UInt16(0x1400 + rng.next() % 0x1800) | (b % 3 == 0 ? 0x8000 : 0))
            if type == .q4_1 { setHalf(b, 2, UInt16(0x1400 + rng.next() % 0x1800) | (b % 2 == 0 ? 0x8000 : 0)) }
        }
        setHalf(0, 0, 0)            // a zero scale
        setHalf(1, 0, 0x0003)       // a subnormal half
        for j in 0..<(type.blockBytes - 4) { bytes[2 * type.blockBytes + 4 + j] = 0xFF }  // largest codes
        return bytes
    }

    func activations(rows: Int, inDim: Int, seed: UInt64) -> FloatBuffer {
        var rng = SplitMix64(seed: seed)
        let x = FloatBuffer(count: rows * inDim)
        for i in 0..<x.count { x[i] = Float(Double(rng.next() % 20001) / 10000 - 1) * (i % 64 < 32 ? 1 : 40) }
        for i in 32..<64 { x[i] = 0 }  // an all-zero block of the first row
        return x
    }

    @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_1])
    func copiedWeightsAreTheDequantisedFileWeights(type: GGMLType) throws {
        let rows = 12, inDim = 96
        let file = fileBlocks(type, rows: rows, inDim: inDim, seed: 1)
        let reference = [Float](unsafeUninitializedCapacity: rows * inDim) { buffer, count in
            file.withUnsafeBytes { _ = Dequantization.dequantize(type, source: $0.baseAddress!, count: rows * inDim, into: buffer.baseAddress!) }
            count = rows * inDim
        }
        let order = Array((0..<rows).reversed())  // rows move whole, as the RoPE reordering moves them
        let m = try #require(file.withUnsafeBytes {
            BlockQuantizedMatrix(type: type, source: $0, outDim: rows, inDim: inDim, sourceRow: { order[$0] })
        })
        for o in 0..<rows {
            for i in 0..<inDim {
                #expect(m.weight(o, i).bitPattern == reference[order[o] * inDim + i].bitPattern, "[\(o), \(i)]")
            }
        }
    }

    @Test func unsupportedTypesAndWidthsAreRefused() {
        let bytes = [UInt8](repeating: 0, count: 4 * 40 * 4)
        bytes.withUnsafeBytes { raw in
            #expect(BlockQuantizedMatrix(type: .f32, source: raw, outDim: 4, inDim: 40) == nil)
            #expect(BlockQuantizedMatrix(type: .q8_0, source: raw, outDim: 4, inDim: 40) == nil, "40 is not a multiple of 32")
            #expect(BlockQuantizedMatrix(type: .q8_0, source: raw, outDim: 4, inDim: 64) == nil, "wrong byte count")
        }
    }

    /// Kernel against the double-precision product of the same weights. Bound: each activation is
    /// rounded to its block's int16 grid (≤ ½ · max|x_block| / 32767 ≈ 1.53e-5 · max|x_block|), so
    /// |Δ| ≤ Σ|w_i| · 1.53e-5 · max|x_block(i)|, plus fp32 summation (1e-6 · Σ|w·x|).
    @Test(.enabled(if: DecodeWeights.quantisedKernelsSupported, "the block kernels need AVX2/FMA/F16C"),
          arguments: [GGMLType.q8_0, .q4_0, .q4_1], [1, 3, 6])
    func kernelMatchesThePlainLoop(type: GGMLType, rows: Int) throws {
        let outDim = 50, inDim = 160
        let file = fileBlocks(type, rows: outDim, inDim: inDim, seed: 2)
        let m = try #require(file.withUnsafeBytes { BlockQuantizedMatrix(type: type, source: $0, outDim: outDim, inDim: inDim) })
        let x = activations(rows: rows, inDim: inDim, seed: 3)
        let input = QuantisedInput()
        input.quantise(x.pointer, rows: rows, width: inDim, stride: inDim)
        for accumulate in [false, true] {
            let out = FloatBuffer(count: rows * outDim)
            for i in 0..<out.count { out[i] = Float(i % 7) }
            // Columns in uneven parts, as `InferenceState` splits them over threads.
            for part in [0..<17, 17..<48, 48..<50] { m.forward(out: out.pointer, x: input, columns: part, accumulate: accumulate) }
            for r in 0..<rows {
                for o in 0..<outDim {
                    var exact: Double = accumulate ? Double((r * outDim + o) % 7) : 0, bound: Double = 0, size: Double = 0
                    for i in 0..<inDim {
                        let w = Double(m.weight(o, i)), v = Double(x[r * inDim + i])
                        let blockLargest = (0..<32).map { abs(Double(x[r * inDim + i / 32 * 32 + $0])) }.max()!
                        exact += w * v
                        bound += abs(w) * 1.53e-5 * blockLargest
                        size += abs(w * v)
                    }
                    let error = abs(Double(out[r * outDim + o]) - exact)
                    #expect(error <= bound + 1e-6 * size + 1e-6, "\(type) rows \(rows) [\(r), \(o)]: \(error) > \(bound)")
                }
            }
        }
    }

    /// The real SmolLM2 GGUF: every block matrix decode reads holds the very weights the fp32
    /// parameters were dequantised to (Q/K rows in the engine's RoPE order included).
    @Test(.enabled(if: DecodeWeights.quantisedKernelsSupported, "the block kernels need AVX2/FMA/F16C"))
    func realModelDecodesOnItsOwnBlocks() throws {
        let model = try RealSmolLM.model.get()
        let weights = try #require(model.decodeWeights(.file, threads: 2))
        #expect(weights.summary == "Q4_1 ×210, Q8_0 ×1")
        #expect(weights.bytesPerToken == 96_436_224, "Q4_1 layers (20 B / 32 weights) and the Q8_0 head (34 B / 32)")
        let p = model.parameters, c = model.config
        for l in [0, c.layerCount - 1] {
            let layer = weights.layers[l], offsets = p.layout.layers[l]
            for (matrix, offset) in [(layer.wq, offsets.wq), (layer.wk, offsets.wk), (layer.wDown, offsets.wDown)] {
                guard case .blocks(let m) = matrix else { Issue.record("layer \(l): not a block matrix"); continue }
                for o in 0..<m.outDim {
                    for i in 0..<m.inDim where m.weight(o, i) != p.pointer(offset)[o * m.inDim + i] {
                        Issue.record("layer \(l) [\(o), \(i)]: \(m.weight(o, i)) vs \(p.pointer(offset)[o * m.inDim + i])")
                        return
                    }
                }
            }
        }
        guard case .blocks(let head) = weights.output else { Issue.record("the output head is not a block matrix"); return }
        for o in stride(from: 0, to: head.outDim, by: 97) {
            for i in 0..<head.inDim {
                #expect(head.weight(o, i) == p.pointer(p.layout.output)[o * head.inDim + i])
            }
        }
    }

    /// A model loaded from a directory has no file blocks: `.file` falls back to the int8 copies.
    @Test(.enabled(if: DecodeWeights.quantisedKernelsSupported, "the block kernels need AVX2/FMA/F16C"))
    func modelsWithoutAGGUFReadInt8Copies() throws {
        let model = try LlamaModel(parameters: try RealSmolLM.model.get().parameters)
        #expect(model.decodeWeights(.file, threads: 2)?.summary == "int8 ×211")
        #expect(model.decodeWeights(.float32, threads: 2) == nil)
    }
}

/// Decode attention: the C kernel (vectorised exp, AVX2) against the Swift loop that serves CPUs
/// without AVX2, on random queries and a cache with grouped KV heads, several lengths (below,
/// at and past a multiple of 8 positions). Bound: the kernel's exp is within 2e-7 relative of
/// expf and the sums run in another order, so 1e-5 of the output's scale.
@Suite struct DecodeAttentionKernelTests {
    @Test(.enabled(if: DecodeWeights.quantisedKernelsSupported, "the C kernel needs AVX2/FMA"))
    func kernelMatchesTheSwiftLoop() {
        let heads = 6, kvHeads = 2, headDim = 64, maxPositions = 40, slots = 2
        let kvDim = kvHeads * headDim
        var rng = SplitMix64(seed: 7)
        func random(_ n: Int, _ scale: Float) -> FloatBuffer {
            let b = FloatBuffer(count: n)
            for i in 0..<n { b[i] = Float(Double(rng.next() % 20001) / 10000 - 1) * scale }
            return b
        }
        let keys = random(slots * maxPositions * kvDim, 2), values = random(slots * maxPositions * kvDim, 1)
        let positions: [Int32] = [0, 7, 8, 23, 39], rowSlots = [1, 0, 1, 0, 1]
        let q = random(positions.count * heads * headDim, 1.5)
        func attention(vectorised: Bool, threads: Int) -> FloatBuffer {
            let out = FloatBuffer(count: positions.count * heads * headDim)
            let rows = Array(0..<positions.count)
            rows.withUnsafeBufferPointer { r in
                cachedAttentionForward(out: out.pointer, q: q.pointer, keys: keys.pointer, values: values.pointer,
                                       slots: rowSlots, positions: positions, rows: r, heads: heads, kvHeads: kvHeads,
                                       headDim: headDim, maxPositions: maxPositions, threads: threads,
                                       vectorised: vectorised)
            }
            return out
        }
        for threads in [1, 2] {
            let kernel = attention(vectorised: true, threads: threads), loop = attention(vectorised: false, threads: threads)
            var worst: Float = 0
            for i in 0..<kernel.count { worst = max(worst, abs(kernel[i] - loop[i])) }
            #expect(worst <= 1e-5, "threads \(threads): max |Δ| \(worst)")
            #expect((0..<kernel.count).contains { kernel[$0] != 0 }, "the kernel wrote its output")
        }
    }
}
