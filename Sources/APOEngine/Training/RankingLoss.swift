import Foundation

/// The APO reward-model ranking loss of one item (spec §3), with its gradient w.r.t. the rewards.
///
/// Scores are min-max normalised, `s' = (s - min + 1e-5) / (max - min + 2e-5)`; padding responses
/// get `s' = -1` and take part in no pair. Over all ordered pairs with `s'_i > s'_j` (both ≥ 0):
/// `ranking`: `mean(-log σ(r_i - r_j))`; `diff`: `mean(-(r_i - r_j))`.
public enum RankingLoss: String, Codable, Sendable, CaseIterable {
    case ranking
    case diff

    /// Normalised scores; nil entries of `isPadding` mean "real". Min and max are over real responses.
    public static func normalise(_ scores: [Double], isPadding: [Bool]? = nil) -> [Double] {
        let real = scores.indices.filter { !(isPadding?[$0] ?? false) }
        guard let lo = real.map({ scores[$0] }).min(), let hi = real.map({ scores[$0] }).max() else {
            return scores.map { _ in -1 }
        }
        return scores.indices.map { i in
            (isPadding?[i] ?? false) ? -1 : (scores[i] - lo + 1e-5) / (hi - lo + 2e-5)
        }
    }

    /// Loss of one item and `d loss / d r`; nil when the item has no ordered pair (all scores equal),
    /// which callers count and skip rather than train on a NaN mean.
    public func item(rewards r: [Double], scores: [Double], isPadding: [Bool]? = nil)
        -> (loss: Double, dRewards: [Double], pairs: Int)?
    {
        precondition(r.count == scores.count)
        let s = Self.normalise(scores, isPadding: isPadding)
        var pairs: [(Int, Int)] = []
        for i in s.indices where s[i] >= 0 {
            for j in s.indices where s[j] >= 0 && s[i] > s[j] { pairs.append((i, j)) }
        }
        guard !pairs.isEmpty else { return nil }
        let n = Double(pairs.count)
        var loss = 0.0
        var d = [Double](repeating: 0, count: r.count)
        for (i, j) in pairs {
            let x = r[i] - r[j]
            switch self {
            case .ranking:
                // -log σ(x) = softplus(-x), computed stably; d/dx = -σ(-x)
                loss += x > 0 ? Foundation.log1p(Foundation.exp(-x)) : -x + Foundation.log1p(Foundation.exp(x))
                let g = -1 / (1 + Foundation.exp(x))
                d[i] += g / n
                d[j] -= g / n
            case .diff:
                loss += -x
                d[i] -= 1 / n
                d[j] += 1 / n
            }
        }
        return (loss / n, d, pairs.count)
    }
}

/// The batch objective of the APO reward model (spec §3): `mean over items of w·loss_item`, plus the
/// optional center-rewards regulariser `centerCoeff · mean(r²)` over every reward of the batch.
/// Item weights: `rmKLCoeff` for human pairs, `apoLossCoeff / apoSampleNum` for `type: "apo"` items.
public struct RewardObjective: Codable, Sendable, Equatable {
    public var variant: RankingLoss
    public var rmKLCoeff: Double
    public var apoLossCoeff: Double
    public var apoSampleNum: Int
    public var centerCoeff: Double

    public init(variant: RankingLoss = .ranking, rmKLCoeff: Double = 1, apoLossCoeff: Double = 0.1,
                apoSampleNum: Int = 4, centerCoeff: Double = 0) {
        self.variant = variant; self.rmKLCoeff = rmKLCoeff; self.apoLossCoeff = apoLossCoeff
        self.apoSampleNum = apoSampleNum; self.centerCoeff = centerCoeff
    }

    public func weight(isAPO: Bool) -> Double {
        isAPO ? apoLossCoeff / Double(max(apoSampleNum, 1)) : rmKLCoeff
    }

    /// One item's share of the batch loss and its reward gradient. `batchItems` and `batchRewards`
    /// are the counts over the WHOLE batch (all micro-batches), so micro-batch gradients sum exactly
    /// to the full-batch gradient.
    public func contribution(rewards: [Double], scores: [Double], isAPO: Bool, batchItems: Int,
                             batchRewards: Int) -> (loss: Double, dRewards: [Double])? {
        guard let item = variant.item(rewards: rewards, scores: scores) else { return nil }
        let w = weight(isAPO: isAPO) / Double(batchItems)
        var loss = w * item.loss
        var d = item.dRewards.map { $0 * w }
        if centerCoeff != 0 {
            for (k, r) in rewards.enumerated() {
                loss += centerCoeff * r * r / Double(batchRewards)
                d[k] += 2 * centerCoeff * r / Double(batchRewards)
            }
        }
        return (loss, d)
    }
}
