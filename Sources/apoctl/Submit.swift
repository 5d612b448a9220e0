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

        @Option(name: .customLong("params"), help: ArgumentHelp("A params preset: a YAML file of param values and matrix lists applied over the pipeline's, before --param.", valueName: "file"))
        var preset: String?

        @Option(name: .customLong("param"), help: ArgumentHelp("Override a pipeline parameter; matrix.KEY=[v1,v2] replaces a matrix key's list.", valueName: "name=value"))
        var params: [String] = []

        @Option(name: .long, help: ArgumentHelp("Directory under which the run's artifact folder is created.", discussion: "Defaults to $APO_ARTIFACTS, then to artifacts/ next to an SQLite database. With PostgreSQL it must be given: a folder every worker host mounts at the same path."))
        var artifacts: String?

        func run() throws {
            var overrides: [String: String] = [:]
            for assignment in params {
                guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                    throw CommandFailure(code: .usage, message: "error: --param '\(assignment)' is not name=value")
                }
                overrides[String(assignment[..<eq])] = String(assignment[assignment.index(after: eq)...])
            }
            // With --server, `--artifacts` is a folder on apod's side; $APO_ARTIFACTS is this
            // machine's, so it is not sent (apod uses its own).
            let request = SubmitRequest(file: file, preset: preset, overrides: overrides,
                                        artifacts: artifacts ?? (global.serverURL == nil ? ProcessInfo.processInfo.environment["APO_ARTIFACTS"] : nil))
            let submitted = try global.runService(creatingDatabase: true).submit(request)
            if global.json {
                try global.printJSON(["run": Int(submitted.runID), "jobs": submitted.jobCount])
            } else {
                print(submitted.runID)
            }
        }
    }
}
