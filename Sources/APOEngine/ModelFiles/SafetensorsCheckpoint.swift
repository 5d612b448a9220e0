import Foundation

/// A model directory's weights: `model.safetensors`, or Hugging Face's sharded form —
/// `model.safetensors.index.json` (`{"weight_map": {tensor: shard file}}`) naming
/// `model-0000X-of-0000N.safetensors` files in the same directory. Every tensor is looked up by
/// name across the shards; a name in two shards, or a shard the index names that is missing, is
/// an error naming the file.
public struct SafetensorsCheckpoint {
    public static let indexFileName = "model.safetensors.index.json"

    public let files: [SafetensorsFile]
    private let fileOfTensor: [String: Int]

    /// The weights of `directory`: `model.safetensors` if present, else the shards the index names.
    public init(directory: URL) throws {
        let single = directory.appendingPathComponent(ModelLoader.weightsFileName)
        let index = directory.appendingPathComponent(Self.indexFileName)
        let fm = FileManager.default
        if fm.fileExists(atPath: single.path) || !fm.fileExists(atPath: index.path) {
            try self.init(files: [SafetensorsFile(path: single.path)])
            return
        }
        try self.init(files: Self.shardNames(index: index).map {
            try SafetensorsFile(path: directory.appendingPathComponent($0).path)
        })
    }

    init(files: [SafetensorsFile]) throws {
        var map: [String: Int] = [:]
        for (i, file) in files.enumerated() {
            for tensor in file.tensors {
                if let other = map[tensor.name] {
                    throw ModelFileError.duplicate(file: file.path, kind: "tensor (also in \(files[other].path))", name: tensor.name)
                }
                map[tensor.name] = i
            }
        }
        self.files = files
        fileOfTensor = map
    }

    /// The distinct shard file names of an index's `weight_map`, sorted; each a plain file name.
    static func shardNames(index: URL) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: index) } catch {
            throw ModelFileError.cannotOpen(file: index.path, reason: error.localizedDescription)
        }
        guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let map = top["weight_map"] as? [String: Any] else {
            throw ModelFileError.invalid(file: index.path, field: "weight_map", expected: "an object of tensor name: shard file", found: "something else")
        }
        var names = Set<String>()
        for (tensor, value) in map {
            guard let name = value as? String, !name.isEmpty, !name.contains("/"), name != "..", name != "." else {
                throw ModelFileError.invalid(file: index.path, field: "weight_map.\(tensor)", expected: "a file name in the same directory", found: "\(value)")
            }
            names.insert(name)
        }
        guard !names.isEmpty else {
            throw ModelFileError.invalid(file: index.path, field: "weight_map", expected: "at least one shard", found: "none")
        }
        return names.sorted()
    }

    /// Where to report a tensor-level problem: the one file, or the shard holding `name` (else the first).
    public func path(of name: String) -> String {
        files[fileOfTensor[name] ?? 0].path
    }

    public var tensors: [SafetensorsTensorInfo] { files.flatMap(\.tensors) }

    public func tensor(named name: String) -> SafetensorsTensorInfo? {
        fileOfTensor[name].flatMap { files[$0].tensor(named: name) }
    }

    /// Writes tensor `name` (which must exist) as fp32 into `destination`.
    public func read(_ name: String, into destination: UnsafeMutablePointer<Float>) throws {
        guard let i = fileOfTensor[name], let info = files[i].tensor(named: name) else {
            throw ModelFileError.missingTensor(file: files.first?.path ?? "", tensor: name)
        }
        try files[i].read(info, into: destination)
    }

    public func floats(_ name: String) throws -> [Float] {
        guard let i = fileOfTensor[name] else { throw ModelFileError.missingTensor(file: files.first?.path ?? "", tensor: name) }
        return try files[i].floats(name)
    }
}
