import APOJSON
/// The part of its input one shard job works on: shard `index` (1-based) of `count`.
///
/// `ShardExpansion` sets the params `shard_index` and `shard_count` on each shard job. No kind
/// declares them, so an unsharded job's params, its DAG bytes and its memo key stay as they were,
/// and a pipeline file cannot set them by hand ("unknown parameter").
public struct ShardSelection: Equatable, Sendable, CustomStringConvertible {
    public static let indexParameter = "shard_index"
    public static let countParameter = "shard_count"

    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// The job's shard, or nil for an unsharded job.
    public static func of(_ params: [String: JSONValue]) throws -> ShardSelection? {
        let index = params[indexParameter], count = params[countParameter]
        if index == nil && count == nil { return nil }
        guard let i = index?.intValue, let k = count?.intValue, k >= 1, (1...k).contains(i) else {
            throw JobParameterError.invalid(name: indexParameter, message: "shard \(index?.interpolatedText ?? "none") of "
                                            + "\(count?.interpolatedText ?? "none") is not a shard (1 ≤ \(indexParameter) ≤ \(countParameter))")
        }
        return ShardSelection(index: i, count: k)
    }

    /// The items `[a, b)` of `itemCount` this shard works on. The `⌈itemCount / chunkSize⌉` chunks
    /// are dealt out as contiguous runs (shard i gets chunks `⌊(i-1)C/K⌋ ..< ⌊iC/K⌋`), so every
    /// shard starts on a chunk boundary and computes exactly the chunks the unsharded job would.
    /// Throws `ShardError`, whichever the shard, when there are fewer chunks than shards.
    public func itemRange(itemCount: Int, chunkSize: Int, items: String, chunkSizeName: String) throws -> Range<Int> {
        let chunks = (itemCount + chunkSize - 1) / chunkSize
        guard chunks >= count else {
            throw ShardError(shard: self, itemCount: itemCount, chunks: chunks, chunkSize: chunkSize,
                             items: items, chunkSizeName: chunkSizeName)
        }
        let first = (index - 1) * chunks / count, end = index * chunks / count
        return (first * chunkSize)..<min(itemCount, end * chunkSize)
    }

    /// How the job's log names it: "shard 2 of 4".
    public var description: String { "shard \(index) of \(count)" }
}

/// A sharded job has more shards than its input has chunks, so some shard would do nothing: every
/// shard fails at once (another attempt cannot help), the pipeline's `shards` must change.
public struct ShardError: Error, CustomStringConvertible, Equatable {
    public let shard: ShardSelection
    public let itemCount: Int
    public let chunks: Int
    public let chunkSize: Int
    /// What the items are ("queries").
    public let items: String
    /// The parameter or constant that sets the chunk size, for the advice.
    public let chunkSizeName: String

    public var description: String {
        "\(shard.count) shards are more than the \(chunks) chunk\(chunks == 1 ? "" : "s") of \(chunkSize) (\(chunkSizeName)) "
            + "that \(itemCount) \(items) make, and a shard takes whole chunks so that the merged file is the unsharded "
            + "job's byte for byte; use shards: \(max(1, chunks)) or fewer"
    }
}
