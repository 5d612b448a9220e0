import Foundation
import Testing
@testable import APOEngine
@testable import APOPipeline

/// Filling the frozen-trunk cache ahead of training: jobs that fill the same cache at once compute
/// each sequence once between them, a claim left by a dead process is taken over, and a live one
/// is waited for.
@Suite(.serialized)
struct TrunkPrefillTests {
    static let config = TrunkStateCacheTests.config

    /// A graph whose block 0 is frozen, bound to `cache`'s store for the model of `seed` 1.
    static func graph(_ cache: TrunkStateCache, maxBatch: Int = 1) -> (LlamaTrainingGraph, DiskTrunkStore) {
        let parameters = TrunkStateCacheTests.parameters(seed: 1)
        let graph = LlamaTrainingGraph(parameters: parameters, trainableLayers: 1, maxBatch: maxBatch, maxSeqLen: 24, threads: 1)
        let store = cache.trunk(parameters: parameters, frozenBlocks: 1, computeIdentity: "fp32")
        graph.useFrozenTrunk(store, depth: 1)
        return (graph, store)
    }

    static func sequences(_ count: Int) -> [[Int32]] {
        (0..<count).map { (i: Int) -> [Int32] in
            let length = 3 + i % 20
            return (0..<length).map { (j: Int) -> Int32 in Int32((j * 7 + i * 3) % 13) }
        }
    }

    @Test func twoJobsFillingOneCacheComputeEachSequenceOnce() async throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let cache = TrunkStateCache(root: dir.file("cache"), capacityBytes: 100_000_000)
        let sequences = Self.sequences(120)
        let outcomes = await withTaskGroup(of: TrunkPrefill.Outcome?.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let (graph, store) = Self.graph(cache)
                    return try? TrunkPrefill.run(sequences, graph: graph, store: store, poll: 0.01, checkStop: {})
                }
            }
            var all: [TrunkPrefill.Outcome] = []
            for await outcome in group { if let outcome { all.append(outcome) } }
            return all
        }
        #expect(outcomes.count == 2)
        let unique = Set(sequences).count
        #expect(outcomes.map(\.computed).reduce(0, +) == unique, "\(outcomes)")
        #expect(outcomes.allSatisfy { $0.computed + $0.byOthers + $0.found == unique }, "\(outcomes)")

        // What was kept is what a training batch computes: a lone graph reads every sequence.
        let (graph, store) = Self.graph(TrunkStateCache(root: dir.file("cache"), capacityBytes: 100_000_000))
        let again = try TrunkPrefill.run(sequences, graph: graph, store: store, checkStop: {})
        #expect(again == TrunkPrefill.Outcome(computed: 0, found: unique, byOthers: 0))
        let fresh = TrunkStateCache(root: dir.file("fresh"), capacityBytes: 100_000_000)
        let (reference, referenceStore) = Self.graph(fresh, maxBatch: 1)
        for sequence in sequences.prefix(10) {
            reference.prefillFrozenTrunk([sequence])
            var computed = [Float](repeating: 0, count: sequence.count * Self.config.hiddenSize)
            var read = computed
            #expect(referenceStore.load(sequence[...], into: &computed))
            #expect(store.load(sequence[...], into: &read))
            #expect(computed.map(\.bitPattern) == read.map(\.bitPattern))
        }
    }

    /// What a training batch keeps for a text is what the text alone gives, bit for bit: the
    /// batch around it (others' lengths, the padding) must not reach the cache. (Computed beside
    /// others, some states differ in the last fp16 bit.)
    @Test func keptStatesDoNotDependOnTheBatchAroundThem() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let (batched, batchedStore) = Self.graph(TrunkStateCache(root: dir.file("batched"), capacityBytes: 100_000_000), maxBatch: 4)
        let (alone, aloneStore) = Self.graph(TrunkStateCache(root: dir.file("alone"), capacityBytes: 100_000_000))
        var differing = 0
        for group in stride(from: 0, to: 40, by: 4) {
            let sequences = Array(Self.sequences(44)[group..<(group + 4)])
            let T = sequences.map(\.count).max()!
            var tokens = [Int32](repeating: 0, count: 4 * T)
            for (b, sequence) in sequences.enumerated() { tokens.replaceSubrange((b * T)..<(b * T + sequence.count), with: sequence) }
            _ = batched.forward(tokens: tokens, lengths: sequences.map(\.count), batch: 4, seqLen: T)
            for sequence in sequences {
                alone.prefillFrozenTrunk([sequence])
                var fromBatch = [Float](repeating: 0, count: sequence.count * Self.config.hiddenSize)
                var fromAlone = fromBatch
                #expect(batchedStore.load(sequence[...], into: &fromBatch))
                #expect(aloneStore.load(sequence[...], into: &fromAlone))
                if fromBatch.map(\.bitPattern) != fromAlone.map(\.bitPattern) { differing += 1 }
            }
        }
        #expect(differing == 0, "\(differing) of 40 texts kept other states from a batch than alone")
    }

    @Test func anAbandonedClaimIsTakenOverAndALiveOneWaitedFor() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let cache = TrunkStateCache(root: dir.file("cache"), capacityBytes: 100_000_000)
        let (graph, store) = Self.graph(cache)
        let sequences = Self.sequences(6)
        // A crashed job's claim (no such process on this host) and a live one (this process).
        let dead = TrunkClaim.url(forEntry: store.url(for: sequences[0][...]))
        let live = TrunkClaim.url(forEntry: store.url(for: sequences[1][...]))
        try FileManager.default.createDirectory(at: dead.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: live.deletingLastPathComponent(), withIntermediateDirectories: true)
        try "\(ProcessInfo.processInfo.hostName) 2147483646\n".write(to: dead, atomically: true, encoding: .utf8)
        try "\(ProcessInfo.processInfo.hostName) \(getpid())\n".write(to: live, atomically: true, encoding: .utf8)
        // The live claim's holder gives up after a while without computing: the prefill does it.
        let released = Date().addingTimeInterval(0.5)
        let holder = Thread { Thread.sleep(until: released); unlink(live.path) }
        holder.start()
        var reports: [[Int]] = []
        let outcome = try TrunkPrefill.run(sequences, graph: graph, store: store, poll: 0.05, checkStop: {}) { done, total in
            reports.append([done, total])
        }
        #expect(Date() >= released, "the live claim was waited for")
        #expect(outcome == TrunkPrefill.Outcome(computed: 6, found: 0, byOthers: 0))
        // Progress: nothing held at first, then one more per sequence, the waited-for one last.
        #expect(reports == (0...6).map { [$0, 6] }, "\(reports)")
        #expect(sequences.allSatisfy { store.holds($0) })
        #expect(!FileManager.default.fileExists(atPath: dead.path))
    }

    @Test func aStopBetweenBatchesLeavesNoClaimBehind() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let cache = TrunkStateCache(root: dir.file("cache"), capacityBytes: 100_000_000)
        let (graph, store) = Self.graph(cache)
        var checks = 0
        #expect(throws: JobCancelled.self) {
            _ = try TrunkPrefill.run(Self.sequences(12), graph: graph, store: store, checkStop: {
                checks += 1
                if checks == 2 { throw JobCancelled() }
            })
        }
        let claims = FileManager.default.enumerator(atPath: cache.root.path)?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".claim") } ?? []
        #expect(claims.isEmpty, "\(claims)")
    }
}
