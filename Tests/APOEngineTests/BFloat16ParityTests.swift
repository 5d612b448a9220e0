import Foundation
import Testing
@testable import APOEngine

/// The bf16 path (bf16 products, fp32 accumulation, fp32 everything else) against exact products,
/// against our fp32 path, and against PyTorch's CPU bf16 autocast on the RM parity examples.
///
/// bf16 keeps 8 significant bits: rounding an input costs at most u = 2⁻⁸ relative (round to
/// nearest even), so one product a·b is off by at most (2u + u²)|a||b| and a K-term fp32 sum adds
/// K·2⁻²⁴ relative — the bound `boundedByBF16Rounding` checks element by element. Through 30
/// blocks these errors do not stay that small, nor do they cancel the same way in two libraries
/// (oneDNN here, ATen/oneDNN in PyTorch, each rounding different intermediates — PyTorch also runs
/// attention in bf16, we keep it fp32), so the model-level tolerances below are empirical: several
/// times what was observed when the fixture was made (stated per constant), and far below the
/// O(1) misses of a wrong product.
struct BFloat16ParityTests {
    /// Observed when written (AMD EPYC, AVX512-BF16, oneDNN avx512_core_bf16): vs PyTorch bf16
    /// autocast rewards max|Δ| 0.10 (rewards ≈ 2.5; PyTorch's own bf16 vs fp32 gap is 0.08), loss
    /// |Δ| 0.011; vs our fp32 path rewards 0.026, loss 0.007.
    static let rewardTolerance: Float = 0.25
    static let lossTolerance = 0.03
    /// Gradient slices, max|Δ| / max|g|: observed ≤ 0.24 vs PyTorch bf16 (v_proj row 0 of block 0,
    /// the end of 30 blocks of rounding; the others ≤ 0.17) and ≤ 0.10 vs our fp32. A wrong
    /// backward misses by O(1).
    static let gradientRelativeTolerance: Float = 0.5

    static var bf16Available: Bool { ComputePath.bf16Path != nil }

    @Test func explicitBF16WithoutCPUSupportIsAClearError() throws {
        if Self.bf16Available {
            let path = try ComputePath.resolve(.bf16)
            #expect(path.precision == .bf16)
            #expect(path.isa == "amx-bf16" || path.isa == "avx512-bf16")
            #expect(try ComputePath.resolve(nil).precision == .bf16, "auto picks bf16 where the CPU has it")
        } else {
            #expect(throws: ComputePath.Unsupported.self) { try ComputePath.resolve(.bf16) }
            #expect(try ComputePath.resolve(nil).precision == .fp32)
        }
        #expect(try ComputePath.resolve(.fp32).precision == .fp32)
        #expect(try ComputePath.resolve(.fp32).identity != (try ComputePath.resolve(nil)).identity || !Self.bf16Available)
    }

    // On a CPU without bf16 dot products these two are reported as skipped (with the reason), and
    // the test above checks that bf16 is refused with a clear error instead.
    @Test(.enabled(if: bf16Available, "this CPU has no AVX512-BF16 or AMX-BF16"),
          arguments: [(false, false), (false, true), (true, false), (true, true)])
    func productsAreBoundedByBF16Rounding(transA: Bool, transB: Bool) throws {
        let m = 37, n = 29, k = 70, pad = 3
        let (rowsA, colsA) = transA ? (k, m) : (m, k)
        let (rowsB, colsB) = transB ? (n, k) : (k, n)
        let lda = colsA + pad, ldb = colsB + pad, ldc = n + pad
        var rng = SplitMix64(seed: 7)
        func random() -> Float { Float(Double(rng.next() % 20001) / 10000 - 1) }
        let a = (0..<(rowsA * lda)).map { _ in random() }, b = (0..<(rowsB * ldb)).map { _ in random() }
        let c0 = (0..<(m * ldc)).map { _ in random() }
        func A(_ i: Int, _ p: Int) -> Double { Double(transA ? a[p * lda + i] : a[i * lda + p]) }
        func B(_ p: Int, _ j: Int) -> Double { Double(transB ? b[j * ldb + p] : b[p * ldb + j]) }
        for (alpha, beta) in [(Float(1), Float(0)), (0.125, 1)] {
            var c = c0
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        matrixProduct(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                                      a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                                      beta: beta, c: pc.baseAddress!, ldc: ldc, precision: .bf16)
                    }
                }
            }
            let u = pow(2.0, -8.0)
            var largestRelative = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    var exact = 0.0, magnitude = 0.0
                    for p in 0..<k { exact += A(i, p) * B(p, j); magnitude += abs(A(i, p) * B(p, j)) }
                    let expected = Double(alpha) * exact + Double(beta) * Double(c0[i * ldc + j])
                    let bound = Double(alpha) * magnitude * (2 * u + u * u + Double(k) * pow(2.0, -24)) + 1e-6
                    let error = abs(Double(c[i * ldc + j]) - expected)
                    #expect(error <= bound, "C[\(i),\(j)] off by \(error), bound \(bound)")
                    largestRelative = max(largestRelative, error / (Double(alpha) * magnitude))
                }
                // Padding columns are never written.
                for j in n..<ldc { #expect(c[i * ldc + j] == c0[i * ldc + j]) }
            }
            // Proof the products really ran in bf16: fp32 arithmetic would be ~1e-7 off, not ~1e-3.
            #expect(largestRelative > 1e-4, "largest relative error \(largestRelative): this looks like fp32")
        }
    }

    @Test(.enabled(if: bf16Available, "this CPU has no AVX512-BF16 or AMX-BF16"))
    func rewardModelMatchesPyTorchAutocastAndOurFP32() throws {
        let torchBF16 = try RewardModelParityTests.fixture("rm_parity_bf16")
        let bf16 = try RewardModelParityTests.engineNumbers(torchBF16, precision: .bf16)
        let fp32 = try RewardModelParityTests.engineNumbers(torchBF16, precision: .fp32)
        for (label, reference) in [("vs torch bf16", (torchBF16.rewards, torchBF16.loss, torchBF16.gradients)),
                                   ("vs our fp32", (fp32.rewards, fp32.loss, fp32.gradients))] {
            let rewardDiff = zip(bf16.rewards, reference.0).map { abs($0 - $1) }.max()!
            print("bf16 parity \(label): rewards \(bf16.rewards) reference \(reference.0) max|Δ| \(rewardDiff)")
            print("bf16 parity \(label): loss \(bf16.loss) reference \(reference.1) |Δ| \(abs(bf16.loss - reference.1))")
            #expect(rewardDiff <= Self.rewardTolerance, "\(label)")
            #expect(abs(bf16.loss - reference.1) <= Self.lossTolerance, "\(label)")
            for (name, rel) in try RewardModelParityTests.gradientDeviations(bf16.gradients, reference.2,
                                                                              label: "bf16 parity \(label)") {
                #expect(rel <= Self.gradientRelativeTolerance, "\(label): \(name)")
            }
        }
        // The two paths must differ: bf16 that reproduced fp32 to 1e-6 would not be bf16.
        let pathDiff = zip(bf16.rewards, fp32.rewards).map { abs($0 - $1) }.max()!
        #expect(pathDiff > 1e-5, "bf16 rewards equal fp32 ones (max|Δ| \(pathDiff))")
    }
}
