import Foundation

/// Estimates a job's remaining time from how fast its `progress_done` has been moving over the
/// last `window` seconds. Invariant: samples are in time order, at most one per distinct `done`.
public struct ProgressEstimator: Sendable {
    public var window: TimeInterval
    private var samples: [(time: Date, done: Int)] = []

    public init(window: TimeInterval = 30) { self.window = window }

    public mutating func observe(done: Int, at time: Date) {
        if let last = samples.last, last.done == done { return }
        if let last = samples.last, done < last.done { samples.removeAll() }  // a new attempt restarted
        samples.append((time, done))
        while samples.count > 2, let first = samples.first, time.timeIntervalSince(first.time) > window {
            samples.removeFirst()
        }
    }

    /// Units per second, or nil until two samples exist.
    public var rate: Double? {
        guard let first = samples.first, let last = samples.last, samples.count >= 2 else { return nil }
        let seconds = last.time.timeIntervalSince(first.time)
        guard seconds > 0 else { return nil }
        return Double(last.done - first.done) / seconds
    }

    public func eta(total: Int) -> TimeInterval? {
        guard let rate, rate > 0, let last = samples.last else { return nil }
        return Double(max(total - last.done, 0)) / rate
    }
}

/// Text formatting shared by apoctl's listings.
public enum Formatting {
    /// "850ms", "12.3s", "4m05s", "2h07m".
    public static func duration(_ seconds: TimeInterval) -> String {
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let s = Int(seconds.rounded())
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }

    /// `[#########...........]` of `width` cells.
    public static func bar(fraction: Double, width: Int) -> String {
        let clamped = min(max(fraction, 0), 1)
        let filled = Int((clamped * Double(width)).rounded(.down))
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "]"
    }

    public static func timestamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }

    /// Pads or cuts `text` to exactly `width` characters.
    public static func column(_ text: String, _ width: Int) -> String {
        if text.count > width { return String(text.prefix(max(width - 1, 0))) + "…" }
        return text + String(repeating: " ", count: width - text.count)
    }

    public static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f ", value) + units[unit]
    }
}
