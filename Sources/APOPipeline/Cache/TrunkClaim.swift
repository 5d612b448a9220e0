import Foundation

/// "This process is computing the states of this sequence": `<entry>.claim` beside the entry it
/// promises, made with O_EXCL so that of two jobs filling the same cache at once (the base RMs of
/// a matrix's seeds, on one host) exactly one computes each sequence. It holds `host pid`; a claim
/// whose process is gone (same host) or that is older than `staleAfter` is taken over.
struct TrunkClaim {
    let url: URL

    /// Longer than any batch of frozen blocks takes, so a live claim is never taken over.
    static let staleAfter: TimeInterval = 600

    static func url(forEntry entry: URL) -> URL {
        entry.deletingPathExtension().appendingPathExtension("claim")
    }

    /// The claim on `entry`, or nil when another live process holds it.
    static func take(entry: URL, now: Date = Date()) -> TrunkClaim? {
        let url = url(forEntry: entry)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        for _ in 0..<2 {
            let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd >= 0 {
                let owner = "\(ProcessInfo.processInfo.hostName) \(getpid())\n"
                _ = owner.withCString { write(fd, $0, strlen($0)) }
                close(fd)
                return TrunkClaim(url: url)
            }
            guard errno == EEXIST, isAbandoned(url, now: now) else { return nil }
            unlink(url.path)
        }
        return nil
    }

    /// Whether the claim at `url` is held by nobody any more; false while it is held or gone.
    static func isAbandoned(_ url: URL, now: Date = Date()) -> Bool {
        guard let text = try? String(contentsOf: url, encoding: .utf8),
              let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
              let modified = attributes[.modificationDate] as? Date else { return false }
        if now.timeIntervalSince(modified) > staleAfter { return true }
        let fields = text.split(separator: " ")
        guard fields.count == 2, let pid = Int32(fields[1].trimmingCharacters(in: .whitespacesAndNewlines)) else {
            // Being written this instant, or garbage: garbage goes once it is stale.
            return false
        }
        return String(fields[0]) == ProcessInfo.processInfo.hostName && kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Whether some process holds a claim on `entry` now.
    static func isHeld(entry: URL, now: Date = Date()) -> Bool {
        let url = url(forEntry: entry)
        return FileManager.default.fileExists(atPath: url.path) && !isAbandoned(url, now: now)
    }

    func release() { unlink(url.path) }
}
