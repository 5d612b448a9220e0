import Foundation

// Parsing a GGUF file's header, metadata and tensor infos from its mapped bytes: every read is
// bounds-checked and every error names its field.

/// Bounds-checked little-endian reads over the mapped bytes; every read names its field.
struct GGUFByteReader {
    let base: UnsafeRawPointer?
    let count: Int
    let file: String
    var offset = 0

    var remaining: Int { count - offset }

    func truncated(_ field: String, _ n: Int) -> ModelFileError {
        .truncated(file: file, field: field, neededBytes: n, availableBytes: remaining)
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: @autoclosure () -> String) throws -> T {
        let n = MemoryLayout<T>.size
        guard let base, remaining >= n else { throw truncated(field(), n) }
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += n
        return T(littleEndian: v)
    }

    /// A u64 count of items each taking at least `minimumItemBytes`: a count the remaining bytes
    /// cannot hold means the file is truncated (or the count corrupt), caught before allocating.
    mutating func readCount(_ field: @autoclosure () -> String, minimumItemBytes: Int) throws -> Int {
        let raw = try read(UInt64.self, field())
        guard raw <= UInt64(remaining / minimumItemBytes) else {
            let (needed, overflow) = raw.multipliedReportingOverflow(by: UInt64(minimumItemBytes))
            throw ModelFileError.truncated(
                file: file, field: "\(field()) = \(raw)",
                neededBytes: overflow || needed > UInt64(Int.max) ? Int.max : Int(needed), availableBytes: remaining)
        }
        return Int(raw)
    }

    mutating func readString(_ field: @autoclosure () -> String) throws -> String {
        let length = try read(UInt64.self, field() + " length")
        guard length <= UInt64(remaining), let base else {
            throw ModelFileError.truncated(file: file, field: field(), neededBytes: length > UInt64(Int.max) ? Int.max : Int(length), availableBytes: remaining)
        }
        let n = Int(length)
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: n)
        guard let s = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw ModelFileError.invalid(file: file, field: field(), expected: "UTF-8 text", found: "invalid UTF-8 bytes")
        }
        offset += n
        return s
    }

    mutating func readValue(type: GGUFValueType, field: String, depth: Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, field))
        case .int8: return .int8(try read(Int8.self, field))
        case .uint16: return .uint16(try read(UInt16.self, field))
        case .int16: return .int16(try read(Int16.self, field))
        case .uint32: return .uint32(try read(UInt32.self, field))
        case .int32: return .int32(try read(Int32.self, field))
        case .uint64: return .uint64(try read(UInt64.self, field))
        case .int64: return .int64(try read(Int64.self, field))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, field)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, field)))
        case .bool:
            let b = try read(UInt8.self, field)
            guard b <= 1 else {
                throw ModelFileError.invalid(file: file, field: field, expected: "bool 0 or 1", found: String(b))
            }
            return .bool(b == 1)
        case .string: return .string(try readString(field))
        case .array:
            guard depth < GGUFFile.maxArrayNesting else {
                throw ModelFileError.invalid(file: file, field: field, expected: "arrays nested at most \(GGUFFile.maxArrayNesting) deep", found: "deeper nesting")
            }
            let rawType = try read(UInt32.self, field + " element type")
            guard let elementType = GGUFValueType(rawValue: rawType) else {
                throw ModelFileError.invalid(file: file, field: field + " element type", expected: "a GGUF value type 0...12", found: String(rawType))
            }
            let n = try readCount(field + " count", minimumItemBytes: elementType.minimumEncodedSize)
            var values: [GGUFValue] = []
            values.reserveCapacity(n)
            for i in 0..<n {
                values.append(try readValue(type: elementType, field: "\(field)[\(i)]", depth: depth + 1))
            }
            return .array(elementType, values)
        }
    }
}

enum GGUFParser {
    struct Parsed {
        var version: UInt32
        var keys: [String]
        var metadata: [String: GGUFValue]
        var tensors: [GGUFTensorInfo]
        var tensorIndex: [String: Int]
        var alignment: Int
        var dataOffset: Int
    }

    static func parse(base: UnsafeRawPointer?, count: Int, file: String) throws -> Parsed {
        var r = GGUFByteReader(base: base, count: count, file: file)
        let version = try readHeader(&r, file: file)
        // A tensor info takes at least 24 bytes (name length, n_dims, type, offset); a key/value at least 13.
        let tensorCount = try r.readCount("tensor_count", minimumItemBytes: 24)
        let kvCount = try r.readCount("metadata_kv_count", minimumItemBytes: 13)
        let (keys, metadata) = try readMetadata(&r, count: kvCount, file: file)
        let alignment = try alignment(metadata, file: file)
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(tensorCount)
        var tensorIndex: [String: Int] = [:]
        for i in 0..<tensorCount {
            let info = try readTensorInfo(&r, index: i, alignment: alignment, fileSize: count, file: file)
            guard tensorIndex.updateValue(i, forKey: info.name) == nil else {
                throw ModelFileError.duplicate(file: file, kind: "tensor", name: info.name)
            }
            infos.append(info)
        }
        // The data section starts at the next multiple of the alignment.
        let dataOffset = (r.offset + alignment - 1) / alignment * alignment
        try checkDataSection(infos, dataOffset: dataOffset, reader: r, fileSize: count, file: file)
        return Parsed(version: version, keys: keys, metadata: metadata, tensors: infos, tensorIndex: tensorIndex,
                      alignment: alignment, dataOffset: dataOffset)
    }

    /// The magic and a supported version.
    static func readHeader(_ r: inout GGUFByteReader, file: String) throws -> UInt32 {
        let magic = try r.read(UInt32.self, "magic")
        guard magic == GGUFFile.magic else {
            throw ModelFileError.invalid(file: file, field: "magic", expected: "\"GGUF\"", found: describeMagic(magic))
        }
        let version = try r.read(UInt32.self, "version")
        guard GGUFFile.supportedVersions.contains(version) else {
            let hint = version.byteSwapped <= 3 ? " (a big-endian file?)" : ""
            throw ModelFileError.invalid(file: file, field: "version", expected: "2 or 3", found: "\(version)\(hint)")
        }
        return version
    }

    /// The metadata key/value pairs, keys in file order; a repeated key is an error.
    static func readMetadata(_ r: inout GGUFByteReader, count: Int, file: String) throws
        -> (keys: [String], metadata: [String: GGUFValue]) {
        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        keys.reserveCapacity(count)
        for i in 0..<count {
            let key = try r.readString("metadata[\(i)] key")
            let rawType = try r.read(UInt32.self, "metadata '\(key)' type")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw ModelFileError.invalid(file: file, field: "metadata '\(key)' type", expected: "a GGUF value type 0...12", found: String(rawType))
            }
            let value = try r.readValue(type: type, field: "metadata '\(key)'", depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw ModelFileError.duplicate(file: file, kind: "metadata key", name: key)
            }
            keys.append(key)
        }
        return (keys, metadata)
    }

    /// `general.alignment` (a power of two), else the default.
    static func alignment(_ metadata: [String: GGUFValue], file: String) throws -> Int {
        guard let a = metadata["general.alignment"] else { return GGUFFile.defaultAlignment }
        guard case let .uint32(v) = a, v > 0, v & (v - 1) == 0 else {
            throw ModelFileError.invalid(file: file, field: "metadata 'general.alignment'", expected: "a uint32 power of two", found: "\(a.type) \(a.summary)")
        }
        return Int(v)
    }

    /// One tensor info: name, shape, type and offset, its byte size computed with overflow checks
    /// and bounded by the file's size.
    static func readTensorInfo(_ r: inout GGUFByteReader, index i: Int, alignment: Int, fileSize count: Int,
                               file: String) throws -> GGUFTensorInfo {
        let name = try r.readString("tensor info \(i) name")
        let field = "tensor '\(name)'"
        let nDims = try r.read(UInt32.self, field + " n_dims")
        guard (1...UInt32(GGUFFile.maxDimensions)).contains(nDims) else {
            throw ModelFileError.invalid(file: file, field: field + " n_dims", expected: "1...\(GGUFFile.maxDimensions)", found: String(nDims))
        }
        var ne: [Int] = []
        for d in 0..<Int(nDims) {
            let raw = try r.read(UInt64.self, field + " ne[\(d)]")
            guard raw <= UInt64(Int.max) else {
                throw ModelFileError.invalid(file: file, field: field + " ne[\(d)]", expected: "at most \(Int.max)", found: String(raw))
            }
            ne.append(Int(raw))
        }
        let rawType = try r.read(UInt32.self, field + " type")
        guard let type = GGMLType(rawValue: rawType) else {
            throw ModelFileError.invalid(file: file, field: field + " type", expected: "a known ggml type id", found: String(rawType))
        }
        let rawOffset = try r.read(UInt64.self, field + " offset")
        guard ne[0] % type.blockSize == 0 else {
            throw ModelFileError.invalid(file: file, field: field + " ne[0]", expected: "a multiple of \(type.name)'s block size \(type.blockSize)", found: String(ne[0]))
        }
        // Byte size with overflow checks: (ne0 / block) * blockBytes * ne1 * ne2 * ne3.
        var bytes = ne[0] / type.blockSize
        var overflow = false
        var o: Bool
        (bytes, o) = bytes.multipliedReportingOverflow(by: type.blockBytes); overflow = overflow || o
        for d in ne.dropFirst() {
            (bytes, o) = bytes.multipliedReportingOverflow(by: d); overflow = overflow || o
        }
        guard !overflow, bytes <= count else {
            throw ModelFileError.invalid(file: file, field: field + " shape", expected: "data no larger than the file (\(count) bytes)", found: "ne \(ne) of \(type.name)\(overflow ? " (overflows)" : " = \(bytes) bytes")")
        }
        guard rawOffset <= UInt64(count), Int(rawOffset) % alignment == 0 else {
            throw ModelFileError.invalid(file: file, field: field + " offset", expected: "a multiple of \(alignment) inside the file", found: String(rawOffset))
        }
        return GGUFTensorInfo(name: name, ne: ne, type: type, offset: Int(rawOffset), byteCount: bytes)
    }

    /// Every tensor's bytes lie inside the data section, and no two overlap.
    static func checkDataSection(_ infos: [GGUFTensorInfo], dataOffset: Int, reader r: GGUFByteReader,
                                 fileSize count: Int, file: String) throws {
        let dataSize = count - dataOffset
        if !infos.isEmpty && dataSize < 0 {
            throw ModelFileError.truncated(file: file, field: "data section", neededBytes: dataOffset - r.offset, availableBytes: r.remaining)
        }
        for t in infos where t.offset > dataSize || t.byteCount > dataSize - t.offset {
            throw ModelFileError.truncated(file: file, field: "tensor '\(t.name)' data (offset \(t.offset), \(t.byteCount) bytes)", neededBytes: t.offset + t.byteCount, availableBytes: max(dataSize, 0))
        }
        let byOffset = infos.sorted { $0.offset < $1.offset }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw ModelFileError.invalid(file: file, field: "tensor '\(b.name)' offset", expected: "at least \(a.offset + a.byteCount) (end of '\(a.name)')", found: String(b.offset))
        }
    }

    static func describeMagic(_ m: UInt32) -> String {
        let bytes = withUnsafeBytes(of: m.littleEndian) { Array($0) }
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return "\"" + String(decoding: bytes, as: UTF8.self) + "\""
        }
        return bytes.map { String(format: "%02x", $0) }.joined(separator: " ")
    }
}
