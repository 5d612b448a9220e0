import Foundation

/// A checkpoint that does not fit the run trying to resume from it.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case architectureMismatch(path: String, field: String, expected: String, found: String)
    case corrupt(path: String, reason: String)

    public var description: String {
        switch self {
        case let .architectureMismatch(path, field, expected, found):
            return "checkpoint \(path) belongs to another model or run: \(field) is \(found), this run has \(expected)"
        case let .corrupt(path, reason):
            return "checkpoint \(path) is unreadable: \(reason)"
        }
    }
}

/// What every trainer's `state.json` holds, whatever else it adds: enough to tell whether a
/// checkpoint fits the run resuming from it, and where that run stood.
protocol TrainingCheckpointState: Codable {
    static var currentVersion: Int { get }
    var version: Int { get }
    var config: LlamaConfig { get }
    var trainableStart: Int { get }
    var trainableEnd: Int { get }
    var exampleCount: Int { get }
    var adamStep: Int { get }
    var progress: TrainingProgress { get }
}

/// The JSON half of a reward-model checkpoint (the tensors are raw little-endian fp32 files beside it).
struct RewardCheckpointState: TrainingCheckpointState {
    static let currentVersion = 1
    var version: Int
    var config: LlamaConfig
    var trainableStart: Int
    var trainableEnd: Int
    var headCount: Int
    var pooling: RewardPooling
    var exampleCount: Int
    var adamStep: Int
    var progress: TrainingProgress
}

/// The checkpoint layout every trainer shares, under one root directory:
/// `root/step-NNNNNNNN/{state.json, trainable.f32, adam_m.f32, adam_v.f32, …}` and `root/LATEST`
/// naming the newest complete one. A checkpoint is written into a temporary directory and renamed
/// into place, then `LATEST` is replaced by rename, so a crash at any point leaves the previous
/// checkpoint readable. Only the newest `keep` checkpoints are kept.
enum TrainingCheckpoint {
    static let latestName = "LATEST"

    /// Commits one checkpoint: `fill` writes its files into a temporary directory, which is renamed
    /// to `root/step-NNNNNNNN`; then `LATEST` is replaced by rename and older steps beyond `keep`
    /// are pruned.
    static func commitStep(_ step: Int, in root: URL, keep: Int, fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: root, withIntermediateDirectories: true)
        let name = String(format: "step-%08d", step)
        let tmp = root.appendingPathComponent(".\(name).tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        try fill(tmp)
        let final = root.appendingPathComponent(name)
        try? fm.removeItem(at: final)
        try fm.moveItem(at: tmp, to: final)
        let latestTmp = root.appendingPathComponent(".\(latestName).tmp-\(getpid())")
        try Data(name.utf8).write(to: latestTmp)
        // rename(2) replaces atomically (Foundation's replaceItemAt needs an existing destination on Linux).
        guard rename(latestTmp.path, root.appendingPathComponent(latestName).path) == 0 else {
            throw CheckpointError.corrupt(path: root.path, reason: "cannot update \(latestName): errno \(errno)")
        }
        // Prune older checkpoints only after LATEST points at the new one.
        let steps = (try fm.contentsOfDirectory(atPath: root.path)).filter { $0.hasPrefix("step-") }.sorted()
        for old in steps.dropLast(max(keep, 1)) where old != name {
            try? fm.removeItem(at: root.appendingPathComponent(old))
        }
    }

    /// The newest complete checkpoint under `root`, or nil when there is none.
    static func latest(in root: URL) -> URL? {
        guard let data = try? Data(contentsOf: root.appendingPathComponent(latestName)),
              let name = String(data: data, encoding: .utf8), !name.isEmpty else { return nil }
        let dir = root.appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: dir.appendingPathComponent("state.json").path) ? dir : nil
    }

    /// Writes `state.json` (sorted keys) and the trainable weights into a checkpoint being filled.
    static func writeState(_ state: some TrainingCheckpointState, trainable: UnsafePointer<Float>, into dir: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(state).write(to: dir.appendingPathComponent("state.json"))
        try writeFloats(trainable, count: state.trainableEnd - state.trainableStart,
                        to: dir.appendingPathComponent("trainable.f32"))
    }

    /// Reads `state.json` and refuses it unless it is this version and was written by a run of the
    /// same `config`, trainable range and number of examples (`examplesField` names them in the error).
    static func readState<State: TrainingCheckpointState>(
        _: State.Type, from dir: URL, config: LlamaConfig, trainable: TrainableRange, exampleCount: Int,
        examplesField: String
    ) throws -> State {
        let path = dir.path
        let state: State
        do {
            state = try JSONDecoder().decode(State.self, from: Data(contentsOf: dir.appendingPathComponent("state.json")))
        } catch {
            throw CheckpointError.corrupt(path: path, reason: "state.json: \(error)")
        }
        guard state.version == State.currentVersion else {
            throw CheckpointError.corrupt(path: path, reason: "version \(state.version), expected \(State.currentVersion)")
        }
        if state.config != config {
            throw CheckpointError.architectureMismatch(path: path, field: "model config",
                                                       expected: describe(config), found: describe(state.config))
        }
        if state.trainableStart != trainable.start || state.trainableEnd != trainable.end {
            throw CheckpointError.architectureMismatch(
                path: path, field: "trainable range", expected: "\(trainable.start)..<\(trainable.end)",
                found: "\(state.trainableStart)..<\(state.trainableEnd)")
        }
        if state.exampleCount != exampleCount {
            throw CheckpointError.architectureMismatch(path: path, field: examplesField,
                                                       expected: "\(exampleCount)", found: "\(state.exampleCount)")
        }
        return state
    }

    /// Writes the Adam moments as `adam_m.f32` and `adam_v.f32`, each the optimiser's groups end to end.
    static func writeMoments(_ optimizer: AdamW, into dir: URL) throws {
        for (label, moments) in [("adam_m", optimizer.m), ("adam_v", optimizer.v)] {
            var data = Data()
            for buffer in moments {
                data.append(Data(bytes: buffer.pointer, count: buffer.count * 4))
            }
            try data.write(to: dir.appendingPathComponent("\(label).f32"))
        }
    }

    static func readMoments(into optimizer: AdamW, from dir: URL) throws {
        for (label, moments) in [("adam_m", optimizer.m), ("adam_v", optimizer.v)] {
            let url = dir.appendingPathComponent("\(label).f32")
            let data = try Data(contentsOf: url)
            let expected = moments.reduce(0) { $0 + $1.count } * 4
            guard data.count == expected else {
                throw CheckpointError.corrupt(path: url.path, reason: "\(data.count) bytes, expected \(expected)")
            }
            data.withUnsafeBytes { raw in
                var offset = 0
                for buffer in moments {
                    memcpy(buffer.pointer, raw.baseAddress! + offset, buffer.count * 4)
                    offset += buffer.count * 4
                }
            }
        }
    }

    static func describe(_ c: LlamaConfig) -> String {
        "vocab \(c.vocabSize), hidden \(c.hiddenSize), ffn \(c.intermediateSize), layers \(c.layerCount), heads \(c.headCount)/\(c.kvHeadCount)"
    }

    static func writeFloats(_ p: UnsafePointer<Float>, count: Int, to url: URL) throws {
        try Data(bytes: p, count: count * 4).write(to: url)
    }

    static func readFloats(into p: UnsafeMutablePointer<Float>, count: Int, from url: URL) throws {
        let data = try Data(contentsOf: url)
        guard data.count == count * 4 else {
            throw CheckpointError.corrupt(path: url.path, reason: "\(data.count) bytes, expected \(count * 4)")
        }
        data.withUnsafeBytes { raw in memcpy(p, raw.baseAddress!, count * 4) }
    }
}

/// Training checkpoints of a `RewardTrainer`: the `TrainingCheckpoint` layout plus `head.f32`.
public enum RewardCheckpoint {
    public static func save(_ trainer: RewardTrainer, to root: URL, keep: Int = 1) throws {
        try TrainingCheckpoint.commitStep(trainer.progress.step, in: root, keep: keep) { tmp in
            let range = trainer.graph.backbone.trainable
            let state = RewardCheckpointState(
                version: RewardCheckpointState.currentVersion, config: trainer.model.parameters.config,
                trainableStart: range.start, trainableEnd: range.end, headCount: trainer.model.head.count,
                pooling: trainer.model.pooling, exampleCount: trainer.examples.count,
                adamStep: trainer.optimizer.step, progress: trainer.progress)
            try TrainingCheckpoint.writeState(state, trainable: trainer.model.parameters.values.pointer + range.start,
                                              into: tmp)
            try TrainingCheckpoint.writeFloats(trainer.model.head.pointer, count: trainer.model.head.count,
                                               to: tmp.appendingPathComponent("head.f32"))
            try TrainingCheckpoint.writeMoments(trainer.optimizer, into: tmp)
        }
    }

    /// The newest complete checkpoint under `root`, or nil when there is none.
    public static func latest(in root: URL) -> URL? { TrainingCheckpoint.latest(in: root) }

    /// Restores weights, moments and progress into a freshly built `trainer` (same model, same
    /// settings, same examples). Throws when the checkpoint belongs to another architecture or run.
    public static func restore(_ trainer: RewardTrainer, from dir: URL) throws {
        let range = trainer.graph.backbone.trainable
        let state = try TrainingCheckpoint.readState(
            RewardCheckpointState.self, from: dir, config: trainer.model.parameters.config, trainable: range,
            exampleCount: trainer.examples.count, examplesField: "training items")
        try TrainingCheckpoint.readFloats(into: trainer.model.parameters.values.pointer + range.start, count: range.count,
                                          from: dir.appendingPathComponent("trainable.f32"))
        try TrainingCheckpoint.readFloats(into: trainer.model.head.pointer, count: state.headCount,
                                          from: dir.appendingPathComponent("head.f32"))
        try TrainingCheckpoint.readMoments(into: trainer.optimizer, from: dir)
        trainer.optimizer.step = state.adamStep
        trainer.progress = state.progress
    }
}
