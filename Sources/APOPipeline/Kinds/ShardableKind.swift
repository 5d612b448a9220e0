/// A kind whose work a pipeline may split with `shards: K` (see `ShardExpansion`).
///
/// Each of the K shard jobs is this kind with the job's params plus `shard_index` and
/// `shard_count` (`ShardSelection`), and works on a contiguous run of whole chunks of its input:
/// the very chunks the unsharded job would compute, in the same order. A `merge-shards` job then
/// concatenates the shards' JSON lists in shard order, which is the unsharded job's file byte for
/// byte — provided each kind's output list holds its items in input order and encodes each item
/// on its own, as every spec list file does (`JSONListFile.encode`).
public protocol ShardableKind: JobKind {
    /// The parameter naming the file whose items the shards split (`generate`: `input`).
    static var shardedInput: String { get }
    /// The output the shards write and the merge job concatenates (`generate`: `samples`).
    static var shardedOutput: String { get }
    /// That output's file name in the job's artifact folder (`generate`: `samples.json`).
    static var shardedOutputFile: String { get }
}

extension GenerateKind: ShardableKind {
    public static let shardedInput = "input"
    public static let shardedOutput = "samples"
    public static let shardedOutputFile = "samples.json"
}

extension ScoreKind: ShardableKind {
    /// Only a samples file splits: a pairs evaluation's metrics (accuracy, calibration) are over all items.
    public static let shardedInput = "samples"
    public static let shardedOutput = "scores"
    public static let shardedOutputFile = "scores.json"
}
