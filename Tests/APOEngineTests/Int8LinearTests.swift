import Foundation
import Testing
@testable import APOEngine

/// The int8 decode weights: quantisation within half a step, and the AVX2 kernel equal (up to
/// summation order) to a plain loop over the same quantised weights.
@Suite struct Int8LinearTests {
    /// Weights with the cases that matter: an all-zero block, a lone outlier, tiny values.
    func weights(outDim: Int, inDim: Int, seed: UInt64) -> FloatBuffer {
        var rng = SplitMix64(seed: seed)
        let w = FloatBuffer(count: outDim * inDim)
        for i in 0..<w.count { w[i] = Float(Double(rng.next() % 20001) / 10000 - 1) * 0.05 }
        for i in 0..<32 { w[i] = 0 }            // row 0, block 0: all zero
        w[40] = 3.5                              // row 0, block 1: one outlier
        for i in 64..<96 { w[i] *= 1e-6 }        // tiny block
        return w
    }

    @Test func quantisationIsWithinHalfAStepOfEachWeight() throws {
        let outDim = 8, inDim = 96
        let w = weights(outDim: outDim, inDim: inDim, seed: 1)
        let q = try #require(Int8Matrix(weight: w.pointer, outDim: outDim, inDim: inDim))
        for o in 0..<outDim {
            for block in 0..<(inDim / 32) {
                let range = (block * 32)..<(block * 32 + 32)
                let largest = range.map { abs(w[o * inDim + $0]) }.max()!
                let step = largest / 127
                for i in range {
                    let error = abs(q.weight(o, i) - w[o * inDim + i])
                    #expect(error <= step / 2 * 1.0001, "[\(o), \(i)]: error \(error), step \(step)")
                }
                // The largest weight of a block is represented exactly (it is ±127 steps).
                if let big = range.first(where: { abs(w[o * inDim + $0]) == largest }), largest > 0 {
                    #expect(abs(q.weight(o, big) - w[o * inDim + big]) <= largest * 1e-6)
                }
            }
        }
        #expect(q.weight(0, 5) == 0, "an all-zero block stays zero")
    }

    @Test func widthsThatAreNotMultiplesOf32AreRefused() {
        let w = FloatBuffer(count: 4 * 40)
        #expect(Int8Matrix(weight: w.pointer, outDim: 4, inDim: 40) == nil)
    }

    @Test(.enabled(if: Int8Matrix.kernelsSupported, "the int8 kernels need AVX2/FMA"),
          arguments: [1, 2, 3, 6])
    func kernelMatchesThePlainLoop(rows: Int) throws {
        let outDim = 50, inDim = 160
        let w = weights(outDim: outDim, inDim: inDim, seed: 2)
        let q = try #require(Int8Matrix(weight: w.pointer, outDim: outDim, inDim: inDim))
        var rng = SplitMix64(seed: 3)
        let x = FloatBuffer(count: rows * inDim)
        for i in 0..<x.count { x[i] = Float(Double(rng.next() % 2001) / 1000 - 1) }
        for accumulate in [false, true] {
            let fast = FloatBuffer(count: rows * outDim), slow = FloatBuffer(count: rows * outDim)
            for i in 0..<fast.count { fast[i] = Float(i % 7); slow[i] = Float(i % 7) }
            // Columns in uneven parts, as `InferenceState` splits them over threads.
            for part in [0..<17, 17..<48, 48..<50] {
                q.forward(out: fast.pointer, inp: x.pointer, rows: rows, columns: part, accumulate: accumulate)
            }
            q.forwardNaive(out: slow.pointer, inp: x.pointer, rows: rows, accumulate: accumulate)
            for i in 0..<fast.count {
                #expect(abs(fast[i] - slow[i]) <= 1e-5 * max(1, abs(slow[i])),
                        "rows \(rows), accumulate \(accumulate), [\(i / outDim), \(i % outDim)]: \(fast[i]) vs \(slow[i])")
            }
        }
    }
}

/// What int8 decode does to the real model on real text: the fixture text of the perplexity test,
/// fed one token per call (as generation does), scored on int8 and on fp32 weights.
@Suite struct Int8DecodeQualityTests {
    @Test(.enabled(if: Int8Matrix.kernelsSupported, "the int8 kernels need AVX2/FMA"))
    func int8DecodeKeepsPerplexityAndGreedyChoices() throws {
        let model = try RealSmolLM.model.get()
        let text = String(decoding: try RealSmolLM.fixture("perplexity/sample.tokens.txt"), as: UTF8.self)
        let tokens = Array(text.trimmingCharacters(in: CharacterSet(charactersIn: "[] \n"))
            .split(separator: ",").map { Int32($0.trimmingCharacters(in: .whitespaces))! }.prefix(200))
        func decode(_ weights: DecodeWeights) throws -> (logProbs: [Double], argmax: [Int]) {
            let state = InferenceState(model: model, slots: 1, maxPositions: tokens.count, threads: 2, decodeWeights: weights)
            var logProbs: [Double] = [], argmax: [Int] = []
            for p in 0..<(tokens.count - 1) {
                try state.forward(tokens: [tokens[p]], slots: [0], positions: [Int32(p)])
                let l = state.logits(0)
                logProbs.append(logSoftmax(UnsafeBufferPointer(l), at: Int(tokens[p + 1])))
                argmax.append((0..<l.count).max { l[$0] < l[$1] }!)
            }
            return (logProbs, argmax)
        }
        let exact = try decode(.float32), int8 = try decode(.int8)
        let n = Double(exact.logProbs.count)
        let perplexityExact = exp(-exact.logProbs.reduce(0, +) / n)
        let perplexityInt8 = exp(-int8.logProbs.reduce(0, +) / n)
        let meanShift = zip(exact.logProbs, int8.logProbs).map { abs($0 - $1) }.reduce(0, +) / n
        let sameChoice = Double(zip(exact.argmax, int8.argmax).filter { $0 == $1 }.count) / n
        print("int8 decode: perplexity \(perplexityInt8) vs fp32 \(perplexityExact), mean |Δ log-prob| \(meanShift), same greedy token \(sameChoice)")
        #expect(abs(perplexityInt8 / perplexityExact - 1) < 0.01)
        #expect(meanShift < 0.05)
        #expect(sameChoice >= 0.95)
        #expect(meanShift > 1e-5, "int8 and fp32 gave the same log-probs: the int8 path did not run")
    }
}
