import APOEngine
import Foundation

/// The `trunk_cache` parameter: a job's store in the host's `TrunkStateCache` for the blocks below
/// its first trained one.
enum FrozenTrunkParameter {
    struct Binding {
        let store: DiskTrunkStore
        let depth: Int
        var summary: String {
            String(format: "frozen-trunk cache (blocks 0–%d): %d sequences read, %d computed and kept (%.1f MB) in %@",
                   depth - 1, store.hits, store.misses, Double(store.bytesWritten) / 1e6, store.directory.path)
        }
    }

    /// nil when the parameter is off or no block is frozen.
    static func store(_ context: any JobContext, parameters: ModelParameters, frozenBlocks: Int) throws -> Binding? {
        guard try context.boolParam("trunk_cache"), frozenBlocks > 0 else { return nil }
        let store = context.trunkCache.trunk(parameters: parameters, frozenBlocks: frozenBlocks,
                                computeIdentity: try context.computePath().identity)
        return Binding(store: store, depth: frozenBlocks)
    }
}
