import Foundation
import Testing
@testable import APOEngine

/// The policy training loop on a tiny random model: learning, micro-batch invariance, DPO's
/// reference pass, and bit-identical resume from a checkpoint.
struct PolicyTrainerTests {
    static let sftExamples: [PolicyExample] = [
        [1, 5, 6, 3, 7, 8, 2], [1, 4, 9, 10, 11, 2], [1, 12, 3, 6, 6, 2], [1, 5, 3, 9, 2],
        [1, 7, 7, 8, 3, 10, 4, 2],
    ].map { PolicyExample(sequences: [PolicySequence(tokens: $0, promptLength: 3)]) }

    static let dpoExamples: [PolicyExample] = [
        ([1, 4, 3, 10, 11, 12, 2], [1, 4, 3, 6, 2]),
        ([1, 5, 3, 7, 8, 2], [1, 5, 3, 9, 9, 9, 2]),
        ([1, 6, 3, 11, 2], [1, 6, 3, 12, 4, 2]),
    ].map { PolicyExample(sequences: [PolicySequence(tokens: $0.0, promptLength: 3),
                                      PolicySequence(tokens: $0.1, promptLength: 3)]) }

    static func settings(_ objective: PolicyObjective, batch: Int = 2, micro: Int = 1, epochs: Int = 2) -> PolicyTrainingSettings {
        var s = PolicyTrainingSettings()
        s.objective = objective
        s.batchSize = batch
        s.microBatchSize = micro
        s.epochs = epochs
        s.learningRate = 1e-2
        s.warmupSteps = 1
        s.trainableLayers = 1
        s.threads = 1
        s.seed = 5
        return s
    }

    @Test func sftLowersTheLossOnItsOwnData() {
        let p = TinyModels.parameters(seed: 2)
        var s = Self.settings(.sft, batch: 5, micro: 5, epochs: 30)
        s.trainableLayers = 2
        s.trainEmbedding = true
        s.schedule = .constant
        let trainer = PolicyTrainer(parameters: p, settings: s, examples: Self.sftExamples)
        let first = trainer.step()
        var last = first
        while !trainer.isFinished { last = trainer.step() }
        #expect(first.loss > 1.5, "a random 13-token model starts near log 13 ≈ 2.56, got \(first.loss)")
        #expect(last.loss < first.loss * 0.5, "loss \(first.loss) → \(last.loss)")
        #expect(first.gradientNorm > 0 && first.tokens == Self.sftExamples.reduce(0) { $0 + $1.sequences[0].tokens.count })
    }

    /// The SFT loss is a mean over the step's tokens, so micro-batching changes only rounding.
    @Test func sftStepDoesNotDependOnMicroBatching() {
        let a = TinyModels.parameters(seed: 4), b = TinyModels.parameters(seed: 4)
        let ta = PolicyTrainer(parameters: a, settings: Self.settings(.sft, batch: 4, micro: 1), examples: Self.sftExamples)
        let tb = PolicyTrainer(parameters: b, settings: Self.settings(.sft, batch: 4, micro: 4), examples: Self.sftExamples)
        _ = ta.step(); _ = tb.step()  // warm-up step: lr 0
        let sa = ta.step(), sb = tb.step()
        #expect(abs(sa.loss - sb.loss) < 1e-5)
        #expect(abs(sa.gradientNorm - sb.gradientNorm) < 1e-4 * max(1, sa.gradientNorm))
        var maxDiff: Float = 0
        for i in 0..<a.values.count { maxDiff = max(maxDiff, abs(a.values[i] - b.values[i])) }
        #expect(maxDiff < 1e-4, "max weight difference \(maxDiff)")
    }

    @Test func sftResumeFromCheckpointIsBitIdentical() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("policy-sft-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let s = Self.settings(.sft, batch: 2, micro: 1, epochs: 2)  // 3 steps per epoch, 6 in all
        let whole = PolicyTrainer(parameters: TinyModels.parameters(seed: 8), settings: s, examples: Self.sftExamples)
        var wholeLosses: [Double] = []
        while !whole.isFinished { wholeLosses.append(whole.step().loss) }

        let first = PolicyTrainer(parameters: TinyModels.parameters(seed: 8), settings: s, examples: Self.sftExamples)
        var losses: [Double] = []
        for _ in 0..<4 { losses.append(first.step().loss) }  // crosses the epoch boundary
        try PolicyCheckpoint.save(first, to: root)
        let resumed = PolicyTrainer(parameters: TinyModels.parameters(seed: 8), settings: s, examples: Self.sftExamples)
        try PolicyCheckpoint.restore(resumed, from: #require(PolicyCheckpoint.latest(in: root)))
        while !resumed.isFinished { losses.append(resumed.step().loss) }
        #expect(losses == wholeLosses)
        #expect(whole.parameters.values.toArray() == resumed.parameters.values.toArray())
    }

    @Test func dpoStartsAtLogTwoAndResumesWithStoredReference() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("policy-dpo-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var s = Self.settings(.dpo(beta: 0.5), batch: 2, micro: 1, epochs: 3)
        s.warmupSteps = 0
        let whole = PolicyTrainer(parameters: TinyModels.parameters(seed: 9), settings: s, examples: Self.dpoExamples)
        #expect(whole.needsReference)
        whole.setReferenceLogProbs(whole.computeReferenceLogProbs())
        let firstStep = whole.step()
        // Policy == reference at step 0: z = 0 up to fp32 rounding of identical forward passes.
        #expect(abs(firstStep.loss - Foundation.log(2)) < 1e-5)
        #expect(abs(firstStep.rewardMargin!) < 1e-5)
        var steps = [firstStep]
        while !whole.isFinished { steps.append(whole.step()) }
        #expect(steps.last!.loss < firstStep.loss, "DPO should separate the pairs: \(steps.map(\.loss))")
        #expect(steps.last!.accuracy! > 0)

        let first = PolicyTrainer(parameters: TinyModels.parameters(seed: 9), settings: s, examples: Self.dpoExamples)
        #expect(try PolicyCheckpoint.restoreReference(first, from: root) == false)
        first.setReferenceLogProbs(first.computeReferenceLogProbs())
        try PolicyCheckpoint.saveReference(first, to: root)
        for _ in 0..<3 { _ = first.step() }
        try PolicyCheckpoint.save(first, to: root)
        // The resumed run must not recompute the reference from its (already trained) weights:
        // load the stored one.
        let resumed = PolicyTrainer(parameters: TinyModels.parameters(seed: 9), settings: s, examples: Self.dpoExamples)
        try PolicyCheckpoint.restore(resumed, from: #require(PolicyCheckpoint.latest(in: root)))
        #expect(try PolicyCheckpoint.restoreReference(resumed, from: root))
        #expect(resumed.examples == first.examples)
        while !resumed.isFinished { _ = resumed.step() }
        #expect(whole.parameters.values.toArray() == resumed.parameters.values.toArray())
    }

    @Test func checkpointOfAnotherRunIsRefused() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("policy-bad-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let t = PolicyTrainer(parameters: TinyModels.parameters(seed: 1), settings: Self.settings(.sft), examples: Self.sftExamples)
        _ = t.step()
        try PolicyCheckpoint.save(t, to: root)
        let other = PolicyTrainer(parameters: TinyModels.parameters(seed: 1), settings: Self.settings(.sft),
                                  examples: Array(Self.sftExamples.prefix(3)))
        #expect(throws: CheckpointError.self) { try PolicyCheckpoint.restore(other, from: PolicyCheckpoint.latest(in: root)!) }
        var dpo = Self.settings(.dpo(beta: 0.1))
        dpo.trainableLayers = 1
        let pairTrainer = PolicyTrainer(parameters: TinyModels.parameters(seed: 1), settings: dpo, examples: Self.dpoExamples)
        pairTrainer.setReferenceLogProbs(pairTrainer.computeReferenceLogProbs())
        try PolicyCheckpoint.saveReference(pairTrainer, to: root)
        let changed = PolicyTrainer(parameters: TinyModels.parameters(seed: 1), settings: dpo,
                                    examples: Array(Self.dpoExamples.reversed()))
        #expect(throws: CheckpointError.self) { try PolicyCheckpoint.restoreReference(changed, from: root) }
    }
}
