import APOPipeline
import ArgumentParser
import Foundation

extension Apoctl {
    /// `apoctl cache stats|clear`: the host's frozen-trunk cache (`trunk_cache` of `train-rm`).
    struct Cache: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "This host's cache of frozen-trunk hidden states: size, entries, clearing.",
            discussion: """
            train-rm keeps the hidden states entering each text's first trained block (fp16), keyed by the \
            frozen weights, the arithmetic and the token ids, so the frozen blocks run once per text and \
            backbone across epochs, jobs and runs. The cache lives in $APO_CACHE_DIR (default \
            $XDG_CACHE_HOME/apo, else ~/.cache/apo) and holds at most $APO_CACHE_MAX_MB megabytes \
            (default 4096); the least recently used entries go first.
            """,
            subcommands: [Stats.self, Clear.self])

        struct Stats: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Entries and bytes, per frozen trunk.")
            @Flag(name: .long, help: "One JSON object.") var json = false

            func run() throws {
                let cache = TrunkStateCache.standard()
                let s = cache.stats()
                if json {
                    let object: [String: Any] = ["directory": cache.root.path, "capacity_bytes": cache.capacityBytes,
                                                 "entries": s.entries, "bytes": s.bytes, "trunks": s.trunks]
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                    return print(String(decoding: data, as: UTF8.self))
                }
                print("\(cache.root.path): \(s.entries) entries, \(megabytes(s.bytes)) of \(megabytes(cache.capacityBytes))")
                for (trunk, count) in s.trunks.sorted(by: { $0.key < $1.key }) { print("  trunk \(trunk): \(count) entries") }
            }

            func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
        }

        struct Clear: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove every entry (running jobs only compute their states again).")

            func run() throws {
                let cache = TrunkStateCache.standard()
                let before = cache.stats()
                try cache.clear()
                print("removed \(before.entries) entries (\(String(format: "%.1f MB", Double(before.bytes) / 1e6))) from \(cache.root.path)")
            }
        }
    }
}
