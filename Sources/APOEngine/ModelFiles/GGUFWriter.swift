import Foundation

/// Builds a GGUF file (v2 or v3, little-endian) from metadata and already-encoded tensor bytes.
/// Invariant: what `encoded()` returns parses back with `GGUFFile` to the same metadata and tensors
/// whenever the inputs are themselves valid (whole blocks, sizes matching `ne`).
public struct GGUFWriter {
    public struct Tensor {
        public var name: String
        public var ne: [Int]
        public var type: GGMLType
        public var bytes: [UInt8]

        public init(name: String, ne: [Int], type: GGMLType, bytes: [UInt8]) {
            self.name = name
            self.ne = ne
            self.type = type
            self.bytes = bytes
        }

        /// An F32 tensor from values in ggml order.
        public init(name: String, ne: [Int], values: [Float]) {
            self.init(name: name, ne: ne, type: .f32, bytes: values.withUnsafeBytes { Array($0) })
        }
    }

    public var version: UInt32 = 3
    public var metadata: [(String, GGUFValue)] = []
    public var tensors: [Tensor] = []

    public init(version: UInt32 = 3) { self.version = version }

    /// `general.alignment` if set (as a uint32), else GGUF's default of 32.
    public var alignment: Int {
        for (k, v) in metadata where k == "general.alignment" { if case let .uint32(a) = v, a > 0 { return Int(a) } }
        return GGUFFile.defaultAlignment
    }

    public func encoded() -> [UInt8] {
        var out = header(tensors.map { ($0.name, $0.ne, $0.type, $0.bytes.count) })
        let align = alignment
        for t in tensors {
            out.append(contentsOf: t.bytes)
            while out.count % align != 0 { out.append(0) }
        }
        return out
    }

    /// Everything before the first tensor's data, for tensors of these names, shapes, types and
    /// byte counts (in file order), padded to the alignment; each tensor's data then follows,
    /// padded to the alignment.
    public func header(_ descriptions: [(name: String, ne: [Int], type: GGMLType, byteCount: Int)]) -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func putString(_ s: String) {
            let utf8 = Array(s.utf8)
            put(UInt64(utf8.count))
            out.append(contentsOf: utf8)
        }
        func putValue(_ v: GGUFValue) {
            switch v {
            case let .uint8(x): put(x)
            case let .int8(x): put(x)
            case let .uint16(x): put(x)
            case let .int16(x): put(x)
            case let .uint32(x): put(x)
            case let .int32(x): put(x)
            case let .uint64(x): put(x)
            case let .int64(x): put(x)
            case let .float32(x): put(x.bitPattern)
            case let .float64(x): put(x.bitPattern)
            case let .bool(x): put(UInt8(x ? 1 : 0))
            case let .string(s): putString(s)
            case let .array(t, items):
                put(t.rawValue)
                put(UInt64(items.count))
                for item in items { putValue(item) }
            }
        }

        put(GGUFFile.magic)
        put(version)
        put(UInt64(descriptions.count))
        put(UInt64(metadata.count))
        for (key, value) in metadata {
            putString(key)
            put(value.type.rawValue)
            putValue(value)
        }
        let align = alignment
        var offset = 0
        for t in descriptions {
            putString(t.name)
            put(UInt32(t.ne.count))
            for d in t.ne { put(UInt64(d)) }
            put(t.type.rawValue)
            put(UInt64(offset))
            offset += (t.byteCount + align - 1) / align * align
        }
        if !descriptions.isEmpty {
            while out.count % align != 0 { out.append(0) }
        }
        return out
    }

    public func write(to url: URL) throws {
        do {
            try Data(encoded()).write(to: url, options: .atomic)
        } catch {
            throw ModelFileError.cannotWrite(file: url.path, reason: "\(error)")
        }
    }
}
