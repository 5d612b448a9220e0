// libFuzzer target: the spec's JSON formats (preference pairs, LLM samples / queries, RM scores,
// golden answers, rejection samples). Property: FormatError or a value that the writer writes back
// and the reader reads again as the same value; nothing traps.
import Foundation
@testable import APOPipeline

func roundTrip<T: Equatable>(_ name: String, _ items: [T], encode: ([T]) throws -> Data, decode: (Data) throws -> [T]) {
    do {
        let again = try decode(try encode(items))
        if again != items { fuzzFailure("\(name): read(write(x)) != x:\n\(items)\n\(again)") }
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
        roundTrip("preference pairs", pairs, encode: PreferencePairsFile.encode) { try PreferencePairsFile.decode(parse($0), file: "again.json") }
    }
    if let samples = try? LLMSamplesFile.decode(items, file: "fuzz.json") {
        roundTrip("LLM samples", samples, encode: LLMSamplesFile.encode) { try LLMSamplesFile.decode(parse($0), file: "again.json") }
        for s in samples { for k in s.answerKeys where s.answer(forKey: k) == nil { fuzzFailure("answer key \(k) has no answer") } }
    }
    if let scores = try? RMScoresFile.decode(items, file: "fuzz.json") {
        roundTrip("RM scores", scores, encode: RMScoresFile.encode) { try RMScoresFile.decode(parse($0), file: "again.json") }
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
