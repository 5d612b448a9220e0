// libFuzzer target: the GGUF reader, its tokenizer metadata and the model loader on any bytes.
// Property: every input parses or throws ModelFileError/TokenizerError; nothing traps, overflows,
// reads out of bounds (ASan) or allocates without bound.
import Foundation
@testable import APOEngine

let modelPath = ProcessInfo.processInfo.environment["APO_FUZZ_MODEL"] ?? "data/models/SmolLM2-135M-Instruct.Q4_1.gguf"

/// Seeds: the real model's first 64 KiB (a truncated file), and small complete models that reuse
/// its metadata and the head of its vocabulary, with F32, Q8_0 and Q4_1 tensors.
func ggufSeeds() throws -> [(String, [UInt8])] {
    let real = try GGUFFile(path: modelPath)
    let raw = try Data(contentsOf: URL(fileURLWithPath: modelPath), options: .alwaysMapped)
    var seeds: [(String, [UInt8])] = [("smollm2-head-64k.gguf", Array(raw.prefix(65536)))]

    let vocab = 300
    let tokens = Array(real.metadata["tokenizer.ggml.tokens"]!.arrayValue!.prefix(vocab))
    let tokenSet = Set(tokens.compactMap(\.stringValue))
    let merges = real.metadata["tokenizer.ggml.merges"]!.arrayValue!.filter { m in
        let parts = m.stringValue!.split(separator: " ", maxSplits: 1).map(String.init)
        return parts.count == 2 && tokenSet.contains(parts[0]) && tokenSet.contains(parts[1]) && tokenSet.contains(parts[0] + parts[1])
    }
    let config = LlamaConfig(vocabSize: vocab, hiddenSize: 32, intermediateSize: 32, layerCount: 1, headCount: 4,
                             kvHeadCount: 2, headDim: 8, ropeTheta: 10000, rmsNormEps: 1e-5, tiedEmbeddings: true,
                             contextLength: 64)
    for type in [GGMLType.f32, .q8_0, .q4_1] {
        var w = GGUFWriter()
        for key in real.metadataKeys {
            switch key {
            case "tokenizer.ggml.tokens": w.metadata.append((key, .array(.string, tokens)))
            case "tokenizer.ggml.token_type":
                w.metadata.append((key, .array(.int32, Array(real.metadata[key]!.arrayValue!.prefix(vocab)))))
            case "tokenizer.ggml.merges": w.metadata.append((key, .array(.string, merges)))
            case "llama.embedding_length": w.metadata.append((key, .uint32(32)))
            case "llama.block_count": w.metadata.append((key, .uint32(1)))
            case "llama.feed_forward_length": w.metadata.append((key, .uint32(32)))
            case "llama.attention.head_count": w.metadata.append((key, .uint32(4)))
            case "llama.attention.head_count_kv": w.metadata.append((key, .uint32(2)))
            case "llama.rope.dimension_count": w.metadata.append((key, .uint32(8)))
            case "llama.context_length": w.metadata.append((key, .uint32(64)))
            case "llama.vocab_size": w.metadata.append((key, .uint32(UInt32(vocab))))
            default: w.metadata.append((key, real.metadata[key]!))
            }
        }
        var n: UInt64 = 0
        try ModelLoader.forEachExpectedTensor(config) { name, shape in
            n += 1
            let count = shape.reduce(1, *)
            let values = fillerFloats(count, seed: n)
            let ggufName = ModelLoader.ggufName(forHFName: name)
            if shape.count == 2 && type != .f32 {
                // Block-quantised bytes: a scale, then quants; any bit pattern is a valid block.
                let bytes = (0..<(count / type.blockSize * type.blockBytes)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ Int(n)) }
                w.tensors.append(.init(name: ggufName, ne: shape.reversed(), type: type, bytes: bytes))
            } else {
                w.tensors.append(.init(name: ggufName, ne: shape.reversed(), values: values))
            }
        }
        seeds.append(("tiny-\(type.name).gguf", w.encoded()))
    }
    var empty = GGUFWriter(version: 2)
    empty.metadata = [("general.architecture", .string("llama")), ("general.alignment", .uint32(64))]
    seeds.append(("no-tensors-v2.gguf", empty.encoded()))
    return seeds
}

@_cdecl("LLVMFuzzerInitialize")
public func initializeGGUF(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(ggufSeeds)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    // The parser on the bytes in memory (no file), then the whole loader through a file.
    _ = try? GGUFParser.parse(base: UnsafeRawPointer(data), count: size, file: "fuzz.gguf")
    let path = FuzzScratch.write(data, size, name: "input.gguf")
    do {
        let file = try GGUFFile(path: path)
        for t in file.tensors { _ = file.bytes(of: t).count; _ = t.shape }
        _ = try? ModelFileSummary(path: path).text  // `apoctl model info`
        _ = try? LlamaConfig(gguf: file)
        if let tokenizerData = try? file.tokenizerData(),
           let tokenizer = try? makeModelTokenizer(tokenizerData, vocabSize: tokenizerData.tokens.count, file: path) {
            let ids = tokenizer.encode("Hello, world! <|im_start|> 123", parseSpecial: true)
            for id in ids where id < 0 || Int(id) >= tokenizer.vocabularySize {
                fuzzFailure("token id \(id) outside 0..<\(tokenizer.vocabularySize)")
            }
            _ = tokenizer.decode(ids)
        }
        _ = try ModelLoader.load(path: path, threads: 1)
    } catch is ModelFileError {
    } catch is TokenizerError {
    } catch {
        fuzzFailure("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
