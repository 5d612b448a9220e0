import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A one-file HTTP/1.1 server on 127.0.0.1 for download tests: honours `Range: bytes=N-` with a 206,
/// and can cut the first response short (a dropped connection) to exercise resuming.
final class LocalHTTPServer: @unchecked Sendable {
    let body: Data
    private(set) var port: UInt16 = 0
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var _rangeHeaders: [String?] = []
    /// Bytes to send of the FIRST response before closing the connection; nil: send it all.
    let truncateFirstResponseAt: Int?

    var rangeHeaders: [String?] { lock.lock(); defer { lock.unlock() }; return _rangeHeaders }

    init(body: Data, truncateFirstResponseAt: Int? = nil) throws {
        self.body = body
        self.truncateFirstResponseAt = truncateFirstResponseAt
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        Thread.detachNewThread { [self] in serve() }
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)/hh.jsonl.gz")! }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve() {
        var served = 0
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            var request = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !request.suffix(4).elementsEqual([13, 10, 13, 10]) {
                let n = read(client, &buffer, buffer.count)
                if n <= 0 { break }
                request += buffer[0..<n]
            }
            let text = String(decoding: request, as: UTF8.self)
            let range = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("range:") }
                .map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) }
            lock.lock(); _rangeHeaders.append(range); lock.unlock()
            var start = 0
            if let range, range.hasPrefix("bytes="), let n = Int(range.dropFirst(6).split(separator: "-")[0]) { start = n }
            let slice = body[start...]
            var head = start > 0 ? "HTTP/1.1 206 Partial Content\r\n" : "HTTP/1.1 200 OK\r\n"
            head += "Content-Length: \(slice.count)\r\n"
            if start > 0 { head += "Content-Range: bytes \(start)-\(body.count - 1)/\(body.count)\r\n" }
            head += "Connection: close\r\n\r\n"
            var out = Data(head.utf8)
            if served == 0, let cut = truncateFirstResponseAt { out += slice.prefix(cut) } else { out += slice }
            served += 1
            out.withUnsafeBytes { p in
                var sent = 0
                while sent < p.count {
                    let n = write(client, p.baseAddress! + sent, p.count - sent)
                    if n <= 0 { break }
                    sent += n
                }
            }
            close(client)
        }
    }
}
