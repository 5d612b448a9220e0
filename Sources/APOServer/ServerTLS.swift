import Foundation
import NIOSSL

/// HTTPS for `apod --http`: the server's certificate chain and private key, PEM files (`--tls-cert`,
/// `--tls-key`). Read when apod starts, so a missing or unreadable file stops it before any worker
/// runs, naming the file.
public struct ServerTLS: Sendable {
    public let certificatePath: String
    public let keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    public struct Unusable: Error, CustomStringConvertible {
        public let description: String
    }

    /// The server side of TLS 1.2 and later with these files.
    func configuration() throws -> TLSConfiguration {
        let chain = try read(certificatePath, "--tls-cert") { try NIOSSLCertificate.fromPEMFile($0) }
        guard !chain.isEmpty else { throw Unusable(description: "--tls-cert \(certificatePath): no certificate in it") }
        let key = try read(keyPath, "--tls-key") { try NIOSSLPrivateKey(file: $0, format: .pem) }
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    }

    private func read<T>(_ path: String, _ option: String, _ body: (String) throws -> T) throws -> T {
        guard FileManager.default.isReadableFile(atPath: path) else { throw Unusable(description: "\(option) \(path): no such readable file") }
        do {
            return try body(path)
        } catch {
            throw Unusable(description: "\(option) \(path): not PEM (\(error))")
        }
    }
}
