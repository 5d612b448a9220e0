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

/// The JSON half of a training checkpoint (the tensors are raw little-endian fp32 files beside it).
struct RewardCheckpointState: Codable {
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

/// Training checkpoints of a `RewardTrainer` under one root directory.
///
/// Layout: `root/step-NNNNNNNN/{state.json, trainable.f32, head.f32, adam_m.f32, adam_v.f32}` and
/// `root/LATEST` naming the newest complete one. A checkpoint is written into a temporary directory
/// and renamed into place, then `LATEST` is replaced by rename, so a crash at any point leaves the
/// previous checkpoint readable. Only the newest `keep` checkpoints are kept.
public enum RewardCheckpoint {
    static let latestName = "LATEST"

    public static func save(_ trainer: RewardTrainer, to root: URL, keep: Int = 1) throws {
        try commitStep(trainer.progress.step, in: root, keep: keep) { tmp in
            let range = trainer.graph.backbone.trainable
            let state = RewardCheckpointState(
                version: RewardCheckpointState.currentVersion, config: trainer.model.parameters.config,
                trainableStart: range.start, trainableEnd: range.end, headCount: trainer.model.head.count,
                pooling: trainer.model.pooling, exampleCount: trainer.examples.count,
                adamStep: trainer.optimizer.step, progress: trainer.progress)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(state).write(to: tmp.appendingPathComponent("state.json"))
            try writeFloats(trainer.model.parameters.values.pointer + range.start, count: range.count,
                            to: tmp.appendingPathComponent("trainable.f32"))
            try writeFloats(trainer.model.head.pointer, count: trainer.model.head.count,
                            to: tmp.appendingPathComponent("head.f32"))
            for (label, moments) in [("adam_m", trainer.optimizer.m), ("adam_v", trainer.optimizer.v)] {
                var data = Data()
                for buffer in moments {
                    data.append(Data(bytes: buffer.pointer, count: buffer.count * 4))
                }
                try data.write(to: tmp.appendingPathComponent("\(label).f32"))
            }
        }
    }

    /// Commits one checkpoint: `fill` writes its files into a temporary directory, which is renamed
    /// to `root/step-NNNNNNNN`; then `LATEST` is replaced by rename and older steps beyond `keep`
    /// are pruned. Every trainer's checkpoints go through here, so a crash at any point leaves the
    /// previous checkpoint readable.
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
    public static func latest(in root: URL) -> URL? {
        guard let data = try? Data(contentsOf: root.appendingPathComponent(latestName)),
              let name = String(data: data, encoding: .utf8), !name.isEmpty else { return nil }
        let dir = root.appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: dir.appendingPathComponent("state.json").path) ? dir : nil
    }

    /// Restores weights, moments and progress into a freshly built `trainer` (same model, same
    /// settings, same examples). Throws when the checkpoint belongs to another architecture or run.
    public static func restore(_ trainer: RewardTrainer, from dir: URL) throws {
        let path = dir.path
        let state: RewardCheckpointState
        do {
            state = try JSONDecoder().decode(RewardCheckpointState.self,
                                             from: Data(contentsOf: dir.appendingPathComponent("state.json")))
        } catch {
            throw CheckpointError.corrupt(path: path, reason: "state.json: \(error)")
        }
        guard state.version == RewardCheckpointState.currentVersion else {
            throw CheckpointError.corrupt(path: path, reason: "version \(state.version), expected \(RewardCheckpointState.currentVersion)")
        }
        let config = trainer.model.parameters.config
        if state.config != config {
            throw CheckpointError.architectureMismatch(path: path, field: "model config",
                                                       expected: describe(config), found: describe(state.config))
        }
        let range = trainer.graph.backbone.trainable
        if state.trainableStart != range.start || state.trainableEnd != range.end {
            throw CheckpointError.architectureMismatch(
                path: path, field: "trainable range", expected: "\(range.start)..<\(range.end)",
                found: "\(state.trainableStart)..<\(state.trainableEnd)")
        }
        if state.exampleCount != trainer.examples.count {
            throw CheckpointError.architectureMismatch(path: path, field: "training items",
                                                       expected: "\(trainer.examples.count)", found: "\(state.exampleCount)")
        }
        try readFloats(into: trainer.model.parameters.values.pointer + range.start, count: range.count,
                       from: dir.appendingPathComponent("trainable.f32"))
        try readFloats(into: trainer.model.head.pointer, count: state.headCount, from: dir.appendingPathComponent("head.f32"))
        for (label, moments) in [("adam_m", trainer.optimizer.m), ("adam_v", trainer.optimizer.v)] {
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
        trainer.optimizer.step = state.adamStep
        trainer.progress = state.progress
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
