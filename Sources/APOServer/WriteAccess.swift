import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Who may use the mutating endpoints (submit, cancel, retry, resume). Reads are open to anyone
/// who can connect: the listen address is the boundary for them.
public enum WriteAccess: Sendable {
    /// `apod --token-file F`: `Authorization: Bearer <the file's first line>`.
    case bearerToken(String)
    /// No token file and a loopback listener: anyone on this machine may write, as anyone on
    /// it could run `apoctl` against the database.
    case loopbackOpen
    /// No token file and a listener others can reach: nobody may write.
    case refused

    public static func rule(token: String?, address: ListenAddress) -> WriteAccess {
        if let token { return .bearerToken(token) }
        return address.isLoopback ? .loopbackOpen : .refused
    }

    /// Throws the 401/403 the request gets, or returns when it may write.
    func check(_ request: Request) throws {
        switch self {
        case .loopbackOpen:
            try Self.checkSameMachinePage(request)
        case .refused:
            throw APIError(.forbidden, "mutating endpoints are disabled: apod listens on a non-loopback address without --token-file",
                           field: "Authorization")
        case .bearerToken(let token):
            guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
                throw APIError.unauthorized("this endpoint needs Authorization: Bearer <token>")
            }
            guard Self.sameToken(String(header.dropFirst("Bearer ".count)), token) else {
                throw APIError.unauthorized("the bearer token does not match")
            }
        }
    }

    /// Without a token the loopback listener trusts whoever connects, but a browser connects for
    /// any page it shows: a page of another site could send it a plain cross-site POST, or reach
    /// it under the site's own name after rebinding that name to 127.0.0.1. So the Host must name
    /// this machine, and a browser's Origin (sent with every POST) must be this server.
    static func checkSameMachinePage(_ request: Request) throws {
        let authority = request.head.authority  // HTTP/1.1's Host header
        if let authority, !isLoopbackAuthority(authority) {
            throw APIError(.forbidden, "writes without --token-file are accepted only for a loopback host name, not '\(authority)'",
                           field: "Host")
        }
        if let origin = request.headers[.origin],
           origin.lowercased() != "http://" + (authority ?? "").lowercased() {
            throw APIError(.forbidden, "writes without --token-file are accepted only from this server's own page, not from '\(origin)'",
                           field: "Origin")
        }
    }

    /// "127.0.0.1:8470", "localhost", "[::1]:8470" → true.
    static func isLoopbackAuthority(_ authority: String) -> Bool {
        var host = Substring(authority.lowercased())
        if host.hasPrefix("[") {
            host = host.dropFirst().prefix { $0 != "]" }
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// Compares digests, not the strings, so the time taken says nothing about how much of the
    /// token a guess got right (nor its length).
    static func sameToken(_ given: String, _ expected: String) -> Bool {
        let a = Array(SHA256.hash(data: Data(given.utf8)))
        let b = Array(SHA256.hash(data: Data(expected.utf8)))
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

/// The token `--token-file` names: the file's first line, surrounding whitespace removed.
public enum TokenFile {
    public struct Unusable: Error, CustomStringConvertible {
        public let description: String
    }

    public static func read(path: String) throws -> String {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Unusable(description: "cannot read --token-file \(path): \(error.localizedDescription)")
        }
        let token = text.split(whereSeparator: \.isNewline).first.map {
            $0.trimmingCharacters(in: .whitespaces)
        } ?? ""
        guard token.count >= 16 else {
            throw Unusable(description: "--token-file \(path): the token (its first line) must be at least 16 characters")
        }
        return token
    }
}
