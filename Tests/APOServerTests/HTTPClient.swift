import Foundation

/// HTTP through the real `curl`, so what the tests see is what a user's curl sees (no client
/// cache, no redirect or 304 handling in between).
struct HTTPClient {
    let base: String
    let scratch: URL
    /// For an https base: the CA curl trusts (`--cacert`); nil: the system's.
    var authority: String? = nil

    struct Answer {
        let status: Int
        /// Header names lowercased; the last value of a repeated header.
        let headers: [String: String]
        let body: Data

        var text: String { String(decoding: body, as: UTF8.self) }

        /// The body as a JSON object or array (nil when it is not JSON).
        var json: Any? { try? JSONSerialization.jsonObject(with: body) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func get(_ path: String, headers: [String: String] = [:], timeout: TimeInterval = 30) throws -> Answer {
        try request("GET", path, headers: headers, timeout: timeout)
    }

    func post(_ path: String, body: String? = nil, token: String? = nil, headers: [String: String] = [:]) throws -> Answer {
        var headers = headers
        if let token { headers["Authorization"] = "Bearer \(token)" }
        return try request("POST", path, headers: headers, body: body)
    }

    func request(_ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil,
                 timeout: TimeInterval = 30) throws -> Answer {
        let tag = UUID().uuidString.prefix(8)
        let bodyFile = scratch.appendingPathComponent("curl-\(tag).body")
        let headerFile = scratch.appendingPathComponent("curl-\(tag).headers")
        // --path-as-is: send `..` segments as written (curl would otherwise fold them away).
        var arguments = ["-sS", "--path-as-is", "-X", method, "-o", bodyFile.path, "-D", headerFile.path,
                         "-w", "%{http_code}", "--max-time", String(Int(timeout))]
        if let authority { arguments += ["--cacert", authority] }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if let body {
            let input = scratch.appendingPathComponent("curl-\(tag).input")
            try body.write(to: input, atomically: true, encoding: .utf8)
            arguments += ["-H", "Content-Type: application/yaml", "--data-binary", "@\(input.path)"]
        }
        arguments.append(base + path)
        let (status, output) = try Self.run(arguments)
        guard status == 0, let code = Int(output) else {
            throw Failure(description: "curl \(method) \(path) failed (status \(status)): \(output)")
        }
        let headerText = (try? String(contentsOf: headerFile, encoding: .utf8)) ?? ""
        var parsed: [String: String] = [:]
        for line in headerText.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Answer(status: code, headers: parsed, body: (try? Data(contentsOf: bodyFile)) ?? Data())
    }

    private static func run(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["curl"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
