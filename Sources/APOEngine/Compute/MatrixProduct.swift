import COpenBLAS

/// `C = alpha · op(A) · op(B) + beta · C`, row-major, in the given precision: every product of the
/// linears and the LM head goes through here, so the arithmetic is one choice (attention's small
/// per-head products call sgemm directly and stay fp32).
///
/// - A: `[m, k]` (stored `[k, m]` when `transA`), B: `[k, n]` (stored `[n, k]` when `transB`),
///   C: `[m, n]`; `lda`, `ldb`, `ldc` are the row strides of the stored matrices, as in cblas.
@inline(__always)
public func matrixProduct(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, precision: ComputePrecision
) {
    switch precision {
    case .fp32:
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    case .bf16:
        let shape = OneDNNMatmul.Shape(transA: transA, transB: transB, m: m, n: n, k: k,
                                       lda: lda, ldb: ldb, ldc: ldc, alpha: alpha, beta: beta)
        OneDNNMatmul.shared.multiply(shape, a: a, b: b, c: c)
    }
}

/// Sets the threads both libraries use for the products the calling thread starts (OpenBLAS's
/// count is global, OpenMP's — oneDNN's — per calling thread).
public func setMatrixProductThreads(_ n: Int) {
    openblas_set_num_threads(Int32(max(1, n)))
    OneDNNMatmul.setThreads(max(1, n))
}
