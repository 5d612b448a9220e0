import APOReport
import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Artifacts: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the files and model directories a run's jobs produced, with sha256 and size.",
            discussion: "A directory (a trained model) is one entry of type 'directory': its sha256 covers the relative path and contents of every file below it, its size is their total. With --get, copies one artifact file (named by its name, or its path in the run folder; a file below a directory artifact by its path) to --output; with --server it is downloaded and checked against its recorded sha256.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id.", valueName: "run"))
        var runID: Int64

        @Option(name: .long, help: ArgumentHelp("Copy (download) this artifact instead of listing: its name, or its path in the run folder.", valueName: "artifact"))
        var get: String?

        @Option(name: [.customShort("o"), .long], help: ArgumentHelp("With --get: where to write it (default: its file name, here).", valueName: "file"))
        var output: String?

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
            let store = try global.runService()
            let run = try store.requireRun(runID)
            if let get { return try fetch(get, of: run, from: store) }
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

        private func fetch(_ wanted: String, of run: RunRecord, from store: any RunService) throws {
            let artifacts = try store.artifacts(runID: run.id)
            let named = artifacts.filter { $0.name == wanted }
            let path = named.count == 1 ? named[0].path
                : wanted.hasPrefix("/") ? wanted : URL(fileURLWithPath: run.artifactRoot).appendingPathComponent(wanted).path
            let root = URL(fileURLWithPath: run.artifactRoot).standardizedFileURL.path + "/"
            let standardized = URL(fileURLWithPath: path).standardizedFileURL.path
            guard standardized.hasPrefix(root) else { throw CommandFailure.notFound("artifact '\(wanted)' of run \(run.id)") }
            let relative = String(standardized.dropFirst(root.count))
            let destination = URL(fileURLWithPath: output ?? URL(fileURLWithPath: relative).lastPathComponent)
            try store.fetchArtifact(run: run, relativePath: relative, to: destination)
            let size = ((try? FileManager.default.attributesOfItem(atPath: destination.path))?[.size] as? NSNumber)?.int64Value ?? 0
            print("saved \(relative) (\(Formatting.bytes(size))) to \(destination.path)")
        }
    }
}
