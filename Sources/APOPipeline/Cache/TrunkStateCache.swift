import APOEngine
import Crypto
import Foundation

/// The host's cache of frozen-trunk states (`FrozenTrunkStore`), shared by every job and run that
/// trains or scores on the same frozen backbone: `ROOT/trunks/<trunk>/<xx>/<sequence>.f16`, where
/// `<trunk>` digests the frozen weights, their depth, the model's shape and the arithmetic, and
/// `<sequence>` the token ids. Files are written whole (temporary name, then rename), so readers on
/// other processes see an entry completely or not at all. Least recently used entries (by file
/// modification time, refreshed on every hit) go first once the cache outgrows `capacityBytes`.
public final class TrunkStateCache: @unchecked Sendable {
    public let root: URL
    public let capacityBytes: Int
    private let lock = NSLock()
    private var writtenSinceTrim = 0

    public init(root: URL, capacityBytes: Int) {
        self.root = root
        self.capacityBytes = max(0, capacityBytes)
    }

    /// `$APO_CACHE_DIR` (default `$XDG_CACHE_HOME/apo`, else `~/.cache/apo`), capped at
    /// `$APO_CACHE_MAX_MB` megabytes (default 4096).
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> TrunkStateCache {
        let root: URL
        if let dir = environment["APO_CACHE_DIR"], !dir.isEmpty {
            root = URL(fileURLWithPath: dir)
        } else if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
            root = URL(fileURLWithPath: xdg).appendingPathComponent("apo")
        } else {
            root = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/apo")
        }
        let megabytes = environment["APO_CACHE_MAX_MB"].flatMap { Int($0) } ?? 4096
        return TrunkStateCache(root: root, capacityBytes: megabytes * 1_000_000)
    }

    var trunksDirectory: URL { root.appendingPathComponent("trunks") }

    /// The store for the first `frozenBlocks` blocks of `parameters` computed with `computeIdentity`
    /// (a `ComputePath.identity`: another arithmetic gives other states, so other entries).
    public func trunk(parameters: ModelParameters, frozenBlocks: Int, computeIdentity: String) -> DiskTrunkStore {
        let digest = Self.trunkDigest(parameters: parameters, frozenBlocks: frozenBlocks, computeIdentity: computeIdentity)
        return DiskTrunkStore(cache: self, directory: trunksDirectory.appendingPathComponent(digest),
                              hiddenSize: parameters.config.hiddenSize)
    }

    /// Digest of what a trunk's states depend on: format version, model shape, depth, arithmetic,
    /// and the bytes of every weight below the first trainable block (embedding and frozen blocks).
    static func trunkDigest(parameters p: ModelParameters, frozenBlocks: Int, computeIdentity: String) -> String {
        let c = p.config
        let depth = max(0, min(frozenBlocks, c.layerCount))
        let end = depth < c.layerCount ? p.layout.layers[depth].attentionNorm : p.layout.finalNorm
        var hasher = SHA256()
        let header = "apo-frozen-trunk-1 hidden=\(c.hiddenSize) ffn=\(c.intermediateSize) heads=\(c.headCount) "
            + "kv=\(c.kvHeadCount) theta=\(c.ropeTheta) eps=\(c.rmsNormEps) vocab=\(c.vocabSize) depth=\(depth) "
            + "compute=\(computeIdentity)\n"
        hasher.update(data: Data(header.utf8))
        hasher.update(bufferPointer: UnsafeRawBufferPointer(start: p.values.pointer, count: end * MemoryLayout<Float>.size))
        return hasher.finalize().map { String(format: "%02x", $0) }.joined().prefix(32).description
    }

    /// Called after each entry written: trims once a further tenth of the capacity has been written.
    func noteWritten(bytes: Int) {
        lock.lock()
        writtenSinceTrim += bytes
        let due = writtenSinceTrim > capacityBytes / 10
        if due { writtenSinceTrim = 0 }
        lock.unlock()
        if due { trim() }
    }

    /// Removes least recently used entries until the cache holds at most 90 % of its capacity, and
    /// temporary files a killed writer left behind (an hour old: no write takes that long).
    public func trim() {
        removeAbandonedTemporaries(olderThan: Date().addingTimeInterval(-3600))
        var entries = listEntries()
        var total = entries.reduce(0) { $0 + $1.bytes }
        guard total > capacityBytes else { return }
        entries.sort { $0.used < $1.used }
        for e in entries where total > capacityBytes * 9 / 10 {
            try? FileManager.default.removeItem(at: e.url)
            total -= e.bytes
        }
    }

    public struct Stats: Sendable, Equatable {
        public var entries = 0
        public var bytes = 0
        /// Entries per trunk digest.
        public var trunks: [String: Int] = [:]
    }

    public func stats() -> Stats {
        var s = Stats()
        for e in listEntries() {
            s.entries += 1
            s.bytes += e.bytes
            s.trunks[e.url.deletingLastPathComponent().deletingLastPathComponent().lastPathComponent, default: 0] += 1
        }
        return s
    }

    /// Removes every entry (the cache's own folder only).
    public func clear() throws {
        if FileManager.default.fileExists(atPath: trunksDirectory.path) {
            try FileManager.default.removeItem(at: trunksDirectory)
        }
    }

    struct Entry { let url: URL; let bytes: Int; let used: Date }

    func removeAbandonedTemporaries(olderThan cutoff: Date) {
        guard let walker = FileManager.default.enumerator(at: trunksDirectory,
                                                          includingPropertiesForKeys: [.contentModificationDateKey]) else { return }
        for case let url as URL in walker where url.lastPathComponent.hasPrefix(".") {
            let modified = (try? url.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate
            if let modified, modified < cutoff { try? FileManager.default.removeItem(at: url) }
        }
    }

    func listEntries() -> [Entry] {
        let keys: [URLResourceKey] = [.fileSizeKey, .contentModificationDateKey, .isRegularFileKey]
        guard let walker = FileManager.default.enumerator(at: trunksDirectory, includingPropertiesForKeys: keys) else {
            return []
        }
        var entries: [Entry] = []
        for case let url as URL in walker where url.pathExtension == DiskTrunkStore.fileExtension {
            guard let v = try? url.resourceValues(forKeys: Set(keys)), v.isRegularFile == true else { continue }
            entries.append(Entry(url: url, bytes: v.fileSize ?? 0, used: v.contentModificationDate ?? .distantPast))
        }
        return entries
    }
}
