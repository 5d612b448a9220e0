/// McNemar's exact test for two classifiers judged on the same items (two reward models on the
/// same test pairs): only the discordant items carry information — `leftOnly` items the left model
/// gets right and the right model wrong, `rightOnly` the reverse. Under "equally accurate" each
/// discordant item is a fair coin, so the two-sided p-value is
/// `min(1, 2 · P(X ≤ min(leftOnly, rightOnly)))`, X ~ Binomial(leftOnly + rightOnly, ½) — what
/// `statsmodels.stats.contingency_tables.mcnemar(exact=True)` and `scipy.stats.binomtest(k, n, 0.5)`
/// give. No discordant item: p = 1 (nothing tells the models apart).
public struct McNemarTest: Codable, Equatable, Sendable {
    /// Items the left model gets right and the right model wrong.
    public var leftOnly: Int
    /// Items the right model gets right and the left model wrong.
    public var rightOnly: Int
    public var pValue: Double

    enum CodingKeys: String, CodingKey {
        case leftOnly = "left_only", rightOnly = "right_only", pValue = "p_value"
    }

    public init(leftOnly: Int, rightOnly: Int) throws {
        guard leftOnly >= 0, rightOnly >= 0 else {
            throw StatisticsError.outOfRange(what: "McNemar counts must not be negative (\(leftOnly), \(rightOnly))")
        }
        self.leftOnly = leftOnly
        self.rightOnly = rightOnly
        let discordant = leftOnly + rightOnly
        let tail = try Binomial.lowerTail(min(leftOnly, rightOnly), n: discordant, p: 0.5)
        pValue = discordant == 0 ? 1 : min(1, 2 * tail)
    }

    /// Counts the discordant items of two paired right/wrong vectors.
    public init(left: [Bool], right: [Bool], what: String) throws {
        guard left.count == right.count else {
            throw StatisticsError.unpaired(what: what, left: left.count, right: right.count)
        }
        guard !left.isEmpty else { throw StatisticsError.empty(what: what) }
        let pairs = zip(left, right)
        try self.init(leftOnly: pairs.filter { $0 && !$1 }.count, rightOnly: pairs.filter { !$0 && $1 }.count)
    }
}
