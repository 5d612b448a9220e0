import APOWebPage
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// `/`: the web page, and `/assets/{name}`: its scripts and style sheet, all from the binary.
struct WebPageRoutes {
    /// Only this origin's scripts, styles and connections: the page keeps the write token in
    /// sessionStorage, so nothing else may run in it, and it cannot be framed.
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    func register(on table: RouteTable) {
        table.get("/") { request, _ in Self.serve(WebPage.index, request) }
        table.get("/assets/{name}") { request, context in
            let name = context.parameters.get("name") ?? ""
            guard let asset = WebPage.assets[name] else { throw APIError.notFound("no asset '\(name)'") }
            return Self.serve(asset, request)
        }
    }

    /// The asset with a content-hash ETag: browsers revalidate (`no-cache`) and get a 304 until
    /// apod is upgraded, so a new binary's page is never mixed with an old cached script.
    static func serve(_ asset: WebAsset, _ request: Request) -> Response {
        let etag = etags[asset.name] ?? ""
        var headers: HTTPFields = [.contentType: asset.contentType, .cacheControl: "no-cache", .eTag: etag]
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        if ArtifactRoutes.matches(request.headers[.ifNoneMatch], etag) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: asset.body)))
    }

    private static let etags: [String: String] = {
        let all = Array(WebPage.assets.values) + [WebPage.index]
        return Dictionary(uniqueKeysWithValues: all.map { asset in
            let digest = SHA256.hash(data: Data(asset.body.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
            return (asset.name, "\"\(digest)\"")
        })
    }()
}
