import Foundation
@testable import APOEngine

/// The real SmolLM2 model, loaded once for all inference tests of a test process.
enum RealSmolLM {
    static let loaded: Result<LoadedModel, Error> = Result {
        try ModelLoader.load(path: try ModelFilesTestSupport.smolLMPath(), threads: 2)
    }
    static let model: Result<LlamaModel, Error> = Result { try LlamaModel(loaded: try loaded.get()) }

    static func fixture(_ path: String) throws -> Data {
        guard let url = Bundle.module.url(forResource: "Fixtures/" + path, withExtension: nil) else {
            throw ModelFilesTestSupport.MissingModel(path: "Fixtures/" + path)
        }
        return try Data(contentsOf: url)
    }
}
