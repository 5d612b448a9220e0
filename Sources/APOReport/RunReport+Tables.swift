import APOPipeline
import Foundation

/// The RM and policy tables as plain cells, shared by the HTML and Markdown pages: one row per
/// evaluate job (and RM), its cells showing intervals for a single run or the spread over seeds
/// when the job ran in several matrix cells.
extension RunReport {
    static let rmHeader = ["round", "arm", "RM", "accuracy", "avg score", "ECE", "ACE", "MCE", "pairs"]

    var rmTableRows: [[String]] {
        var rows: [[String]] = []
        for group in evaluationGroups {
            let first = group.cells[0].evaluation
            let spreads = RunReport.spreads(group)
            for r in first.rm {
                func cell(_ name: String, _ value: Double, percent: Bool = false) -> String {
                    if let s = spreads?["rm.\(r.label).\(name)"] { return spreadCell(s, percent: percent) }
                    return percent ? rateCell(value, r.accuracyInterval) : num(value)
                }
                rows.append(["\(first.round)", first.arm, r.label, cell("accuracy", r.accuracy, percent: true),
                             cell("average_score", r.averageScore), cell("ece", r.ece), cell("ace", r.ace),
                             cell("mce", r.mce), "\(r.pairs)"])
            }
        }
        return rows
    }

    /// Paired comparisons of two RMs inside one evaluation (e.g. base vs testing), one line each.
    var rmComparisonLines: [String] {
        evaluationGroups.flatMap { group in
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

    /// Per evaluate job with a policy: round, arm, queries, average reward, and one text per
    /// other policy (win rate with interval and counts, reward difference).
    var policyTableRows: [(round: String, arm: String, queries: String, reward: String, wins: [String])] {
        var rows: [(round: String, arm: String, queries: String, reward: String, wins: [String])] = []
        for group in evaluationGroups {
            guard let p = group.cells[0].evaluation.policy else { continue }
            let spreads = RunReport.spreads(group)
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
            rows.append(("\(group.round)", group.arm, "\(p.queries)", reward, wins))
        }
        return rows
    }
}
