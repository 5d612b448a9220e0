import Foundation
import Yams

/// `$XDG_CONFIG_HOME/apo/config.yaml` (default `~/.config/apo/config.yaml`): defaults a user would
/// otherwise type on every command. Any other key is refused by name, so a typo is not silently
/// ignored.
///
/// ```yaml
/// db: postgres://apo@db.internal/apo   # or a path to an SQLite file
/// server: http://apo-head:8470         # or a remote apod's API (--db wins over it)
/// token_file: ~/.config/apo/token      # its bearer token, for submit/cancel/retry/resume
/// ca_file: ~/.config/apo/ca.crt        # an https server's CA, when the system does not trust it
/// ```
struct ApoctlConfig: Equatable {
    var db: String?
    var server: String?
    var tokenFile: String?
    var caFile: String?

    static let knownKeys = ["db", "server", "token_file", "ca_file"]

    static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return xdg + "/apo/config.yaml" }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config/apo/config.yaml").path
    }

    /// The file at `path`; an empty config when there is none. Errors name the file, line and key.
    static func load(path: String) throws -> ApoctlConfig {
        guard let data = FileManager.default.contents(atPath: path) else { return ApoctlConfig() }
        let text = String(decoding: data, as: UTF8.self)
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch let error as YamlError {
            throw CommandFailure(code: .usage, message: "error: \(path): \(error)")
        }
        guard let node else { return ApoctlConfig() }
        guard let mapping = node.mapping else {
            throw failure(path, node.mark, "expected a mapping of settings, e.g. `db: PATH_OR_URL`")
        }
        var config = ApoctlConfig()
        for (key, value) in mapping {
            let name = key.scalar?.string ?? "?"
            guard knownKeys.contains(name) else {
                throw failure(path, key.mark, "unknown setting '\(name)' (known: \(knownKeys.joined(separator: ", ")))")
            }
            guard let scalar = value.scalar, !scalar.string.isEmpty else {
                throw failure(path, value.mark ?? key.mark, "'\(name)' must be " + expected[name, default: "a value"])
            }
            switch name {
            case "server": config.server = scalar.string
            case "token_file": config.tokenFile = NSString(string: scalar.string).expandingTildeInPath
            case "ca_file": config.caFile = NSString(string: scalar.string).expandingTildeInPath
            default: config.db = scalar.string
            }
        }
        return config
    }

    private static let expected = [
        "db": "a path or a postgres:// URL", "server": "an http:// URL of apod --http", "token_file": "a path", "ca_file": "a path",
    ]

    private static func failure(_ path: String, _ mark: Mark?, _ message: String) -> CommandFailure {
        let at = mark.map { ":\($0.line):\($0.column)" } ?? ""
        return CommandFailure(code: .usage, message: "error: \(path)\(at): \(message)")
    }
}
