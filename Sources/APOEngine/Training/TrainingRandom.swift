import Foundation

/// The seeded, serialisable random source of training (head init, data shuffling): the same
/// SplitMix64 that generation draws from, with the draws training needs.
public typealias TrainingRandom = SplitMix64

extension SplitMix64 {
    /// Standard normal (Box–Muller; one draw per call, the second value is discarded for simplicity).
    public mutating func nextNormal() -> Double {
        let u1 = max(nextUniform(), 0x1.0p-60), u2 = nextUniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Fisher–Yates permutation of `0..<count`.
    public mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        return order
    }
}
