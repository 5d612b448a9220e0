import Foundation
import Testing
@testable import APOPipeline

/// `apoctl model pull`'s library side: URL downloads with and without a checksum, resuming after a
/// dropped connection, and where models go.
@Suite struct ModelFetchTests {
    @Test func urlPullWithoutChecksumResumesAndReportsTheHash() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let body = Data((0..<150_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) })
        let server = try LocalHTTPServer(body: body, truncateFirstResponseAt: 40_000)
        defer { server.stop() }
        let url = server.url
        #expect(throws: (any Error).self) {
            try ModelFetch.pull(url: url, sha256: nil, into: tmp.url, fileName: "m.gguf", allowHTTP: true)
        }
        let (file, sha) = try ModelFetch.pull(url: url, sha256: nil, into: tmp.url, fileName: "m.gguf", allowHTTP: true)
        #expect(server.rangeHeaders == [nil, "bytes=40000-"])
        #expect(try Data(contentsOf: file) == body)
        #expect(sha == sha256Hex(body))
    }

    @Test func urlPullWithChecksumSkipsAnIntactFile() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let body = Data("weights".utf8)
        let server = try LocalHTTPServer(body: body)
        defer { server.stop() }
        _ = try ModelFetch.pull(url: server.url, sha256: sha256Hex(body), into: tmp.url, fileName: "w", allowHTTP: true)
        _ = try ModelFetch.pull(url: server.url, sha256: sha256Hex(body).uppercased(), into: tmp.url, fileName: "w", allowHTTP: true)
        #expect(server.rangeHeaders.count == 1)
    }

    @Test func onlyHTTPSByDefault() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        #expect(throws: ModelFetchError.self) {
            try ModelFetch.pull(url: URL(string: "http://example.invalid/m.gguf")!, sha256: nil, into: tmp.url)
        }
    }

    @Test func modelsDirectoryFollowsAPODataDir() {
        #expect(ModelFetch.modelsDirectory(environment: ["APO_DATA_DIR": "/srv/apo"]).path == "/srv/apo/models")
        #expect(ModelFetch.modelsDirectory(environment: [:]).path.hasSuffix("/data/models"))
        let smol = ModelFetch.packagedModels.first { $0.name == "smollm2-135m-instruct" }
        #expect(smol?.fileName == "SmolLM2-135M-Instruct.Q4_1.gguf")
        #expect(smol?.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")  // APO.md §6
    }
}
