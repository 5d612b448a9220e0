import Foundation

/// Mapping a download URL's path to a file inside a run's artifact folder, and back. The rule
/// that matters: whatever the request says (`..`, `%2e%2e`, a symlink planted in the folder), the
/// file served is inside the run folder, or nothing is served.
enum ArtifactPaths {
    /// `path` relative to `root`, or nil when it is not below it.
    static func relative(_ path: String, to root: String) -> String? {
        let rootPath = URL(fileURLWithPath: root).standardizedFileURL.path
        let filePath = URL(fileURLWithPath: path).standardizedFileURL.path
        let prefix = rootPath.hasSuffix("/") ? rootPath : rootPath + "/"
        guard filePath.hasPrefix(prefix) else { return nil }
        return String(filePath.dropFirst(prefix.count))
    }

    /// The file `segments` names below `root`, with symlinks resolved on both sides; nil when a
    /// segment is empty, `.` or `..`, or the real file lies outside the real root.
    static func resolve(segments: [String], under root: String) -> URL? {
        guard !segments.isEmpty,
              segments.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("/") && !$0.contains("\0") })
        else { return nil }
        let realRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().standardizedFileURL
        var file = realRoot
        for segment in segments { file.appendPathComponent(segment) }
        let realFile = file.resolvingSymlinksInPath().standardizedFileURL
        guard relative(realFile.path, to: realRoot.path) != nil else { return nil }
        return realFile
    }

    /// Each segment percent-encoded for a URL path.
    static func urlEncoded(_ relativePath: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%")
        return relativePath.split(separator: "/").map {
            String($0).addingPercentEncoding(withAllowedCharacters: allowed) ?? String($0)
        }.joined(separator: "/")
    }
}
