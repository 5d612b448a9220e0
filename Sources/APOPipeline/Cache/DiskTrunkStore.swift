import APOEngine
import Crypto
import Foundation

/// One trunk's entries in a `TrunkStateCache`: a file per token sequence holding its states as fp16.
///
/// File: `APOTRNK1`, token count and hidden size (UInt32 little-endian), the token ids (Int32), the
/// states (fp16, row-major), then the SHA-256 of all that. An entry that does not check out — torn,
/// corrupted, or (with a 128-bit name) another sequence's — is deleted and counted a miss.
public final class DiskTrunkStore: FrozenTrunkStore, @unchecked Sendable {
    static let fileExtension = "f16"
    static let magic = Data("APOTRNK1".utf8)

    let cache: TrunkStateCache
    public let directory: URL
    let hiddenSize: Int
    public private(set) var hits = 0, misses = 0, bytesWritten = 0

    init(cache: TrunkStateCache, directory: URL, hiddenSize: Int) {
        self.cache = cache
        self.directory = directory
        self.hiddenSize = hiddenSize
    }

    func url(for tokens: ArraySlice<Int32>) -> URL {
        let digest = tokens.withUnsafeBufferPointer { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        let name = digest.prefix(16).map { String(format: "%02x", $0) }.joined()
        return directory.appendingPathComponent(String(name.prefix(2)))
            .appendingPathComponent(name + "." + Self.fileExtension)
    }

    public func load(_ tokens: ArraySlice<Int32>, into states: UnsafeMutablePointer<Float>) -> Bool {
        let url = url(for: tokens)
        guard let data = try? Data(contentsOf: url) else { misses += 1; return false }
        guard decode(data, tokens: tokens, into: states) else {
            try? FileManager.default.removeItem(at: url)
            misses += 1
            return false
        }
        // Recently used: what the cache's eviction orders by.
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: url.path)
        hits += 1
        return true
    }

    public func save(_ tokens: ArraySlice<Int32>, states: UnsafePointer<Float>) {
        let url = url(for: tokens)
        let data = encode(tokens: tokens, states: states)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0 ... .max))")
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            // A cache that cannot be written (full disk, read-only) only costs speed; a torn
            // temporary file must not stay behind, uncounted by the size cap.
            try? FileManager.default.removeItem(at: temporary)
            return
        }
        bytesWritten += data.count
        cache.noteWritten(bytes: data.count)
    }

    /// Whether an entry for `tokens` is on disk (not checked: `load` checks).
    public func holds(_ tokens: [Int32]) -> Bool {
        FileManager.default.fileExists(atPath: url(for: tokens[...]).path)
    }

    func encode(tokens: ArraySlice<Int32>, states: UnsafePointer<Float>) -> Data {
        let count = tokens.count * hiddenSize
        var data = Self.magic
        data.reserveCapacity(16 + 4 * tokens.count + 2 * count + 32)
        appendLittleEndian(UInt32(tokens.count), to: &data)
        appendLittleEndian(UInt32(hiddenSize), to: &data)
        for t in tokens { appendLittleEndian(UInt32(bitPattern: t), to: &data) }
        var halves = [UInt16](repeating: 0, count: count)
        for i in 0..<count { halves[i] = Float16(states[i]).bitPattern.littleEndian }
        halves.withUnsafeBytes { data.append(contentsOf: $0) }
        data.append(contentsOf: SHA256.hash(data: data))
        return data
    }

    func decode(_ data: Data, tokens: ArraySlice<Int32>, into states: UnsafeMutablePointer<Float>) -> Bool {
        let count = tokens.count * hiddenSize
        let bodyCount = 16 + 4 * tokens.count + 2 * count
        guard data.count == bodyCount + 32, data.prefix(8) == Self.magic else { return false }
        return data.withUnsafeBytes { raw -> Bool in
            func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
            guard u32(8) == UInt32(tokens.count), u32(12) == UInt32(hiddenSize) else { return false }
            for (i, t) in tokens.enumerated() where Int32(bitPattern: u32(16 + 4 * i)) != t { return false }
            let body = UnsafeRawBufferPointer(rebasing: raw[0..<bodyCount])
            guard SHA256.hash(data: body).elementsEqual(raw[bodyCount...]) else { return false }
            let base = 16 + 4 * tokens.count
            for i in 0..<count {
                let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: base + 2 * i, as: UInt16.self))
                states[i] = Float(Float16(bitPattern: bits))
            }
            return true
        }
    }

    private func appendLittleEndian(_ value: UInt32, to data: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }
}
