import Foundation

/// Reward-model metrics on a pairs file (spec §3): preference accuracy, average score and
/// calibration (ECE / ACE / MCE over ten uniform bins).
public struct RMMetrics: Codable, Sendable, Equatable {
    /// Valid ordered pairs (`s_i > s_j`) whose reward difference is strictly positive; ties are wrong.
    public var accuracy: Double
    public var averageScore: Double
    public var ece: Double
    public var ace: Double
    public var mce: Double
    /// Valid ordered pairs counted by `accuracy`.
    public var pairCount: Int
    public var rewardCount: Int

    public static let binCount = 10

    /// Bin of a probability: the number of inner edges (0.1, 0.2, …, 0.9 as numpy's
    /// `linspace(0, 1, 11)[1:-1]` computes them) strictly below `p` — numpy `searchsorted(side="left")`.
    public static func bin(of p: Double) -> Int {
        var count = 0
        for k in 1..<binCount where Double(k) * (1.0 / Double(binCount)) < p { count += 1 }
        return count
    }

    /// items: per item, the rewards and human scores of its responses (same length).
    public init(items: [(rewards: [Double], scores: [Double])]) {
        var correct = 0, pairs = 0
        var rewardSum = 0.0, rewardCount = 0
        var sumP = [Double](repeating: 0, count: Self.binCount)
        var sumY = [Double](repeating: 0, count: Self.binCount)
        var binN = [Int](repeating: 0, count: Self.binCount)
        func add(p: Double, y: Double) {
            let b = Self.bin(of: p)
            sumP[b] += p; sumY[b] += y; binN[b] += 1
        }
        for item in items {
            rewardSum += item.rewards.reduce(0, +)
            rewardCount += item.rewards.count
            let r = item.rewards, s = item.scores
            for i in s.indices {
                for j in s.indices where s[i] > s[j] {
                    pairs += 1
                    if r[i] - r[j] > 0 { correct += 1 }
                    // Both orders of the valid pair: p = σ(r_j − r_i), y = [s_j > s_i].
                    add(p: 1 / (1 + Foundation.exp(-(r[j] - r[i]))), y: 0)
                    add(p: 1 / (1 + Foundation.exp(-(r[i] - r[j]))), y: 1)
                }
            }
        }
        let n = Double(binN.reduce(0, +))
        var ece = 0.0, gaps: [Double] = []
        for b in 0..<Self.binCount where binN[b] > 0 {
            ece += abs(sumP[b] - sumY[b]) / n
            gaps.append(abs(sumP[b] - sumY[b]) / Double(binN[b]))
        }
        accuracy = pairs > 0 ? Double(correct) / Double(pairs) : 0
        averageScore = rewardCount > 0 ? rewardSum / Double(rewardCount) : 0
        self.ece = ece
        ace = gaps.isEmpty ? 0 : gaps.reduce(0, +) / Double(gaps.count)
        mce = gaps.max() ?? 0
        pairCount = pairs
        self.rewardCount = rewardCount
    }
}
