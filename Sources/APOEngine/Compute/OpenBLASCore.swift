import COpenBLAS
import Foundation

/// The kernel family a DYNAMIC_ARCH OpenBLAS picked for this CPU, checked against what the CPU can
/// run and corrected when it guessed low.
///
/// Debian's OpenBLAS 0.3.21 does not know the newest CPUs: it runs its Prescott kernels on current
/// Intel Xeons and its Haswell kernels on AMD Zen 4, both with AVX-512, at a half to an eighth of
/// the AVX-512 kernels' sgemm rate. OpenBLAS re-selects its core when `gotoblas_dynamic_quit` and
/// `gotoblas_dynamic_init` run with `OPENBLAS_CORETYPE` set, which is what `correctIfNeeded` does,
/// once per process and before any product runs. A user's own `OPENBLAS_CORETYPE` is left alone.
public enum OpenBLASCore {
    public struct Selection: Sendable, Equatable {
        /// What OpenBLAS chose by itself.
        public let detected: String
        /// What runs now (equal to `detected` unless corrected).
        public let active: String
        /// The user's `OPENBLAS_CORETYPE` chose the core (and is kept, even when the CPU runs better).
        public var pinnedByEnvironment = false
        public var corrected: Bool { detected != active }
    }

    /// The core OpenBLAS reports now (lower case, e.g. "haswell", "skylakex").
    public static var name: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p).lowercased()
    }

    /// The cores whose sgemm uses AVX-512 registers.
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

    /// Made once, on first use.
    public static let selection: Selection = correctIfNeeded(cpu: .current)

    static func correctIfNeeded(cpu: CPUFeatures) -> Selection {
        let detected = name
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] != nil {
            return Selection(detected: detected, active: detected, pinnedByEnvironment: true)
        }
        guard cpu.avx512, !avx512Cores.contains(detected),
              let handle = dlopen(nil, RTLD_NOW),
              let quit = dlsym(handle, "gotoblas_dynamic_quit"),
              let initialise = dlsym(handle, "gotoblas_dynamic_init")
        else { return Selection(detected: detected, active: detected) }
        typealias VoidFunction = @convention(c) () -> Void
        // Cooper Lake's kernels are SkylakeX's plus bf16 ones; name the closest match.
        setenv("OPENBLAS_CORETYPE", cpu.avx512BF16 ? "COOPERLAKE" : "SKYLAKEX", 1)
        unsafeBitCast(quit, to: VoidFunction.self)()
        unsafeBitCast(initialise, to: VoidFunction.self)()
        unsetenv("OPENBLAS_CORETYPE")  // child processes make their own check
        return Selection(detected: detected, active: name)
    }
}
