import CZlib
import Foundation

/// A gzip stream that zlib could not decode.
public struct GzipError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public var description: String { "\(file): gzip: \(message)" }
}

/// Gzip decoding over system zlib (Foundation on Linux has none).
public enum Gzip {
    /// True when `data` starts with the gzip magic bytes 1f 8b.
    public static func isGzip(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// Decompresses a whole gzip file; concatenated members (as `cat a.gz b.gz` makes) are all read.
    /// `file` only names the source in errors.
    public static func decompress(_ data: Data, file: String) throws -> Data {
        var output = Data()
        var stream = z_stream()
        // 15 + 32: maximum window, and let zlib detect the gzip (or zlib) header itself.
        var status = inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw GzipError(file: file, message: "inflateInit failed (\(status))") }
        defer { inflateEnd(&stream) }

        let chunkSize = 1 << 18
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let base = input.bindMemory(to: Bytef.self).baseAddress else {
                throw GzipError(file: file, message: "empty input")
            }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(input.count)
            while true {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunkSize)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunkSize - Int(stream.avail_out)
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return }
                    // Another gzip member follows.
                    guard inflateReset(&stream) == Z_OK else {
                        throw GzipError(file: file, message: "cannot reset for the next member")
                    }
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw GzipError(file: file, message: "truncated stream (ended after \(output.count) bytes)")
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw GzipError(file: file, message: "\(reason) at compressed byte \(Int(stream.total_in))")
                }
            }
        }
        return output
    }

    /// The file's bytes, decompressed when they are gzip.
    public static func readMaybeCompressed(_ url: URL) throws -> Data {
        let raw = try Data(contentsOf: url)
        return isGzip(raw) ? try decompress(raw, file: url.path) : raw
    }
}
