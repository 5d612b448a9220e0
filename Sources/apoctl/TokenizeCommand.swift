import APOEngine
import ArgumentParser
import Foundation

/// `apoctl model tokenize`: the token ids a model's own tokenizer gives a text, for checking prompts
/// and comparing with other tokenizers (llama.cpp's llama-tokenize prints the same ids).
struct ModelTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text under a model's tokenizer.",
        discussion: """
            The whole input is one text (a --file is read byte for byte, trailing newline included). \
            Plain output is the ids separated by spaces; --json prints {"ids": [...], "pieces": [...], \
            "count": N}, where each piece is the text one token decodes to.
            """)

    @Option(name: .long, help: "A .gguf file, or a model directory with tokenizer.json.")
    var model: String

    @Option(name: .long, help: "The text to tokenize.")
    var text: String?

    @Option(name: .long, help: "A UTF-8 file whose whole content is tokenized.")
    var file: String?

    @Flag(name: .long, help: "Print JSON with ids, per-token text and count.")
    var json = false

    @Flag(name: .long, help: "Recognise special-token strings such as <|im_start|> in the text.")
    var special = false

    func validate() throws {
        if (text == nil) == (file == nil) {
            throw ValidationError("give exactly one of --text or --file")
        }
    }

    func run() throws {
        let tokenizer = try Self.loadTokenizer(modelPath: model)
        let input: String
        if let text {
            input = text
        } else {
            let path = file!
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TokenizeCommandError("cannot read --file \(path)")
            }
            guard let s = String(data: data, encoding: .utf8) else {
                throw TokenizeCommandError("--file \(path) is not valid UTF-8")
            }
            input = s
        }
        let ids = tokenizer.encode(input, parseSpecial: special)
        if json {
            let pieces = ids.map { String(decoding: tokenizer.tokenBytes($0), as: UTF8.self) }
            let object: [String: Any] = ["ids": ids.map(Int.init), "pieces": pieces, "count": ids.count]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}

extension ModelTokenize {
    /// The tokenizer of a GGUF file (read from its metadata only, without loading weights) or of a
    /// model directory (`tokenizer.json`, the `TokenizerData` the engine writes there).
    static func loadTokenizer(modelPath: String) throws -> any Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory) else {
            throw TokenizeCommandError("--model \(modelPath): no such file or directory")
        }
        let data: TokenizerData
        if isDirectory.boolValue {
            let url = URL(fileURLWithPath: modelPath).appendingPathComponent("tokenizer.json")
            guard let bytes = FileManager.default.contents(atPath: url.path) else {
                throw TokenizeCommandError("--model \(modelPath) is a directory without a readable tokenizer.json")
            }
            do {
                data = try JSONDecoder().decode(TokenizerData.self, from: bytes)
            } catch {
                throw TokenizeCommandError("\(url.path) is not a tokenizer description: \(error)")
            }
        } else {
            data = try GGUFFile(path: modelPath).tokenizerData()
        }
        return try makeTokenizer(data)
    }
}

/// A failure after the arguments parsed (unreadable input, bad model file): printed without usage.
struct TokenizeCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
