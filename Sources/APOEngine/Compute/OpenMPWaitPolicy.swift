import Foundation

/// oneDNN parallelises with OpenMP (libgomp), whose idle threads spin by default. On a machine
/// whose cores are all busy — apod's workers share them, and the engine's own elementwise threads
/// run between products — the spinning threads take the cores the work needs: measured on 2 cores
/// with a build beside it, bf16 RM training fell to 109 tokens/s spinning against 244 passive.
/// libgomp reads `OMP_WAIT_POLICY` once, when it loads, so the executables set it and start
/// themselves again before anything else runs. A user's own setting is kept.
public enum OpenMPWaitPolicy {
    static let variable = "OMP_WAIT_POLICY"

    /// Call first thing in `main`: re-executes this program with `OMP_WAIT_POLICY=PASSIVE` when it is
    /// unset (the new image inherits it, and so do worker processes). Returns if exec fails.
    public static func ensurePassive() {
        guard ProcessInfo.processInfo.environment[variable] == nil else { return }
        setenv(variable, "PASSIVE", 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // exec failed (no /proc): run on with the spinning default rather than not at all.
        for p in argv { free(p) }
    }
}
