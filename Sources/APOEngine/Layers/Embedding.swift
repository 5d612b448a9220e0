/// Token embedding lookup. table: `[vocab, dim]`; tokens: `[count]`; out: `[count, dim]`.
public func embeddingForward(
    out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, count: Int,
    table: UnsafePointer<Float>, dim: Int
) {
    for t in 0..<count {
        (out + t * dim).update(from: table + Int(tokens[t]) * dim, count: dim)
    }
}
