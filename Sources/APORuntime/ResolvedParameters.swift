import APOJSON
import APOPipeline
import Foundation

/// A job's parameters could not be made concrete; retrying cannot help.
public struct ParameterResolutionError: Error, CustomStringConvertible {
    public let jobKey: String
    public let message: String
    public var description: String { "job \(jobKey): \(message)" }
}

/// Decoding of stored params/outputs JSON and substitution of `${jobs.ID.outputs.NAME}` from the
/// outputs of the job's (succeeded) dependencies.
enum ResolvedParameters {
    static func decodeObject(_ json: String, what: String, jobKey: String) throws -> [String: JSONValue] {
        do {
            return try JSONDecoder().decode([String: JSONValue].self, from: Data(json.utf8))
        } catch {
            throw ParameterResolutionError(jobKey: jobKey, message: "\(what) is not a JSON object: \(error)")
        }
    }

    /// - Parameter dependencyOutputs: dependency key → its outputs JSON (from `ClaimedJob`).
    static func resolve(
        paramsJSON: String, dependencyOutputs: [String: String], jobKey: String
    ) throws -> (params: [String: JSONValue], outputs: [String: JobOutputs]) {
        let raw = try decodeObject(paramsJSON, what: "params", jobKey: jobKey)
        var outputs: [String: JobOutputs] = [:]
        for (key, json) in dependencyOutputs {
            outputs[key] = try decodeObject(json, what: "outputs of \(key)", jobKey: jobKey)
        }
        do {
            let resolved = try ParamResolver.resolve(raw, outputs: { outputs[$0] })
            return (resolved, outputs)
        } catch {
            throw ParameterResolutionError(jobKey: jobKey, message: "\(error)")
        }
    }
}
