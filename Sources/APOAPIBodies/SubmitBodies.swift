import Foundation

/// `POST /api/runs`, 201: the run that was created.
public struct CreatedRunBody: Codable, Sendable {
    public let run: Int64
    public let jobs: Int
    public let url: String

    public init(run: Int64, jobs: Int, url: String) {
        self.run = run
        self.jobs = jobs
        self.url = url
    }
}

/// Every 4xx and 5xx answer: `field` names the part of the request that was wrong (a path
/// parameter, a query key, a header, `body`); a rejected pipeline lists every problem.
public struct ErrorBody: Codable, Sendable {
    public struct Diagnostic: Codable, Sendable {
        public let line: Int
        public let column: Int
        public let message: String

        public init(line: Int, column: Int, message: String) {
            self.line = line
            self.column = column
            self.message = message
        }
    }

    public let error: String
    public let field: String?
    public let diagnostics: [Diagnostic]?

    public init(error: String, field: String?, diagnostics: [Diagnostic]?) {
        self.error = error
        self.field = field
        self.diagnostics = diagnostics
    }
}
