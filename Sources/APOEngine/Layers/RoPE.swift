import Foundation

/// Rotary position embedding in Hugging Face's "split halves" layout: within each head of
/// `headDim`, element `i` (i < headDim/2) pairs with element `i + headDim/2`.
///
/// GGUF files store Q/K rows permuted for the "adjacent pairs" layout; loaders undo that at load
/// time (see `RoPELayout`), so this kernel is the only rotation in the engine.
public struct RoPETable: Sendable {
    public let headDim: Int
    public let maxPositions: Int
    /// `[maxPositions, headDim/2]` each.
    public let cos: [Float]
    public let sin: [Float]

    public init(headDim: Int, maxPositions: Int, theta: Float) {
        let half = headDim / 2
        var c = [Float](repeating: 0, count: maxPositions * half)
        var s = [Float](repeating: 0, count: maxPositions * half)
        for p in 0..<maxPositions {
            for i in 0..<half {
                // Computed in double: fp32 pow/cos at large positions drift from PyTorch's values.
                let freq = 1.0 / pow(Double(theta), Double(2 * i) / Double(headDim))
                let angle = Double(p) * freq
                c[p * half + i] = Float(Foundation.cos(angle))
                s[p * half + i] = Float(Foundation.sin(angle))
            }
        }
        self.headDim = headDim
        self.maxPositions = maxPositions
        cos = c
        sin = s
    }
}

/// Rotates `x` in place. x: `[rows, heads, headDim]`; positions: `[rows]` (each < table.maxPositions).
public func ropeForward(
    x: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows: Int, heads: Int,
    table: RoPETable
) {
    ropeRotate(x, positions: positions, rows: rows, heads: heads, table: table, sinSign: 1)
}

/// Backward of `ropeForward`, in place: the rotation is orthogonal, so the gradient w.r.t. the
/// unrotated input is the gradient rotated by the opposite angle.
/// dx: `[rows, heads, headDim]` (gradient w.r.t. the rotated values on entry, w.r.t. the inputs on exit).
public func ropeBackward(
    dx: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows: Int, heads: Int,
    table: RoPETable
) {
    ropeRotate(dx, positions: positions, rows: rows, heads: heads, table: table, sinSign: -1)
}

/// The rotation both passes apply, by each position's angle (`sinSign` 1) or its opposite (−1):
/// pairs (i, i + headDim/2), Hugging Face's "split halves" layout.
@inline(__always)
func ropeRotate(_ x: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>, rows: Int, heads: Int,
                table: RoPETable, sinSign: Float) {
    let d = table.headDim
    let half = d / 2
    table.cos.withUnsafeBufferPointer { cosTable in
        table.sin.withUnsafeBufferPointer { sinTable in
            for r in 0..<rows {
                let base = Int(positions[r]) * half
                for h in 0..<heads {
                    let v = x + (r * heads + h) * d
                    for i in 0..<half {
                        let c = cosTable[base + i], s = sinSign * sinTable[base + i]
                        let a = v[i], b = v[i + half]
                        v[i] = a * c - b * s
                        v[i + half] = b * c + a * s
                    }
                }
            }
        }
    }
}
