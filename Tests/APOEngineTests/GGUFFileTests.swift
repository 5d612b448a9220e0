import Foundation
import Testing
@testable import APOEngine

/// GGUF parsing: a round trip through every metadata value type, and one test per defect a
/// corrupt or hostile file can carry. Files are built in the test with `GGUFWriter` and patched.
struct GGUFFileTests {
    typealias S = ModelFilesTestSupport

    static let allValues: [(String, GGUFValue)] = [
        ("t.u8", .uint8(250)), ("t.i8", .int8(-7)), ("t.u16", .uint16(65_000)), ("t.i16", .int16(-30_000)),
        ("t.u32", .uint32(4_000_000_000)), ("t.i32", .int32(-2_000_000_000)),
        ("t.u64", .uint64(18_000_000_000_000_000_000)), ("t.i64", .int64(-9_000_000_000_000_000_000)),
        ("t.f32", .float32(1e-5)), ("t.f64", .float64(-2.5e300)), ("t.true", .bool(true)), ("t.false", .bool(false)),
        ("t.str", .string("héllo <|im_start|> ✓")), ("t.empty", .string("")),
        ("t.arr", .array(.int32, [.int32(1), .int32(-2), .int32(3)])),
        ("t.strs", .array(.string, [.string("a b"), .string(""), .string("Ġthe")])),
        ("t.nested", .array(.array, [.array(.uint8, [.uint8(1), .uint8(2)]), .array(.uint8, [])])),
        ("t.emptyarr", .array(.float32, [])),
    ]

    /// A small valid file: two tensors (F32 and Q8_0) and the given metadata.
    static func sampleWriter(version: UInt32 = 3, metadata: [(String, GGUFValue)] = allValues) -> GGUFWriter {
        var w = GGUFWriter(version: version)
        w.metadata = [("general.architecture", .string("llama"))] + metadata
        w.tensors = [
            .init(name: "a.weight", ne: [3, 2], values: [1, 2, 3, 4, 5, 6]),
            .init(name: "b.weight", ne: [32], type: .q8_0, bytes: [0, 0x3c] + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }),
        ]
        return w
    }

    @Test(arguments: [UInt32(2), 3])
    func roundTripsEveryValueType(version: UInt32) throws {
        let bytes = Self.sampleWriter(version: version).encoded()
        try S.withTemporaryFile(bytes) { path in
            let f = try GGUFFile(path: path)
            #expect(f.version == version)
            #expect(f.metadataKeys == ["general.architecture"] + Self.allValues.map(\.0))
            for (k, v) in Self.allValues { #expect(f.metadata[k] == v, "key \(k)") }
            #expect(f.tensors.map(\.name) == ["a.weight", "b.weight"])
            let a = try #require(f.tensor(named: "a.weight"))
            #expect(a.ne == [3, 2] && a.shape == [2, 3] && a.type == .f32 && a.byteCount == 24)
            #expect(try f.dequantized("a.weight") == [1, 2, 3, 4, 5, 6])
            // Q8_0 block with d = 1.0 (half 0x3c00): x = q·d.
            #expect(try f.dequantized("b.weight") == (0..<32).map { Float($0 - 16) })
            #expect(f.dataOffset % 32 == 0)
        }
    }

    @Test func honoursGeneralAlignment() throws {
        var w = Self.sampleWriter(metadata: [("general.alignment", .uint32(64))])
        w.tensors[0] = .init(name: "a.weight", ne: [5], values: [1, 2, 3, 4, 5])
        try S.withTemporaryFile(w.encoded()) { path in
            let f = try GGUFFile(path: path)
            #expect(f.alignment == 64)
            #expect(f.dataOffset % 64 == 0)
            #expect(f.tensor(named: "b.weight")?.offset == 64)
            #expect(try f.dequantized("b.weight")[31] == 15)
        }
    }

    // MARK: - Defects

    @Test func rejectsBadMagic() throws {
        var bytes = Self.sampleWriter().encoded()
        bytes[0] = UInt8(ascii: "X")
        let e = try #require(try S.ggufError(bytes))
        guard case let .invalid(_, field, _, found) = e else { Issue.record("wrong error \(e)"); return }
        #expect(field == "magic" && found == "\"XGUF\"")
    }

    @Test func rejectsFutureAndOldVersions() throws {
        for v in [UInt32(1), 4, 0x0300_0000] {
            let bytes = Self.sampleWriter(version: v).encoded()
            let e = try #require(try S.ggufError(bytes))
            guard case let .invalid(_, field, expected, _) = e else { Issue.record("wrong error \(e)"); continue }
            #expect(field == "version" && expected == "2 or 3")
        }
    }

    /// Every proper prefix of a valid file is rejected with an error, never a trap. (Parsed from
    /// memory: the same parser `GGUFFile` runs on its map, without a thousand temp files.)
    @Test func rejectsEveryTruncation() throws {
        let bytes = Self.sampleWriter().encoded()
        var accepted: [Int] = []
        bytes.withUnsafeBytes { all in
            for n in 0..<bytes.count {
                do {
                    _ = try GGUFParser.parse(base: n == 0 ? nil : all.baseAddress, count: n, file: "prefix")
                    accepted.append(n)
                } catch {
                    #expect(error is ModelFileError)
                }
            }
        }
        // The last tensor's padding is not data: a file cut inside it is still complete.
        let lastEnd = bytes.count - (32 - 34 % 32)
        #expect(accepted.allSatisfy { $0 >= lastEnd }, "accepted truncated lengths \(accepted.prefix(5))")
        #expect(accepted.contains(bytes.count - 1))
    }

    @Test func truncatedErrorNamesTheField() throws {
        let bytes = Self.sampleWriter().encoded()
        let e = try #require(try S.ggufError(Array(bytes[0..<(bytes.count - 40)])))
        guard case let .truncated(file, field, _, _) = e else { Issue.record("wrong error \(e)"); return }
        #expect(file.hasSuffix("test.gguf"))
        #expect(field.contains("b.weight"))
    }

    @Test func rejectsBadAlignmentValue() throws {
        for bad: GGUFValue in [.uint32(0), .uint32(24), .int32(32), .string("32")] {
            let e = try #require(try S.ggufError(Self.sampleWriter(metadata: [("general.alignment", bad)]).encoded()))
            guard case let .invalid(_, field, _, _) = e else { Issue.record("wrong error \(e)"); continue }
            #expect(field == "metadata 'general.alignment'")
        }
    }

    /// Patches the u64 offset of tensor info `index` (found by its name) to `value`.
    static func patchingOffset(of name: String, to value: UInt64, in bytes: [UInt8], ndims: Int) -> [UInt8] {
        var b = bytes
        let nameBytes = Array(name.utf8)
        let start = (0...(b.count - nameBytes.count)).first { Array(b[$0..<($0 + nameBytes.count)]) == nameBytes }!
        let offsetPos = start + nameBytes.count + 4 + 8 * ndims + 4
        withUnsafeBytes(of: value.littleEndian) { for i in 0..<8 { b[offsetPos + i] = $0[i] } }
        return b
    }

    @Test func rejectsMisalignedAndOutOfFileOffsets() throws {
        let bytes = Self.sampleWriter(metadata: []).encoded()
        let misaligned = Self.patchingOffset(of: "b.weight", to: 33, in: bytes, ndims: 1)
        let e1 = try #require(try S.ggufError(misaligned))
        guard case let .invalid(_, field, expected, found) = e1 else { Issue.record("wrong error \(e1)"); return }
        #expect(field == "tensor 'b.weight' offset" && expected.contains("multiple of 32") && found == "33")

        let beyond = Self.patchingOffset(of: "b.weight", to: 1 << 20, in: bytes, ndims: 1)
        #expect(try S.ggufError(beyond) != nil)

        let justPastEnd = Self.patchingOffset(of: "b.weight", to: 64, in: bytes, ndims: 1)
        let e3 = try #require(try S.ggufError(justPastEnd))
        guard case let .truncated(_, f3, _, _) = e3 else { Issue.record("wrong error \(e3)"); return }
        #expect(f3.contains("b.weight"))

        let overlapping = Self.patchingOffset(of: "b.weight", to: 0, in: bytes, ndims: 1)
        let e4 = try #require(try S.ggufError(overlapping))
        guard case let .invalid(_, f4, _, _) = e4 else { Issue.record("wrong error \(e4)"); return }
        #expect(f4.contains("offset"))
    }

    @Test func rejectsOversizedAndOverflowingShapes() throws {
        for ne in [[1 << 40, 1 << 40], [Int.max / 2 + 1, 4], [64, 1 << 20]] {
            var w = Self.sampleWriter(metadata: [])
            w.tensors[0] = .init(name: "a.weight", ne: ne, type: .f32, bytes: [UInt8](repeating: 0, count: 32))
            let e = try #require(try S.ggufError(w.encoded()), "ne \(ne)")
            guard case let .invalid(_, field, _, _) = e else { Issue.record("wrong error \(e)"); continue }
            #expect(field == "tensor 'a.weight' shape")
        }
        var w = Self.sampleWriter(metadata: [])
        w.tensors[0] = .init(name: "a.weight", ne: [1, 1, 1, 1, 1], values: [1])
        let e = try #require(try S.ggufError(w.encoded()))
        guard case let .invalid(_, field, _, _) = e else { Issue.record("wrong error \(e)"); return }
        #expect(field == "tensor 'a.weight' n_dims")
    }

    @Test func rejectsRowsThatAreNotWholeBlocks() throws {
        var w = Self.sampleWriter(metadata: [])
        w.tensors[1] = .init(name: "b.weight", ne: [16, 2], type: .q8_0, bytes: [UInt8](repeating: 0, count: 34))
        let e = try #require(try S.ggufError(w.encoded()))
        guard case let .invalid(_, field, expected, found) = e else { Issue.record("wrong error \(e)"); return }
        #expect(field == "tensor 'b.weight' ne[0]" && expected.contains("32") && found == "16")
    }

    @Test func rejectsUnknownTypes() throws {
        // Unknown tensor type id 77.
        var bytes = Self.sampleWriter(metadata: []).encoded()
        let name = Array("a.weight".utf8)
        let start = (0...(bytes.count - name.count)).first { Array(bytes[$0..<($0 + name.count)]) == name }!
        bytes[start + name.count + 4 + 16] = 77
        let e = try #require(try S.ggufError(bytes))
        guard case let .invalid(_, field, _, found) = e else { Issue.record("wrong error \(e)"); return }
        #expect(field == "tensor 'a.weight' type" && found == "77")

        // Unknown metadata value type 13: patch the type of the last key.
        var w = GGUFWriter()
        w.metadata = [("k", .uint8(1))]
        var b2 = w.encoded()
        b2[b2.count - 5] = 13
        let e2 = try #require(try S.ggufError(b2))
        guard case let .invalid(_, f2, _, found2) = e2 else { Issue.record("wrong error \(e2)"); return }
        #expect(f2 == "metadata 'k' type" && found2 == "13")
    }

    @Test func rejectsDuplicates() throws {
        let dupKey = Self.sampleWriter(metadata: [("general.name", .string("a")), ("general.name", .string("b"))]).encoded()
        let e1 = try #require(try S.ggufError(dupKey))
        guard case let .duplicate(_, kind1, name1) = e1 else { Issue.record("wrong error \(e1)"); return }
        #expect(kind1 == "metadata key" && name1 == "general.name")

        var w = Self.sampleWriter(metadata: [])
        w.tensors[1].name = "a.weight"
        let e = try #require(try S.ggufError(w.encoded()))
        guard case let .duplicate(_, kind, name) = e else { Issue.record("wrong error \(e)"); return }
        #expect(kind == "tensor" && name == "a.weight")
    }

    @Test func rejectsHugeCountsBeforeAllocating() throws {
        // A string array claiming 2^60 elements in a tiny file.
        var w = GGUFWriter()
        w.metadata = [("k", .array(.string, []))]
        var bytes = w.encoded()
        withUnsafeBytes(of: (UInt64(1) << 60).littleEndian) { for i in 0..<8 { bytes[bytes.count - 8 + i] = $0[i] } }
        let e = try #require(try S.ggufError(bytes))
        guard case let .truncated(_, field, needed, _) = e else { Issue.record("wrong error \(e)"); return }
        #expect(field == "metadata 'k' count = \(UInt64(1) << 60)" && needed == Int.max)  // 2^63 bytes saturates

        // A tensor count larger than the file could hold.
        var b2 = GGUFWriter().encoded()
        withUnsafeBytes(of: UInt64(1_000_000).littleEndian) { for i in 0..<8 { b2[8 + i] = $0[i] } }
        let e2 = try #require(try S.ggufError(b2))
        guard case let .truncated(_, f2, needed2, available2) = e2 else { Issue.record("wrong error \(e2)"); return }
        #expect(f2 == "tensor_count = 1000000" && needed2 == 24_000_000 && available2 == 8)
    }

    @Test func rejectsBadBoolAndInvalidUTF8() throws {
        var w = GGUFWriter()
        w.metadata = [("flag", .bool(true))]
        var b = w.encoded()
        b[b.count - 1] = 2
        let e = try #require(try S.ggufError(b))
        guard case let .invalid(_, field, _, _) = e else { Issue.record("wrong error \(e)"); return }
        #expect(field == "metadata 'flag'")

        w.metadata = [("text", .string("ab"))]
        var b2 = w.encoded()
        b2[b2.count - 1] = 0xff
        let e2 = try #require(try S.ggufError(b2))
        guard case let .invalid(_, f2, expected, _) = e2 else { Issue.record("wrong error \(e2)"); return }
        #expect(f2 == "metadata 'text'" && expected == "UTF-8 text")
    }

    @Test func rejectsMissingFileAndDirectory() throws {
        #expect(throws: ModelFileError.self) { try GGUFFile(path: "/nonexistent/x.gguf") }
        let dir = try S.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: ModelFileError.cannotOpen(file: dir.path, reason: "not a regular file")) { try GGUFFile(path: dir.path) }
    }

    @Test func unsupportedTypeErrorNamesTensorAndType() throws {
        var w = Self.sampleWriter(metadata: [])
        w.tensors[1] = .init(name: "blk.0.attn_q.weight", ne: [256], type: .q4_K, bytes: [UInt8](repeating: 0, count: 144))
        try S.withTemporaryFile(w.encoded()) { path in
            let f = try GGUFFile(path: path)
            do {
                _ = try f.dequantized("blk.0.attn_q.weight")
                Issue.record("Q4_K dequantised without error")
            } catch let ModelFileError.unsupportedTensorType(_, tensor, type) {
                #expect(tensor == "blk.0.attn_q.weight" && type.hasPrefix("Q4_K"))
            }
        }
    }
}
