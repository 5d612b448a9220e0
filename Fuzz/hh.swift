// libFuzzer target: HH-RLHF input as prepare-data reads it: jsonl or jsonl.gz (gzip detected by
// its magic bytes), split into queries and responses, grouped and split by seed.
// Property: GzipError / FormatError / a result whose every query indexes real pairs; nothing
// traps, hangs or inflates without bound.
import Foundation
@testable import APOPipeline

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHH(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var bytes = Data(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    do {
        if Gzip.isGzip(bytes) { bytes = try Gzip.decompress(bytes, file: "fuzz.jsonl.gz") }
        let (pairs, skipped) = try PrepareDataKind.parseHH(bytes, file: "fuzz.jsonl")
        let queries = PrepareDataKind.groupQueries(pairs)
        for q in queries where q.pairIndices.isEmpty || q.pairIndices.contains(where: { !pairs.indices.contains($0) }) {
            fuzzFailure("query \(q.id) has pair indices \(q.pairIndices) outside 0..<\(pairs.count)")
        }
        let split = PrepareDataKind.splitQueries(queries, seed: size, rmFraction: 0.4, llmFraction: 0.4, maxQueries: 0)
        let total = split.rmTrain.count + split.llmTrain.count + split.test.count
        if total != queries.count { fuzzFailure("split lost queries: \(total) of \(queries.count)") }
        _ = skipped
    } catch is GzipError {
    } catch is FormatError {
    } catch {
        fuzzFailure("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
