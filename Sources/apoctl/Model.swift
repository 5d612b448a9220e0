import ArgumentParser

extension Apoctl {
    /// `apoctl model …`: the engine's commands, usable without the daemon.
    struct Model: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Model files: fetch, inspect, run.",
            subcommands: Model.subcommands)

        static let subcommands: [ParsableCommand.Type] = [
            ModelPull.self, ModelInfo.self, ModelTokenize.self, ModelPerplexityCommand.self, ModelExport.self,
        ]
    }
}
