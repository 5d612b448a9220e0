import Foundation

/// Joins the output files of a sharded job's shards (`ShardExpansion` makes this job; a pipeline
/// file cannot name the kind): the JSON lists in `parts`, in that order, become one list under the
/// output name `output`, in the file `file`.
///
/// The lists are joined as bytes — `[a,b]` and `[c]` give `[a,b,c]` — not decoded and encoded
/// again: a number read back from its decimal text can come back one ulp off (see
/// `ScoreKind.scoreResumably`), and the merged file must be the unsharded job's byte for byte.
/// Each part is parsed first, so a truncated or foreign file fails the job naming that file.
public enum MergeShardsKind: JobKind {
    public static let name = "merge-shards"
    public static let version = 1
    public static let parameters = [
        ParameterSpec("parts", .pathList, help: "the shards' output files (JSON lists), in shard order"),
        ParameterSpec("output", .string, help: "the output name the merged file is returned under (samples, scores)"),
        ParameterSpec("file", .artifactName, help: "the merged file's name in the job's folder"),
    ]
    /// Whatever `output` names: the sharded output of a shardable kind.
    public static let outputs = [GenerateKind.shardedOutput, ScoreKind.shardedOutput]

    public static func run(_ context: any JobContext) throws -> JobOutputs {
        let parts = try EvaluateKind.stringList(context, "parts")
        let output = try context.stringParam("output")
        var items: [Data] = []
        for (k, path) in parts.enumerated() {
            try context.checkCancelled()
            items.append(try listItems(URL(fileURLWithPath: path)))
            context.reportProgress(done: k + 1, total: parts.count, message: nil)
        }
        let merged = Data("[".utf8) + items.filter { !$0.isEmpty }.joined(separator: Data(",".utf8)) + Data("]".utf8)
        let url = try context.writeArtifact(named: try context.stringParam("file")) { try merged.write(to: $0) }
        context.log("merge-shards: \(parts.count) shards → \(url.lastPathComponent) (\(merged.count) bytes)")
        return [output: .string(url.path)]
    }

    /// The bytes between a compact JSON list's brackets (empty for `[]`), after checking that the
    /// file is a JSON list written without surrounding whitespace, as `JSONListFile.encode` writes.
    static func listItems(_ url: URL) throws -> Data {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw FormatError(file: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        _ = try JSONListFile.parse(data, file: url.path)
        guard data.first == UInt8(ascii: "["), data.last == UInt8(ascii: "]") else {
            throw FormatError(file: url.path, message: "a shard's list must start with '[' and end with ']' (no whitespace around it)")
        }
        return Data(data.dropFirst().dropLast())
    }
}
