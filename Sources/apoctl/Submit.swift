import APOPipeline
import APORuntime
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    /// Validates a pipeline file and stores it as a new run; prints the run id.
    struct Submit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a pipeline YAML file and queue it as a new run.",
            discussion: "Prints the new run's id. An invalid file prints every error as FILE:LINE:COLUMN: error: … and stores nothing (exit 3).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The pipeline YAML file.")
        var file: String

        @Option(name: .customLong("param"), help: ArgumentHelp("Override a pipeline parameter.", valueName: "name=value"))
        var params: [String] = []

        @Option(name: .long, help: ArgumentHelp("Directory under which the run's artifact folder is created.", discussion: "Defaults to artifacts/ next to the database."))
        var artifacts: String?

        func run() throws {
            var overrides: [String: String] = [:]
            for assignment in params {
                guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                    throw CommandFailure(code: .usage, message: "error: --param '\(assignment)' is not name=value")
                }
                overrides[String(assignment[..<eq])] = String(assignment[assignment.index(after: eq)...])
            }
            // Validate (and check input files) before touching the database: a rejected pipeline
            // leaves no trace, not even a new empty database file.
            let pipeline: ExpandedPipeline
            do {
                pipeline = try RunSubmission.load(file: file, overrides: overrides)
            } catch let rejected as PipelineRejected {
                throw CommandFailure(code: .invalidPipeline, message: rejected.description)
            }
            let store = try global.openOrCreateStore()
            let base = artifacts.map { URL(fileURLWithPath: $0).standardizedFileURL }
                ?? RunSubmission.defaultArtifactBase(databasePath: global.databasePath)
            let submitted = try RunSubmission.submit(pipeline, store: store, artifactBase: base, now: Date())
            if global.json {
                try global.printJSON(["run": Int(submitted.runID), "jobs": submitted.jobCount])
            } else {
                print(submitted.runID)
            }
        }
    }
}
