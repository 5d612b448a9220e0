import COpenBLAS

/// `C = alpha · op(A) · op(B) + beta · C`, row-major, in the given precision: every product of the
/// linears and the LM head goes through here, so the arithmetic is one choice (attention's small
/// per-head products call sgemm directly and stay fp32).
///
/// - A: `[m, k]` (stored `[k, m]` when `transA`), B: `[k, n]` (stored `[n, k]` when `transB`),
///   C: `[m, n]`; `lda`, `ldb`, `ldc` are the row strides of the stored matrices, as in cblas.
/// - threads: how many threads the product is spread over. The count travels with the call, not
///   in process-wide state: OpenBLAS's own count is global to the process, and its results depend
///   on it (for about one shape in six of the model's, measured), so two computations in one process
///   that wanted different counts would change each other's bits. OpenBLAS therefore always runs
///   single-threaded here (`OpenBLASThreads.pinToOne`), and an fp32 product is cut into blocks of
///   rows (or of columns, when there are few rows), one sgemm per block: the same blocks, hence the
///   same bits, for the same shape and count. oneDNN's count (OpenMP's) is per calling thread.
@inline(__always)
public func matrixProduct(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, precision: ComputePrecision, threads: Int = 1
) {
    switch precision {
    case .fp32:
        OpenBLASThreads.pinToOne()
        let blocks = ProductBlocks(m: m, n: n, threads: threads)
        parallelFor(blocks.count, threads: blocks.count) { range in
            for block in range {
                let (rows, columns) = blocks.block(block)
                let aBlock = transA ? a + rows.lowerBound : a + rows.lowerBound * lda
                let bBlock = transB ? b + columns.lowerBound * ldb : b + columns.lowerBound
                cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                            Int32(rows.count), Int32(columns.count), Int32(k), alpha, aBlock, Int32(lda),
                            bBlock, Int32(ldb), beta, c + rows.lowerBound * ldc + columns.lowerBound, Int32(ldc))
            }
        }
    case .bf16:
        OneDNNMatmul.setThreads(max(1, threads))
        let shape = OneDNNMatmul.Shape(transA: transA, transB: transB, m: m, n: n, k: k,
                                       lda: lda, ldb: ldb, ldc: ldc, alpha: alpha, beta: beta)
        OneDNNMatmul.shared.multiply(shape, a: a, b: b, c: c)
    }
}

/// How an fp32 product `[m, n]` is cut over threads: a function of the shape and the count only.
/// Rows first (each block a contiguous slab of C); columns when there are too few rows to give
/// every thread a useful slab (the LM head over a few rows, `[rows, 49152]`).
struct ProductBlocks {
    let count: Int
    private let m: Int, n: Int, byRows: Bool

    /// Below this many rows (columns) per block, the hand-over costs more than it saves.
    static let minimumRows = 32
    static let minimumColumns = 64

    init(m: Int, n: Int, threads: Int) {
        self.m = m
        self.n = n
        let byRowCount = min(max(1, threads), m / Self.minimumRows)
        let byColumnCount = min(max(1, threads), n / Self.minimumColumns)
        byRows = byRowCount >= byColumnCount
        count = max(1, byRows ? byRowCount : byColumnCount)
    }

    /// The rows and columns of block `index`.
    func block(_ index: Int) -> (rows: Range<Int>, columns: Range<Int>) {
        let total = byRows ? m : n
        let part = total * index / count ..< total * (index + 1) / count
        return byRows ? (part, 0..<n) : (0..<m, part)
    }
}

/// OpenBLAS's thread count, which is global to the process: kept at one (see `matrixProduct`).
public enum OpenBLASThreads {
    private static let pinned: Void = { openblas_set_num_threads(1) }()

    /// Sets the count to one the first time; a caller that changes it (a peer benchmark of
    /// OpenBLAS itself) must put it back with `restoreToOne`.
    @inline(__always)
    public static func pinToOne() { _ = pinned }

    public static func restoreToOne() { openblas_set_num_threads(1) }
}
