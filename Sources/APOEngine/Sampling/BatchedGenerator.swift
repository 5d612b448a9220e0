import Foundation

/// One sequence to generate: prompt ids and the seed of its own random stream.
public struct GenerationRequest: Sendable, Equatable {
    public var prompt: [Int32]
    public var seed: UInt64

    public init(prompt: [Int32], seed: UInt64) {
        self.prompt = prompt
        self.seed = seed
    }
}

/// Why a sequence stopped.
public enum FinishReason: String, Sendable, Codable {
    /// The model produced EOS (or another control token: the end of its turn/document).
    case endOfSequence
    /// The text reached a stop string; the text from the stop string on was cut.
    case stopString
    /// `maxNewTokens` were generated.
    case length
}

public struct GenerationResult: Sendable, Equatable {
    /// Index of the request in the list given to `generate`.
    public var requestIndex: Int
    public var text: String
    /// Generated ids (without EOS; up to and including the token that completed a stop string).
    public var tokens: [Int32]
    public var finishReason: FinishReason
    /// Prompt length after left truncation.
    public var promptTokenCount: Int
}

/// Settings of a generation run.
public struct GenerationOptions: Sendable, Equatable {
    public var sampling: SamplingParameters
    public var maxNewTokens: Int
    /// Longer prompts keep their last `maxPromptTokens` ids (the end of a dialogue matters most).
    public var maxPromptTokens: Int
    /// Generation stops when the text contains one of these; the text is cut before it.
    public var stopStrings: [String]
    /// Sequences decoded together (KV-cache slots).
    public var slots: Int
    /// Prompt tokens processed per step, shared by the slots still reading their prompt.
    public var prefillRowsPerStep: Int
    /// Which weights steps of few rows read (`InferenceState.quantisedRowLimit`).
    public var decodeWeights: DecodeWeights

    public static let defaultStopStrings = ["\n\nHuman:", "<|im_end|>"]

    public init(sampling: SamplingParameters = SamplingParameters(), maxNewTokens: Int = 256,
                maxPromptTokens: Int = 512, stopStrings: [String] = GenerationOptions.defaultStopStrings,
                slots: Int = 16, prefillRowsPerStep: Int = 512, decodeWeights: DecodeWeights = .file) {
        self.sampling = sampling
        self.maxNewTokens = maxNewTokens
        self.maxPromptTokens = maxPromptTokens
        self.stopStrings = stopStrings
        self.slots = slots
        self.prefillRowsPerStep = prefillRowsPerStep
        self.decodeWeights = decodeWeights
    }

    public func validate(contextLength: Int) throws {
        try sampling.validate()
        guard maxNewTokens > 0 else { throw GenerationError.invalidOption("max new tokens \(maxNewTokens) must be > 0") }
        guard maxPromptTokens > 0 else { throw GenerationError.invalidOption("max prompt tokens \(maxPromptTokens) must be > 0") }
        guard slots > 0 else { throw GenerationError.invalidOption("slots \(slots) must be > 0") }
        guard prefillRowsPerStep > 0 else { throw GenerationError.invalidOption("prefill rows per step must be > 0") }
        guard maxPromptTokens + maxNewTokens <= contextLength else {
            throw GenerationError.contextExceeded(promptTokens: maxPromptTokens, newTokens: maxNewTokens, context: contextLength)
        }
    }
}

public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case contextExceeded(promptTokens: Int, newTokens: Int, context: Int)
    case emptyPrompt(requestIndex: Int)

    public var description: String {
        switch self {
        case .invalidOption(let why): return "generation: \(why)"
        case let .contextExceeded(p, n, c):
            return "generation: max prompt tokens (\(p)) + max new tokens (\(n)) exceed the model's context of \(c) tokens"
        case .emptyPrompt(let i): return "generation: request \(i) has an empty prompt"
        }
    }
}

/// Continuous batching: a fixed number of KV-cache slots; each step runs one `forward` over the new
/// rows of every active slot (prompt chunks and one sampled token each), and a finished sequence
/// frees its slot for the next request at once.
///
/// Each request draws from its own `SplitMix64(seed)`, one draw per generated token, so its output
/// does not depend on which other requests share the batch. Requests with the same prompt share
/// its computation: a later one waits for the first to have read the prompt and copies its cache.
public final class BatchedGenerator {
    public let model: LlamaModel
    public let tokenizer: any Tokenizer
    public let options: GenerationOptions
    public let threads: Int
    private let state: InferenceState

    public init(model: LlamaModel, tokenizer: any Tokenizer, options: GenerationOptions, threads: Int) throws {
        try options.validate(contextLength: model.config.contextLength)
        self.model = model
        self.tokenizer = tokenizer
        self.options = options
        self.threads = threads
        state = InferenceState(model: model, slots: options.slots,
                               maxPositions: options.maxPromptTokens + options.maxNewTokens, threads: threads,
                               decodeWeights: options.decodeWeights)
    }

    private struct Sequence {
        let requestIndex: Int
        let promptCount: Int
        var tokens: [Int32]        // prompt, then generated ids
        var fed: Int = 0           // ids already in the cache
        var leader: Int?           // slot whose prompt cache this one will copy
        var rng: SplitMix64
        var decoder: StreamingDecoder
        var text = ""
        var generated: Int { tokens.count - promptCount }
    }

    /// Generates all requests, calling `onResult` as each finishes (in completion order). Each step
    /// fills free slots, lets followers copy their leader's prompt cache, runs one forward pass over
    /// every decoding slot's last id and prompt chunks within the prefill budget, then samples.
    public func generate(_ requests: [GenerationRequest], onResult: (GenerationResult) throws -> Void) throws {
        for (i, r) in requests.enumerated() where r.prompt.isEmpty { throw GenerationError.emptyPrompt(requestIndex: i) }
        let sampler = Sampler(options.sampling)
        var slots = [Sequence?](repeating: nil, count: options.slots)
        var next = 0
        while true {
            fillFreeSlots(&slots, from: requests, next: &next)
            if slots.allSatisfy({ $0 == nil }) { break }
            copyLeaderPrompts(&slots)
            let step = stepRows(&slots)
            guard !step.tokens.isEmpty else { continue }
            try state.forward(tokens: step.tokens, slots: step.rowSlots, positions: step.positions, output: .rows(step.outputs))
            let sampled = sample(step.outputSlots, &slots, sampler: sampler)
            try apply(sampled, to: step.outputSlots, &slots, onResult: onResult)
        }
    }

    /// Starts the next requests in free slots; a prompt equal to a running leader's becomes its follower.
    private func fillFreeSlots(_ slots: inout [Sequence?], from requests: [GenerationRequest], next: inout Int) {
        for s in slots.indices where slots[s] == nil && next < requests.count {
            let prompt = Array(requests[next].prompt.suffix(options.maxPromptTokens))
            let leader = slots.indices.first { l in
                guard let other = slots[l], other.leader == nil, other.promptCount == prompt.count else { return false }
                return other.tokens.prefix(other.promptCount).elementsEqual(prompt)
            }
            slots[s] = Sequence(requestIndex: next, promptCount: prompt.count, tokens: prompt, leader: leader,
                                rng: SplitMix64(seed: requests[next].seed),
                                decoder: StreamingDecoder(tokenizer: tokenizer))
            next += 1
        }
    }

    /// Followers whose leader has read all but the last prompt token copy its cache.
    private func copyLeaderPrompts(_ slots: inout [Sequence?]) {
        for s in slots.indices {
            guard var seq = slots[s], let l = seq.leader, let lead = slots[l] else { continue }
            let shared = seq.promptCount - 1
            if lead.fed >= shared {
                state.cache.copyPrefix(from: l, to: s, length: shared)
                seq.fed = shared
                seq.leader = nil
                slots[s] = seq
            }
        }
    }

    /// One forward pass's rows: which slot and position each id is, and the rows whose logits are sampled.
    private struct StepRows {
        var tokens: [Int32] = [], rowSlots: [Int] = [], positions: [Int32] = []
        var outputs: [Int] = [], outputSlots: [Int] = []
    }

    /// Every decoding slot's last id first, then prompt chunks within `prefillRowsPerStep`; marks them fed.
    private func stepRows(_ slots: inout [Sequence?]) -> StepRows {
        var rows = StepRows()
        var budget = options.prefillRowsPerStep
        for pass in 0..<2 {
            for s in slots.indices {
                guard var seq = slots[s], seq.leader == nil else { continue }
                let pending = seq.tokens.count - seq.fed
                let isDecoding = seq.fed >= seq.promptCount
                guard pending > 0, (pass == 0) == isDecoding else { continue }
                let take = isDecoding ? pending : min(pending, budget)
                guard take > 0 else { continue }
                if !isDecoding { budget -= take }
                for i in seq.fed..<(seq.fed + take) {
                    rows.tokens.append(seq.tokens[i]); rows.rowSlots.append(s); rows.positions.append(Int32(i))
                }
                seq.fed += take
                if seq.fed == seq.tokens.count {
                    rows.outputs.append(rows.tokens.count - 1)
                    rows.outputSlots.append(s)
                }
                slots[s] = seq
            }
        }
        return rows
    }

    /// Samples every output row in parallel (each row has its own logits and draw).
    private func sample(_ outputSlots: [Int], _ slots: inout [Sequence?], sampler: Sampler) -> [Int32] {
        let draws = outputSlots.map { s -> Double in slots[s]!.rng.nextUniform() }
        var sampled = [Int32](repeating: 0, count: outputSlots.count)
        let contexts = outputSlots.map { slots[$0]!.tokens }
        sampled.withUnsafeMutableBufferPointer { out in
            parallelFor(outputSlots.count, threads: threads) { range in
                for i in range {
                    out[i] = sampler.sample(logits: state.logits(i), context: contexts[i], uniform: draws[i])
                }
            }
        }
        return sampled
    }

    /// Appends each sampled id in slot order; a sequence that ends (end of sequence, length, stop
    /// string) is reported and frees its slot.
    private func apply(_ sampled: [Int32], to outputSlots: [Int], _ slots: inout [Sequence?],
                       onResult: (GenerationResult) throws -> Void) throws {
        let vocab = model.config.vocabSize
        for (i, s) in outputSlots.enumerated() {
            var seq = slots[s]!
            let token = sampled[i]
            var finish: FinishReason?
            if token == tokenizer.eosID || Int(token) >= vocab || tokenizer.isControl(token) {
                finish = .endOfSequence
            } else {
                seq.tokens.append(token)
                seq.text += seq.decoder.append(token)
                if seq.generated >= options.maxNewTokens {
                    seq.text += seq.decoder.finish()
                    finish = .length
                }
                if let cut = firstStop(in: seq.text) {
                    seq.text = String(seq.text[..<cut])
                    finish = .stopString
                }
            }
            guard let finish else { slots[s] = seq; continue }
            if finish == .endOfSequence { seq.text += seq.decoder.finish() }
            try onResult(GenerationResult(
                requestIndex: seq.requestIndex, text: seq.text,
                tokens: Array(seq.tokens[seq.promptCount...]), finishReason: finish,
                promptTokenCount: seq.promptCount))
            slots[s] = nil
            // A follower of this slot that has not copied yet must read its prompt itself.
            for f in slots.indices where slots[f]?.leader == s { slots[f]!.leader = nil }
        }
    }

    /// All results, in request order.
    public func generate(_ requests: [GenerationRequest]) throws -> [GenerationResult] {
        var results = [GenerationResult?](repeating: nil, count: requests.count)
        try generate(requests) { results[$0.requestIndex] = $0 }
        return results.map { $0! }
    }

    private func firstStop(in text: String) -> String.Index? {
        var best: String.Index?
        for stop in options.stopStrings where !stop.isEmpty {
            if let r = text.range(of: stop), best == nil || r.lowerBound < best! { best = r.lowerBound }
        }
        return best
    }
}
