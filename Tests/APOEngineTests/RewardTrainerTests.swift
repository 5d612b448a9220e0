import Foundation
import Testing
@testable import APOEngine

/// The training loop on a tiny model: loss goes down, a resumed run ends bit-identical to an
/// uninterrupted one, and a checkpoint from another architecture is refused.
struct RewardTrainerTests {
    /// Eight pairs + two APO items over the tiny vocabulary; response length differs so micro-batches pad.
    static let examples: [RewardExample] = (0..<10).map { i in
        let q: [Int32] = [1, Int32(4 + i % 5), 3]
        let good: [Int32] = q + [7, 8, Int32(9 + i % 3), 2]
        let bad: [Int32] = q + [Int32(10 + i % 3), 2]
        return RewardExample(sequences: i % 2 == 0 ? [good, bad] : [bad, good],
                             scores: i % 2 == 0 ? [1, 0] : [0, 1], isAPO: i >= 8)
    }

    static func settings() -> RewardTrainingSettings {
        var s = RewardTrainingSettings()
        s.epochs = 3
        s.learningRate = 3e-2
        s.warmupSteps = 2
        s.batchSize = 4
        s.microBatchSize = 2
        s.maxLength = 16
        s.trainableLayers = 1
        s.seed = 42
        s.threads = 1
        return s
    }

    static func freshTrainer() -> RewardTrainer {
        RewardTrainer(model: TinyModels.rewardModel(seed: 9), settings: settings(), examples: examples)
    }

    static func tempDirectory() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rm-ckpt-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func lossFallsOnASeparableToyTask() {
        let trainer = Self.freshTrainer()
        #expect(trainer.totalSteps == 9)  // 3 epochs × ceil(10 / 4)
        var losses: [Double] = []
        while !trainer.isFinished { losses.append(trainer.step().loss) }
        #expect(losses.count == 9)
        #expect(losses.suffix(3).reduce(0, +) < losses.prefix(3).reduce(0, +))
    }

    @Test func resumingMidEpochEndsBitIdentical() throws {
        let straight = Self.freshTrainer()
        for _ in 0..<6 { _ = straight.step() }

        let first = Self.freshTrainer()
        for _ in 0..<3 { _ = first.step() }  // 3 steps per epoch: the checkpoint at step 5 sits after batch 2 of epoch 1
        let root = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try RewardCheckpoint.save(first, to: root)
        for _ in 0..<2 { _ = first.step() }
        try RewardCheckpoint.save(first, to: root)  // the newest two are kept
        let stepDirs = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasPrefix("step-") }
        #expect(stepDirs.sorted() == ["step-00000003", "step-00000005"])
        #expect(RewardCheckpoint.candidates(in: root).map(\.lastPathComponent) == ["step-00000005", "step-00000003"])

        let resumed = Self.freshTrainer()
        let latest = try #require(RewardCheckpoint.latest(in: root))
        try RewardCheckpoint.restore(resumed, from: latest)
        #expect(resumed.progress.step == 5)
        _ = resumed.step()

        let n = straight.model.parameters.layout.totalCount
        let a = UnsafeBufferPointer(start: straight.model.parameters.values.pointer, count: n)
        let b = UnsafeBufferPointer(start: resumed.model.parameters.values.pointer, count: n)
        #expect(a.elementsEqual(b) { $0.bitPattern == $1.bitPattern })
        #expect(straight.model.head.toArray() == resumed.model.head.toArray())
        #expect(straight.optimizer.m[0].toArray() == resumed.optimizer.m[0].toArray())
        #expect(straight.progress == resumed.progress)
    }

    @Test func checkpointFromAnotherArchitectureIsRefused() throws {
        let trainer = Self.freshTrainer()
        _ = trainer.step()
        let root = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try RewardCheckpoint.save(trainer, to: root)

        var wider = TinyModels.config
        wider.intermediateSize = 32
        let other = RewardModel(parameters: TinyModels.parameters(seed: 1, config: wider),
                                head: RewardModel.initialHead(hiddenSize: wider.hiddenSize, seed: 2),
                                pooling: .last, format: RewardInputFormat(bos: 1, sep: 3, eos: 2, pad: 0))
        let otherTrainer = RewardTrainer(model: other, settings: Self.settings(), examples: Self.examples)
        let dir = try #require(RewardCheckpoint.latest(in: root))
        #expect {
            try RewardCheckpoint.restore(otherTrainer, from: dir)
        } throws: { error in
            guard case let CheckpointError.architectureMismatch(_, field, _, _)? = error as? CheckpointError else { return false }
            return field == "model config" && "\(error)".contains("ffn 24")
        }
    }

    /// A newest step found broken (files cut short, as by a crash on a disk that did not honour
    /// fsync) is refused without touching the trainer, and the older step restores instead.
    @Test func aTruncatedNewestCheckpointIsRefusedAndTheOlderOneRestores() throws {
        let first = Self.freshTrainer()
        for _ in 0..<2 { _ = first.step() }
        let root = Self.tempDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        try RewardCheckpoint.save(first, to: root)
        for _ in 0..<2 { _ = first.step() }
        try RewardCheckpoint.save(first, to: root)
        let newest = try #require(RewardCheckpoint.latest(in: root))
        #expect(newest.lastPathComponent == "step-00000004")
        // LATEST names a step whose moment file is empty.
        try Data().write(to: newest.appendingPathComponent("adam_v.f32"))

        let resumed = Self.freshTrainer()
        let before = resumed.model.parameters.values.toArray()
        #expect {
            try RewardCheckpoint.restore(resumed, from: newest)
        } throws: { error in
            guard case CheckpointError.corrupt(let path, _)? = error as? CheckpointError else { return false }
            return path.hasSuffix("step-00000004/adam_v.f32")
        }
        #expect(resumed.model.parameters.values.toArray() == before, "a refused checkpoint changed the trainer")
        #expect(resumed.progress.step == 0)
        let older = RewardCheckpoint.candidates(in: root)[1]
        try RewardCheckpoint.restore(resumed, from: older)
        #expect(resumed.progress.step == 2)
    }
}
