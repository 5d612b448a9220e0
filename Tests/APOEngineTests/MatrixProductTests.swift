import Foundation
import Testing
@testable import APOEngine

/// `matrixProduct`'s fp32 path: OpenBLAS single-threaded, the product cut into blocks by the
/// caller's thread count. The count travels with the call, so computations in one process that
/// ask for different counts cannot change each other's bits (OpenBLAS's own count is global, and
/// its results depend on it for many of the model's shapes).
struct MatrixProductTests {
    struct Operands {
        let a: [Float], b: [Float]
        let m: Int, n: Int, k: Int, transA: Bool, transB: Bool

        init(m: Int, n: Int, k: Int, transA: Bool, transB: Bool, seed: Int) {
            var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
            func next() -> Float {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                return Float(state % 2001) / 1000 - 1
            }
            a = (0..<(m * k)).map { _ in next() }
            b = (0..<(k * n)).map { _ in next() }
            self.m = m; self.n = n; self.k = k; self.transA = transA; self.transB = transB
        }

        func product(threads: Int, beta: Float = 0, start: [Float]? = nil) -> [Float] {
            var c = start ?? [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        matrixProduct(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                                      a: a.baseAddress!, lda: transA ? m : k, b: b.baseAddress!, ldb: transB ? k : n,
                                      beta: beta, c: c.baseAddress!, ldc: n, precision: .fp32, threads: threads)
                    }
                }
            }
            return c
        }

        /// The same product in Double, by the definition.
        func reference(beta: Float, start: [Float]) -> [Double] {
            (0..<(m * n)).map { index in
                let i = index / n, j = index % n
                var sum = 0.0
                for l in 0..<k {
                    let x = transA ? a[l * m + i] : a[i * k + l]
                    let y = transB ? b[j * k + l] : b[l * n + j]
                    sum += Double(x) * Double(y)
                }
                return 0.5 * sum + Double(beta) * Double(start[index])
            }
        }
    }

    /// Every block layout (rows, columns, a single block) computes the product, with either
    /// transpose, accumulating into C as asked.
    @Test(arguments: [(m: 200, n: 96, k: 70), (m: 5, n: 640, k: 33), (m: 31, n: 63, k: 9), (m: 1, n: 1, k: 1)])
    func blocksComputeTheProduct(_ shape: (m: Int, n: Int, k: Int)) {
        for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
            let operands = Operands(m: shape.m, n: shape.n, k: shape.k, transA: transA, transB: transB, seed: shape.m + shape.n)
            let start = (0..<(shape.m * shape.n)).map { Float($0 % 5) - 2 }
            let want = operands.reference(beta: 1, start: start)
            for threads in [1, 2, 3, 7] {
                let got = operands.product(threads: threads, beta: 1, start: start)
                let worst = zip(got, want).map { abs(Double($0) - $1) }.max() ?? 0
                #expect(worst < 1e-4 * Double(shape.k), "m \(shape.m) n \(shape.n) k \(shape.k) trans \(transA) \(transB) threads \(threads): \(worst)")
            }
        }
    }

    @Test func blocksCoverTheProductOnceAndDependOnlyOnShapeAndCount() {
        for (m, n, threads) in [(1280, 576, 2), (20, 49152, 2), (20, 30, 8), (0, 10, 2), (100, 100, 64)] {
            let blocks = ProductBlocks(m: m, n: n, threads: threads)
            #expect(blocks.count >= 1 && blocks.count <= max(1, threads))
            var covered = [Int](repeating: 0, count: m * n)
            for index in 0..<blocks.count {
                let (rows, columns) = blocks.block(index)
                for i in rows { for j in columns { covered[i * n + j] += 1 } }
            }
            #expect(covered.allSatisfy { $0 == 1 }, "\(m)×\(n) over \(threads)")
        }
        #expect(ProductBlocks(m: 1280, n: 576, threads: 2).count == 2)
        #expect(ProductBlocks(m: 20, n: 49152, threads: 2).block(1).columns == 24576..<49152)
    }

    /// A training step with 1 thread gives the same gradients, bit for bit, while another graph
    /// in the process trains with 2 threads. (It did not when the thread count was OpenBLAS's,
    /// global to the process: tests running side by side changed each other's bits, and a resume
    /// test comparing bits failed now and then.) The block is sized so that its products include
    /// shapes whose OpenBLAS result depends on OpenBLAS's thread count (`[16, 1536] · [1536, 64]`).
    @Test func aTrainingStepKeepsItsBitsWhileAnotherTrainsWithMoreThreads() async {
        let config = LlamaConfig(vocabSize: 13, hiddenSize: 64, intermediateSize: 1536, layerCount: 1, headCount: 4,
                                 kvHeadCount: 2, ropeTheta: 10000, rmsNormEps: 1e-5, tiedEmbeddings: true, contextLength: 32)
        @Sendable func step(threads: Int) -> [Float] {
            let graph = LlamaTrainingGraph(parameters: TinyModels.parameters(seed: 5, config: config), trainableLayers: 1,
                                           maxBatch: 1, maxSeqLen: 16, threads: threads)
            let tokens = (0..<16).map { Int32($0 % 13) }
            let hidden = graph.forward(tokens: tokens, lengths: [16], batch: 1, seqLen: 16)
            let dHidden = (0..<(16 * 64)).map { Float($0 % 7) * 0.01 - 0.03 + hidden[$0] * 0 }
            dHidden.withUnsafeBufferPointer { graph.backward(dHidden: $0.baseAddress!) }
            return graph.gradients.toArray()
        }
        let alone = step(threads: 1)
        let results = await withTaskGroup(of: (threads: Int, same: Bool).self) { group in
            for task in 0..<4 {
                let threads = task % 2 == 0 ? 1 : 2
                group.addTask {
                    let first = step(threads: threads)
                    let same = (0..<6).allSatisfy { _ in step(threads: threads) == first }
                    return (threads, same && (threads == 2 || first == alone))
                }
            }
            var results: [(threads: Int, same: Bool)] = []
            for await result in group { results.append(result) }
            return results
        }
        for result in results { #expect(result.same, "a \(result.threads)-thread step changed its bits") }
    }
}
