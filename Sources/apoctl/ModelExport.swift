import APOEngine
import ArgumentParser
import Foundation

/// `apoctl model export SRC --format hf --out DIR`: a GGUF file or a model directory as a Hugging
/// Face directory (`model.safetensors`, `config.json`, `generation_config.json`, `tokenizer.json`,
/// `tokenizer_config.json`) that `AutoTokenizer` / `AutoModelForCausalLM.from_pretrained` load.
struct ModelExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model (.gguf or model directory) as a Hugging Face directory.",
        discussion: "Weights are written as fp32 (GGUF blocks dequantised). A reward-model directory keeps its head as score.weight and reward_model.json only when exported with train-rm's own writer; this command writes the backbone.")

    @Argument(help: ArgumentHelp("A .gguf file or a model directory.", valueName: "source"))
    var source: String

    @Option(name: .long, help: "Output format: hf.")
    var format: String = "hf"

    @Option(name: .long, help: "Directory to write (replaced whole if it exists).")
    var out: String

    func run() throws {
        guard format == "hf" else {
            throw ValidationError("--format \(format): only hf is written so far (gguf export is not yet there)")
        }
        let loaded = try ModelLoader.load(path: source)
        let destination = URL(fileURLWithPath: out)
        try ModelLoader.saveDirectory(loaded.parameters, tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate,
                                      to: destination)
        print("wrote \(destination.path) (Hugging Face directory: \(loaded.config.layerCount) blocks, vocabulary \(loaded.config.vocabSize))")
    }
}
