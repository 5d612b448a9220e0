import Foundation
import Testing
@testable import APOEngine

func sample(_ logits: [Float], _ parameters: SamplingParameters, context: [Int32] = [], uniform: Double) -> Int32 {
    var copy = logits
    return copy.withUnsafeMutableBufferPointer {
        Sampler(parameters).sample(logits: $0, context: context, uniform: uniform)
    }
}

@Suite struct SamplerTests {
    // Probabilities 0.1, 0.2, 0.7 at temperature 1.
    let logits: [Float] = [log(0.1), log(0.2), log(0.7)]

    @Test func greedyIgnoresTheDraw() {
        for u in [0.0, 0.5, 0.999] {
            #expect(sample(logits, SamplingParameters(temperature: 0), uniform: u) == 2)
            #expect(sample(logits, SamplingParameters(temperature: 1, topK: 1), uniform: u) == 2)
        }
    }

    @Test func inverseCDFInIdOrderWithoutFilters() {
        let p = SamplingParameters(temperature: 1)
        #expect(sample(logits, p, uniform: 0.05) == 0)
        #expect(sample(logits, p, uniform: 0.15) == 1)
        #expect(sample(logits, p, uniform: 0.31) == 2)
        #expect(sample(logits, p, uniform: 0.999999) == 2)
    }

    @Test func topKAndTopPKeepTheMostProbable() {
        // Sorted candidates: 2 (0.7), 1 (0.2); renormalised over 0.9.
        for p in [SamplingParameters(temperature: 1, topK: 2), SamplingParameters(temperature: 1, topP: 0.75),
                  SamplingParameters(temperature: 1, topK: 2, topP: 0.95)] {
            #expect(sample(logits, p, uniform: 0.7) == 2)   // 0.7 < 0.7/0.9
            #expect(sample(logits, p, uniform: 0.8) == 1)
        }
        // 0.7 alone already reaches 0.6 of the mass.
        #expect(sample(logits, SamplingParameters(temperature: 1, topP: 0.6), uniform: 0.99) == 2)
    }

    @Test func temperatureSharpens() {
        // logits 0 and ln 3 at T = 0.5 become 0 and 2·ln 3: probabilities 0.1 and 0.9.
        let l: [Float] = [0, log(3)]
        #expect(sample(l, SamplingParameters(temperature: 0.5), uniform: 0.09) == 0)
        #expect(sample(l, SamplingParameters(temperature: 0.5), uniform: 0.11) == 1)
    }

    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        // [1, 1, -1] with penalty 2 on {0, 2} → [0.5, 1, -2]: greedy picks 1.
        let p = SamplingParameters(temperature: 0, repetitionPenalty: 2)
        #expect(sample([1, 1, -1], p, context: [0, 2, 0], uniform: 0) == 1)
        #expect(sample([1.2, 1, -1], SamplingParameters(temperature: 0), context: [0], uniform: 0) == 0)
    }

    @Test func frequenciesFollowTheDistribution() {
        var rng = SplitMix64(seed: 42)
        var counts = [0, 0, 0]
        let n = 20000
        for _ in 0..<n { counts[Int(sample(logits, SamplingParameters(), uniform: rng.nextUniform()))] += 1 }
        // Binomial standard deviation at n = 20000 is ≤ 0.0035; 0.015 is over 4σ.
        for (i, expected) in [0.1, 0.2, 0.7].enumerated() {
            #expect(abs(Double(counts[i]) / Double(n) - expected) < 0.015)
        }
    }

    @Test func streamSeedsArePerQueryAndSample() {
        let a = SplitMix64.streamSeed(base: 1, query: "q1", sample: 0)
        #expect(a == SplitMix64.streamSeed(base: 1, query: "q1", sample: 0))
        #expect(a != SplitMix64.streamSeed(base: 1, query: "q1", sample: 1))
        #expect(a != SplitMix64.streamSeed(base: 1, query: "q2", sample: 0))
        #expect(a != SplitMix64.streamSeed(base: 2, query: "q1", sample: 0))
    }

    @Test func invalidParametersAreRejected() {
        #expect(throws: SamplingError.self) { try SamplingParameters(temperature: -1).validate() }
        #expect(throws: SamplingError.self) { try SamplingParameters(topP: 0).validate() }
        #expect(throws: SamplingError.self) { try SamplingParameters(topK: -3).validate() }
        #expect(throws: SamplingError.self) { try SamplingParameters(repetitionPenalty: 0).validate() }
    }
}
