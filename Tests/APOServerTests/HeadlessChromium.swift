import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real headless Chromium, driven over the DevTools protocol through two pipes
/// (`--remote-debugging-pipe`: JSON messages, NUL-terminated, read on fd 3 and written on fd 4).
/// Foundation's `Process` cannot hand a child extra descriptors, so `/bin/sh` opens two FIFOs
/// onto them and execs Chromium. Collects the page's uncaught exceptions, console errors and
/// errors the browser logs (a script blocked by the Content-Security-Policy, …), so a test can
/// insist there are none.
final class HeadlessChromium {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    private let process: Process
    private let directory: URL
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private var pending = Data()
    private var nextID = 1
    private var sessionID: String?
    /// Uncaught exceptions and console/log errors of the page, in the order they came.
    private(set) var pageErrors: [String] = []

    /// `chromium` from PATH (Debian's package), or `$APO_CHROMIUM`.
    static func executable() throws -> String {
        if let path = ProcessInfo.processInfo.environment["APO_CHROMIUM"], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw Failure(description: "APO_CHROMIUM=\(path) is not an executable file")
            }
            return path
        }
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser"] {
            for dir in dirs where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") { return "\(dir)/\(name)" }
        }
        throw Failure(description: "chromium not found in PATH: the web page tests need a real headless Chromium "
                      + "(Debian: apt-get install chromium, as deploy/install-deps.sh does; or set APO_CHROMIUM)")
    }

    init(scratch: URL, windowSize: String = "1280,900") throws {
        let chromium = try Self.executable()
        directory = scratch.appendingPathComponent("chromium-\(UUID().uuidString.prefix(6))", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = directory.appendingPathComponent("cdp-in").path
        let output = directory.appendingPathComponent("cdp-out").path
        guard mkfifo(input, 0o600) == 0, mkfifo(output, 0o600) == 0 else {
            throw Failure(description: "mkfifo in \(directory.path) failed: errno \(errno)")
        }
        var arguments = ["--headless=new", "--remote-debugging-pipe", "--user-data-dir=\(directory.appendingPathComponent("profile").path)",
                         "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                         "--disable-background-networking", "--disable-sync", "--disable-dev-shm-usage",
                         "--window-size=\(windowSize)", "about:blank"]
        if geteuid() == 0 { arguments.insert("--no-sandbox", at: 0) }  // the sandbox refuses to run as root
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"exec "$0" "$@" 3<"$APO_CDP_IN" 4>"$APO_CDP_OUT""#, chromium] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["APO_CDP_IN"] = input
        environment["APO_CDP_OUT"] = output
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let log = directory.appendingPathComponent("chromium.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        // Our read end first (it opens at once), then the write end once the shell has opened its
        // read end; the shell's own opens then find their partners and do not block.
        fromBrowser = Glibc.open(output, O_RDONLY | O_NONBLOCK)
        guard fromBrowser >= 0 else { throw Failure(description: "cannot open \(output): errno \(errno)") }
        try process.run()
        var writer: Int32 = -1
        let deadline = Date().addingTimeInterval(20)
        while writer < 0 {
            writer = Glibc.open(input, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { break }
            guard process.isRunning, Date() < deadline else {
                Glibc.close(fromBrowser)
                throw Failure(description: "chromium did not start: \(Self.tail(log))")
            }
            usleep(20_000)
        }
        _ = fcntl(writer, F_SETFL, fcntl(writer, F_GETFL) & ~O_NONBLOCK)
        toBrowser = writer
    }

    /// Opens `url` in a new tab and attaches to it; later calls act on that tab.
    func open(_ url: String) throws {
        let created = try command("Target.createTarget", ["url": "about:blank"], session: false)
        let target = try Self.require(created["targetId"] as? String, "Target.createTarget gave no targetId: \(created)")
        let attached = try command("Target.attachToTarget", ["targetId": target, "flatten": true], session: false)
        sessionID = try Self.require(attached["sessionId"] as? String, "Target.attachToTarget gave no sessionId: \(attached)")
        _ = try command("Runtime.enable", [:])
        _ = try command("Log.enable", [:])
        _ = try command("Page.enable", [:])
        _ = try command("Page.navigate", ["url": url])
    }

    /// The value of `expression` in the page (promises awaited); throws if it throws.
    @discardableResult
    func evaluate(_ expression: String) throws -> Any? {
        let answer = try command("Runtime.evaluate", ["expression": expression, "returnByValue": true, "awaitPromise": true])
        if let details = answer["exceptionDetails"] as? [String: Any] {
            let exception = (details["exception"] as? [String: Any])?["description"] as? String
            throw Failure(description: "evaluating \(expression.prefix(200)) threw: \(exception ?? String(describing: details))")
        }
        return (answer["result"] as? [String: Any])?["value"]
    }

    /// Polls `expression` until it gives a truthy value (not false, null, 0 or ""), and returns it.
    @discardableResult
    func waitFor(_ what: String, timeout: TimeInterval = 15, _ expression: String) throws -> Any {
        let deadline = Date().addingTimeInterval(timeout)
        var last: Any?
        while Date() < deadline {
            last = try? evaluate(expression)
            if let value = last, Self.truthy(value) { return value }
            usleep(100_000)
        }
        let text = (try? evaluate("document.body ? document.body.innerText.slice(0, 1500) : ''")) as? String ?? ""
        throw Failure(description: "the page did not show \(what) within \(timeout) s (last value: \(String(describing: last)));"
                      + " page errors: \(pageErrors); page text:\n\(text)")
    }

    /// A PNG of the page as it is now.
    func screenshot() throws -> Data {
        let answer = try command("Page.captureScreenshot", ["format": "png"])
        return Data(base64Encoded: answer["data"] as? String ?? "") ?? Data()
    }

    func close() {
        _ = try? command("Browser.close", [:], session: false, timeout: 3)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        Glibc.close(toBrowser)
        Glibc.close(fromBrowser)
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: - The protocol

    private func command(_ method: String, _ params: [String: Any], session: Bool = true,
                         timeout: TimeInterval = 15) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if session, let sessionID { message["sessionId"] = sessionID }
        var data = try JSONSerialization.data(withJSONObject: message)
        data.append(0)
        try data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(toBrowser, bytes.baseAddress! + offset, bytes.count - offset)
                guard written > 0 else { throw Failure(description: "writing to chromium failed: errno \(errno)") }
                offset += written
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let reply = try nextMessage(deadline: deadline, waitingFor: method)
            if reply["id"] as? Int == id {
                if let error = reply["error"] as? [String: Any] {
                    throw Failure(description: "\(method) failed: \(error["message"] ?? error)")
                }
                return reply["result"] as? [String: Any] ?? [:]
            }
            record(event: reply)
        }
    }

    private func nextMessage(deadline: Date, waitingFor method: String) throws -> [String: Any] {
        while true {
            if let end = pending.firstIndex(of: 0) {
                let body = pending[pending.startIndex..<end]
                pending = Data(pending[pending.index(after: end)...])
                if let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] { return object }
                continue
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw Failure(description: "chromium did not answer \(method) in time") }
            var descriptor = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, Int32(min(left, 0.2) * 1000))
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(fromBrowser, &chunk, chunk.count)
            if count > 0 {
                pending.append(contentsOf: chunk[0..<count])
            } else if !process.isRunning {
                throw Failure(description: "chromium exited while waiting for \(method): \(Self.tail(directory.appendingPathComponent("chromium.log")))")
            }
        }
    }

    private func record(event: [String: Any]) {
        let params = event["params"] as? [String: Any] ?? [:]
        switch event["method"] as? String {
        case "Runtime.exceptionThrown":
            let details = params["exceptionDetails"] as? [String: Any] ?? [:]
            let description = (details["exception"] as? [String: Any])?["description"] as? String
            pageErrors.append("exception: \(description ?? details["text"] as? String ?? "?")")
        case "Runtime.consoleAPICalled" where params["type"] as? String == "error":
            let args = (params["args"] as? [[String: Any]] ?? []).map { "\($0["value"] ?? $0["description"] ?? "")" }
            pageErrors.append("console.error: \(args.joined(separator: " "))")
        case "Log.entryAdded":
            // Not "network": an answer of 401 or 404 is logged there, and a test may want one.
            let entry = params["entry"] as? [String: Any] ?? [:]
            if entry["level"] as? String == "error", entry["source"] as? String != "network" {
                pageErrors.append("log (\(entry["source"] ?? "?")): \(entry["text"] ?? "") \(entry["url"] ?? "")")
            }
        default:
            break
        }
    }

    private static func truthy(_ value: Any) -> Bool {
        if value is NSNull { return false }
        if let number = value as? NSNumber { return number.doubleValue != 0 }
        if let text = value as? String { return !text.isEmpty }
        return true
    }

    private static func require<T>(_ value: T?, _ message: @autoclosure () -> String) throws -> T {
        guard let value else { throw Failure(description: message()) }
        return value
    }

    private static func tail(_ file: URL) -> String {
        String(((try? String(contentsOf: file, encoding: .utf8)) ?? "").suffix(2000))
    }
}
