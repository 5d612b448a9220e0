import Foundation

/// A safetensors element type. Only the float types convert to fp32; the others are recognised
/// so that their sizes can be validated.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", u64 = "U64", i32 = "I32", u32 = "U32", i16 = "I16", u16 = "U16"
    case i8 = "I8", u8 = "U8", bool = "BOOL", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }
}

/// One tensor of a safetensors file. Invariant (checked at parse): `byteCount == count · dtype size`
/// and the bytes lie inside the file's data section.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Outermost first (row-major), as PyTorch.
    public let shape: [Int]
    /// Relative to the start of the data section.
    public let offset: Int
    public let byteCount: Int
    public var count: Int { shape.reduce(1, *) }
}

/// A parsed, validated safetensors file, memory-mapped read-only: an 8-byte little-endian header
/// length, a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}`, then data.
public final class SafetensorsFile: @unchecked Sendable {
    /// The format's own limit on the header (100 MB), which bounds what we parse.
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    /// Tensors in data order.
    public let tensors: [SafetensorsTensorInfo]
    public let metadata: [String: String]
    private let index: [String: Int]
    private let mapping: MappedFile
    private let dataOffset: Int

    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        let (header, headerLength) = try Self.readHeader(mapping.bytes, path: path)
        dataOffset = 8 + headerLength
        let dataSize = mapping.bytes.count - dataOffset
        var metadata: [String: String] = [:]
        var infos: [SafetensorsTensorInfo] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else {
                    throw ModelFileError.invalid(file: path, field: "__metadata__", expected: "an object of strings", found: "\(type(of: value))")
                }
                metadata = m
                continue
            }
            infos.append(try Self.tensorInfo(name, value, dataSize: dataSize, path: path))
        }
        infos.sort { ($0.offset, $0.name) < ($1.offset, $1.name) }
        for (a, b) in zip(infos, infos.dropFirst()) where a.offset + a.byteCount > b.offset && b.byteCount > 0 {
            throw ModelFileError.invalid(file: path, field: "tensor '\(b.name)' data_offsets", expected: "no overlap with '\(a.name)' (ends at \(a.offset + a.byteCount))", found: "begins at \(b.offset)")
        }
        tensors = infos
        self.metadata = metadata
        index = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
    }

    /// The 8-byte length and the JSON header object it announces, bounded by the file.
    static func readHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> (header: [String: Any], length: Int) {
        guard bytes.count >= 8 else {
            throw ModelFileError.truncated(file: path, field: "header length", neededBytes: 8, availableBytes: bytes.count)
        }
        let rawLength = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard rawLength <= UInt64(Self.maxHeaderBytes) else {
            throw ModelFileError.invalid(file: path, field: "header length", expected: "at most \(Self.maxHeaderBytes)", found: String(rawLength))
        }
        let headerLength = Int(rawLength)
        guard headerLength <= bytes.count - 8 else {
            throw ModelFileError.truncated(file: path, field: "JSON header", neededBytes: headerLength, availableBytes: bytes.count - 8)
        }
        let headerData = Data(bytes[8..<(8 + headerLength)])
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
            throw ModelFileError.invalid(file: path, field: "JSON header", expected: "a JSON object", found: "\(headerLength) bytes that are not one")
        }
        return (header, headerLength)
    }

    /// One tensor's header entry: a known dtype, a shape, and data offsets whose span is exactly
    /// the shape's size (checked for overflow) and lies inside the data section.
    static func tensorInfo(_ name: String, _ value: Any, dataSize: Int, path: String) throws -> SafetensorsTensorInfo {
        let field = "tensor '\(name)'"
        guard let entry = value as? [String: Any] else {
            throw ModelFileError.invalid(file: path, field: field, expected: "an object with dtype, shape, data_offsets", found: "\(value)")
        }
        guard let rawDType = entry["dtype"] as? String, let dtype = SafetensorsDType(rawValue: rawDType) else {
            throw ModelFileError.invalid(file: path, field: field + " dtype", expected: "one of \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", "))", found: "\(entry["dtype"] ?? "nothing")")
        }
        guard let shape = Self.nonNegativeInts(entry["shape"]) else {
            throw ModelFileError.invalid(file: path, field: field + " shape", expected: "a list of non-negative integers", found: "\(entry["shape"] ?? "nothing")")
        }
        guard let offsets = Self.nonNegativeInts(entry["data_offsets"]), offsets.count == 2, offsets[0] <= offsets[1] else {
            throw ModelFileError.invalid(file: path, field: field + " data_offsets", expected: "[begin, end] with begin <= end", found: "\(entry["data_offsets"] ?? "nothing")")
        }
        var expectedBytes = dtype.byteSize
        var overflow = false
        for d in shape {
            let (p, o) = expectedBytes.multipliedReportingOverflow(by: d)
            expectedBytes = p
            overflow = overflow || o
        }
        guard !overflow, offsets[1] - offsets[0] == expectedBytes else {
            throw ModelFileError.invalid(file: path, field: field + " data_offsets", expected: "\(overflow ? "a representable size" : "\(expectedBytes) bytes") for \(dtype.rawValue) \(shape)", found: "\(offsets[1] - offsets[0]) bytes")
        }
        guard offsets[1] <= dataSize else {
            throw ModelFileError.truncated(file: path, field: field + " data", neededBytes: offsets[1], availableBytes: dataSize)
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, offset: offsets[0], byteCount: expectedBytes)
    }

    static func nonNegativeInts(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var out: [Int] = []
        for item in list {
            // JSONSerialization gives NSNumber; reject fractions and negatives.
            guard let n = item as? NSNumber else { return nil }
            let d = n.doubleValue
            guard d >= 0, d == d.rounded(), d < 9.0e18 else { return nil }
            out.append(n.intValue)
        }
        return out
    }

    public func tensor(named name: String) -> SafetensorsTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// Writes `tensor` as fp32 into `destination` (room for `tensor.count` floats).
    public func read(_ tensor: SafetensorsTensorInfo, into destination: UnsafeMutablePointer<Float>) throws {
        let type: GGMLType
        switch tensor.dtype {
        case .f32: type = .f32
        case .f16: type = .f16
        case .bf16: type = .bf16
        default:
            throw ModelFileError.unsupportedTensorType(file: path, tensor: tensor.name, type: "\(tensor.dtype.rawValue) (supported: F32, F16, BF16)")
        }
        guard tensor.count > 0, let base = mapping.bytes.baseAddress else { return }
        Dequantization.dequantize(type, source: base + dataOffset + tensor.offset, count: tensor.count, into: destination)
    }

    /// The tensor named `name` as fp32.
    public func floats(_ name: String) throws -> [Float] {
        guard let t = tensor(named: name) else { throw ModelFileError.missingTensor(file: path, tensor: name) }
        var out = [Float](repeating: 0, count: t.count)
        if out.isEmpty { return out }
        try out.withUnsafeMutableBufferPointer { try read(t, into: $0.baseAddress!) }
        return out
    }
}

/// Writes fp32 tensors as a safetensors file, streaming each tensor from its own memory.
public enum SafetensorsWriter {
    /// One tensor to write: `count` floats at `pointer` (which must stay valid during `write`).
    public struct Entry {
        public var name: String
        public var shape: [Int]
        public var pointer: UnsafePointer<Float>

        public init(name: String, shape: [Int], pointer: UnsafePointer<Float>) {
            self.name = name
            self.shape = shape
            self.pointer = pointer
        }
    }

    /// Writes and fsyncs `entries` (in order) to `url`.
    public static func write(_ entries: [Entry], metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        for e in entries {
            let bytes = e.shape.reduce(1, *) * 4
            header[e.name] = ["dtype": "F32", "shape": e.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json: Data
        do {
            json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        } catch {
            throw ModelFileError.cannotWrite(file: url.path, reason: "header: \(error)")
        }
        // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
        while (8 + json.count) % 8 != 0 { json.append(UInt8(ascii: " ")) }

        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ModelFileError.cannotWrite(file: url.path, reason: "cannot create file")
        }
        do {
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            var length = UInt64(json.count).littleEndian
            try handle.write(contentsOf: Data(bytes: &length, count: 8))
            try handle.write(contentsOf: json)
            for e in entries {
                let bytes = e.shape.reduce(1, *) * 4
                if bytes == 0 { continue }
                try handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: e.pointer), count: bytes, deallocator: .none))
            }
            try handle.synchronize()
        } catch let e as ModelFileError {
            throw e
        } catch {
            throw ModelFileError.cannotWrite(file: url.path, reason: "\(error)")
        }
    }
}
