import Foundation

// MARK: - Metadata values

/// The type tag of a GGUF metadata value (the numbering of the GGUF specification).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The fewest bytes one value of this type occupies in a file (used to bound counts before
    /// allocating anything for them).
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}

/// One GGUF metadata value. Arrays carry their element type, so an empty array keeps it.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    case array(GGUFValueType, [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// The value of any integer type, when it fits in `Int`.
    public var intValue: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return v <= UInt64(Int.max) ? Int(v) : nil
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// The value of a float or integer type as a `Double`.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    public var arrayValue: [GGUFValue]? {
        if case let .array(_, a) = self { return a }
        return nil
    }

    /// A short human-readable rendering (arrays summarised), for errors and `model info`.
    public var summary: String {
        switch self {
        case let .string(s): return s.count > 60 ? "\"\(s.prefix(57))...\"" : "\"\(s)\""
        case let .array(t, a): return "[\(t) × \(a.count)]"
        case let .bool(b): return String(b)
        case let .float32(v): return String(v)
        case let .float64(v): return String(v)
        default: return intValue.map(String.init) ?? "\(self)"
        }
    }
}

// MARK: - Tensor types and infos

/// A ggml tensor storage type: elements are stored in blocks of `blockSize` elements taking
/// `blockBytes` bytes. Only the types listed here can be parsed; fewer can be dequantised.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22
    case iq4_XS = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// Sizes from ggml's type traits (cross-checked against the `gguf` Python package's
    /// `GGML_QUANT_SIZES`).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: return 32
        default: return 256
        }
    }

    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q8_1: return 40
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        case .iq2_XXS: return 66
        case .iq2_XS: return 74
        case .iq3_XXS: return 98
        case .iq1_S: return 50
        case .iq4_NL: return 18
        case .iq3_S: return 110
        case .iq2_S: return 82
        case .iq4_XS: return 136
        case .i8: return 1
        case .i16: return 2
        case .i32: return 4
        case .i64, .f64: return 8
        case .iq1_M: return 56
        case .tq1_0: return 54
        case .tq2_0: return 66
        case .mxfp4: return 17
        }
    }

    /// ggml's spelling: `Q4_1`, `F32`, `BF16`.
    public var name: String {
        String(describing: self).uppercased()
    }
}

/// One tensor's entry in a GGUF file. Invariant (checked at parse): `ne[0]` is a whole number of
/// blocks, `byteCount` did not overflow, and `offset..<offset+byteCount` lies inside the data section.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ggml order: `ne[0]` is the innermost (row length).
    public let ne: [Int]
    public let type: GGMLType
    /// Relative to the start of the data section.
    public let offset: Int
    public let byteCount: Int

    /// Outermost first, like PyTorch / Hugging Face (`[out, in]` for a weight matrix).
    public var shape: [Int] { ne.reversed() }
    public var elementCount: Int { ne.reduce(1, *) }
    /// Row length (`ne[0]`) and row count (product of the other dims).
    public var rowLength: Int { ne[0] }
    public var rowCount: Int { ne.dropFirst().reduce(1, *) }
}

// MARK: - The file

/// A parsed, validated GGUF file (version 2 or 3), memory-mapped read-only. Invariant: every
/// metadata value and tensor info was bounds-checked at `init`; tensor bytes are views into the map,
/// valid for the lifetime of this object.
public final class GGUFFile: @unchecked Sendable {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
    public static let supportedVersions: ClosedRange<UInt32> = 2...3
    public static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS.
    public static let maxDimensions = 4
    static let maxArrayNesting = 16

    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute file offset where the data section starts.
    public let dataOffset: Int
    public let fileSize: Int

    private let tensorIndex: [String: Int]
    private let mapping: MappedFile

    public init(path: String) throws {
        self.path = path
        let file = try MappedFile(path: path)
        let parsed = try GGUFParser.parse(base: file.bytes.baseAddress, count: file.bytes.count, file: path)
        version = parsed.version
        metadataKeys = parsed.keys
        metadata = parsed.metadata
        tensors = parsed.tensors
        alignment = parsed.alignment
        dataOffset = parsed.dataOffset
        tensorIndex = parsed.tensorIndex
        fileSize = file.bytes.count
        mapping = file
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// Drops the pages read so far from this process's resident set (after dequantising, the fp32
    /// copy is what training reads; decode re-reads blocks it needs from the page cache).
    public func releaseResidentPages() { mapping.releaseResidentPages() }

    /// The raw bytes of `tensor` inside the map.
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        guard let base = mapping.bytes.baseAddress else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + dataOffset + tensor.offset, count: tensor.byteCount)
    }

    // MARK: Typed metadata access (errors name the file and key)

    /// The value at `key` as `extract` reads it; nil when the key is absent, an error naming the
    /// file, key and found value when it has another type.
    func optional<T>(_ key: String, _ expected: String, _ extract: (GGUFValue) -> T?) throws -> T? {
        guard let v = metadata[key] else { return nil }
        guard let value = extract(v) else {
            throw ModelFileError.invalid(file: path, field: "metadata '\(key)'", expected: expected, found: "\(v.type) \(v.summary)")
        }
        return value
    }

    func required<T>(_ key: String, _ expected: String, _ extract: (GGUFValue) -> T?) throws -> T {
        guard let value = try optional(key, expected, extract) else { throw ModelFileError.missingMetadata(file: path, key: key) }
        return value
    }

    public func requiredInt(_ key: String) throws -> Int { try required(key, "an integer", \.intValue) }
    public func optionalInt(_ key: String) throws -> Int? { try optional(key, "an integer", \.intValue) }
    public func requiredDouble(_ key: String) throws -> Double { try required(key, "a number", \.doubleValue) }
    public func optionalDouble(_ key: String) throws -> Double? { try optional(key, "a number", \.doubleValue) }
    public func requiredString(_ key: String) throws -> String { try required(key, "a string", \.stringValue) }
    public func optionalString(_ key: String) throws -> String? { try optional(key, "a string", \.stringValue) }
    public func optionalBool(_ key: String) throws -> Bool? { try optional(key, "a bool", \.boolValue) }

    /// An array whose elements all have type `elementType` (an empty array of any element type passes).
    public func optionalArray(_ key: String, of elementType: GGUFValueType) throws -> [GGUFValue]? {
        guard let v = metadata[key] else { return nil }
        guard case let .array(t, a) = v, t == elementType || a.isEmpty else {
            throw ModelFileError.invalid(file: path, field: "metadata '\(key)'", expected: "an array of \(elementType)", found: "\(v.type) \(v.summary)")
        }
        return a
    }
}
