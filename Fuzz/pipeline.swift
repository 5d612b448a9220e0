// libFuzzer target: pipeline YAML parsing, validation and round expansion (what `apoctl submit`
// runs on a user's file). Property: a valid ExpandedPipeline or a PipelineValidationError whose
// every diagnostic names the file; nothing traps, hangs or blows up memory.
import Foundation
@testable import APOPipeline

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPipeline(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    guard let yaml = String(validating: bytes, as: UTF8.self) else { return 0 }  // String(contentsOfFile:) refuses it too
    do {
        let pipeline = try PipelineSpec.expand(yaml: yaml, file: "fuzz.yaml")
        let ids = Set(pipeline.jobs.map(\.id))
        guard ids.count == pipeline.jobs.count else { fuzzFailure("duplicate job ids in \(pipeline.jobs.map(\.id))") }
        var done = Set<String>()
        for job in pipeline.jobs {
            for need in job.needs where !done.contains(need) {
                fuzzFailure("job '\(job.id)' comes before its need '\(need)'")
            }
            done.insert(job.id)
            _ = job.paramsJSON
        }
    } catch let e as PipelineValidationError {
        if e.diagnostics.isEmpty { fuzzFailure("a validation error with no diagnostics") }
        for d in e.diagnostics where d.file != "fuzz.yaml" { fuzzFailure("diagnostic names \(d.file)") }
    } catch {
        fuzzFailure("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}
