import COpenBLAS

/// Linear layer without bias, PyTorch convention: `out = inp · weightᵀ`.
///
/// - inp: `[rows, inDim]`, weight: `[outDim, inDim]`, out: `[rows, outDim]` (all row-major).
/// With `accumulate`, the product is added into `out` instead of overwriting it.
public func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inDim: Int, outDim: Int, accumulate: Bool = false
) {
    cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasTrans,
        Int32(rows), Int32(outDim), Int32(inDim),
        1, inp, Int32(inDim), weight, Int32(inDim),
        accumulate ? 1 : 0, out, Int32(outDim))
}

/// The plain triple loop `linearForward` must agree with; the reference for tests.
public func linearForwardNaive(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inDim: Int, outDim: Int, accumulate: Bool = false
) {
    for r in 0..<rows {
        for o in 0..<outDim {
            var sum: Double = 0
            for i in 0..<inDim { sum += Double(inp[r * inDim + i]) * Double(weight[o * inDim + i]) }
            out[r * outDim + o] = (accumulate ? out[r * outDim + o] : 0) + Float(sum)
        }
    }
}

/// Backward of `linearForward`; ADDS into the gradients (zeroing is the caller's step).
///
/// - dOut: `[rows, outDim]`, inp: `[rows, inDim]`, weight: `[outDim, inDim]`;
/// - dInp: optional `[rows, inDim]`, receives `+= dOut · weight` (nil below the lowest trainable layer);
/// - dWeight: optional `[outDim, inDim]`, receives `+= dOutᵀ · inp` (nil for frozen weights).
public func linearBackward(
    dInp: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?,
    dOut: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inDim: Int, outDim: Int
) {
    if let dInp {
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans,
            Int32(rows), Int32(inDim), Int32(outDim),
            1, dOut, Int32(outDim), weight, Int32(inDim),
            1, dInp, Int32(inDim))
    }
    if let dWeight {
        cblas_sgemm(
            CblasRowMajor, CblasTrans, CblasNoTrans,
            Int32(outDim), Int32(inDim), Int32(rows),
            1, dOut, Int32(outDim), inp, Int32(inDim),
            1, dWeight, Int32(inDim))
    }
}
