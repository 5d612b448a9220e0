import APOPipeline
import Foundation

/// What the report derives from the evaluations' intervals and per-unit outcomes: evaluations of
/// one job grouped over matrix cells (seeds), and the APO − baseline comparisons per round that
/// the forest plots draw. A run without matrix cells has groups of one and shows the single run's
/// intervals; groups of several show the mean and spread over seeds and pool the paired units.
extension RunReport {
    /// One evaluate job of the pipeline, over every matrix cell that ran it.
    struct EvaluationGroup {
        /// The job key without its matrix cell (`r1.evaluate_apo` for `seed=2/r1.evaluate_apo`).
        var jobKey: String
        var cells: [(cell: String, evaluation: EvaluateKind.Evaluation)]
        var round: Int { cells[0].evaluation.round }
        var arm: String { cells[0].evaluation.arm }
    }

    /// One row of a forest plot: an APO − baseline difference with its interval.
    struct ForestRow {
        var label: String
        var interval: IntervalEstimate
        /// What else a reader needs: the test, the units, how many seeds were pooled.
        var detail: String
    }

    /// "seed=2/r1.evaluate_apo" → ("seed=2", "r1.evaluate_apo"); a key without a cell → ("", key).
    static func splitCell(_ key: String) -> (cell: String, job: String) {
        guard let slash = key.lastIndex(of: "/") else { return ("", key) }
        return (String(key[..<slash]), String(key[key.index(after: slash)...]))
    }

    var evaluationGroups: [EvaluationGroup] {
        var groups: [EvaluationGroup] = []
        for (key, evaluation) in evaluations {
            let (cell, job) = RunReport.splitCell(key)
            if let i = groups.firstIndex(where: { $0.jobKey == job }) {
                groups[i].cells.append((cell, evaluation))
            } else {
                groups.append(EvaluationGroup(jobKey: job, cells: [(cell, evaluation)]))
            }
        }
        return groups
    }

    /// Per matrix cell of an APO evaluation: the APO RM's and that cell's base RM's outcomes on
    /// the same test pairs (the base RM of the same cell, else one shared by every cell).
    private func apoAndBaseOutcomes(_ group: EvaluationGroup, bases: [(cell: String, evaluation: EvaluateKind.Evaluation)])
        -> [(cell: String, apo: [Bool], base: [Bool], pairsFile: String?)] {
        group.cells.compactMap { cell, evaluation in
            guard let apo = evaluation.rm.first(where: { $0.label == "apo" }),
                  let base = (bases.first { $0.cell == cell } ?? bases.first { $0.cell.isEmpty }),
                  let baseRM = base.evaluation.rm.first(where: { $0.label == "base" }),
                  base.evaluation.testPairs == evaluation.testPairs,
                  let left = try? EvaluateKind.outcomes(from: apo.pairOutcomes ?? "", file: group.jobKey),
                  let right = try? EvaluateKind.outcomes(from: baseRM.pairOutcomes ?? "", file: "base RM"),
                  !left.isEmpty, left.count == right.count else { return nil }
            return (cell, left, right, evaluation.testPairs)
        }
    }

    private var baseEvaluations: [(cell: String, evaluation: EvaluateKind.Evaluation)] {
        evaluationGroups.flatMap { g in g.cells.filter { $0.evaluation.rm.contains { $0.label == "base" } } }
    }

    /// Per round, the APO RM's accuracy minus the base RM's on the same test pairs, in points.
    var rmForestRows: [ForestRow] {
        let bases = baseEvaluations
        var rows: [ForestRow] = []
        for group in evaluationGroups where group.arm == "apo" && group.round > 0 {
            let perCell = apoAndBaseOutcomes(group, bases: bases)
            guard !perCell.isEmpty, let c = try? SeedAggregation.pooledAccuracyComparison(
                perCell.map { ($0.apo, $0.base) },
                sharedUnits: Set(perCell.map(\.pairsFile)).count == 1 && Set(perCell.map { $0.apo.count }).count == 1,
                what: "APO RM vs base RM") else { continue }
            let seeds = perCell.count > 1 ? "\(perCell.count) seeds pooled, " : ""
            rows.append(ForestRow(label: "round \(group.round)", interval: c.difference.scaled(by: 100),
                                  detail: seeds + "\(c.pairs) pairs, McNemar p = \(String(format: "%.3f", c.mcnemar.pValue)) (\(c.mcnemar.leftOnly)/\(c.mcnemar.rightOnly))"))
        }
        return rows
    }

    /// Over several matrix cells, each cell's own APO RM − base RM comparison (the forest plot
    /// shows them pooled), one line each.
    var rmPerCellComparisonLines: [String] {
        let bases = baseEvaluations
        return evaluationGroups.filter { $0.arm == "apo" && $0.round > 0 && $0.cells.count > 1 }.flatMap { group in
            apoAndBaseOutcomes(group, bases: bases).compactMap { cell in
                guard let c = try? PairedAccuracyComparison(left: cell.apo, right: cell.base, what: "APO RM vs base RM") else { return nil }
                return "\(cell.cell): round \(group.round), RM apo − RM base: " + differenceCell(c.difference.scaled(by: 100), points: true)
                    + String(format: ", McNemar exact p = %.3f (%d/%d discordant pairs)", c.mcnemar.pValue,
                             c.mcnemar.leftOnly, c.mcnemar.rightOnly)
            }
        }
    }

    /// Per round, the APO policy's reward minus the baseline policy's on the same test queries.
    var policyForestRows: [ForestRow] {
        var rows: [ForestRow] = []
        for group in evaluationGroups where group.arm == "apo" && group.round > 0 {
            let wins = group.cells.compactMap { $0.evaluation.policy?.winRates.first { $0.against == "baseline" } }
            guard wins.count == group.cells.count, !wins.isEmpty else { continue }
            if wins.count == 1, let d = wins[0].rewardDifference {
                rows.append(ForestRow(label: "round \(group.round)", interval: d, detail: "\(wins[0].queries) queries"))
                continue
            }
            let perCell = wins.compactMap(\.rewardDifferences)
            guard perCell.count == wins.count else { continue }
            let shared = Set(perCell.map { $0.keys.sorted() }).count == 1
            let values = perCell.map { d in d.keys.sorted().map { d[$0]! } }
            guard let d = try? SeedAggregation.pooledDifference(values, sharedUnits: shared, what: "reward difference") else { continue }
            rows.append(ForestRow(label: "round \(group.round)", interval: d,
                                  detail: "\(perCell.count) seeds pooled, \(values[0].count) queries each"))
        }
        return rows
    }

    /// Every headline figure of one evaluation by name, for the spread over seeds.
    static func figures(_ e: EvaluateKind.Evaluation) -> [String: Double] {
        var f: [String: Double] = [:]
        for r in e.rm {
            for (name, value) in [("accuracy", r.accuracy), ("average_score", r.averageScore), ("ece", r.ece),
                                  ("ace", r.ace), ("mce", r.mce)] { f["rm.\(r.label).\(name)"] = value }
        }
        if let p = e.policy {
            f["policy.average_reward"] = p.averageReward
            for w in p.winRates {
                f["policy.win_rate.\(w.against)"] = w.winRate
                if let d = w.rewardDifference { f["policy.reward_difference.\(w.against)"] = d.estimate }
            }
        }
        return f
    }

    /// Spread over the cells of a group of several; nil for a group of one (it shows intervals).
    static func spreads(_ group: EvaluationGroup) -> [String: SeedAggregation.Spread]? {
        guard group.cells.count > 1 else { return nil }
        return try? SeedAggregation.spreads(group.cells.map { figures($0.evaluation) })
    }
}
