import APOEngine
import ArgumentParser
import Foundation

/// `apoctl model export SRC --format hf --out DIR`: a GGUF file or a model directory as a Hugging
/// Face directory (`model.safetensors`, `config.json`, `generation_config.json`, `tokenizer.json`,
/// `tokenizer_config.json`) that `AutoTokenizer` / `AutoModelForCausalLM.from_pretrained` load.
/// `--format gguf [--type f32|f16|q8_0|q4_1] --out FILE`: a GGUF that llama.cpp loads.
struct ModelExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model (.gguf or model directory) as a Hugging Face directory or a GGUF file.",
        discussion: """
        hf: weights are written as fp32 (GGUF blocks dequantised). A reward-model directory (with \
        reward_model.json) is written as a LlamaForSequenceClassification directory: head score.weight, \
        pad_token_id chosen so that Hugging Face pools the token apo pools.
        gguf: matrices in --type (f32 reloads bit-exactly; q8_0/q4_1 blocks as ggml's reference \
        quantisers make them), norms in f32; a reward head is not written (GGUF has no place for it).
        """)

    @Argument(help: ArgumentHelp("A .gguf file or a model directory.", valueName: "source"))
    var source: String

    @Option(name: .long, help: "Output format: hf or gguf.")
    var format: String = "hf"

    @Option(name: .long, help: "GGUF weight type: f32, f16, q8_0 or q4_1 (gguf only).")
    var type: String?

    @Option(name: .long, help: "Directory (hf; replaced whole if it exists) or file (gguf) to write.")
    var out: String

    func validate() throws {
        guard format == "hf" || format == "gguf" else { throw ValidationError("--format \(format): expected hf or gguf") }
        if let type {
            guard format == "gguf" else { throw ValidationError("--type applies to --format gguf only") }
            guard GGUFExport.typeNames[type] != nil else {
                throw ValidationError("--type \(type): expected one of \(GGUFExport.typeNames.keys.sorted().joined(separator: ", "))")
            }
        }
    }

    func run() throws {
        let loaded = try ModelLoader.load(path: source)
        let destination = URL(fileURLWithPath: out)
        if format == "gguf" {
            let typeName = type ?? "f32"
            var tokenizer = loaded.tokenizer.data
            tokenizer.chatTemplate = loaded.chatTemplate
            let name = URL(fileURLWithPath: source).deletingPathExtension().lastPathComponent
            try GGUFExport.write(loaded.parameters, tokenizer: tokenizer, type: GGUFExport.typeNames[typeName]!, name: name, to: destination)
            if !loaded.extraTensors.isEmpty {
                print("note: not written (no GGUF place for them): \(loaded.extraTensors.keys.sorted().joined(separator: ", "))")
            }
            print("wrote \(destination.path) (GGUF \(typeName): \(loaded.config.layerCount) blocks, vocabulary \(loaded.config.vocabSize))")
            return
        }
        let settings = URL(fileURLWithPath: source).appendingPathComponent(RewardModelFiles.settingsFileName)
        if FileManager.default.fileExists(atPath: settings.path) {
            // A reward model: head, framing and pooling kept; config.json for LlamaForSequenceClassification.
            let rm = try RewardModelFiles.load(path: source)
            try RewardModelFiles.save(rm.model, tokenizer: rm.tokenizer, chatTemplate: rm.chatTemplate,
                                      frozenBlocks: rm.frozenBlocks, to: destination)
            guard let pad = RewardModelFiles.huggingFacePadID(rm.model) else {
                print("wrote \(destination.path) (reward model; its \(rm.model.pooling.rawValue) pooling has no Hugging Face counterpart, so config.json says LlamaForCausalLM)")
                return
            }
            print("wrote \(destination.path) (reward model: LlamaForSequenceClassification, score.weight, pad_token_id \(pad); "
                  + "feed [BOS] query [SEP] response [EOS] as apo frames it, right-padded with \(pad))")
            return
        }
        try ModelLoader.saveDirectory(loaded.parameters, tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate,
                                      to: destination)
        print("wrote \(destination.path) (Hugging Face directory: \(loaded.config.layerCount) blocks, vocabulary \(loaded.config.vocabSize))")
    }
}
