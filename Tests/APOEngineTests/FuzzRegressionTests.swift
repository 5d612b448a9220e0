import Foundation
import Testing
@testable import APOEngine

/// Inputs kept from fuzzing (`scripts/fuzz`, README "Reliability: fuzzing"): every file under
/// `Fixtures/fuzz-regressions/<target>/` is fed to the reader that target fuzzes, which must throw its
/// own error type or parse cleanly — never trap. `crash-*`/`oom-*`/`timeout-*` files are inputs that
/// once crashed or hung it; `corpus-*` files are inputs kept from the corpus for coverage.
struct FuzzRegressionTests {
    static func inputs(_ target: String) throws -> [URL] {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz-regressions/\(target)")
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        #expect(!files.isEmpty, "no regression inputs in \(dir.path)")
        return files
    }

    @Test func ggufInputsParseOrThrowModelFileErrors() throws {
        for url in try Self.inputs("gguf") {
            do {
                let file = try GGUFFile(path: url.path)
                _ = try? LlamaConfig(gguf: file)
                if let data = try? file.tokenizerData() { _ = try? makeModelTokenizer(data, vocabSize: data.tokens.count, file: url.path) }
                _ = try ModelLoader.load(path: url.path, threads: 1)
            } catch is ModelFileError {
            } catch is TokenizerError {
            } catch {
                Issue.record("\(url.lastPathComponent): unexpected \(type(of: error)): \(error)")
            }
        }
    }

    @Test func safetensorsInputsParseOrThrowModelFileErrors() throws {
        for url in try Self.inputs("safetensors") {
            do {
                let file = try SafetensorsFile(path: url.path)
                for t in file.tensors where t.count <= 1 << 20 { _ = try? file.floats(t.name) }
            } catch is ModelFileError {
            } catch {
                Issue.record("\(url.lastPathComponent): unexpected \(type(of: error)): \(error)")
            }
        }
    }

    /// A SentencePiece vocabulary made from SmolLM2's tokens, as the tokenizer fuzz target builds it
    /// (`Fuzz/tokenizer.swift`): "Ġ" → "▁", rank → score, plus the 256 `<0xNN>` byte tokens.
    static func sentencePieceFromSmolLM2(_ byteLevel: any Tokenizer) throws -> any Tokenizer {
        var tokens = ["<unk>", "<s>", "</s>"]
        var types: [Int32] = [TokenType.unknown.rawValue, TokenType.control.rawValue, TokenType.control.rawValue]
        var scores: [Float] = [0, 0, 0]
        for b in 0..<256 {
            tokens.append("<0x" + String(format: "%02X", b) + ">"); types.append(TokenType.byte.rawValue); scores.append(0)
        }
        var seen = Set(tokens)
        for (i, t) in byteLevel.data.tokens.enumerated() where byteLevel.data.tokenTypes[i] == TokenType.normal.rawValue {
            guard let text = String(validating: decodeByteLevel(t), as: UTF8.self), !text.isEmpty else { continue }
            let piece = text.replacingOccurrences(of: " ", with: "\u{2581}")
            guard seen.insert(piece).inserted else { continue }
            tokens.append(piece); types.append(TokenType.normal.rawValue); scores.append(-Float(i))
        }
        return try SentencePieceBPE(TokenizerData(model: "llama", tokens: tokens, tokenTypes: types, scores: scores,
                                                  bosID: 1, eosID: 2, unknownID: 0, addBOS: false))
    }

    /// decode(encode(s)) == s byte for byte on every kept input (read as UTF-8 with U+FFFD for bad
    /// bytes), for SmolLM2's byte-level BPE (unless s has a byte its vocabulary lacks) and the
    /// SentencePiece vocabulary above (unless s has a literal "▁", which SentencePiece reads as a space).
    @Test func tokenizerInputsRoundTrip() throws {
        let byteLevel = try ModelLoader.load(path: try ModelFilesTestSupport.smolLMPath(), threads: 1).tokenizer
        let sentencePiece = try Self.sentencePieceFromSmolLM2(byteLevel)
        let unspellable = Set((0..<256).filter { byteLevel.id(ofToken: byteToUnicode[$0]) == nil }.map(UInt8.init))
        for url in try Self.inputs("tokenizer") {
            let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            for (tokenizer, roundTrips) in [(byteLevel, !text.utf8.contains(where: unspellable.contains)),
                                            (sentencePiece, !text.unicodeScalars.contains("\u{2581}"))] {
                let ids = tokenizer.encode(text, parseSpecial: false)
                #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
                if roundTrips {
                    #expect(Array(tokenizer.decode(ids).utf8) == Array(text.utf8), "\(url.lastPathComponent) with \(tokenizer.data.model)")
                }
                _ = tokenizer.encode(text, parseSpecial: true)
            }
        }
    }
}
