import Foundation
import Testing
@testable import APOEngine

/// Hand-computed cases for spec §3. Expected numbers come from Python's `math` (softplus written as
/// log1p(exp(x))) and numpy's `searchsorted(linspace(0, 1, 11)[1:-1], p)`, not from this code.
struct RankingLossAndMetricsTests {
    static let tolerance = 1e-12

    @Test func pairLossAndGradient() throws {
        let item = try #require(RankingLoss.ranking.item(rewards: [1, 0], scores: [1, 0]))
        #expect(abs(item.loss - 0.31326168751822286) < Self.tolerance)   // -log σ(1)
        #expect(abs(item.dRewards[0] + 0.2689414213699951) < Self.tolerance)  // -σ(-1)
        #expect(abs(item.dRewards[1] - 0.2689414213699951) < Self.tolerance)
        #expect(item.pairs == 1)
    }

    @Test func tripleUsesEveryOrderedPairWithHigherScore() throws {
        // Pairs (1,0), (1,2), (2,0): mean(softplus(-1.5), softplus(-3), softplus(1.5)).
        let item = try #require(RankingLoss.ranking.item(rewards: [0.5, 2, -1], scores: [0.2, 0.9, 0.5]))
        #expect(item.pairs == 3)
        #expect(abs(item.loss - 0.6504713025130823) < Self.tolerance)
        let diff = try #require(RankingLoss.diff.item(rewards: [0.5, 2, -1], scores: [0.2, 0.9, 0.5]))
        #expect(abs(diff.loss - -1.0) < Self.tolerance)  // mean(-1.5, -3, 1.5)
        #expect(diff.dRewards == [2.0 / 3, -2.0 / 3, 0])
    }

    @Test func normalisationAndPaddingResponses() {
        let s = RankingLoss.normalise([3, 1, 2], isPadding: [false, false, true])
        #expect(abs(s[0] - (2 + 1e-5) / (2 + 2e-5)) < Self.tolerance)
        #expect(abs(s[1] - 1e-5 / (2 + 2e-5)) < Self.tolerance)
        #expect(s[2] == -1)
        // The padding response takes part in no pair even though its reward is the largest.
        let item = RankingLoss.ranking.item(rewards: [1, 0, 100], scores: [3, 1, 2], isPadding: [false, false, true])
        #expect(item?.pairs == 1)
        #expect(item?.dRewards[2] == 0)
    }

    @Test func equalScoresGiveNoItemInsteadOfNaN() {
        #expect(RankingLoss.ranking.item(rewards: [1, 2], scores: [0.5, 0.5]) == nil)
    }

    @Test func apoWeightingAndCentering() throws {
        let objective = RewardObjective(variant: .ranking, rmKLCoeff: 1, apoLossCoeff: 0.1, apoSampleNum: 4,
                                        centerCoeff: 0.01)
        #expect(objective.weight(isAPO: true) == 0.025)
        #expect(objective.weight(isAPO: false) == 1)
        let c = try #require(objective.contribution(rewards: [1, 0], scores: [1, 0], isAPO: true, batchItems: 2,
                                                    batchRewards: 4))
        // 0.025/2 · softplus(-1) + 0.01 · (1² + 0²)/4
        #expect(abs(c.loss - (0.0125 * 0.31326168751822286 + 0.0025)) < Self.tolerance)
        #expect(abs(c.dRewards[0] - (0.0125 * -0.2689414213699951 + 0.005)) < Self.tolerance)
    }

    @Test func binsFollowNumpySearchsortedLeft() {
        // numpy: [0, 2, 2, 4, 6, 9, 0] for these (0.7 lands in bin 6 because the edge is 0.7000000000000001).
        let ps = [0.1, 0.3, 0.30000000000000004, 0.5, 0.7, 1.0, 0.0]
        #expect(ps.map(RMMetrics.bin(of:)) == [0, 2, 2, 4, 6, 9, 0])
    }

    @Test func accuracyCountsTiesAsWrongAndCalibrationMatchesHandSums() {
        let m = RMMetrics(items: [
            (rewards: [2, 1], scores: [1, 0]),  // right: p = σ(-1) (y 0), σ(1) (y 1)
            (rewards: [0, 0], scores: [1, 0]),  // tie, wrong: p = 0.5 (y 0), 0.5 (y 1) → bin 4, gap 0
            (rewards: [0, 3], scores: [1, 0]),  // wrong: p = σ(3) (y 0) bin 9, σ(-3) (y 1) bin 0
        ])
        func sigma(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
        let a = sigma(-1), b = sigma(3)
        #expect(m.pairCount == 3)
        #expect(abs(m.accuracy - 1.0 / 3) < Self.tolerance)
        #expect(abs(m.averageScore - 1.0) < Self.tolerance)
        // Bins 2, 7, 4, 9, 0 with gaps a, a, 0, b, b over N = 6 probabilities.
        #expect(abs(m.ece - (2 * a + 2 * b) / 6) < Self.tolerance)
        #expect(abs(m.ace - (2 * a + 2 * b) / 5) < Self.tolerance)
        #expect(abs(m.mce - b) < Self.tolerance)
    }

    @Test func scheduleWarmsUpThenDecays() {
        let linear = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, decay: .linear)
        #expect(linear.rate(atStep: 0) == 0)
        #expect(abs(linear.rate(atStep: 5) - 5e-4) < 1e-15)
        #expect(linear.rate(atStep: 10) == 1e-3)
        #expect(abs(linear.rate(atStep: 60) - 5e-4) < 1e-15)
        #expect(linear.rate(atStep: 110) == 0)
        let cosine = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, decay: .cosine)
        #expect(abs(cosine.rate(atStep: 60) - 5e-4) < 1e-15)
        #expect(cosine.rate(atStep: 110) < 1e-18)
    }

    @Test func adamWFirstStepsMatchTheClosedForm() {
        // Step 1 of Adam moves every weight by lr·g/(|g| + eps·…) ≈ lr·sign(g); decay multiplies by 1 − lr·wd.
        let values = FloatBuffer(count: 3), grads = FloatBuffer(count: 3)
        for i in 0..<3 { values[i] = 1; grads[i] = [0.5, -2, 1e-3][i] }
        let opt = AdamW(groupSizes: [3], settings: AdamWSettings(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1))
        let group = ParameterGroup(values: values.pointer, gradients: grads.pointer, count: 3)
        opt.update([group], lr: 0.01, threads: 1)
        for i in 0..<3 {
            let g = Double(grads[i])
            let expected = 1 * (1 - 0.01 * 0.1) - 0.01 * g / (abs(g) + 1e-8)
            #expect(abs(Double(values[i]) - expected) < 1e-6)
        }
        let norm = clipGradientNorm([group], maxNorm: 1)
        #expect(abs(norm - (0.25 + 4 + 1e-6).squareRoot()) < 1e-6)
        #expect(abs(Double(grads[1]) - -2 / norm) < 1e-5)
    }
}
