import APOBenchmarks
import APOEngine
import APOJSON
import APOPipeline
import ArgumentParser
import Foundation

/// `apoctl rm …`: reward-model work without the daemon — score a samples file, evaluate on a pairs
/// file, benchmark training and scoring throughput.
struct RMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Reward-model one-shots: score samples, evaluate on pairs, benchmark.",
        subcommands: [Train.self, Score.self, Eval.self, BenchRM.self])

    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the train-rm job kind in this process (no daemon); resumable from OUT/checkpoint.",
            discussion: "Any train-rm parameter can be set with --set NAME=JSON, e.g. --set lr=2e-5 --set trainable_layers=4.")
        @Option(name: .long, help: "Pairs files to train on.") var train: [String]
        @Option(name: .long, help: "Pairs files to evaluate on.") var eval: [String] = []
        @Option(name: .long, help: "Backbone (.gguf, model directory or reward-model directory).") var initModel: String
        @Option(name: .long, help: "Output directory (model/, metrics.json, checkpoint/).") var out: String
        @Option(name: .customLong("set"), help: "NAME=JSON parameter override.") var overrides: [String] = []
        @Option(name: .long) var threads: Int = 2

        func run() throws {
            var params: [String: JSONValue] = [:]
            for spec in TrainRMKind.parameters { if let d = spec.defaultValue { params[spec.name] = d } }
            params["train"] = .array(train.map { .string($0) })
            params["eval"] = .array(eval.map { .string($0) })
            params["init"] = .string(initModel)
            params["threads"] = .int(threads)
            for o in overrides {
                guard let eq = o.firstIndex(of: "=") else { throw ValidationError("--set \(o): expected NAME=JSON") }
                let name = String(o[..<eq]), raw = String(o[o.index(after: eq)...])
                guard TrainRMKind.parameters.contains(where: { $0.name == name }) else {
                    throw ValidationError("--set \(name): train-rm has no such parameter")
                }
                params[name] = (try? JSONValue.fromJSON(raw)) ?? .string(raw)
            }
            let context = try LocalJobContext(params: params, root: URL(fileURLWithPath: out), threads: threads)
            let outputs = try TrainRMKind.run(context)
            for (k, v) in outputs.sorted(by: { $0.key < $1.key }) { print("\(k): \(v.stringValue ?? "")") }
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score an LLM samples file with a reward model; writes the spec's scores file.")
        @Option(name: .long, help: "Reward model directory (from train-rm).") var model: String
        @Option(name: .long, help: "LLM samples file (query_id, query, sample_0…).") var samples: String
        @Option(name: .long, help: "Where to write the scores file.") var out: String
        @Option(name: .long) var batch: Int = 8
        @Option(name: .long) var maxLength: Int = 512
        @Option(name: .long) var threads: Int = 2
        @Option(name: .long, help: "fp32 or bf16 (default: bf16 where the CPU has it).") var precision: ComputePrecision?

        func run() throws {
            let path = try ComputePath.resolve(precision)
            FileHandle.standardError.write(Data("compute: \(path)\n".utf8))
            let rm = try RewardModelFiles.load(path: model)
            let items = try LLMSamplesFile.read(URL(fileURLWithPath: samples))
            let scores = RewardScoring.scoreSamples(items, model: rm.model, tokenizer: rm.tokenizer, maxLength: maxLength,
                                                    batch: batch, threads: threads, precision: path.precision) { done, total in
                FileHandle.standardError.write(Data("\r\(done)/\(total)".utf8))
            }
            FileHandle.standardError.write(Data("\n".utf8))
            try RMScoresFile.write(scores, to: URL(fileURLWithPath: out))
            print("wrote \(scores.count) scores to \(out)")
        }
    }

    struct Eval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Evaluate a reward model on a pairs file: preference accuracy, average score, ECE/ACE/MCE.")
        @Option(name: .long, help: "Reward model directory (from train-rm).") var model: String
        @Option(name: .long, help: "Pairs file (text-scores).") var pairs: String
        @Option(name: .long) var batch: Int = 8
        @Option(name: .long) var maxLength: Int = 512
        @Option(name: .long) var threads: Int = 2
        @Option(name: .long, help: "fp32 or bf16 (default: bf16 where the CPU has it).") var precision: ComputePrecision?

        func run() throws {
            let path = try ComputePath.resolve(precision)
            FileHandle.standardError.write(Data("compute: \(path)\n".utf8))
            let rm = try RewardModelFiles.load(path: model)
            let url = URL(fileURLWithPath: pairs)
            let (examples, report) = try RewardScoring.examples(fromPairsFile: url, tokenizer: rm.tokenizer,
                                                                format: rm.model.format, maxLength: maxLength)
            let scorer = RewardScorer(model: rm.model, batchSize: batch,
                                      maxSeqLen: examples.flatMap { $0.sequences.map(\.count) }.max() ?? 1, threads: threads,
                                      precision: path.precision)
            let metrics = scorer.evaluate(examples)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(RewardEvaluation(metrics: metrics, data: report)), as: UTF8.self))
        }
    }

    /// `apoctl rm bench` (the same measurement as `apoctl bench rm`).
    struct BenchRM: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "bench", abstract: RMBenchOptions.abstract)
        @OptionGroup var options: RMBenchOptions
        func run() throws { try options.run() }
    }
}

/// `apoctl bench rm`: register under `Bench`'s subcommands (same options as `apoctl rm bench`).
struct BenchRMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: RMBenchOptions.abstract)
    @OptionGroup var options: RMBenchOptions
    func run() throws { try options.run() }
}

struct RMBenchOptions: ParsableArguments {
    static let abstract = "Reward-model training (fwd+bwd+AdamW) and scoring tokens/s, MFU against the measured sgemm peak, peak memory."
    @Option(name: .long, help: "Backbone: a .gguf file or model directory.") var model: String
    @Option(name: .long) var seqLen: Int = 256
    @Option(name: .long, help: "Sequences per micro-batch.") var microBatch: Int = 4
    @Option(name: .long, help: "Top blocks that train (the rest frozen).") var trainableLayers: Int = 30
    @Option(name: .long) var threads: Int = 2
    @Option(name: .long, help: "Timed optimiser steps.") var steps: Int = 3
    @Option(name: .long, help: "fp32 or bf16 (default: bf16 where the CPU has it).") var precision: ComputePrecision?
    @Flag(name: .long, help: "Keep only each trained block's input; re-compute the rest in the backward pass.")
    var gradientCheckpointing = false
    @Flag(name: .long) var json = false

    func run() throws {
        let path = try ComputePath.resolve(precision)
        let loaded = try ModelLoader.load(path: model, threads: threads)
        let result = RewardModelBenchmark.run(parameters: loaded.parameters, seqLen: seqLen, microBatch: microBatch,
                                              trainableLayers: trainableLayers, threads: threads, steps: steps,
                                              path: path, gradientCheckpointing: gradientCheckpointing,
                                              log: { if !json { print($0) } })
        if json {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(String(format: "train: %.1f tokens/s, MFU %.1f%%; score: %.1f tokens/s, MFU %.1f%%; peak RSS %.0f MB (%.0f MB at start)",
                         result.trainTokensPerS, 100 * result.trainMfu, result.scoreTokensPerS,
                         100 * result.scoreMfu, Double(result.peakRssBytes) / 1e6, Double(result.startRssBytes) / 1e6))
        }
    }
}

/// A `JobContext` over a plain directory, for running a job kind in-process: logs and metrics go to
/// standard error, artifacts into the directory, checkpoints into `checkpoint/` beneath it.
final class LocalJobContext: JobContext {
    let params: [String: JSONValue]
    let outputDirectory: URL
    let checkpointDirectory: URL
    let threads: Int
    let trunkCache = TrunkStateCache.standard()

    init(params: [String: JSONValue], root: URL, threads: Int) throws {
        self.params = params
        outputDirectory = root
        checkpointDirectory = root.appendingPathComponent("checkpoint")
        self.threads = threads
        try FileManager.default.createDirectory(at: checkpointDirectory, withIntermediateDirectories: true)
    }

    private func err(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
    func reportProgress(done: Int, total: Int, message: String?) { err("[\(done)/\(total)] \(message ?? "")") }
    func log(_ line: String) { err(line) }
    func recordMetric(step: Int, name: String, value: Double) {
        if !name.hasPrefix("eval_") && name != "loss" { return }  // progress lines already show the rest
        err("metric step \(step) \(name) \(value)")
    }
    func checkCancelled() throws {}
    @discardableResult
    func writeArtifact(named name: String, _ write: (URL) throws -> Void) throws -> URL {
        let tmp = outputDirectory.appendingPathComponent(".\(name).tmp-\(getpid())")
        try write(tmp)
        let final = outputDirectory.appendingPathComponent(name)
        guard rename(tmp.path, final.path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: final.path])
        }
        return final
    }
}
