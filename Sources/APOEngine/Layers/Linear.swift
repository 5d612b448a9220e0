/// Linear layer without bias, PyTorch convention: `out = inp · weightᵀ`.
///
/// - inp: `[rows, inDim]`, weight: `[outDim, inDim]`, out: `[rows, outDim]` (all row-major).
/// With `accumulate`, the product is added into `out` instead of overwriting it. `precision` is the
/// products' arithmetic (see `ComputePrecision`); the gradients accumulate in fp32 either way.
/// `threads`: what the product is spread over (`matrixProduct`).
public func linearForward(
    out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rows: Int, inDim: Int, outDim: Int, accumulate: Bool = false, precision: ComputePrecision = .fp32, threads: Int = 1
) {
    matrixProduct(transB: true, m: rows, n: outDim, k: inDim, a: inp, lda: inDim, b: weight, ldb: inDim,
                  beta: accumulate ? 1 : 0, c: out, ldc: outDim, precision: precision, threads: threads)
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
    rows: Int, inDim: Int, outDim: Int, precision: ComputePrecision = .fp32, threads: Int = 1
) {
    if let dInp {
        matrixProduct(m: rows, n: inDim, k: outDim, a: dOut, lda: outDim, b: weight, ldb: inDim,
                      beta: 1, c: dInp, ldc: inDim, precision: precision, threads: threads)
    }
    if let dWeight {
        matrixProduct(transA: true, m: outDim, n: inDim, k: rows, a: dOut, lda: outDim, b: inp, ldb: inDim,
                      beta: 1, c: dWeight, ldc: inDim, precision: precision, threads: threads)
    }
}
