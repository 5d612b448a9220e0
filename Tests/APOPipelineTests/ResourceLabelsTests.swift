import Foundation
import Testing
@testable import APOPipeline

/// `resources: {labels: …}`: the host labels a job needs, stored in its resources for the claim.
@Suite struct ResourceLabelsTests {
    @Test func labelsAreStoredWithTheJobsResources() throws {
        let p = try PipelineSpec.expand(yaml: """
            name: x
            params: {gpu: a100}
            jobs:
              - id: a
                kind: noop
                resources: {threads: 2, memory_mb: 512, labels: {gpu: "${params.gpu}", rack: 7}}
              - id: b
                kind: noop
            """, file: "p.yaml")
        #expect(p.jobs[0].resourcesJSON == #"{"labels":{"gpu":"a100","rack":"7"},"memory_mb":512,"threads":2}"#)
        #expect(p.jobs[1].resourcesJSON == #"{"threads":1}"#)
        #expect(p.jobs[1].labels == nil)
    }

    @Test func badLabelsAreReportedWithTheirPosition() {
        func errors(_ labels: String) -> [String] {
            do {
                _ = try PipelineSpec.expand(yaml: "name: x\njobs:\n  - id: a\n    kind: noop\n    resources: {labels: \(labels)}\n",
                                            file: "p.yaml")
                return []
            } catch let e as PipelineValidationError {
                return e.diagnostics.map(\.description)
            } catch {
                return ["\(error)"]
            }
        }
        #expect(errors("gpu") == ["p.yaml:5:25: error: 'labels' must be a mapping of label names to values, e.g. {gpu: a100}"])
        #expect(errors("{\"a b\": x}") == ["p.yaml:5:26: error: label name 'a b' must be letters, digits, '.', '_' or '-'"])
        #expect(errors("{gpu: [a, b]}") == ["p.yaml:5:31: error: label 'gpu' must have a text, number or boolean value"])
    }

    @Test func hostLabelAssignmentsParse() {
        #expect(HostLabel.parse("gpu=a100")! == ("gpu", "a100"))
        #expect(HostLabel.parse("zone=")! == ("zone", ""))
        #expect(HostLabel.parse("gpu") == nil)
        #expect(HostLabel.parse("a b=c") == nil)
        #expect(HostLabel.parse("=x") == nil)
    }
}
