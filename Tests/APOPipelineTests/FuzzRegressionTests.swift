import Foundation
import Testing
@testable import APOPipeline

/// Inputs kept from fuzzing (`scripts/fuzz`, README "Reliability: fuzzing"): every file under
/// `Fixtures/fuzz-regressions/<target>/` is fed to the reader that target fuzzes, which must throw its
/// own error type or parse cleanly — never trap or hang. `crash-*`/`oom-*`/`timeout-*` files are
/// inputs that once crashed or hung it; `corpus-*` files are inputs kept from the corpus for coverage.
struct FuzzRegressionTests {
    static func inputs(_ target: String) throws -> [URL] {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/fuzz-regressions/\(target)")
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        #expect(!files.isEmpty, "no regression inputs in \(dir.path)")
        return files
    }

    @Test func pipelineInputsExpandOrListDiagnostics() throws {
        for url in try Self.inputs("pipeline") {
            guard let yaml = String(data: try Data(contentsOf: url), encoding: .utf8) else { continue }
            do {
                _ = try PipelineSpec.expand(yaml: yaml, file: url.path)
            } catch let e as PipelineValidationError {
                #expect(!e.diagnostics.isEmpty && e.diagnostics.allSatisfy { $0.file == url.path })
            } catch {
                Issue.record("\(url.lastPathComponent): unexpected \(type(of: error)): \(error)")
            }
        }
    }

    @Test func formatInputsParseOrThrowFormatErrors() throws {
        for url in try Self.inputs("formats") {
            let readers: [(String, () throws -> Void)] = [
                ("pairs", { _ = try PreferencePairsFile.read(url) }),
                ("samples", { _ = try LLMSamplesFile.read(url) }),
                ("scores", { _ = try RMScoresFile.read(url) }),
                ("golden", { _ = try GoldenAnswersFile.read(url) }),
                ("rejection", { _ = try RejectionSamplesFile.read(url) }),
            ]
            for (name, read) in readers {
                do { try read() } catch is FormatError {} catch {
                    Issue.record("\(url.lastPathComponent) as \(name): unexpected \(type(of: error)): \(error)")
                }
            }
        }
    }

    @Test func hhInputsParseOrThrowFormatOrGzipErrors() throws {
        for url in try Self.inputs("hh") {
            do {
                let data = try Gzip.readMaybeCompressed(url)
                let (pairs, _) = try PrepareDataKind.parseHH(data, file: url.path)
                _ = PrepareDataKind.groupQueries(pairs)
            } catch is GzipError {
            } catch is FormatError {
            } catch {
                Issue.record("\(url.lastPathComponent): unexpected \(type(of: error)): \(error)")
            }
        }
    }
}
