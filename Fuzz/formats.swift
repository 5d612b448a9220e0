// libFuzzer target: the spec's JSON formats (preference pairs, LLM samples / queries, RM scores,
// golden answers, rejection samples). Property: FormatError or a value that the writer writes back
// and the reader reads again as the same value; nothing traps.
import Foundation
@testable import APOPipeline

/// Numbers compare by value within a few ulps: JSON has one number type (1.0 may come back as 1),
/// and Foundation's JSONSerialization does not round long numbers correctly: a 22-digit integer
/// read, written and read again moves by one ulp (the first finding of this target, kept as
/// Tests/APOPipelineTests/Fixtures/fuzz-regressions/formats/crash-cbce30c9…; not fixable here).
func close(_ a: Double, _ b: Double) -> Bool {
    a == b || abs(a - b) <= 4 * max(a.ulp, b.ulp)
}

func same(_ a: ParamValue, _ b: ParamValue) -> Bool {
    switch (a, b) {
    case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
    case let (.object(x), .object(y)): return x.count == y.count && x.allSatisfy { k, v in y[k].map { same(v, $0) } ?? false }
    default:
        if let x = a.doubleValue, let y = b.doubleValue { return close(x, y) }
        return a == b
    }
}

func roundTrip<T>(_ name: String, _ items: [T], same: (T, T) -> Bool, encode: ([T]) throws -> Data, decode: (Data) throws -> [T]) {
    do {
        let again = try decode(try encode(items))
        if again.count != items.count || !zip(items, again).allSatisfy(same) {
            fuzzFailure("\(name): read(write(x)) != x:\n\(items)\n\(again)")
        }
    } catch {
        fuzzFailure("\(name): cannot read back what was written: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFormats(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Data(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    let items: [ParamValue]
    do { items = try JSONListFile.parse(bytes, file: "fuzz.json") } catch is FormatError { return 0 } catch {
        fuzzFailure("JSONListFile.parse: unexpected error type \(type(of: error)): \(error)")
    }
    func parse(_ d: Data) throws -> [ParamValue] { try JSONListFile.parse(d, file: "again.json") }
    if let pairs = try? PreferencePairsFile.decode(items, file: "fuzz.json") {
        roundTrip("preference pairs", pairs, same: { a, b in
            a.text == b.text && a.queryID == b.queryID && a.type == b.type
                && a.scores.count == b.scores.count && zip(a.scores, b.scores).allSatisfy { close($0, $1) }
        }, encode: PreferencePairsFile.encode) { try PreferencePairsFile.decode(parse($0), file: "again.json") }
    }
    if let samples = try? LLMSamplesFile.decode(items, file: "fuzz.json") {
        roundTrip("LLM samples", samples, same: { a, b in
            a.queryID == b.queryID && a.query == b.query && a.samples == b.samples
                && same(.object(a.extra), .object(b.extra))
        }, encode: LLMSamplesFile.encode) { try LLMSamplesFile.decode(parse($0), file: "again.json") }
        for s in samples { for k in s.answerKeys where s.answer(forKey: k) == nil { fuzzFailure("answer key \(k) has no answer") } }
    }
    if let scores = try? RMScoresFile.decode(items, file: "fuzz.json") {
        roundTrip("RM scores", scores, same: { a, b in
            a.queryID == b.queryID && a.answerKey == b.answerKey && close(a.score, b.score)
        }, encode: RMScoresFile.encode) { try RMScoresFile.decode(parse($0), file: "again.json") }
    }
    // The URL-based readers (golden answers, rejection samples) through a scratch file.
    let path = FuzzScratch.write(data, size, name: "input.json")
    let url = URL(fileURLWithPath: path)
    for read in [{ _ = try GoldenAnswersFile.read(url) }, { _ = try RejectionSamplesFile.read(url) }] as [() throws -> Void] {
        do { try read() } catch is FormatError {} catch {
            fuzzFailure("unexpected error type \(type(of: error)): \(error)")
        }
    }
    return 0
}
