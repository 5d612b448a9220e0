import Foundation
import Testing
@testable import APOEngine
@testable import APOPipeline

/// The host's frozen-trunk cache on disk: entries read back exactly, a bad entry is a miss (and
/// gone), trunks are told apart by their frozen weights and arithmetic, and the least recently
/// used entries go first once the cache is over its size.
struct TrunkStateCacheTests {
    static let config = LlamaConfig(
        vocabSize: 13, hiddenSize: 16, intermediateSize: 24, layerCount: 2, headCount: 4, kvHeadCount: 2,
        ropeTheta: 10000, rmsNormEps: 1e-5, tiedEmbeddings: true, contextLength: 64)
    static let hidden = config.hiddenSize

    static func parameters(seed: UInt64) -> ModelParameters {
        let p = ModelParameters(config: config)
        var rng = TrainingRandom(seed: seed)
        for i in 0..<p.layout.totalCount { p.values[i] = Float(rng.nextNormal()) }
        return p
    }

    /// fp16-exact states for `rows` rows.
    static func states(rows: Int, seed: Int) -> [Float] {
        (0..<(rows * hidden)).map { Float(Float16(Float(($0 * 37 + seed * 11) % 101) / 7 - 7)) }
    }

    static func store(_ cache: TrunkStateCache, seed: UInt64 = 1, depth: Int = 1, compute: String = "fp32") -> DiskTrunkStore {
        cache.trunk(parameters: Self.parameters(seed: seed), frozenBlocks: depth, computeIdentity: compute)
    }

    @Test func entriesReadBackExactlyAndBadOnesAreMisses() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let cache = TrunkStateCache(root: dir.file("cache"), capacityBytes: 10_000_000)
        let store = Self.store(cache)
        let tokens: [Int32] = [1, 5, 9, 2]
        let saved = Self.states(rows: 4, seed: 3)
        var out = [Float](repeating: .nan, count: saved.count)
        #expect(!store.load(tokens[...], into: &out))
        saved.withUnsafeBufferPointer { store.save(tokens[...], states: $0.baseAddress!) }
        #expect(store.load(tokens[...], into: &out))
        #expect(out.map(\.bitPattern) == saved.map(\.bitPattern))
        #expect(!store.load([1, 5, 9][...], into: &out), "a prefix is another text")

        // One flipped byte in the states: the checksum fails, the entry is dropped, a miss.
        let file = store.url(for: tokens[...])
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count - 40] ^= 0x01
        try bytes.write(to: file)
        #expect(!store.load(tokens[...], into: &out))
        #expect(!FileManager.default.fileExists(atPath: file.path))
        // A torn (short) file is a miss too.
        saved.withUnsafeBufferPointer { store.save(tokens[...], states: $0.baseAddress!) }
        try Data(try Data(contentsOf: file).prefix(30)).write(to: file)
        #expect(!store.load(tokens[...], into: &out))
        // Another sequence's entry under this name (a collision) is refused by the stored token ids.
        let other: [Int32] = [1, 6, 9, 2]
        saved.withUnsafeBufferPointer { store.save(other[...], states: $0.baseAddress!) }
        try FileManager.default.copyItem(at: store.url(for: other[...]), to: file)
        #expect(!store.load(tokens[...], into: &out))
        #expect(store.hits == 1 && store.misses == 5)
    }

    @Test func trunksDifferByFrozenWeightsDepthAndArithmeticOnly() {
        let p = Self.parameters(seed: 1)
        func digest(_ p: ModelParameters, depth: Int = 1, compute: String = "fp32") -> String {
            TrunkStateCache.trunkDigest(parameters: p, frozenBlocks: depth, computeIdentity: compute)
        }
        let base = digest(p)
        #expect(digest(p, depth: 2) != base)
        #expect(digest(p, compute: "bf16/avx512-bf16") != base)
        // A trained block above the trunk (block 1 and the final norm) does not change it …
        let trained = Self.parameters(seed: 1)
        let upper = trained.layout.layers[1].attentionNorm
        for i in upper..<trained.layout.totalCount { trained.values[i] += 0.5 }
        #expect(digest(trained) == base)
        // … a frozen weight does.
        trained.values[trained.layout.layers[0].wq] += 1e-6
        #expect(digest(trained) != base)
    }

    @Test func leastRecentlyUsedEntriesGoFirstAndStatsAndClearSeeThem() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        // Each entry: 16 + 4·8 + 2·8·16 + 32 = 336 bytes; room for 10.
        let cache = TrunkStateCache(root: dir.file("cache"), capacityBytes: 3_360)
        let store = Self.store(cache)
        let states = Self.states(rows: 8, seed: 1)
        func tokens(_ i: Int) -> [Int32] { (0..<8).map { Int32(i * 8 + $0) } }
        for i in 0..<10 {
            states.withUnsafeBufferPointer { store.save(tokens(i)[...], states: $0.baseAddress!) }
            // Distinct, increasing modification times without sleeping.
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: Double(1_000 + i))],
                                                  ofItemAtPath: store.url(for: tokens(i)[...]).path)
        }
        #expect(cache.stats().entries == 10 && cache.stats().bytes == 3_360)
        var out = [Float](repeating: 0, count: states.count)
        #expect(store.load(tokens(0)[...], into: &out), "entry 0 is now the most recently used")
        for i in 10..<12 { states.withUnsafeBufferPointer { store.save(tokens(i)[...], states: $0.baseAddress!) } }
        cache.trim()
        // Over 3,360 bytes → down to 90 %: the oldest (1, 2, 3) went, the one just read stayed.
        let left = Set((0..<12).filter { FileManager.default.fileExists(atPath: store.url(for: tokens($0)[...]).path) })
        #expect(left == Set([0] + Array(4..<12)))
        #expect(cache.stats().trunks.count == 1)
        // A writer killed mid-write leaves a temporary file: an old one goes at the next trim.
        let torn = store.url(for: tokens(0)[...]).deletingLastPathComponent().appendingPathComponent(".x.f16.1.2")
        let fresh = torn.deletingLastPathComponent().appendingPathComponent(".y.f16.1.2")
        try Data([1, 2]).write(to: torn)
        try Data([1, 2]).write(to: fresh)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -7200)], ofItemAtPath: torn.path)
        cache.trim()
        #expect(!FileManager.default.fileExists(atPath: torn.path))
        #expect(FileManager.default.fileExists(atPath: fresh.path), "a write in progress is left alone")
        try cache.clear()
        #expect(cache.stats().entries == 0)
    }
}
