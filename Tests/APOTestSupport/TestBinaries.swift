import Foundation

/// Where the build put `apod` and `apoctl`, for tests that run the real executables.
public enum TestBinaries {
    public struct Missing: Error, CustomStringConvertible {
        public let description: String
    }

    /// The build products folder holding every one of `names`: next to the test bundle, or the
    /// package's `.build/debug` (found from `filePath`, a test file of the package).
    public static func directory(holding names: [String] = ["apod", "apoctl"], filePath: String = #filePath) throws -> URL {
        var candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        for bundle in Bundle.allBundles { candidates.append(bundle.bundleURL.deletingLastPathComponent()) }
        var dir = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                candidates.append(dir.appendingPathComponent(".build/debug"))
                break
            }
            dir = dir.deletingLastPathComponent()
        }
        for candidate in candidates
        where names.allSatisfy({ FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent($0).path) }) {
            return candidate
        }
        throw Missing(description: "\(names.joined(separator: "/")) not found in \(candidates.map(\.path)); run `swift build` first")
    }
}
