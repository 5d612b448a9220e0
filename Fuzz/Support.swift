// Shared by every fuzz target (compiled into each fuzzer binary by scripts/fuzz; not part of the
// SwiftPM package, so `swift build` and `swift test` never see it).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One scratch file per fuzzer process, rewritten for every input (the readers under test take paths).
enum FuzzScratch {
    static let directory: String = {
        let dir = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/apo-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/apo-fuzz-\(getpid())") }
        return dir
    }()

    /// Writes `bytes` to `directory/name` and returns the path.
    static func write(_ data: UnsafePointer<UInt8>?, _ size: Int, name: String) -> String {
        let path = directory + "/" + name
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        var done = 0
        while done < size {
            let n = Glibc.write(fd, data! + done, size - done)
            precondition(n > 0, "cannot write \(path)")
            done += n
        }
        close(fd)
        return path
    }
}

/// A finding: the property under test does not hold. Crashes the fuzzer on purpose, with a message.
func fuzzFailure(_ message: String) -> Never {
    fputs("FUZZ PROPERTY VIOLATED: \(message)\n", stderr)
    abort()
}

/// `APO_FUZZ_WRITE_SEEDS=DIR fuzz-TARGET` writes that target's generated seed inputs into DIR and
/// exits instead of fuzzing (scripts/fuzz does this before the first run).
func writeSeedsIfAsked(_ make: () throws -> [(String, [UInt8])]) {
    guard let dir = ProcessInfo.processInfo.environment["APO_FUZZ_WRITE_SEEDS"] else { return }
    do {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, bytes) in try make() {
            try Data(bytes).write(to: URL(fileURLWithPath: dir).appendingPathComponent(name))
        }
    } catch {
        fputs("cannot write seeds into \(dir): \(error)\n", stderr)
        exit(1)
    }
    exit(0)
}

/// Deterministic filler values in [-0.5, 0.5).
func fillerFloats(_ n: Int, seed: UInt64) -> [Float] {
    var x = seed &+ 0x9E37_79B9_7F4A_7C15
    return (0..<n).map { _ in
        x = x &* 6364136223846793005 &+ 1442695040888963407
        return Float(x >> 40) / Float(1 << 24) - 0.5
    }
}
