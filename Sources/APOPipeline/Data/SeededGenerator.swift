/// SplitMix64: a tiny seeded generator whose sequence is fixed forever (unlike the standard
/// library's shuffles, whose algorithm is not promised), so data splits never change.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }
    public init(seed: Int) { state = UInt64(bitPattern: Int64(seed)) }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0), by Lemire's multiply-and-reject.
    public mutating func nextIndex(below bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        while true {
            let m = next().multipliedFullWidth(by: b)
            if m.low >= (0 &- b) % b { return Int(m.high) }
        }
    }

    /// Fisher–Yates, with this generator's own index draws.
    public mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, nextIndex(below: i + 1))
        }
    }
}
