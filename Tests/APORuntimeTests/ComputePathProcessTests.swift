import Foundation
import Testing

/// `APO_ISA` as a user sets it, on a real `apoctl bench rm` over the real model: the override
/// decides the recorded path in a fresh process (the choice is made once per process, so this
/// cannot be checked in-process), and a value that is not one of the three is an error, not a
/// silently ignored variable.
struct ComputePathProcessTests {
    func benchRM(_ sandbox: RuntimeSandbox, isa: String?) throws -> RuntimeSandbox.CommandResult {
        let model = PipelineResilienceTests.repositoryRoot
            .appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: model) else {
            throw RuntimeSandbox.Failure(description: "missing \(model): run deploy/fetch-model.sh")
        }
        return try sandbox.run("apoctl", ["bench", "rm", "--model", model, "--seq-len", "16", "--micro-batch", "2",
                                          "--trainable-layers", "1", "--steps", "1", "--json"],
                               environment: isa.map { ["APO_ISA": $0] } ?? [:], timeout: 120)
    }

    @Test func apoISAForcesFP32AndRejectsUnknownValues() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let forced = try benchRM(sandbox, isa: "fp32")
        #expect(forced.status == 0, "\(forced.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(forced.stdout.utf8)) as? [String: Any]
        #expect(object?["precision"] as? String == "fp32")
        #expect((object?["isa"] as? String)?.hasPrefix("fp32-") == true)

        let wrong = try benchRM(sandbox, isa: "avx9000")
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("APO_ISA=avx9000 is not one of fp32, avx512-bf16, amx-bf16"), "\(wrong.stderr)")
    }
}
