import Foundation

/// The directory digest rule of `FileDigest.digest(ofDirectory:)`, recomputed by the shell
/// (find, sort in the C locale, sha256sum, wc) so the tests check the rule, not the Swift code
/// against itself: sha256 over `<relative path> NUL <hex sha256 of the file> LF` for every file,
/// in byte order of the paths; the size is the files' total.
enum DirectoryDigestOracle {
    static let script = #"""
        set -eu
        cd "$1"
        if command -v sha256sum >/dev/null; then hash() { sha256sum | cut -d' ' -f1; }
        else hash() { shasum -a 256 | cut -d' ' -f1; }; fi
        list=$(find -L . -type f | sed 's|^\./||' | LC_ALL=C sort)
        digest=$(printf '%s\n' "$list" | while IFS= read -r f; do
            [ -n "$f" ] || continue
            printf '%s\0%s\n' "$f" "$(hash < "$f")"
        done | hash)
        total=$(find -L . -type f -exec cat {} + | wc -c)
        echo "$digest $((total))"
        """#

    struct Failure: Error, CustomStringConvertible { let description: String }

    static func digest(of directory: URL) throws -> (sha256: String, size: Int64) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script, "oracle", directory.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let fields = output.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard process.terminationStatus == 0, fields.count == 2, fields[0].count == 64, let size = Int64(fields[1]) else {
            throw Failure(description: "digest oracle failed (status \(process.terminationStatus)): \(output) \(errors)")
        }
        return (fields[0], size)
    }
}
