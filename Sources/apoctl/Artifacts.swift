import APOReport
import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Artifacts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the files and model directories a run's jobs produced, with sha256 and size.",
            discussion: "A directory (a trained model) is one entry of type 'directory': its sha256 covers the relative path and contents of every file below it, its size is their total.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id.", valueName: "run"))
        var runID: Int64

        struct Entry: Encodable {
            let job: String
            let name: String
            let path: String
            /// "file" or "directory".
            let type: String
            let sha256: String
            let size: Int64
        }

        func run() throws {
            let store = try global.openStore()
            _ = try requireRun(runID, in: store)
            let keys = Dictionary(uniqueKeysWithValues: try store.jobs(runID: runID).map { ($0.id, $0.key) })
            let entries = try store.artifacts(runID: runID).map {
                Entry(job: keys[$0.jobID] ?? String($0.jobID), name: $0.name, path: $0.path, type: $0.type.rawValue,
                      sha256: $0.sha256, size: $0.size)
            }
            if global.json { return try global.printJSON(entries) }
            if entries.isEmpty { return print("run \(runID) has no artifacts yet") }
            for e in entries {
                print("\(Formatting.column(e.job, 24)) \(Formatting.column(e.name, 28)) \(Formatting.column(e.type, 9)) \(Formatting.column(Formatting.bytes(e.size), 10)) \(e.sha256.prefix(12))  \(e.path)")
            }
        }
    }
}
