/// The arithmetic of the matrix products.
///
/// - fp32: OpenBLAS sgemm; the same bits on every machine with the same OpenBLAS core and threads.
/// - bf16: inputs rounded to bfloat16 (8-bit mantissa), products accumulated in fp32 (oneDNN), as
///   PyTorch's CPU autocast does it. Weights, optimiser state, norms, softmax and losses stay fp32,
///   so a checkpoint is the same fp32 file either way.
public enum ComputePrecision: String, Codable, Sendable, CaseIterable {
    case fp32
    case bf16
}
