/// RMSNorm: `out = inp / sqrt(mean(inp²) + eps) * weight`, row by row.
///
/// - inp, out: `[rows, dim]` (may alias); weight: `[dim]`;
/// - rstd: optional `[rows]`, receives `1/sqrt(mean(inp²)+eps)` per row — what the backward pass needs.
public func rmsNormForward(
    out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>?,
    inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, dim: Int, eps: Float
) {
    for r in 0..<rows {
        let x = inp + r * dim
        let y = out + r * dim
        var sumSquares: Float = 0
        for i in 0..<dim { sumSquares += x[i] * x[i] }
        let s = 1 / (sumSquares / Float(dim) + eps).squareRoot()
        rstd?[r] = s
        for i in 0..<dim { y[i] = x[i] * s * weight[i] }
    }
}
