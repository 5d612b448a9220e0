import Foundation
import Testing
@testable import APOEngine

/// Parity of the SFT cross-entropy, the DPO loss and selected gradients with PyTorch on the real
/// SmolLM2-135M, for the fixed token ids in `Fixtures/policy/policy_fixture.json` (made by
/// `make_fixture.py` next to it: transformers loads the same GGUF, fp32, tied head).
///
/// Tolerances: both sides are fp32 over 30 blocks and a 49,152-wide head but sum in different
/// orders (OpenBLAS vs ATen), so they agree to ~1e-5 relative, not bit for bit. We allow: token
/// log-probs 2e-4 absolute (values O(1–10)), losses 1e-4 absolute, gradients 1e-3 · max|g_torch|
/// per tensor slice (a wrong backward misses by O(max|g|)). Observed when the fixture was made:
/// token log-probs 2.1e-5, SFT loss 3.9e-6, DPO loss 1.3e-5, gradients ≤ 1.4e-5 · max|g| (final
/// norm, DPO); the test prints them on every run.
struct PolicyParityTests {
    static let logProbTolerance = 2e-4
    static let lossTolerance = 1e-4
    static let gradientRelativeTolerance: Float = 1e-3

    struct Fixture: Decodable {
        struct Example: Decodable { let prompt: [Int32]; let response: [Int32] }
        struct Slice: Decodable { let rows: [Int]; let values: [[Float]] }
        struct SFT: Decodable {
            let loss: Double
            let gradients: [String: Slice]
            let sequence_logprobs: [Double]
            let token_logprobs: [[Double]]
        }
        struct DPO: Decodable {
            let beta: Double
            let reference_chosen: Double
            let reference_rejected: Double
            let margin: Double
            let loss: Double
            let gradients: [String: Slice]
        }
        let examples: [Example]
        let sft: SFT
        let dpo: DPO
    }

    /// max |Δ| over each fixture slice, and whether it is within tolerance of that slice's scale.
    static func compare(_ slices: [String: Fixture.Slice], graph: PolicyGraph, label: String) -> [String] {
        var failures: [String] = []
        let p = graph.parameters
        for (name, slice) in slices.sorted(by: { $0.key < $1.key }) {
            guard let tensor = p.layout.tensor(named: name), let grad = graph.backbone.gradient(tensor.offset) else {
                failures.append("\(label) \(name): no gradient slot")
                continue
            }
            let width = tensor.shape.count == 1 ? tensor.shape[0] : tensor.shape[1]
            var maxDiff: Float = 0, scale: Float = 0
            for (r, row) in zip(slice.rows, slice.values) {
                for (i, expected) in row.enumerated() {
                    maxDiff = max(maxDiff, abs(grad[r * width + i] - expected))
                    scale = max(scale, abs(expected))
                }
            }
            print("policy parity \(label) \(name): max|Δ| \(maxDiff), max|g| \(scale)")
            if !(maxDiff <= gradientRelativeTolerance * scale) {
                failures.append("\(label) \(name): max|Δ| \(maxDiff) > \(gradientRelativeTolerance) · \(scale)")
            }
        }
        return failures
    }

    @Test func sftAndDPOLossesAndGradientsMatchPyTorch() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/policy/policy_fixture", withExtension: "json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        let loaded = try ModelLoader.load(path: try ModelFilesTestSupport.smolLMPath(), threads: 2)
        let sequences = fixture.examples.map { PolicySequence(prompt: $0.prompt, response: $0.response) }
        // Every block and the tied embedding train, so the embedding (= head) gradient is compared.
        let graph = PolicyGraph(parameters: loaded.parameters, trainableLayers: loaded.config.layerCount,
                                trainEmbedding: true, maxBatch: 2, maxSeqLen: sequences.map(\.tokens.count).max()!,
                                threads: 2)

        // SFT: −mean over both examples' response tokens.
        graph.zeroGradients()
        let sums = graph.forward(sequences)
        let count = graph.tokenLogProbs.count
        let expectedTokens = fixture.sft.token_logprobs.flatMap { $0 }
        #expect(count == expectedTokens.count)
        let tokenDiff = zip(graph.tokenLogProbs, expectedTokens).map { abs(Double($0) - $1) }.max()!
        let loss = -sums.reduce(0, +) / Double(count)
        print("policy parity sft: loss \(loss) vs \(fixture.sft.loss), token log-prob max|Δ| \(tokenDiff)")
        #expect(tokenDiff < Self.logProbTolerance)
        #expect(abs(loss - fixture.sft.loss) < Self.lossTolerance)
        graph.backward(dTokenLogProbs: [Float](repeating: -1 / Float(count), count: count))
        var failures = Self.compare(fixture.sft.gradients, graph: graph, label: "sft")

        // DPO against reference numbers that differ from the policy.
        graph.zeroGradients()
        let pair = graph.forward(sequences)
        for (got, expected) in zip(pair, fixture.sft.sequence_logprobs) {
            #expect(abs(got - expected) < Self.logProbTolerance * Double(count))
        }
        let dpo = DPOLoss(beta: fixture.dpo.beta, policyChosen: pair[0], policyRejected: pair[1],
                          referenceChosen: fixture.dpo.reference_chosen, referenceRejected: fixture.dpo.reference_rejected)
        print("policy parity dpo: loss \(dpo.loss) vs \(fixture.dpo.loss), margin \(dpo.margin) vs \(fixture.dpo.margin)")
        #expect(abs(dpo.loss - fixture.dpo.loss) < Self.lossTolerance)
        #expect(abs(dpo.margin - fixture.dpo.margin) < Self.lossTolerance * 10)
        graph.backward(dSequenceLogProbs: [Float(dpo.dPolicyChosen), Float(dpo.dPolicyRejected)])
        failures += Self.compare(fixture.dpo.gradients, graph: graph, label: "dpo")
        #expect(failures.isEmpty, "\(failures)")
    }
}
