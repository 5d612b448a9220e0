import APOAPIBodies
import Foundation
import HTTPTypes
import Hummingbird

/// A 4xx (or 5xx) answer with a JSON body `{"error": "...", "field": "..."}`; `field` names the
/// part of the request that was wrong (a path parameter, a query key, a header, `body`).
struct APIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let message: String
    let field: String?
    /// Every problem of a rejected pipeline, with its position.
    var diagnostics: [ErrorBody.Diagnostic]? = nil
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, field: String? = nil) {
        self.status = status
        self.message = message
        self.field = field
    }

    static func badInput(_ field: String, _ message: String) -> APIError {
        APIError(.badRequest, message, field: field)
    }

    static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }

    static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, message, field: "Authorization")
        error.headers[.wwwAuthenticate] = "Bearer"
        return error
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONBody.response(ErrorBody(error: message, field: field, diagnostics: diagnostics), status: status)
        response.headers.append(contentsOf: headers)
        return response
    }
}
