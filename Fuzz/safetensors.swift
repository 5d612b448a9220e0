// libFuzzer target: the safetensors reader on any bytes. Property: parse or ModelFileError; every
// tensor the reader accepts can be read whole (its bytes lie inside the file; ASan watches).
import Foundation
@testable import APOEngine

/// Seeds: files `SafetensorsWriter` writes (what training jobs save), and hand-made headers with the
/// other dtypes, metadata, an empty tensor and a scalar.
func safetensorsSeeds() throws -> [(String, [UInt8])] {
    var seeds: [(String, [UInt8])] = []
    let a = fillerFloats(6, seed: 1), b = fillerFloats(4, seed: 2)
    let path = FuzzScratch.directory + "/seed.safetensors"
    try a.withUnsafeBufferPointer { pa in
        try b.withUnsafeBufferPointer { pb in
            try SafetensorsWriter.write([
                .init(name: "model.embed_tokens.weight", shape: [2, 3], pointer: pa.baseAddress!),
                .init(name: "score.weight", shape: [1, 4], pointer: pb.baseAddress!),
            ], metadata: ["format": "pt"], to: URL(fileURLWithPath: path))
        }
    }
    seeds.append(("writer.safetensors", Array(try Data(contentsOf: URL(fileURLWithPath: path)))))
    func file(_ header: String, dataBytes: Int) -> [UInt8] {
        var json = Array(header.utf8)
        while (8 + json.count) % 8 != 0 { json.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json + (0..<dataBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    }
    seeds.append(("dtypes.safetensors", file(#"{"__metadata__":{"format":"pt"},"h":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]},"i":{"dtype":"I64","shape":[1],"data_offsets":[16,24]},"e":{"dtype":"F8_E4M3","shape":[0],"data_offsets":[24,24]},"s":{"dtype":"F32","shape":[],"data_offsets":[24,28]}}"#, dataBytes: 28)))
    seeds.append(("empty.safetensors", file("{}", dataBytes: 0)))
    return seeds
}

@_cdecl("LLVMFuzzerInitialize")
public func initializeSafetensors(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    writeSeedsIfAsked(safetensorsSeeds)
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = FuzzScratch.write(data, size, name: "model.safetensors")
    do {
        let file = try SafetensorsFile(path: path)
        for t in file.tensors {
            guard t.offset >= 0, t.byteCount >= 0, t.offset + t.byteCount <= size else {
                fuzzFailure("tensor '\(t.name)' at \(t.offset) + \(t.byteCount) bytes is outside the \(size)-byte file")
            }
            guard file.tensor(named: t.name) == t else { fuzzFailure("tensor '\(t.name)' is not found by name") }
            // Reading allocates count floats: only small tensors (the file bounds the bytes, not F8/BOOL counts).
            if t.count <= 1 << 20 { _ = try? file.floats(t.name) }
        }
    } catch is ModelFileError {
    } catch {
        fuzzFailure("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
