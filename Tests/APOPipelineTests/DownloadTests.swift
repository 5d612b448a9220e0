import Foundation
import Testing
@testable import APOPipeline

@Suite struct DownloadTests {
    @Test func anInterruptedDownloadResumesWithARangeRequest() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let body = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let sha = sha256Hex(body)
        let server = try LocalHTTPServer(body: body, truncateFirstResponseAt: 70_000)
        defer { server.stop() }
        let dest = tmp.file("input")
        let download = ResumableDownload(url: server.url, expectedSHA256: sha, destination: dest)

        // First attempt: the server drops the connection after 70,000 bytes.
        #expect(throws: (any Error).self) { try download.run(progress: { _, _ in }, checkCancelled: {}) }
        let part = dest.appendingPathExtension("part")
        #expect((try? Data(contentsOf: part))?.count == 70_000)
        // Second attempt asks only for the rest.
        try download.run(progress: { _, _ in }, checkCancelled: {})
        #expect(server.rangeHeaders == [nil, "bytes=70000-"])
        #expect(try Data(contentsOf: dest) == body)
        #expect(!FileManager.default.fileExists(atPath: part.path))
        // Already there and verified: no request at all.
        try download.run(progress: { _, _ in }, checkCancelled: {})
        #expect(server.rangeHeaders.count == 2)
    }

    @Test func aWrongChecksumKeepsNothing() throws {
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let server = try LocalHTTPServer(body: Data("not what you wanted".utf8))
        defer { server.stop() }
        let dest = tmp.file("input")
        let wrong = String(repeating: "ab", count: 32)
        do {
            try ResumableDownload(url: server.url, expectedSHA256: wrong, destination: dest).run(progress: { _, _ in }, checkCancelled: {})
            Issue.record("expected a checksum error")
        } catch let e as DownloadError {
            #expect("\(e)".contains("sha256 mismatch: expected \(wrong)"))
        }
        #expect(!FileManager.default.fileExists(atPath: dest.path))
        #expect(!FileManager.default.fileExists(atPath: dest.appendingPathExtension("part").path))
    }

    @Test func prepareDataDownloadsTheSharedFileOverHTTP() throws {
        try #require(FileManager.default.fileExists(atPath: sharedHHFile().path), "missing shared HH data at \(sharedHHFile().path)")
        let tmp = try TempDirectory()
        defer { tmp.remove() }
        let body = try Data(contentsOf: sharedHHFile())
        let server = try LocalHTTPServer(body: body)
        defer { server.stop() }
        var params = Dictionary(uniqueKeysWithValues: PrepareDataKind.parameters.map { ($0.name, $0.defaultValue ?? .null) })
        params["input"] = .string(server.url.absoluteString)
        params["sha256"] = .string(sha256Hex(body))
        params["max_queries"] = .int(50)
        let ctx = try TestJobContext(params: params, root: tmp.url)
        let out = try PrepareDataKind.run(ctx)
        #expect(try LLMSamplesFile.read(URL(fileURLWithPath: out["rm_train_queries"]!.stringValue!)).count == 20)
        #expect(ctx.progress.contains { $0.message == "downloading" })
    }
}
