import APOEngine
import Foundation

extension ParameterSpec {
    /// `trunk_cache` of `train-rm`, `score` and `evaluate`.
    public static let trunkCache = ParameterSpec(
        "trunk_cache", .bool, default: .bool(true),
        help: "keep the hidden states entering the first trained block in the host's cache (fp16, $APO_CACHE_DIR): "
            + "each text's frozen blocks run once per backbone, across epochs, jobs and runs")
}

/// The `trunk_cache` parameter: a job's store in the host's `TrunkStateCache` for the blocks below
/// its first trained one.
public enum FrozenTrunkParameter {
    public struct Binding {
        public let store: DiskTrunkStore
        public let depth: Int
        public var summary: String {
            String(format: "frozen-trunk cache (blocks 0–%d): %d sequences read, %d computed and kept (%.1f MB) in %@",
                   depth - 1, store.hits, store.misses, Double(store.bytesWritten) / 1e6, store.directory.path)
        }
    }

    /// nil when the parameter is off or no block is frozen.
    /// `frozenBlocks`: blocks whose weights are the backbone's (a reward-model directory records them).
    static func store(_ context: any JobContext, parameters: ModelParameters, frozenBlocks: Int) throws -> Binding? {
        guard try context.boolParam("trunk_cache"), frozenBlocks > 0 else { return nil }
        let store = context.trunkCache.trunk(parameters: parameters, frozenBlocks: frozenBlocks,
                                computeIdentity: try context.computePath().identity)
        return Binding(store: store, depth: frozenBlocks)
    }
}
