import Foundation
import Testing
@testable import APOEngine

/// Each trainer's settings keep the shared loop knobs in one nested value but are written into
/// every training job's metrics.json as one flat object: that JSON must keep its shape.
struct TrainingSettingsEncodingTests {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test func rewardSettingsStayFlat() throws {
        var s = RewardTrainingSettings()
        s.epochs = 3; s.maxGradNorm = nil; s.maxLength = 64; s.trainEmbedding = true
        let json = #"{"adam":{"beta1":0.9,"beta2":0.999,"eps":1e-08,"weightDecay":0},"batchSize":8,"epochs":3,"learningRate":1e-05,"maxLength":64,"microBatchSize":2,"objective":{"apoLossCoeff":0.1,"apoSampleNum":4,"centerCoeff":0,"rmKLCoeff":1,"variant":"ranking"},"schedule":"linear","seed":0,"threads":2,"trainEmbedding":true,"trainableLayers":2,"warmupSteps":0}"#
        #expect(try Self.encode(s) == json)
        #expect(try JSONDecoder().decode(RewardTrainingSettings.self, from: Data(json.utf8)) == s)
    }

    @Test func policySettingsStayFlat() throws {
        var s = PolicyTrainingSettings()
        s.objective = .dpo(beta: 0.25); s.batchSize = 4; s.adam.weightDecay = 0.5
        let json = #"{"adam":{"beta1":0.9,"beta2":0.999,"eps":1e-08,"weightDecay":0.5},"batchSize":4,"epochs":1,"learningRate":1e-05,"maxGradNorm":1,"microBatchSize":2,"objective":{"dpo":{"beta":0.25}},"schedule":"linear","seed":0,"threads":2,"trainEmbedding":false,"trainableLayers":2,"warmupSteps":0}"#
        #expect(try Self.encode(s) == json)
        #expect(try JSONDecoder().decode(PolicyTrainingSettings.self, from: Data(json.utf8)) == s)
    }
}
