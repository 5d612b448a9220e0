import Foundation
import HTTPTypes
import Hummingbird

/// One route as the OpenAPI document names it: `GET /api/runs/{id}`.
public struct APIRoute: Hashable, Sendable, CustomStringConvertible {
    public let method: String
    public let path: String

    public var description: String { "\(method) \(path)" }
}

/// The router, plus the list of what was registered on it: the OpenAPI test checks that list
/// against the document, so a route cannot be added without being documented.
final class RouteTable: @unchecked Sendable {
    typealias Handler = @Sendable (Request, BasicRequestContext) async throws -> Response

    let router: Router<BasicRequestContext>
    private(set) var routes: [APIRoute] = []

    init(router: Router<BasicRequestContext>) {
        self.router = router
    }

    /// `path` is written as OpenAPI writes it; `routerPath` only where Hummingbird needs another
    /// spelling (a trailing `**` for a parameter that spans several segments).
    func get(_ path: String, routerPath: String? = nil, _ handler: @escaping Handler) {
        add(.get, path, routerPath: routerPath, handler)
    }

    func post(_ path: String, _ handler: @escaping Handler) {
        add(.post, path, routerPath: nil, handler)
    }

    private func add(_ method: HTTPRequest.Method, _ path: String, routerPath: String?, _ handler: @escaping Handler) {
        routes.append(APIRoute(method: method.rawValue, path: path))
        router.on(RouterPath(routerPath ?? path), method: method, use: handler)
    }
}
