import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A download that failed, or whose bytes do not hash to the expected sha256.
public enum DownloadError: Error, CustomStringConvertible {
    case http(url: String, status: Int)
    case transport(url: String, message: String)
    case checksumMismatch(url: String, expected: String, found: String)

    public var description: String {
        switch self {
        case .http(let url, let status): return "\(url): HTTP status \(status)"
        case .transport(let url, let message): return "\(url): \(message)"
        case .checksumMismatch(let url, let expected, let found):
            return "\(url): sha256 mismatch: expected \(expected), downloaded file has \(found)"
        }
    }
}

/// Downloads a URL into a local file, resuming a partial `<dest>.part` with an HTTP Range request
/// (so a killed attempt does not start over), and keeps the file only if its sha256 matches
/// (`expectedSHA256` nil: no checksum is known, the caller reports the file's hash instead).
public struct ResumableDownload {
    public let url: URL
    public let expectedSHA256: String?
    public let destination: URL

    public init(url: URL, expectedSHA256: String?, destination: URL) {
        self.url = url
        self.expectedSHA256 = expectedSHA256?.lowercased()
        self.destination = destination
    }

    /// `progress(bytesSoFar, totalOrNil)`; `checkCancelled` is polled while waiting and may throw.
    public func run(progress: @escaping (Int64, Int64?) -> Void, checkCancelled: () throws -> Void) throws {
        let fm = FileManager.default
        if let expectedSHA256, fm.fileExists(atPath: destination.path), try fileSHA256(destination) == expectedSHA256 { return }
        let part = destination.appendingPathExtension("part")
        if !fm.fileExists(atPath: part.path) { _ = fm.createFile(atPath: part.path, contents: nil) }
        let have = (try fm.attributesOfItem(atPath: part.path)[.size] as? NSNumber)?.int64Value ?? 0

        var request = URLRequest(url: url)
        if have > 0 { request.setValue("bytes=\(have)-", forHTTPHeaderField: "Range") }
        let sink = try DownloadSink(part: part, alreadyHave: have, progress: progress)
        let session = URLSession(configuration: .ephemeral, delegate: sink, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request)
        task.resume()
        while sink.done.wait(timeout: .now() + .milliseconds(200)) == .timedOut {
            do { try checkCancelled() } catch { task.cancel(); _ = sink.done.wait(timeout: .now() + 5); throw error }
        }
        if let failure = sink.failure { throw failure }
        if let status = sink.status, !(200..<300).contains(status) {
            throw DownloadError.http(url: url.absoluteString, status: status)
        }
        if let expectedSHA256 {
            let found = try fileSHA256(part)
            guard found == expectedSHA256 else {
                try? fm.removeItem(at: part)  // a corrupt partial file would poison every resume
                throw DownloadError.checksumMismatch(url: url.absoluteString, expected: expectedSHA256, found: found)
            }
        }
        if fm.fileExists(atPath: destination.path) { try fm.removeItem(at: destination) }
        try fm.moveItem(at: part, to: destination)
    }
}

/// Receives the body and appends it to the `.part` file as it arrives.
private final class DownloadSink: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    var status: Int?
    var failure: Error?
    private let handle: FileHandle
    private var received: Int64
    private var total: Int64?
    private let progress: (Int64, Int64?) -> Void

    init(part: URL, alreadyHave: Int64, progress: @escaping (Int64, Int64?) -> Void) throws {
        handle = try FileHandle(forWritingTo: part)
        received = alreadyHave
        self.progress = progress
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let http = response as? HTTPURLResponse
        status = http?.statusCode
        do {
            if status == 206 {
                try handle.seekToEnd()
            } else {
                // The server ignored the Range (200) or refused it: start the file over.
                try handle.truncate(atOffset: 0)
                received = 0
            }
        } catch { failure = error }
        if response.expectedContentLength > 0 { total = received + response.expectedContentLength }
        completionHandler(failure == nil && (200..<300).contains(status ?? 200) ? .allow : .cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        do { try handle.write(contentsOf: data) } catch { failure = error; dataTask.cancel(); return }
        received += Int64(data.count)
        progress(received, total)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        try? handle.close()
        if let error, failure == nil, (status.map { (200..<300).contains($0) } ?? true) {
            failure = DownloadError.transport(url: task.originalRequest?.url?.absoluteString ?? "?",
                                              message: error.localizedDescription)
        }
        done.signal()
    }
}

/// Hex sha256 of a file, read in chunks.
public func fileSHA256(_ url: URL) throws -> String {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

/// Hex sha256 of bytes.
public func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}
