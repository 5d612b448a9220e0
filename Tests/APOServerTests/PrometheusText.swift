import Foundation

/// A `/metrics` scrape as Prometheus' own client library parses it (scripts/prometheus_families.py
/// through Debian's python3-prometheus-client), so the test checks the text format with a real
/// parser, not with this project's idea of it.
struct PrometheusText {
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    struct Family {
        let type: String
        let help: String
        let samples: [Sample]
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Family name (without `_total` for counters, as the parser names them) → family.
    let families: [String: Family]

    init(parsing text: String) throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw Failure(description: "\(python) is missing: the /metrics test parses with Debian's python3-prometheus-client (deploy/install-deps.sh)")
        }
        let script = Self.repositoryRoot().appendingPathComponent("scripts/prometheus_families.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let json = try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]] else {
            throw Failure(description: "the Prometheus parser rejected the scrape (status \(process.terminationStatus)): \(message)\n\(text)")
        }
        families = json.mapValues { family in
            let samples = (family["samples"] as? [[String: Any]] ?? []).map {
                Sample(name: $0["name"] as? String ?? "", labels: $0["labels"] as? [String: String] ?? [:],
                       value: ($0["value"] as? NSNumber)?.doubleValue ?? .nan)
            }
            return Family(type: family["type"] as? String ?? "", help: family["help"] as? String ?? "", samples: samples)
        }
    }

    /// The value of sample `name` with exactly these labels (nil: no such sample).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        families.values.lazy.flatMap(\.samples).first { $0.name == name && $0.labels == labels }?.value
    }

    static func repositoryRoot() -> URL {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }
}
