import CCPU
import Foundation

/// The arithmetic a job's matrix products run with and the kernels that run them, resolved once
/// per request from the CPU, the environment (`APO_ISA`) and what the job asked for.
///
/// The path is recorded with each attempt and is part of the memo key (a result computed with one
/// arithmetic is never reused for another), and logged once per job.
public struct ComputePath: Sendable, Equatable, CustomStringConvertible {
    public let precision: ComputePrecision
    /// "amx-bf16", "avx512-bf16", or for fp32 "fp32-" + the OpenBLAS core ("fp32-cooperlake").
    public let isa: String
    public let openBLAS: OpenBLASCore.Selection
    /// What oneDNN dispatches to, for bf16 paths.
    public let oneDNNISA: String?

    /// What the memo key holds: every choice that changes the bits of a result.
    public var identity: String {
        [precision.rawValue, isa, oneDNNISA.map { "onednn-" + $0 } ?? "", "openblas-" + openBLAS.active]
            .filter { !$0.isEmpty }.joined(separator: "/")
    }

    public var description: String {
        var s = "precision \(precision.rawValue), isa \(isa)"
        if let oneDNNISA { s += " (oneDNN \(oneDNNISA))" }
        s += ", OpenBLAS core \(openBLAS.active)"
        if openBLAS.corrected { s += " (corrected from \(openBLAS.detected))" }
        if openBLAS.pinnedByEnvironment { s += " (set by OPENBLAS_CORETYPE)" }
        return s
    }

    /// `APO_ISA`: "fp32" forces the fp32 path, "avx512-bf16" keeps bf16 off AMX; unset or "amx-bf16"
    /// takes the best the CPU has.
    public enum Override: String, Sendable { case fp32, avx512BF16 = "avx512-bf16", amxBF16 = "amx-bf16" }

    public struct Unsupported: Error, CustomStringConvertible {
        public let description: String
    }

    /// Best bf16 path of this process, or nil when the CPU has no bf16 dot products (or APO_ISA=fp32).
    /// Made once: oneDNN's ISA cap must be set before its first primitive.
    static let bf16Path: (isa: String, oneDNN: String)? = {
        let cpu = CPUFeatures.current
        let override = ProcessInfo.processInfo.environment["APO_ISA"].flatMap(Override.init(rawValue:))
        if override == .fp32 { return nil }
        if cpu.amxBF16, override != .avx512BF16, apo_request_amx_permission() == 0 {
            return ("amx-bf16", OneDNNMatmul.effectiveISA)
        }
        guard cpu.avx512BF16 else { return nil }
        OneDNNMatmul.capAtAVX512BF16()  // no AMX: not on this CPU, refused by the kernel, or by request
        return ("avx512-bf16", OneDNNMatmul.effectiveISA)
    }()

    /// `requested` nil: bf16 where the CPU supports it, else fp32. An explicit bf16 on a CPU without
    /// bf16 support is an error (computing fp32 under a bf16 label would be silent); APO_ISA=fp32
    /// turns every request into fp32.
    public static func resolve(_ requested: ComputePrecision?) throws -> ComputePath {
        try checkEnvironment()
        let blas = OpenBLASCore.selection
        let forcedFP32 = ProcessInfo.processInfo.environment["APO_ISA"] == Override.fp32.rawValue
        if requested != .fp32, let bf16 = bf16Path {
            return ComputePath(precision: .bf16, isa: bf16.isa, openBLAS: blas, oneDNNISA: bf16.oneDNN)
        }
        if requested == .bf16 && !forcedFP32 {
            throw Unsupported(description: "precision bf16 needs a CPU with AVX512-BF16 or AMX-BF16; this one (\(CPUFeatures.current.modelName)) has neither — use precision: fp32")
        }
        return ComputePath(precision: .fp32, isa: "fp32-" + blas.active, openBLAS: blas, oneDNNISA: nil)
    }

    /// `APO_ISA` values other than the three named ones are a mistake worth stopping for.
    public static func checkEnvironment() throws {
        if let value = ProcessInfo.processInfo.environment["APO_ISA"], Override(rawValue: value) == nil {
            throw Unsupported(description: "APO_ISA=\(value) is not one of fp32, avx512-bf16, amx-bf16")
        }
    }
}
