import Foundation

/// Where `apod --http` listens: `HOST:PORT`, `[IPv6]:PORT`, or a bare `PORT` (loopback, so a
/// daemon never becomes reachable from the network by accident).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Nil when `text` is not one of the accepted shapes or the port is outside 0...65535
    /// (0: the system picks a free port; apod logs the one it got).
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var host = "127.0.0.1"
        var portText = trimmed
        if trimmed.hasPrefix("[") {
            guard let close = trimmed.firstIndex(of: "]"),
                  trimmed[trimmed.index(after: close)...].hasPrefix(":") else { return nil }
            host = String(trimmed[trimmed.index(after: trimmed.startIndex)..<close])
            portText = String(trimmed[trimmed.index(close, offsetBy: 2)...])
        } else if let colon = trimmed.lastIndex(of: ":") {
            let name = trimmed[..<colon]
            guard !name.contains(":") else { return nil }  // an IPv6 address needs brackets
            if !name.isEmpty { host = String(name) }
            portText = String(trimmed[trimmed.index(after: colon)...])
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace),
              let port = Int(portText), (0...65_535).contains(port) else { return nil }
        self.init(host: host, port: port)
    }

    /// Only this machine can connect: 127.0.0.0/8, ::1 or `localhost`.
    public var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
