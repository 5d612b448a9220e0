import APOReport
import APOStore
import ArgumentParser
import Foundation

extension Apoctl {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a run's report: one self-contained HTML page (or Markdown) with the job timeline, training curves, RM and policy metrics, reward histograms and artifact links.")

        enum Format: String, ExpressibleByArgument, CaseIterable { case html, md }

        @OptionGroup var global: GlobalOptions

        @Argument(help: ArgumentHelp("Run id.", valueName: "run"))
        var runID: Int64

        @Option(name: .long, help: ArgumentHelp("Output file (default: standard output). Artifact links are relative to its directory.", valueName: "file"))
        var out: String?

        @Option(name: .long, help: "html or md.")
        var format: Format = .html

        func run() throws {
            let store = try global.openStore()
            _ = try requireRun(runID, in: store)
            let report = try global.storeCall { try RunReport.load(store: store, runID: runID) }
            let base = out.map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
                ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let text = format == .html ? report.html(base: base) : report.markdown(base: base)
            guard let out else { return print(text, terminator: "") }
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
            } catch {
                throw CommandFailure(code: .runFailed, message: "error: cannot write \(out): \(error.localizedDescription)")
            }
            for p in report.problems { FileHandle.standardError.write(Data("warning: \(p)\n".utf8)) }
            print("wrote \(out)")
        }
    }
}
