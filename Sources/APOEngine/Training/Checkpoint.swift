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
/// naming the newest complete one. A checkpoint is written into a temporary directory, fsynced,
/// renamed into place and the root fsynced; only then is `LATEST` replaced (by rename, fsynced
/// too). So after a crash at any point, `LATEST` names a step whose files are on disk. The newest
/// `keep` steps are kept (two by default), so that a newest step found unreadable anyway (a disk
/// that lied, a hand edit) leaves an older one to resume from (`candidates(in:)`).
enum TrainingCheckpoint {
    static let latestName = "LATEST"

    /// Commits one checkpoint: `fill` writes its files into a temporary directory, which is made
    /// durable and renamed to `root/step-NNNNNNNN`; then `LATEST` is replaced by rename and older
    /// steps beyond `keep` are pruned. `root`'s parent must exist: a writer whose folder was taken
    /// away (an attempt that lost its lease) fails here instead of recreating it.
    static func commitStep(_ step: Int, in root: URL, keep: Int, fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: root.path) {
            try fm.createDirectory(at: root, withIntermediateDirectories: false)
        }
        let name = String(format: "step-%08d", step)
        let tmp = root.appendingPathComponent(".\(name).tmp-\(getpid())")
        try? fm.removeItem(at: tmp)
        try fm.createDirectory(at: tmp, withIntermediateDirectories: false)
        try fill(tmp)
        try Durability.flushTree(path: tmp.path)
        let final = root.appendingPathComponent(name)
        // Re-saving a step (a cancel right after a periodic save) replaces it; one writer per root.
        try? fm.removeItem(at: final)
        guard rename(tmp.path, final.path) == 0 else {
            throw CheckpointError.corrupt(path: final.path, reason: "cannot rename into place: \(String(cString: strerror(errno)))")
        }
        try Durability.flush(path: root.path)
        let latestTmp = root.appendingPathComponent(".\(latestName).tmp-\(getpid())")
        try Durability.write(Data(name.utf8), to: latestTmp)
        // rename(2) replaces atomically (Foundation's replaceItemAt needs an existing destination on Linux).
        guard rename(latestTmp.path, root.appendingPathComponent(latestName).path) == 0 else {
            throw CheckpointError.corrupt(path: root.path, reason: "cannot update \(latestName): errno \(errno)")
        }
        try Durability.flush(path: root.path)
        // Prune older checkpoints only after LATEST points at the new one.
        let steps = (try fm.contentsOfDirectory(atPath: root.path)).filter { $0.hasPrefix("step-") }.sorted()
        for old in steps.dropLast(max(keep, 1)) where old != name {
            try? fm.removeItem(at: root.appendingPathComponent(old))
        }
    }

    /// The newest complete checkpoint under `root`, or nil when there is none.
    static func latest(in root: URL) -> URL? { candidates(in: root).first }

    /// Every checkpoint under `root` worth trying, best first: the one `LATEST` names, then the
    /// other steps, newest first. A step without `state.json` is not a checkpoint.
    static func candidates(in root: URL) -> [URL] {
        let fm = FileManager.default
        var names = ((try? fm.contentsOfDirectory(atPath: root.path)) ?? [])
            .filter { $0.hasPrefix("step-") }.sorted(by: >)
        if let data = try? Data(contentsOf: root.appendingPathComponent(latestName)),
           let latest = String(data: data, encoding: .utf8), let i = names.firstIndex(of: latest) {
            names.insert(names.remove(at: i), at: 0)
        }
        return names.map { root.appendingPathComponent($0) }
            .filter { fm.fileExists(atPath: $0.appendingPathComponent("state.json").path) }
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

    /// Reads both moment files, checking their sizes, without touching the optimiser yet: a
    /// restore reads and checks everything first, so a checkpoint found broken halfway leaves the
    /// trainer as it was (and an older checkpoint, or a fresh start, can follow).
    static func readMoments(for optimizer: AdamW, from dir: URL) throws -> [Data] {
        let expected = optimizer.m.reduce(0) { $0 + $1.count } * 4
        return try ["adam_m", "adam_v"].map { label in
            try readBytes(dir.appendingPathComponent("\(label).f32"), expected: expected)
        }
    }

    static func applyMoments(_ data: [Data], to optimizer: AdamW) {
        for (moments, bytes) in zip([optimizer.m, optimizer.v], data) {
            bytes.withUnsafeBytes { raw in
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

    /// The file's bytes, refused unless there are exactly `expected` of them.
    static func readBytes(_ url: URL, expected: Int) throws -> Data {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw CheckpointError.corrupt(path: url.path, reason: "cannot read: \(error)")
        }
        guard data.count == expected else {
            throw CheckpointError.corrupt(path: url.path, reason: "\(data.count) bytes, expected \(expected)")
        }
        return data
    }

    static func copy(_ data: Data, into p: UnsafeMutablePointer<Float>) {
        data.withUnsafeBytes { raw in _ = memcpy(p, raw.baseAddress!, data.count) }
    }
}

/// Training checkpoints of a `RewardTrainer`: the `TrainingCheckpoint` layout plus `head.f32`.
public enum RewardCheckpoint {
    public static func save(_ trainer: RewardTrainer, to root: URL, keep: Int = 2) throws {
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

    /// Checkpoints under `root` worth trying, best first.
    public static func candidates(in root: URL) -> [URL] { TrainingCheckpoint.candidates(in: root) }

    /// Restores weights, moments and progress into a freshly built `trainer` (same model, same
    /// settings, same examples). Throws when the checkpoint belongs to another architecture or run,
    /// or is unreadable, having changed nothing in `trainer`.
    public static func restore(_ trainer: RewardTrainer, from dir: URL) throws {
        let range = trainer.graph.backbone.trainable
        let state = try TrainingCheckpoint.readState(
            RewardCheckpointState.self, from: dir, config: trainer.model.parameters.config, trainable: range,
            exampleCount: trainer.examples.count, examplesField: "training items")
        guard state.headCount == trainer.model.head.count else {
            throw CheckpointError.architectureMismatch(path: dir.path, field: "reward head size",
                                                       expected: "\(trainer.model.head.count)", found: "\(state.headCount)")
        }
        let trainable = try TrainingCheckpoint.readBytes(dir.appendingPathComponent("trainable.f32"), expected: range.count * 4)
        let head = try TrainingCheckpoint.readBytes(dir.appendingPathComponent("head.f32"), expected: state.headCount * 4)
        let moments = try TrainingCheckpoint.readMoments(for: trainer.optimizer, from: dir)
        TrainingCheckpoint.copy(trainable, into: trainer.model.parameters.values.pointer + range.start)
        TrainingCheckpoint.copy(head, into: trainer.model.head.pointer)
        TrainingCheckpoint.applyMoments(moments, to: trainer.optimizer)
        trainer.optimizer.step = state.adamStep
        trainer.progress = state.progress
    }
}
