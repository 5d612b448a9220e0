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

/// Backward of `rmsNormForward`; ADDS into `dInp` and `dWeight`.
///
/// With `y = x · s · w` and `s = rstd`: `dw += dy · x · s` and
/// `dx += s · (dy·w) − s³/dim · x · Σ(dy·w·x)`.
/// - dOut, inp: `[rows, dim]`; rstd: `[rows]` saved by the forward pass; weight: `[dim]`;
/// - dInp: optional `[rows, dim]` (must not alias dOut); dWeight: optional `[dim]`.
public func rmsNormBackward(
    dInp: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
    dOut: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, rows: Int, dim: Int
) {
    for r in 0..<rows {
        let x = inp + r * dim
        let dy = dOut + r * dim
        let s = rstd[r]
        if let dWeight {
            for i in 0..<dim { dWeight[i] += dy[i] * x[i] * s }
        }
        if let dInp {
            let dx = dInp + r * dim
            var dot: Float = 0
            for i in 0..<dim { dot += dy[i] * weight[i] * x[i] }
            let k = s * s * s * dot / Float(dim)
            for i in 0..<dim { dx[i] += s * dy[i] * weight[i] - k * x[i] }
        }
    }
}
