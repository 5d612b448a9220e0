import Foundation

/// Why a model file (GGUF, safetensors, config.json, tokenizer.json) was rejected. Every case names
/// the file and the field or tensor at fault, and, where it applies, what was expected and found.
public enum ModelFileError: Error, Equatable, CustomStringConvertible, LocalizedError {
    case cannotOpen(file: String, reason: String)
    /// A header field, metadata value or tensor info that is present but wrong.
    case invalid(file: String, field: String, expected: String, found: String)
    /// The file ends before `field` is complete.
    case truncated(file: String, field: String, neededBytes: Int, availableBytes: Int)
    case duplicate(file: String, kind: String, name: String)
    case missingMetadata(file: String, key: String)
    case missingTensor(file: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case unsupportedTensorType(file: String, tensor: String, type: String)
    case unsupportedArchitecture(file: String, found: String, supported: [String])
    case cannotWrite(file: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(file, reason):
            return "\(file): cannot open: \(reason)"
        case let .invalid(file, field, expected, found):
            return "\(file): \(field): expected \(expected), found \(found)"
        case let .truncated(file, field, needed, available):
            return "\(file): truncated at \(field): needs \(needed) bytes, only \(available) left"
        case let .duplicate(file, kind, name):
            return "\(file): duplicate \(kind) '\(name)'"
        case let .missingMetadata(file, key):
            return "\(file): missing metadata key '\(key)'"
        case let .missingTensor(file, tensor):
            return "\(file): missing tensor '\(tensor)'"
        case let .shapeMismatch(file, tensor, expected, found):
            return "\(file): tensor '\(tensor)': expected shape \(expected), found \(found)"
        case let .unsupportedTensorType(file, tensor, type):
            return "\(file): tensor '\(tensor)': unsupported tensor type \(type)"
        case let .unsupportedArchitecture(file, found, supported):
            return "\(file): unsupported architecture '\(found)' (supported: \(supported.joined(separator: ", ")))"
        case let .cannotWrite(file, reason):
            return "\(file): cannot write: \(reason)"
        }
    }

    public var errorDescription: String? { description }
}
