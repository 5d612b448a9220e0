import Foundation
@testable import APOEngine

/// Paths and scratch files shared by the model-file tests.
enum ModelFilesTestSupport {
    /// The repository root: the first ancestor of this file holding `Package.swift`.
    static var repositoryRoot: URL {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) { return dir }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    }

    static let smolLMRelativePath = "data/models/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// The real SmolLM2 GGUF; throws (so the test fails, never skips) when it has not been fetched.
    static func smolLMPath() throws -> String {
        let path = repositoryRoot.appendingPathComponent(smolLMRelativePath).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw MissingModel(path: path)
        }
        return path
    }

    struct MissingModel: Error, CustomStringConvertible {
        let path: String
        var description: String {
            "model file \(path) is missing: run `.ci/run` or `apoctl model pull smollm2-135m-instruct` first"
        }
    }

    /// A fresh directory under the system temp dir; the caller removes it.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("apo-modelfiles-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Writes `bytes` to a temp file, runs `body` on its path, and removes it.
    static func withTemporaryFile<T>(_ bytes: [UInt8], name: String = "test.gguf", _ body: (String) throws -> T) throws -> T {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return try body(url.path)
    }

    /// The error `GGUFFile(path:)` throws for a file made of `bytes` (nil if it parses).
    static func ggufError(_ bytes: [UInt8]) throws -> ModelFileError? {
        try withTemporaryFile(bytes) { path in
            do {
                _ = try GGUFFile(path: path)
                return nil
            } catch let e as ModelFileError {
                return e
            }
        }
    }

    /// IEEE half bits of `x` (round to nearest even), written independently of the reader's converter.
    static func halfBits(_ x: Float) -> UInt16 {
        Float16(x).bitPattern
    }
}
