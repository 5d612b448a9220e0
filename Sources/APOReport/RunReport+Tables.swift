import APOPipeline
import Foundation

/// The RM and policy tables as plain cells, shared by the HTML and Markdown pages: one row per
/// evaluate job (and RM), its cells showing intervals for a single run or, when the job ran in
/// several matrix cells, the spread over seeds followed by each cell's own row with its interval.
/// `golden_preference` jobs (arm `golden`) score the round's APO pairs, not the test pairs, so they
/// get a table of their own.
extension RunReport {
    static let rmHeader = ["round", "arm", "RM", "accuracy", "avg score", "ECE", "ACE", "MCE", "pairs"]
    static let goldenArm = "golden"
    static let goldenExplanation = "Accuracy here is how often an RM scores the round's golden answer above the policy's "
        + "sample for the same query (the APO pairs the round's APO RM trains on): near 100 % the pairs restate what the RM "
        + "already knows, near 50 % they are noisy labels to it, below 50 % they contradict it."

    /// Reward models on the test pairs.
    var rmTableRows: [[String]] { rmRows(evaluationGroups.filter { $0.arm != RunReport.goldenArm }) }

    /// Reward models on the round's APO pairs: accuracy is how often an RM scores the golden answer
    /// above the policy's sample.
    var goldenTableRows: [[String]] { rmRows(evaluationGroups.filter { $0.arm == RunReport.goldenArm }) }

    private func rmRows(_ groups: [EvaluationGroup]) -> [[String]] {
        var rows: [[String]] = []
        for group in groups {
            let first = group.cells[0].evaluation
            let spreads = RunReport.spreads(group)
            for r in first.rm {
                rows.append(RunReport.rmRow(round: first.round, arm: first.arm, r, spreads: spreads))
                guard spreads != nil else { continue }
                for (cell, evaluation) in group.cells {
                    guard let own = evaluation.rm.first(where: { $0.label == r.label }) else { continue }
                    rows.append(RunReport.rmRow(round: first.round, arm: "\(first.arm), \(cell)", own, spreads: nil))
                }
            }
        }
        return rows
    }

    private static func rmRow(round: Int, arm: String, _ r: EvaluateKind.RMResult,
                              spreads: [String: SeedAggregation.Spread]?) -> [String] {
        func cell(_ name: String, _ value: Double, percent: Bool = false) -> String {
            if let s = spreads?["rm.\(r.label).\(name)"] { return spreadCell(s, percent: percent) }
            return percent ? rateCell(value, r.accuracyInterval) : num(value)
        }
        return ["\(round)", arm, r.label, cell("accuracy", r.accuracy, percent: true), cell("average_score", r.averageScore),
                cell("ece", r.ece), cell("ace", r.ace), cell("mce", r.mce), "\(r.pairs)"]
    }

    /// Paired comparisons of two RMs inside one evaluation on the test pairs (e.g. base vs testing).
    /// Over seeds, also each cell's APO RM − base RM (pooled in the forest plot).
    var rmComparisonLines: [String] {
        comparisonLines(evaluationGroups.filter { $0.arm != RunReport.goldenArm }) + rmPerCellComparisonLines
    }

    /// The same on the APO pairs of `golden_preference` (testing RM vs APO RM).
    var goldenComparisonLines: [String] { comparisonLines(evaluationGroups.filter { $0.arm == RunReport.goldenArm }) }

    private func comparisonLines(_ groups: [EvaluationGroup]) -> [String] {
        groups.flatMap { group in
            group.cells.flatMap { cell in
                (cell.evaluation.rmComparisons ?? []).map { c in
                    (cell.cell.isEmpty ? "" : "\(cell.cell): ") + "round \(cell.evaluation.round), RM \(c.left) − RM \(c.right): "
                        + differenceCell(c.accuracyDifference.scaled(by: 100), points: true)
                        + String(format: ", McNemar exact p = %.3f (%d/%d discordant pairs)", c.mcnemar.pValue,
                                 c.mcnemar.leftOnly, c.mcnemar.rightOnly)
                }
            }
        }
    }

    typealias PolicyRow = (round: String, arm: String, queries: String, reward: String, wins: [String])

    /// Per evaluate job with a policy: round, arm, queries, average reward, and one text per
    /// other policy (win rate with interval and counts, reward difference); over several seeds the
    /// spread row, then each cell's row.
    var policyTableRows: [PolicyRow] {
        var rows: [PolicyRow] = []
        for group in evaluationGroups {
            guard let p = group.cells[0].evaluation.policy else { continue }
            let spreads = RunReport.spreads(group)
            rows.append(RunReport.policyRow(round: group.round, arm: group.arm, p, spreads: spreads))
            guard spreads != nil else { continue }
            for (cell, evaluation) in group.cells {
                guard let own = evaluation.policy else { continue }
                rows.append(RunReport.policyRow(round: group.round, arm: "\(group.arm), \(cell)", own, spreads: nil))
            }
        }
        return rows
    }

    private static func policyRow(round: Int, arm: String, _ p: EvaluateKind.PolicyResult,
                                  spreads: [String: SeedAggregation.Spread]?) -> PolicyRow {
        let reward = spreads?["policy.average_reward"].map { spreadCell($0, percent: false) }
            ?? valueCell(p.averageReward, p.averageRewardInterval)
        let wins = p.winRates.map { w -> String in
            if let s = spreads?["policy.win_rate.\(w.against)"] {
                let d = spreads?["policy.reward_difference.\(w.against)"].map { "; Δ reward " + spreadCell($0, percent: false) } ?? ""
                return "vs \(w.against): \(spreadCell(s, percent: true))" + d
            }
            let d = w.rewardDifference.map { "; Δ reward " + differenceCell($0, points: false) } ?? ""
            return "vs \(w.against): \(rateCell(w.winRate, w.winRateInterval)) (\(w.wins)/\(w.ties)/\(w.losses))" + d
        }
        return ("\(round)", arm, "\(p.queries)", reward, wins)
    }
}
