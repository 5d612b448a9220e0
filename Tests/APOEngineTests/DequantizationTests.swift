import Foundation
import Testing
@testable import APOEngine

/// Block formats decoded by hand-built blocks (expected values from the spec's formulas) and,
/// on the real model, against llama.cpp's `gguf` Python package (fixture made by
/// `Fixtures/modelfiles/make_fixture.py`).
struct DequantizationTests {
    typealias S = ModelFilesTestSupport

    func decode(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                #expect(Dequantization.dequantize(type, source: src.baseAddress!, count: count, into: dst.baseAddress!, threads: 2))
            }
        }
        return out
    }

    func half(_ x: Float) -> [UInt8] {
        let h = S.halfBits(x)
        return [UInt8(h & 0xff), UInt8(h >> 8)]
    }

    @Test func halfConversionMatchesFloat16ForEveryBitPattern() {
        for bits in 0...UInt16.max {
            let expected = Float(Float16(bitPattern: bits))
            let got = Dequantization.floatFromHalf(bits)
            if expected.isNaN {
                #expect(got.isNaN, "bits \(bits)")
            } else if got.bitPattern != expected.bitPattern {
                Issue.record("half \(String(bits, radix: 16)): got \(got), expected \(expected)")
                return
            }
        }
    }

    @Test func q4_1UsesLowNibbleForJAndHighNibbleForJPlus16() {
        // d = 0.5, m = -1; byte j = lo j, hi 15 - j  ⇒  x[j] = j·0.5 − 1, x[j+16] = (15 − j)·0.5 − 1.
        let nibbles: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | (UInt8(15 - j) << 4) }
        let block: [UInt8] = half(0.5) + half(-1) + nibbles
        let low: [Float] = (0..<16).map { (j: Int) -> Float in Float(j) * 0.5 - 1 }
        let high: [Float] = (0..<16).map { (j: Int) -> Float in Float(15 - j) * 0.5 - 1 }
        let expected: [Float] = low + high
        #expect(decode(.q4_1, block + block, count: 64) == expected + expected)
    }

    @Test func q4_0SubtractsEight() {
        let nibbles: [UInt8] = (0..<16).map { (j: Int) -> UInt8 in UInt8(j) | (UInt8((j + 3) % 16) << 4) }
        let block: [UInt8] = half(2) + nibbles
        let low: [Float] = (0..<16).map { (j: Int) -> Float in Float(j - 8) * 2 }
        let high: [Float] = (0..<16).map { (j: Int) -> Float in Float((j + 3) % 16 - 8) * 2 }
        let expected: [Float] = low + high
        #expect(decode(.q4_0, block, count: 32) == expected)
    }

    @Test func q8_0ScalesSignedBytes() {
        let qs: [Int8] = (0..<32).map { Int8($0 * 8 - 128) }
        let block = half(0.25) + qs.map { UInt8(bitPattern: $0) }
        #expect(decode(.q8_0, block, count: 32) == qs.map { Float($0) * 0.25 })
    }

    @Test func floatFormats() {
        let values: [Float] = [0, -0.0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08]
        #expect(decode(.f16, values.flatMap(half), count: values.count) == values)
        let bf: [Float] = [1, -3.140625, 0x1p100, 0]
        let bfBytes = bf.flatMap { v -> [UInt8] in let b = v.bitPattern >> 16; return [UInt8(b & 0xff), UInt8(b >> 8)] }
        #expect(decode(.bf16, bfBytes, count: bf.count) == bf)
        #expect(decode(.f32, values.withUnsafeBytes { Array($0) }, count: values.count) == values)
    }

    @Test func unsupportedTypeIsRefused() {
        var out = [Float](repeating: 0, count: 256)
        let ok = out.withUnsafeMutableBufferPointer { dst in
            [UInt8](repeating: 0, count: 210).withUnsafeBytes {
                Dequantization.dequantize(.q6_K, source: $0.baseAddress!, count: 256, into: dst.baseAddress!)
            }
        }
        #expect(!ok)
    }

    struct Reference: Decodable {
        struct Tensor: Decodable {
            let type: String
            let ne: [Int]
            let first: [Double]
            let stride: Int
            let strided: [Double]
            let sum: Double
            let sum_squares: Double
        }
        struct Rows: Decodable {
            let shape: [Int]
            let rows: [String: [Double]]
            let row_sums: [String: Double]
        }
        struct Synthetic: Decodable {
            let bytes_hex: String
            let values: [Double]
        }
        let tensors: [String: Tensor]
        let hf_rows: [String: Rows]
        let synthetic: [String: Synthetic]

        static func load() throws -> Reference {
            let url = try #require(Bundle.module.url(forResource: "Fixtures/modelfiles/smollm2_reference", withExtension: "json"))
            return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        }
    }

    /// Q4_0, Q4_1, Q8_0, F16 and BF16 blocks quantised by `gguf.quants.quantize` and decoded by
    /// `gguf.quants.dequantize` (fixture): the formats the real file does not exercise. Exact match
    /// expected (same fp32 arithmetic); 1e-6 allows for a fused multiply-add.
    @Test func syntheticBlocksMatchGGUFPythonPackage() throws {
        let reference = try Reference.load()
        #expect(Set(reference.synthetic.keys) == ["Q4_0", "Q4_1", "Q8_0", "F16", "BF16"])
        for (name, ref) in reference.synthetic {
            let type = try #require(GGMLType.allCases.first { $0.name == name })
            let hex = Array(ref.bytes_hex.utf8)
            let bytes: [UInt8] = stride(from: 0, to: hex.count, by: 2).map { i in
                UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16)!
            }
            #expect(bytes.count == ref.values.count / type.blockSize * type.blockBytes, "\(name) byte count")
            let x = decode(type, bytes, count: ref.values.count)
            for (i, v) in ref.values.enumerated() {
                #expect(abs(Double(x[i]) - v) <= 1e-6, "\(name)[\(i)]: \(x[i]) vs \(v)")
            }
        }
    }

    /// Dequantised SmolLM2 tensors (Q8_0, Q4_1, F32) against `gguf.quants.dequantize`. Both sides
    /// compute `q·d (+ m)` in fp32 from the same half-precision d and m, so values agree exactly;
    /// 1e-6 only allows for a different rounding of the multiply-add.
    @Test func realTensorsMatchGGUFPythonPackage() throws {
        let reference = try Reference.load()
        let file = try GGUFFile(path: try S.smolLMPath())
        let valueTolerance = 1e-6
        for (name, ref) in reference.tensors {
            let info = try #require(file.tensor(named: name))
            #expect(info.type.name == ref.type && info.ne == ref.ne, "\(name)")
            let x = try file.dequantized(name)
            for (i, v) in ref.first.enumerated() {
                #expect(abs(Double(x[i]) - v) <= valueTolerance, "\(name)[\(i)]: \(x[i]) vs \(v)")
            }
            for (k, v) in ref.strided.enumerated() {
                #expect(abs(Double(x[k * ref.stride]) - v) <= valueTolerance, "\(name)[\(k * ref.stride)]: \(x[k * ref.stride]) vs \(v)")
            }
            // Whole-tensor sums only where cheap: this test target is built without optimisation.
            guard x.count <= 1 << 20 else { continue }
            let sum = x.reduce(0.0) { $0 + Double($1) }
            let squares = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            // Sums of up to 28M terms in double: relative agreement to 1e-9 of the magnitude.
            #expect(abs(sum - ref.sum) <= 1e-9 * ref.sum_squares.squareRoot() * Double(x.count).squareRoot() + 1e-9, "\(name) sum \(sum) vs \(ref.sum)")
            #expect(abs(squares - ref.sum_squares) <= 1e-9 * ref.sum_squares, "\(name) sum of squares")
        }
    }
}
