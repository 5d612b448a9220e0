import APOEngine
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

    /// `apoctl rm score|eval --precision` resolve the arithmetic before they touch a file, as jobs
    /// do: bf16 on a CPU without it is a clear error, not an fp32 run.
    @Test func rmCommandsTakeAPrecision() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let cpuHasBF16 = (try? ComputePath.resolve(.bf16)) != nil
        for command in [["rm", "score", "--samples", "/nonexistent.json", "--out", "/nonexistent-out.json"],
                        ["rm", "eval", "--pairs", "/nonexistent.json"]] {
            let bf16 = try sandbox.run("apoctl", command + ["--model", "/nonexistent-rm", "--precision", "bf16"], timeout: 60)
            #expect(bf16.status != 0, "refused, or no such model")
            if cpuHasBF16 {
                #expect(bf16.stderr.contains("compute: precision bf16"), "\(command): \(bf16.stderr)")
            } else {
                #expect(bf16.stderr.contains("precision bf16 needs a CPU with AVX512-BF16 or AMX-BF16"), "\(command): \(bf16.stderr)")
            }
            let fp32 = try sandbox.run("apoctl", command + ["--model", "/nonexistent-rm", "--precision", "fp32"], timeout: 60)
            #expect(fp32.status != 0, "no such model")
            #expect(fp32.stderr.contains("compute: precision fp32"), "\(command): \(fp32.stderr)")
            let wrong = try sandbox.run("apoctl", command + ["--model", "/nonexistent-rm", "--precision", "fp16"], timeout: 60)
            #expect(wrong.status != 0)
            #expect(wrong.stderr.contains("fp16"), "\(command): \(wrong.stderr)")
        }
    }

    /// `apoctl bench inference` on the real model, tiny sizes: every figure comes with the machine
    /// it was measured on (compute path, CPU model and flags), in text and in JSON, and the JSON's
    /// rates are positive numbers.
    @Test func benchInferenceReportsEveryFigureWithTheMachine() throws {
        let sandbox = try RuntimeSandbox()
        defer { sandbox.cleanup() }
        let model = PipelineResilienceTests.repositoryRoot
            .appendingPathComponent("data/models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        let arguments = ["bench", "inference", "--model", model, "--threads", "1", "--pp", "16", "--tg", "4",
                         "--npp", "8", "--npl", "2", "--repetitions", "1"]
        let text = try sandbox.run("apoctl", arguments, timeout: 120)
        #expect(text.status == 0, "\(text.stderr)")
        for line in ["compute: precision fp32", "sgemm peak", "pp16 ", "decode weights: file", "tg4 ", "memory read bandwidth",
                     "batch 2   after pp8:"] {
            #expect(text.stdout.contains(line), "\(line) missing from: \(text.stdout)")
        }
        let json = try sandbox.run("apoctl", arguments + ["--json"], timeout: 120)
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["cpu_model"] as? String)?.isEmpty == false && (object["cpu_flags"] as? [String]) != nil)
        for key in ["pp16_tokens_per_s", "tg_batch1_tokens_per_s", "batch2_tokens_per_s", "sgemm_peak_gflops", "read_bandwidth_gb_per_s"] {
            #expect(((object[key] as? NSNumber)?.doubleValue ?? 0) > 0, "\(key): \(object[key] ?? "missing")")
        }
    }
}
