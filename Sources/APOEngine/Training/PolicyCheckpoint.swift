import Foundation

/// The JSON half of a policy checkpoint (tensors are raw little-endian fp32 files beside it).
struct PolicyCheckpointState: TrainingCheckpointState {
    static let currentVersion = 1
    var version: Int
    var config: LlamaConfig
    var trainableStart: Int
    var trainableEnd: Int
    var exampleCount: Int
    var objective: PolicyObjective
    var adamStep: Int
    var progress: TrainingProgress
}

/// The reference log-probs of a DPO run, written once before the first step.
struct PolicyReferenceFile: Codable {
    var exampleCount: Int
    /// A digest of every example's tokens, so a changed data set is caught instead of paired with
    /// stale reference values.
    var examplesDigest: UInt64
    var logProbs: [[Double]]
}

/// Training checkpoints of a `PolicyTrainer`: the `TrainingCheckpoint` layout
/// (`root/step-NNNNNNNN/{state.json, trainable.f32, adam_m.f32, adam_v.f32}`, committed so that a
/// crash at any point leaves the previous checkpoint readable). DPO's reference log-probs live in
/// `root/reference_logprobs.json`, written once (atomically) and never recomputed on resume.
public enum PolicyCheckpoint {
    static let referenceName = "reference_logprobs.json"

    public static func save(_ trainer: PolicyTrainer, to root: URL, keep: Int = 2) throws {
        try TrainingCheckpoint.commitStep(trainer.progress.step, in: root, keep: keep) { tmp in
            let range = trainer.graph.backbone.trainable
            let state = PolicyCheckpointState(
                version: PolicyCheckpointState.currentVersion, config: trainer.parameters.config,
                trainableStart: range.start, trainableEnd: range.end, exampleCount: trainer.examples.count,
                objective: trainer.settings.objective, adamStep: trainer.optimizer.step, progress: trainer.progress)
            try TrainingCheckpoint.writeState(state, trainable: trainer.parameters.values.pointer + range.start, into: tmp)
            try TrainingCheckpoint.writeMoments(trainer.optimizer, into: tmp)
        }
    }

    /// The newest complete checkpoint under `root`, or nil when there is none.
    public static func latest(in root: URL) -> URL? { TrainingCheckpoint.latest(in: root) }

    /// Checkpoints under `root` worth trying, best first.
    public static func candidates(in root: URL) -> [URL] { TrainingCheckpoint.candidates(in: root) }

    /// Restores weights, moments and progress into a freshly built `trainer` (same model, settings
    /// and examples). Throws when the checkpoint belongs to another architecture or run, or is
    /// unreadable, having changed nothing in `trainer`.
    public static func restore(_ trainer: PolicyTrainer, from dir: URL) throws {
        let range = trainer.graph.backbone.trainable
        let state = try TrainingCheckpoint.readState(
            PolicyCheckpointState.self, from: dir, config: trainer.parameters.config, trainable: range,
            exampleCount: trainer.examples.count, examplesField: "training examples")
        if state.objective != trainer.settings.objective {
            throw CheckpointError.architectureMismatch(path: dir.path, field: "objective",
                                                       expected: "\(trainer.settings.objective)", found: "\(state.objective)")
        }
        let trainable = try TrainingCheckpoint.readBytes(dir.appendingPathComponent("trainable.f32"), expected: range.count * 4)
        let moments = try TrainingCheckpoint.readMoments(for: trainer.optimizer, from: dir)
        TrainingCheckpoint.copy(trainable, into: trainer.parameters.values.pointer + range.start)
        TrainingCheckpoint.applyMoments(moments, to: trainer.optimizer)
        trainer.optimizer.step = state.adamStep
        trainer.progress = state.progress
    }

    // MARK: - DPO reference log-probs

    /// Writes the trainer's reference log-probs under `root` (atomically).
    public static func saveReference(_ trainer: PolicyTrainer, to root: URL) throws {
        // Not with intermediates: a writer whose folder was taken away fails instead of recreating it.
        if !FileManager.default.fileExists(atPath: root.path) {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: false)
        }
        let file = PolicyReferenceFile(exampleCount: trainer.examples.count, examplesDigest: digest(trainer.examples),
                                       logProbs: trainer.examples.map(\.referenceLogProbs))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try replaceAtomically(encoder.encode(file), at: root.appendingPathComponent(referenceName))
    }

    /// Installs stored reference log-probs into `trainer`; false when `root` has none. Throws when
    /// they were computed for other examples.
    @discardableResult
    public static func restoreReference(_ trainer: PolicyTrainer, from root: URL) throws -> Bool {
        let url = root.appendingPathComponent(referenceName)
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        let file: PolicyReferenceFile
        do {
            file = try JSONDecoder().decode(PolicyReferenceFile.self, from: Data(contentsOf: url))
        } catch {
            throw CheckpointError.corrupt(path: url.path, reason: "\(error)")
        }
        let expected = digest(trainer.examples)
        guard file.exampleCount == trainer.examples.count, file.examplesDigest == expected,
              zip(file.logProbs, trainer.examples).allSatisfy({ $0.count == $1.sequences.count }) else {
            throw CheckpointError.architectureMismatch(
                path: url.path, field: "reference examples",
                expected: "\(trainer.examples.count) examples, digest \(expected)",
                found: "\(file.exampleCount) examples, digest \(file.examplesDigest)")
        }
        trainer.setReferenceLogProbs(file.logProbs)
        return true
    }

    /// FNV-1a over every example's tokens and prompt lengths.
    static func digest(_ examples: [PolicyExample]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ v: Int64) {
            var x = UInt64(bitPattern: v)
            for _ in 0..<8 { h = (h ^ (x & 0xff)) &* 0x100_0000_01b3; x >>= 8 }
        }
        for e in examples {
            mix(Int64(e.sequences.count))
            for s in e.sequences {
                mix(Int64(s.promptLength)); mix(Int64(s.tokens.count))
                for t in s.tokens { mix(Int64(t)) }
            }
        }
        return h
    }

    /// Writes `data` to a temporary file beside `url` and renames it over `url`.
    static func replaceAtomically(_ data: Data, at url: URL) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try Durability.write(data, to: tmp)
        guard rename(tmp.path, url.path) == 0 else {
            throw CheckpointError.corrupt(path: url.path, reason: "cannot replace: errno \(errno)")
        }
        try Durability.flush(path: url.deletingLastPathComponent().path)
    }
}
