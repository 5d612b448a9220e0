import CCPU
import Foundation

/// What this CPU can run, read from cpuid and XCR0 (a flag counts only when the OS also saves the
/// registers it needs), plus the model name for benchmark records.
public struct CPUFeatures: Sendable, Equatable {
    public var avx2 = false, fma = false, f16c = false, bmi1 = false, bmi2 = false
    /// AVX-512 F + BW + DQ + VL: what OpenBLAS's SkylakeX kernels and oneDNN's avx512_core need.
    public var avx512 = false
    public var avx512VNNI = false, avx512BF16 = false, avxVNNI = false
    /// AMX-TILE and AMX-BF16 (Sapphire Rapids and later), OS-enabled in XCR0.
    public var amxBF16 = false
    public var modelName = "unknown"

    public static let current = CPUFeatures.probe()

    /// The ISA flags as /proc/cpuinfo spells them, for benchmark records.
    public var flagNames: [String] {
        var names: [String] = []
        if avx2 { names.append("avx2") }
        if fma { names.append("fma") }
        if avx512 { names += ["avx512f", "avx512bw", "avx512dq", "avx512vl"] }
        if avx512VNNI { names.append("avx512_vnni") }
        if avxVNNI { names.append("avx_vnni") }
        if avx512BF16 { names.append("avx512_bf16") }
        if amxBF16 { names += ["amx_tile", "amx_bf16"] }
        return names
    }

    static func probe() -> CPUFeatures {
        var f = CPUFeatures()
        f.modelName = cpuModelName() ?? "unknown"
        #if arch(x86_64)
        var r: [UInt32] = [0, 0, 0, 0]
        guard apo_cpuid(1, 0, &r) != 0 else { return f }
        let osxsave = r[2] & (1 << 27) != 0, avx = r[2] & (1 << 28) != 0
        f.fma = r[2] & (1 << 12) != 0
        f.f16c = r[2] & (1 << 29) != 0
        let xcr0 = osxsave ? apo_xgetbv0() : 0
        let ymmSaved = xcr0 & 0x6 == 0x6, zmmSaved = xcr0 & 0xE6 == 0xE6, tilesSaved = xcr0 & 0x60000 == 0x60000
        guard apo_cpuid(7, 0, &r) != 0 else { return f }
        let ebx7 = r[1], ecx7 = r[2], edx7 = r[3]
        f.avx2 = avx && ymmSaved && ebx7 & (1 << 5) != 0
        f.bmi1 = ebx7 & (1 << 3) != 0
        f.bmi2 = ebx7 & (1 << 8) != 0
        let avx512Bits: UInt32 = (1 << 16) | (1 << 17) | (1 << 30) | (1 << 31)  // F, DQ, BW, VL
        f.avx512 = zmmSaved && ebx7 & avx512Bits == avx512Bits
        f.avx512VNNI = f.avx512 && ecx7 & (1 << 11) != 0
        f.amxBF16 = tilesSaved && edx7 & (1 << 22) != 0 && edx7 & (1 << 24) != 0
        if apo_cpuid(7, 1, &r) != 0 {
            f.avxVNNI = f.avx2 && r[0] & (1 << 4) != 0
            f.avx512BF16 = f.avx512 && r[0] & (1 << 5) != 0
        }
        #endif
        return f
    }

    static func cpuModelName() -> String? {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":") else { return nil }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}
