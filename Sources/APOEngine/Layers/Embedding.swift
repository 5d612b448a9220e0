/// Token embedding lookup. table: `[vocab, dim]`; tokens: `[count]`; out: `[count, dim]`.
public func embeddingForward(
    out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, count: Int,
    table: UnsafePointer<Float>, dim: Int
) {
    for t in 0..<count {
        (out + t * dim).update(from: table + Int(tokens[t]) * dim, count: dim)
    }
}

/// Backward of `embeddingForward`: scatter-ADDS each row of `dOut` into its token's row of `dTable`
/// (a token used twice receives both gradients). dOut: `[count, dim]`; dTable: `[vocab, dim]`.
public func embeddingBackward(
    dTable: UnsafeMutablePointer<Float>, dOut: UnsafePointer<Float>, tokens: UnsafePointer<Int32>,
    count: Int, dim: Int
) {
    for t in 0..<count {
        let row = dTable + Int(tokens[t]) * dim
        let g = dOut + t * dim
        for i in 0..<dim { row[i] += g[i] }
    }
}
