import Foundation
import PostgresNIO

/// How a connection to the server is encrypted, from the URL's `sslmode` and `sslrootcert`, with
/// libpq's meanings so that a URL that works with psql works with apo:
/// - `disable`: never TLS.
/// - `prefer` (the default, as libpq's): TLS when the server offers it, else plain; the server's
///   certificate is not checked.
/// - `require`: TLS or no connection; the certificate is not checked, unless `sslrootcert` is given
///   (then as `verify-ca`, as libpq does).
/// - `verify-ca`: TLS, the certificate must chain to `sslrootcert`.
/// - `verify-full`: as `verify-ca`, and the certificate must name the URL's host (a DNS name or an
///   IP address in its subject alternative names).
/// `sslrootcert` is a PEM file of trusted CA certificates, or `system` for the system's store;
/// without it, `~/.postgresql/root.crt` as libpq does. `sslcert` and `sslkey` (PEM, both or
/// neither) are the client's certificate and key, for servers that authenticate by certificate
/// (pg_hba `cert`); unlike libpq, no default file is picked up.
public struct PostgresTLS: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var mode: Mode
    /// A PEM file, or "system"; nil: libpq's default file when verifying.
    public var rootCertificate: String?
    /// The client's certificate chain and private key, PEM files.
    public var clientCertificate: String?
    public var clientKey: String?

    public init(mode: Mode = .prefer, rootCertificate: String? = nil, clientCertificate: String? = nil, clientKey: String? = nil) {
        self.mode = mode
        self.rootCertificate = rootCertificate
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
    }

    /// Whether the server's certificate is checked against trusted roots.
    var verifies: Bool { mode == .verifyCA || mode == .verifyFull || (mode == .require && rootCertificate != nil) }

    /// PostgresNIO's setting for this mode; reads the root certificates now, so a missing or bad
    /// file is reported when the store is opened, naming it.
    func connectionTLS(home: String = NSHomeDirectory()) throws -> PostgresConnection.Configuration.TLS {
        if mode == .disable { return .disable }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if verifies {
            configuration.certificateVerification = mode == .verifyFull ? .fullVerification : .noHostnameVerification
            configuration.trustRoots = try trustRoots(home: home)
        } else {
            configuration.certificateVerification = .none
        }
        if let clientCertificate, let clientKey {
            configuration.certificateChain = try pemFile(clientCertificate, "sslcert") { try NIOSSLCertificate.fromPEMFile($0) }
                .map { .certificate($0) }
            configuration.privateKey = .privateKey(try pemFile(clientKey, "sslkey") { try NIOSSLPrivateKey(file: $0, format: .pem) })
        }
        let context = try NIOSSLContext(configuration: configuration)
        return mode == .prefer ? .prefer(context) : .require(context)
    }

    /// `read(path)`, failures named by the URL option and the file.
    private func pemFile<T>(_ path: String, _ option: String, _ read: (String) throws -> T) throws -> T {
        guard FileManager.default.isReadableFile(atPath: path) else { throw TLSSetupError(reason: "\(option) \(path): no such readable file") }
        do {
            return try read(path)
        } catch {
            throw TLSSetupError(reason: "\(option) \(path): not PEM (\(error))")
        }
    }

    private func trustRoots(home: String) throws -> NIOSSLTrustRoots {
        if rootCertificate == "system" { return .default }
        let path = rootCertificate ?? (home as NSString).appendingPathComponent(".postgresql/root.crt")
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TLSSetupError(reason: rootCertificate == nil
                ? "sslmode=\(mode.rawValue) checks the server's certificate: give sslrootcert=FILE (PEM) or sslrootcert=system, or put the CA in \(path)"
                : "sslrootcert \(path): no such readable file")
        }
        do {
            let certificates = try NIOSSLCertificate.fromPEMFile(path)
            guard !certificates.isEmpty else { throw TLSSetupError(reason: "no certificate in it") }
            return .certificates(certificates)
        } catch let error as TLSSetupError {
            throw TLSSetupError(reason: "sslrootcert \(path): \(error.reason)")
        } catch {
            throw TLSSetupError(reason: "sslrootcert \(path): not PEM certificates (\(error))")
        }
    }

    /// Why a connection failed, when TLS is the reason: the server refuses it, or its certificate
    /// is not trusted or does not name the host. No retry mends either, so none is made.
    func failureReason(_ error: any Error) -> String? {
        guard let error = error as? PSQLError else { return nil }
        if error.code == .sslUnsupported {
            return "the server does not offer TLS, which sslmode=\(mode.rawValue) requires (ssl = on in postgresql.conf; sslmode=prefer falls back to plain)"
        }
        guard let underlying = error.underlying, underlying is NIOSSLError || underlying is NIOSSLExtraError else { return nil }
        let check = mode == .verifyFull ? "does sslrootcert hold the CA that signed the server's certificate, and does that certificate name this host?"
            : "does sslrootcert hold the CA that signed the server's certificate?"
        return "TLS with the server failed (\(underlying)): \(check)"
    }

    struct TLSSetupError: Error {
        let reason: String
    }
}
