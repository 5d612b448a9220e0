import APOEngine
import APOPipeline
import ArgumentParser
import Foundation

/// `apoctl rm …`: reward-model work without the daemon — score a samples file, evaluate on a pairs
/// file, benchmark training and scoring throughput.
struct RMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Reward-model one-shots: score samples, evaluate on pairs, benchmark.",
        subcommands: [Score.self, Eval.self, BenchRM.self])

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Score an LLM samples file with a reward model; writes the spec's scores file.")
        @Option(name: .long, help: "Reward model directory (from train-rm).") var model: String
        @Option(name: .long, help: "LLM samples file (query_id, query, sample_0…).") var samples: String
        @Option(name: .long, help: "Where to write the scores file.") var out: String
        @Option(name: .long) var batch: Int = 8
        @Option(name: .long) var maxLength: Int = 512
        @Option(name: .long) var threads: Int = 2

        func run() throws {
            let rm = try RewardModelFiles.load(path: model)
            let items = try LLMSamplesFile.read(URL(fileURLWithPath: samples))
            let scores = RewardScoring.scoreSamples(items, model: rm.model, tokenizer: rm.tokenizer, maxLength: maxLength,
                                                    batch: batch, threads: threads) { done, total in
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

        func run() throws {
            let rm = try RewardModelFiles.load(path: model)
            let url = URL(fileURLWithPath: pairs)
            let (examples, report) = try RewardScoring.examples(fromPairsFile: url, tokenizer: rm.tokenizer,
                                                                format: rm.model.format, maxLength: maxLength)
            let scorer = RewardScorer(model: rm.model, batchSize: batch,
                                      maxSeqLen: examples.flatMap { $0.sequences.map(\.count) }.max() ?? 1, threads: threads)
            let metrics = scorer.evaluate(examples)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(RewardEvaluation(metrics: metrics, data: report)), as: UTF8.self))
        }
    }

    struct BenchRM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bench",
            abstract: "Training (fwd+bwd+AdamW) and scoring tokens/s, MFU against measured sgemm peak, peak memory.")
        @Option(name: .long, help: "Backbone: a .gguf file or model directory.") var model: String
        @Option(name: .long) var seqLen: Int = 256
        @Option(name: .long, help: "Sequences per micro-batch.") var microBatch: Int = 4
        @Option(name: .long, help: "Top blocks that train (the rest frozen).") var trainableLayers: Int = 30
        @Option(name: .long) var threads: Int = 2
        @Option(name: .long, help: "Timed optimiser steps.") var steps: Int = 3
        @Flag(name: .long) var json = false

        func run() throws {
            let loaded = try ModelLoader.load(path: model, threads: threads)
            let result = RewardModelBenchmark.run(parameters: loaded.parameters, seqLen: seqLen, microBatch: microBatch,
                                                  trainableLayers: trainableLayers, threads: threads, steps: steps,
                                                  log: { if !json { print($0) } })
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                print(String(format: "train: %.1f tokens/s, MFU %.1f%%; score: %.1f tokens/s, MFU %.1f%%; peak RSS %.0f MB",
                             result.trainTokensPerSecond, 100 * result.trainMFU, result.scoreTokensPerSecond,
                             100 * result.scoreMFU, result.peakResidentMB))
            }
        }
    }
}
