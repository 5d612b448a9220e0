/// `apoctl --db X submit FILE` read as `apoctl submit FILE --db X`: options every command takes,
/// typed before the command as `git -C DIR` and `kubectl --context C` users type them, move
/// behind it (ArgumentParser only reads a command's options after the command's name).
enum GlobalOptionOrder {
    /// Options that take a value, and flags, that `GlobalOptions` declares.
    static let valued: Set<String> = ["--db", "--server", "--token-file", "--ca-file"]
    static let flags: Set<String> = ["--json"]

    /// `arguments` without the program name. Leading global options go just before a `--`
    /// separator, or at the end; everything else keeps its order. A valued option missing its
    /// value is left where it is, for the parser to report.
    static func reordered(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            let name = arg.split(separator: "=", maxSplits: 1).first.map(String.init) ?? arg
            if flags.contains(arg) || (valued.contains(name) && arg.contains("=")) {
                leading.append(arg)
                i += 1
            } else if valued.contains(arg), i + 1 < arguments.count {
                leading += [arg, arguments[i + 1]]
                i += 2
            } else {
                break
            }
        }
        guard !leading.isEmpty, i < arguments.count else { return arguments }
        var rest = Array(arguments[i...])
        let end = rest.firstIndex(of: "--") ?? rest.endIndex
        rest.insert(contentsOf: leading, at: end)
        return rest
    }
}
