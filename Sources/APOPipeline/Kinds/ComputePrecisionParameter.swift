import APOEngine
import APOJSON

extension ParameterSpec {
    /// The `precision` parameter of every kind whose matrix products run through the engine's
    /// training graph (train-rm, train-llm, dpo, score, evaluate).
    public static let precision = ParameterSpec(
        "precision", .string, default: .string("auto"), allowedValues: ["auto", "fp32", "bf16"],
        help: "matrix products: bf16 (bf16 inputs, fp32 accumulation; fp32 weights, optimiser, norms and loss), "
            + "fp32, or auto (bf16 where the CPU has AVX512-BF16 or AMX, else fp32)")
}

/// The reading of a job's `precision` parameter ("auto", "fp32", "bf16") on this machine.
public enum PrecisionParameter {
    public static func resolve(_ params: [String: JSONValue]) throws -> ComputePath {
        let value = params[ParameterSpec.precision.name]?.stringValue ?? "auto"
        if value == "auto" { return try ComputePath.resolve(nil) }
        guard let precision = ComputePrecision(rawValue: value) else {
            let allowed = ParameterSpec.precision.allowedValues!.joined(separator: ", ")
            throw JobParameterError.invalid(name: "precision", message: "\"\(value)\" is not one of \(allowed)")
        }
        return try ComputePath.resolve(precision)
    }
}

extension JobContext {
    /// The compute path this job's `precision` asks for on this machine. The worker resolves
    /// "auto" before it computes the memo key, so a kind sees "fp32" or "bf16" there; in-process
    /// runs (`apoctl rm train`, …) resolve it here.
    public func computePath() throws -> ComputePath { try PrecisionParameter.resolve(params) }
}
