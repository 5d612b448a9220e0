import APOJSON
import APOPipeline
import Foundation

/// The identity of a job's work: equal keys ⇒ equal outputs (the `JobKind` purity contract).
///
/// Hashes the kind name, the kind's version, the compute path (for kinds with one), the resolved parameters as canonical JSON (sorted
/// keys) in which every input file the parameters point at is replaced by its sha256, so an
/// upstream artifact whose bytes changed gives a new key even when its path did not, and one whose
/// bytes did not change keeps the key even when it moved.
public struct MemoKey: Equatable, CustomStringConvertible {
    public let value: String
    /// Input path → sha256, for logs ("reused because these inputs matched").
    public let inputDigests: [String: String]

    public var description: String { value }

    /// - Parameters:
    ///   - dependencyPaths: every string value found in the dependencies' outputs; a param equal
    ///     to one of these that names a file or directory is an input artifact.
    public static func compute(
        kind: String, kindVersion: Int, params: [String: JSONValue],
        dependencyPaths: Set<String>, computeIdentity: String? = nil
    ) throws -> MemoKey {
        var digests: [String: String] = [:]
        for path in Set(stringLeaves(of: .object(params))) {
            guard let digest = try digestIfInput(path, fromDependency: dependencyPaths.contains(path)) else {
                continue
            }
            digests[path] = digest
        }
        // An input file enters the key by content, not by location: a dependency recomputed into
        // a new run folder with the same bytes still lets its dependents be reused.
        let canonical = try canonicalJSON(.object(params.mapValues { replacingPaths($0, with: digests) }))
        var material = "kind=\(kind)\nversion=\(kindVersion)\nparams=\(canonical)\n"
        // The arithmetic is part of the work: a bf16 result is never reused for fp32, nor one
        // computed by another kernel family (whose fp32 bits differ too).
        if let computeIdentity { material += "compute=\(computeIdentity)\n" }
        return MemoKey(value: FileDigest.sha256(of: Data(material.utf8)), inputDigests: digests)
    }

    /// The parameters that decide a job's outputs: all but the knobs declared `changesOutputs:
    /// false` (e.g. `gradient_checkpointing`), so flipping one of those reuses earlier results.
    public static func outputParameters(_ params: [String: JSONValue],
                                        declared: [ParameterSpec]) -> [String: JSONValue] {
        params.filter { name, _ in declared.first { $0.name == name }?.changesOutputs ?? true }
    }

    /// Files are hashed wherever they come from (a changed local dataset must invalidate the
    /// key); directories only when a dependency produced them, so a parameter such as "/" can
    /// never start a walk of the whole disk.
    static func digestIfInput(_ path: String, fromDependency: Bool) throws -> String? {
        guard !path.isEmpty, !path.contains("\n"), path.utf8.count < 4096 else { return nil }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return nil }
        let url = URL(fileURLWithPath: path)
        if isDirectory.boolValue {
            return fromDependency ? try FileDigest.sha256(ofDirectory: url) : nil
        }
        return try FileDigest.sha256(ofFile: url)
    }

    /// Sorted keys and no escaped slashes: one byte sequence per value.
    public static func canonicalJSON(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func replacingPaths(_ value: JSONValue, with digests: [String: String]) -> JSONValue {
        switch value {
        case .string(let s): return digests[s].map { .string("sha256:" + $0) } ?? value
        case .array(let items): return .array(items.map { replacingPaths($0, with: digests) })
        case .object(let fields): return .object(fields.mapValues { replacingPaths($0, with: digests) })
        default: return value
        }
    }

    static func stringLeaves(of value: JSONValue) -> [String] {
        switch value {
        case .string(let s): return [s]
        case .array(let items): return items.flatMap(stringLeaves)
        case .object(let fields): return fields.values.flatMap(stringLeaves)
        default: return []
        }
    }
}
