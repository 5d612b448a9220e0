import Foundation
import Testing
@testable import APOEngine

/// Hugging Face transformers on apo's exports (Fixtures/hfexport/make_transformers_fixture.py):
/// `AutoModelForCausalLM` on SmolLM2 exported with `apoctl model export --format hf`, and
/// `AutoModelForSequenceClassification` on a reward model exported the same way. The tests write
/// the same directories with apo's writers, check the files are the bytes transformers read
/// (sha256), and compare apo's logits and rewards with transformers'.
///
/// Tolerances. Logits: 1e-3 absolute — fp32 on both sides over 30 blocks, summation order only
/// (measured 5.0e-5 here; LlamaModelParityTests sees ~1e-4); a wrong RoPE order or head layout
/// moves them by >0.1. Rewards: 1e-4 absolute (the bound; rewards here are 0.2–3.3,
/// measured gap ≤ 6.6e-6); pooling one token off moves a reward by >1e-2.
struct TransformersFixture: Decodable {
    struct Check: Decodable { let position: Int; let ids: [Int]; let logits: [Float] }
    struct Case: Decodable { let text: String; let ids: [Int32]; let checks: [Check] }
    struct Policy: Decodable { let sha256: [String: String]; let cases: [Case] }
    struct RM: Decodable {
        let sha256: [String: String]
        let pad_token_id: Int32
        let sequences: [[Int32]]
        let rewards: [Float]
    }
    let policy: Policy
    let reward_model: RM

    static func load() throws -> TransformersFixture {
        try JSONDecoder().decode(TransformersFixture.self, from: RealSmolLM.fixture("hfexport/transformers.json"))
    }
}

@Suite(.serialized) struct HFExportTests {
    static func checkDigests(_ expected: [String: String], in dir: URL) throws {
        for (name, digest) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(try sha256(ofFile: dir.appendingPathComponent(name)) == digest,
                    "\(name): the writer changed; re-run Fixtures/hfexport/make_transformers_fixture.py")
        }
    }

    @Test func transformersLoadsTheExportedPolicyWithApoLogits() throws {
        let fixture = try TransformersFixture.load()
        let source = try RealSmolLM.loaded.get()
        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = dir.appendingPathComponent("policy")
        try ModelLoader.saveDirectory(source.parameters, tokenizer: source.tokenizer, chatTemplate: source.chatTemplate, to: policy)
        try Self.checkDigests(fixture.policy.sha256, in: policy)
        // apo reads its own export back: the same weight bits, so the same logits.
        let back = try ModelLoader.load(path: policy.path, threads: 2)
        #expect(back.config == source.config && sameBits(back.parameters, source.parameters))
        #expect(back.tokenizer.data.tokens == source.tokenizer.data.tokens && back.chatTemplate == source.chatTemplate)

        let state = InferenceState(model: try RealSmolLM.model.get(), slots: 1, maxPositions: 64, threads: 2, decodeWeights: .float32)
        var worst: Float = 0
        for c in fixture.policy.cases {
            #expect(source.tokenizer.encode(c.text, parseSpecial: true) == c.ids, "AutoTokenizer's ids for \(c.text.debugDescription)")
            let n = c.ids.count
            try state.forward(tokens: c.ids, slots: [Int](repeating: 0, count: n), positions: (0..<Int32(n)).map { $0 }, output: .all)
            for check in c.checks {
                let logits = state.logits(check.position)
                for (id, expected) in zip(check.ids, check.logits) { worst = max(worst, abs(logits[id] - expected)) }
            }
        }
        #expect(worst < 1e-3, "max |Δ logit| apo vs transformers: \(worst)")
    }

    /// The reward model transformers was checked on is what apo writes for SmolLM2 with
    /// train-rm's head for seed 7 (lr 0 left the weights as they were), `last` pooling.
    @Test func transformersLoadsTheExportedRewardModelWithApoRewards() throws {
        let fixture = try TransformersFixture.load()
        let source = try RealSmolLM.loaded.get()
        let format = RewardInputFormat.forTokenizer(source.tokenizer)
        let head = RewardModel.initialHead(hiddenSize: source.config.hiddenSize, seed: 7)
        let model = RewardModel(parameters: source.parameters, head: head, pooling: .last, format: format)
        #expect(RewardModelFiles.huggingFacePadID(model) == format.eos)
        #expect(fixture.reward_model.pad_token_id == format.eos, "HF pads (and so skips) EOS, pooling the token before it")

        let dir = try ModelFilesTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let rm = dir.appendingPathComponent("rm")
        try RewardModelFiles.save(model, tokenizer: source.tokenizer, chatTemplate: source.chatTemplate,
                                  frozenBlocks: source.config.layerCount - 4, to: rm)
        try Self.checkDigests(fixture.reward_model.sha256, in: rm)

        // apo frames the pairs file's texts as the script did.
        let pairs = try JSONSerialization.jsonObject(with: RealSmolLM.fixture("hfexport/hh_pairs.json")) as! [[String: Any]]
        let texts = pairs.flatMap { $0["text"] as! [String] }
        let sequences = texts.map { format.frame(text: $0, tokenizer: source.tokenizer, maxLength: 512)!.ids }
        #expect(sequences == fixture.reward_model.sequences)

        let loaded = try RewardModelFiles.load(path: rm.path, threads: 2)
        #expect(loaded.hadHead && loaded.model.pooling == .last)
        let scorer = RewardScorer(model: loaded.model, batchSize: 4, maxSeqLen: sequences.map(\.count).max()!, threads: 2)
        let rewards = scorer.score(sequences)
        for (i, (ours, theirs)) in zip(rewards, fixture.reward_model.rewards).enumerated() {
            #expect(abs(ours - theirs) < 1e-4, "text \(i): apo \(ours), transformers \(theirs)")
        }
    }
}
