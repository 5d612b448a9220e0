import APOEngine
import Foundation

/// Fills a trunk store with the states of a job's sequences before the job trains. Without it,
/// jobs that train on the same texts at the same time (the base RMs of a matrix's seeds) each
/// compute every text's frozen blocks, because each meets them in its own shuffled order. Here
/// every job walks its sequences in one shared order (by entry name), claims each before computing
/// it (`TrunkClaim`), and at the end waits for what other jobs claimed — computing it after all if
/// their claims were abandoned. Which job computes which sequence depends on timing; that cannot
/// reach a result, because the graph computes every missing sequence alone
/// (`LlamaTrainingGraph.restoreFrozenTrunk`).
public enum TrunkPrefill {
    public struct Outcome: Equatable, CustomStringConvertible {
        /// Sequences computed here, found in the store, and filled by other jobs meanwhile.
        public var computed = 0, found = 0, byOthers = 0
        public var description: String {
            "\(computed) sequences computed here, \(found) already cached, \(byOthers) computed by other jobs meanwhile"
        }
    }

    /// Whether filling the store with `sequences` ahead of training fits the cache: a prefill the
    /// size cap would evict again before training reads it only doubles the work.
    public static func fits(_ sequences: [[Int32]], hiddenSize: Int, capacityBytes: Int) -> Bool {
        let bytes = sequences.reduce(0) { $0 + $1.count * (2 * hiddenSize + 4) + 64 }
        return bytes <= capacityBytes / 2
    }

    /// - Parameters:
    ///   - graph: a graph bound to `store` (`useFrozenTrunk`); sequences longer than it takes are left
    ///     to training, which computes them as it meets them.
    ///   - checkStop: throws when the job must stop (checked before each sequence).
    ///   - progress: (distinct sequences in the store now, distinct sequences in all), after each.
    public static func run(_ sequences: [[Int32]], graph: LlamaTrainingGraph, store: DiskTrunkStore,
                           poll: TimeInterval = 0.2, checkStop: () throws -> Void,
                           progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> Outcome {
        var seen = Set<String>()
        let unique = sequences.filter { $0.count > 0 && $0.count <= graph.maxSeqLen }
            .map { (sequence: $0, entry: store.url(for: $0[...])) }
            .filter { seen.insert($0.entry.lastPathComponent).inserted }
            .sorted { $0.entry.lastPathComponent < $1.entry.lastPathComponent }
        var outcome = Outcome()
        var pending = unique.filter { !store.holds($0.sequence) }
        outcome.found = unique.count - pending.count
        func report() { progress(outcome.found + outcome.computed + outcome.byOthers, unique.count) }
        report()
        while !pending.isEmpty {
            var claimedElsewhere: [(sequence: [Int32], entry: URL)] = []
            for item in pending {
                if store.holds(item.sequence) { outcome.byOthers += 1; report(); continue }
                guard let claim = TrunkClaim.take(entry: item.entry) else { claimedElsewhere.append(item); continue }
                defer { claim.release() }
                if store.holds(item.sequence) { outcome.byOthers += 1; report(); continue }
                try checkStop()
                graph.prefillFrozenTrunk([item.sequence])
                outcome.computed += 1
                report()
            }
            pending = claimedElsewhere
            if !pending.isEmpty {
                try checkStop()
                Thread.sleep(forTimeInterval: poll)
            }
        }
        return outcome
    }
}
